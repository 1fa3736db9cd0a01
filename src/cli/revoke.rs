//! `s3gate revoke`: add an entry to the configured revocation list, which
//! every instance re-reads every `session.revocation_poll`.

use std::path::PathBuf;
use std::time::SystemTime;

use s3gate::config::Config;
use s3gate::session::RevocationEntry;

#[derive(clap::Args)]
#[command(group(
    clap::ArgGroup::new("what")
        .required(true)
        .args(["session", "identity", "delegated_by"])
))]
pub struct Args {
    #[arg(long, short, env = "S3GATE_CONFIG")]
    config: PathBuf,
    /// A session id (the audit lines' `session_id`).
    #[arg(long)]
    session: Option<String>,
    /// A principal name (`user:alice`, `delegated:agent-7`): every
    /// session of it, and every session delegated through it.
    #[arg(long)]
    identity: Option<String>,
    /// A principal name: every session it delegated, directly or not
    /// (its agents and theirs), while its own sessions keep working.
    #[arg(long)]
    delegated_by: Option<String>,
    /// Shown to the refused caller and in the audit.
    #[arg(long, default_value = "")]
    reason: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let longest = config.session.max_ttl.max(config.identity.max_session_ttl);
    let now = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let until = RevocationEntry::void_after(args.identity.as_deref(), now, longest.as_secs());
    let entry = RevocationEntry {
        session: args.session,
        identity: args.identity,
        delegated_by: args.delegated_by,
        until,
        reason: args.reason,
    };
    let list = s3gate::live::revocation::append(&config, &entry).await?;
    eprintln!(
        "revoked {} in {list}; instances refuse it within {}s",
        entry.describe(),
        config.session.revocation_poll.as_secs()
    );
    Ok(())
}
