//! `s3gate keyring`: create and rotate the keyring that seals sessions.
//! Files are written owner-only and atomically.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context as _;

use s3gate::audit::iso8601;
use s3gate::session::{Keyring, KeyringError};

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
        /// Add the key as the oldest: every instance opens its sessions, none
        /// mints with it until `s3gate keyring promote`. Run promote once
        /// every instance has re-read the file (`session.keyring_poll`), so no
        /// instance ever sees a session sealed by a key it does not hold yet.
        #[arg(long)]
        staged: bool,
    },
    /// Make a key of the keyring the newest: new sessions use it.
    Promote {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        id: String,
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
        Command::Rotate { file, id, staged } => {
            let id = id.unwrap_or_else(default_key_id);
            edit(&file, |keyring| {
                if staged {
                    keyring.stage_key(&id, &mut rand::rng())
                } else {
                    keyring.add_key(&id, &mut rand::rng())
                }
            })?;
            if staged {
                eprintln!(
                    "added key `{id}` to {} as the oldest: it opens sessions; once every \
                     instance has re-read the file, `s3gate keyring promote --id {id}`",
                    file.display()
                );
            } else {
                eprintln!(
                    "added key `{id}` to {}; new sessions use it",
                    file.display()
                );
            }
            Ok(())
        }
        Command::Promote { file, id } => {
            edit(&file, |keyring| keyring.promote(&id))?;
            eprintln!("key `{id}` of {} seals new sessions", file.display());
            Ok(())
        }
    }
}

/// Reads the keyring `file`, changes it, writes it back owner-only and
/// atomically (running instances never read half a file).
fn edit(
    file: &Path,
    change: impl FnOnce(&mut Keyring) -> Result<(), KeyringError>,
) -> anyhow::Result<()> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?,
    );
    let mut keyring =
        Keyring::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    change(&mut keyring)?;
    write_private(file, keyring.to_toml().expose())
        .with_context(|| format!("cannot write {}", file.display()))
}

fn default_key_id() -> String {
    let date = iso8601(SystemTime::now());
    format!("k{}", &date[..10])
}
