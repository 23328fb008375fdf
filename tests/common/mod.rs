//! Shared fixtures for the integration tests: real FTP servers, a throwaway PKI for
//! FTPS servers, and a counting proxy.
pub mod proxy;
pub mod servers;
pub mod tls;
