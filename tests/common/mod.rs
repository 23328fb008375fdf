//! Shared fixtures for the integration tests: real FTP servers and a counting proxy.
pub mod proxy;
pub mod servers;
