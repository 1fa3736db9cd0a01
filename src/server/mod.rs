//! TODO: listeners and routing.
use std::net::SocketAddr;

use crate::config::Config;

/// A running gateway.
pub struct Running {
    pub addr: SocketAddr,
}

impl Running {
    pub async fn shutdown(self) {}
}

/// Binds `config.listen` (port 0 picks a free port) and serves until shutdown.
pub async fn start(_config: Config) -> anyhow::Result<Running> {
    unimplemented!()
}
