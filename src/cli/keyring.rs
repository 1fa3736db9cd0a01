//! `s3gate keyring`: create and rotate the keyring that seals sessions.
//! Files are written owner-only and atomically.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context as _;

use s3gate::audit::iso8601;
use s3gate::session::Keyring;

use super::cache::write_private;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Write a new keyring file with one fresh key.
    New {
        /// The file to create (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
        /// Key id. Default: `k` and today's date.
        #[arg(long)]
        id: Option<String>,
    },
    /// Add a fresh key to a keyring: new sessions use it, existing sessions
    /// keep working until their key is removed from the file.
    Rotate {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        id: Option<String>,
    },
}

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::New { out, id } => {
            if out.exists() {
                anyhow::bail!("{} exists; refusing to overwrite a keyring", out.display());
            }
            let id = id.unwrap_or_else(default_key_id);
            let keyring = Keyring::generate(&id, &mut rand::rng())?;
            write_private(&out, keyring.to_toml().expose())
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!("wrote {} with key `{id}`", out.display());
            Ok(())
        }
        Command::Rotate { file, id } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let mut keyring =
                Keyring::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let id = id.unwrap_or_else(default_key_id);
            keyring.add_key(&id, &mut rand::rng())?;
            write_private(&file, keyring.to_toml().expose())
                .with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!(
                "added key `{id}` to {}; new sessions use it",
                file.display()
            );
            Ok(())
        }
    }
}

fn default_key_id() -> String {
    let date = iso8601(SystemTime::now());
    format!("k{}", &date[..10])
}
