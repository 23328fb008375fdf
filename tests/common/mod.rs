//! Shared fixtures for the integration tests: real FTP servers (plain and FTPS), a
//! throwaway PKI for the FTPS servers, a counting proxy and raw byte proxies.
pub mod proxy;
pub mod rawproxy;
pub mod servers;
pub mod tls;
