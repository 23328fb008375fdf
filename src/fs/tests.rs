//! Core tests against the fake remote (placeholder, filled below).
