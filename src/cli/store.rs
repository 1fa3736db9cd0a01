//! `s3gate store`: only the built-in S3-compatible store, SigV4 verified,
//! until SIGTERM (an upstream for tests and benchmarks).

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// The folder; each sub-folder is a bucket.
    #[arg(long)]
    data: PathBuf,
    /// The one access key the store accepts.
    #[arg(long, env = "S3GATE_STORE_ACCESS_KEY_ID")]
    access_key_id: String,
    /// Its secret (prefer the environment variable: arguments are
    /// visible to other users of the machine).
    #[arg(long, env = "S3GATE_STORE_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_access_key: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (addr, task) = s3gate::dev::start_store(
        args.listen,
        &args.data,
        &args.access_key_id,
        &args.secret_access_key,
    )
    .await?;
    eprintln!("s3gate store on http://{addr} over {}", args.data.display());
    tokio::select! {
        _ = task => {}
        () = s3gate::server::shutdown_signal() => {}
    }
    Ok(())
}
