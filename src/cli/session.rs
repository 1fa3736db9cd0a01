//! `s3gate session mint`: the operator's break-glass path to session
//! credentials, printed as `credential_process` JSON.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use s3gate::audit::iso8601;
use s3gate::config::{Config, duration};
use s3gate::policy::Scope;
use s3gate::session::{Identity, Keyring};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Mint session credentials directly (break-glass, tests). Prints
    /// `credential_process` JSON, so a profile can use it as is.
    Mint {
        #[arg(long, short, env = "S3GATE_CONFIG")]
        config: PathBuf,
        /// Who the session is for (appears in every audit line).
        #[arg(long)]
        user: String,
        /// What it may do: `ACTIONS=s3://bucket/prefix*`, where ACTIONS is a
        /// comma list of groups (read, write, list, delete, *) and action
        /// names (s3:GetObject). Repeat for more rules.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Lifetime, e.g. 15m, 1h (at most the config's session.max_ttl).
        #[arg(long, default_value = "1h", value_parser = duration::parse)]
        ttl: Duration,
    },
}

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Mint {
            config,
            user,
            scopes,
            ttl,
        } => mint(&config, &user, &scopes, ttl),
    }
}

fn mint(config: &Path, user: &str, scopes: &[String], ttl: Duration) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    if ttl > config.session.max_ttl {
        anyhow::bail!(
            "--ttl {}s is longer than session.max_ttl ({}s)",
            ttl.as_secs(),
            config.session.max_ttl.as_secs()
        );
    }
    let scope = Scope::parse(scopes).map_err(|e| anyhow::anyhow!("--scope: {e}"))?;
    let text = config.session.keyring_text()?;
    let keyring = Keyring::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.session.keyring.display()))?;
    let mut identity = Identity::new("mint", user);
    identity.username = Some(user.to_owned());
    let creds = keyring.mint(
        identity,
        scope,
        SystemTime::now(),
        ttl,
        Vec::new(),
        &mut rand::rng(),
    )?;
    let out = serde_json::json!({
        "Version": 1,
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key.expose(),
        "SessionToken": creds.session_token,
        "Expiration": iso8601(creds.expires_at),
    });
    println!("{out}");
    Ok(())
}
