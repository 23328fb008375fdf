//! Shared fixtures for the integration tests: real FTP servers (plain and FTPS), a
//! throwaway PKI for the FTPS servers, a counting proxy and raw byte proxies, and a
//! misbehaving scriptable FTP server of our own (`badftp`).
pub mod badftp;
pub mod proxy;
pub mod rawproxy;
pub mod servers;
pub mod tls;
