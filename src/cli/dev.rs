//! `s3gate dev`: the gateway and the built-in store on this machine, with a
//! session for user `dev` (see `s3gate::dev`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use s3gate::config::duration;

#[derive(clap::Args)]
pub struct Args {
    /// Where the gateway listens.
    #[arg(long, default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
    /// The store's folder; each sub-folder is a bucket. Bucket `dev` is
    /// created at start.
    #[arg(long, default_value = "./s3gate-data")]
    data: PathBuf,
    /// Also write the shell lines to this file (`source` it).
    #[arg(long)]
    env_file: Option<PathBuf>,
    /// How long the dev session lasts.
    #[arg(long, default_value = "12h", value_parser = duration::parse)]
    ttl: Duration,
    /// A policy file to use (reloaded on change) instead of the built-in
    /// one that lets user `dev` do everything.
    #[arg(long)]
    policy: Option<PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    s3gate::dev::run(s3gate::dev::DevOptions {
        listen: args.listen,
        data: args.data,
        env_file: args.env_file,
        ttl: args.ttl,
        policy: args.policy,
    })
    .await
}
