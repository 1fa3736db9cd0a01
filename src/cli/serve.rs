//! `s3gate serve`: the gateway from a config file, until SIGTERM; SIGHUP
//! reloads the policy and the keyring file.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use s3gate::config::Config;
use s3gate::live::{LiveKeyring, LivePolicy};

#[derive(clap::Args)]
pub struct Args {
    /// The TOML config file.
    #[arg(long, short, env = "S3GATE_CONFIG")]
    config: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let running = s3gate::server::start(config).await?;
    tracing::info!(
        listen = %running.addr,
        policy.version = %running.policy.current().version(),
        "s3gate serving"
    );
    let reloader = reload_on_sighup(running.policy.clone(), running.keyring.clone())?;
    // SIGTERM: readyz fails, the listener closes, in-flight requests finish
    // (up to server.drain_timeout), then exit 0.
    running.run_until(s3gate::server::shutdown_signal()).await;
    reloader.abort();
    tracing::info!("s3gate stopped");
    Ok(())
}

/// SIGHUP reloads the policy file now (whether or not it is watched), and
/// the keyring file (not waiting for its poll).
fn reload_on_sighup(
    policy: Arc<LivePolicy>,
    keyring: Arc<LiveKeyring>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot listen for SIGHUP")?;
    Ok(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the policy and the keyring");
            policy.reload().await;
            keyring.reload().await;
        }
    }))
}
