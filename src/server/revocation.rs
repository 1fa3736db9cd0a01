//! The revocation list as the server holds it: read at start, re-read every
//! `session.revocation_poll`, swapped whole, consulted by every request
//! that opens a session (S3 and STS alike).
//!
//! Does I/O (the file) and reads the clock for the poll; the list itself is
//! pure ([`crate::session::revocation`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::session::revocation::MAX_REVOCATION_FILE_BYTES;
use crate::session::{Claims, RevocationList};

/// The list in force, and where it comes from.
#[derive(Debug, Default)]
pub struct Revocations {
    file: Option<PathBuf>,
    current: ArcSwap<RevocationList>,
}

fn unix(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Reads the list; a missing file is an empty list, an unreadable or
/// oversized one an error (the caller keeps what it had).
async fn read(path: &Path, now: SystemTime) -> Result<RevocationList, String> {
    match tokio::fs::metadata(path).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(RevocationList::default());
        }
        Err(e) => return Err(e.to_string()),
        Ok(m) if m.len() > MAX_REVOCATION_FILE_BYTES => {
            return Err(format!(
                "larger than {MAX_REVOCATION_FILE_BYTES} bytes; compact it (expired entries can go)"
            ));
        }
        Ok(_) => {}
    }
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| e.to_string())?;
    Ok(RevocationList::parse(&text, unix(now)))
}

impl Revocations {
    /// Loads `file` (if configured) once; refuses to start on an unreadable
    /// list, since serving without it would honour revoked sessions.
    pub async fn load(file: Option<&Path>) -> anyhow::Result<Revocations> {
        let list = match file {
            None => RevocationList::default(),
            Some(path) => read(path, SystemTime::now())
                .await
                .map_err(|e| anyhow::anyhow!("revocation file {}: {e}", path.display()))?,
        };
        Ok(Revocations {
            file: file.map(Path::to_owned),
            current: ArcSwap::from_pointee(list),
        })
    }

    /// Why the session is refused, if it has been revoked.
    pub fn revoked(&self, claims: &Claims, now: SystemTime) -> Option<String> {
        self.current.load().revoked(claims, unix(now))
    }

    /// Re-reads the file every `interval` until shutdown. A failed read
    /// keeps the last list and warns.
    pub fn poll(self: &Arc<Self>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        let Some(path) = self.file.clone() else {
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => return,
                }
                match read(&path, SystemTime::now()).await {
                    Ok(list) => {
                        if list.skipped > 0 {
                            tracing::warn!(
                                path = %path.display(),
                                skipped = list.skipped,
                                "revocation file has unreadable lines"
                            );
                        }
                        this.current.store(Arc::new(list));
                    }
                    Err(e) => tracing::warn!(
                        path = %path.display(),
                        error = %e,
                        "cannot re-read the revocation file; keeping the last list"
                    ),
                }
            }
        });
    }
}
