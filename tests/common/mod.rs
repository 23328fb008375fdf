//! Shared fixtures for the integration tests: real FTP servers, a counting proxy, and a
//! misbehaving scriptable FTP server of our own (`badftp`).
pub mod badftp;
pub mod proxy;
pub mod servers;
