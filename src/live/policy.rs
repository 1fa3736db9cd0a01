//! The live policy: the current [`Policy`] behind an atomic swap, the file
//! watcher, and the reload counters. This is the I/O side of the pure
//! `policy` module: it reads the file, and it is the only writer of the
//! swap.
//!
//! Requests read the policy with one atomic load (`arc-swap`): no lock on
//! the hot path, and a reload never waits for requests nor they for it.
//! A valid new file is swapped in whole, so each request sees one policy
//! version from start to end; an invalid one is logged, counted in
//! [`LivePolicy::reload_failures`], and the old policy stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, watch};

use crate::policy::{MAX_POLICY_BYTES, Policy};

/// The policy requests are decided by, and where it comes from.
pub struct LivePolicy {
    current: ArcSwap<Policy>,
    /// `None` for a built-in policy (`s3gate dev`), which never reloads.
    file: Option<PathBuf>,
    /// The SHA-256 of the text last looked at (valid or not), so an
    /// unchanged file is not parsed again, and a bad one is logged and
    /// counted once, not every second.
    last_seen: Mutex<Option<[u8; 32]>>,
    /// Successful reloads (a new version swapped in).
    pub reloads: AtomicU64,
    /// Reloads refused: unreadable or invalid file. The old policy stayed.
    pub reload_failures: AtomicU64,
}

/// Reads a policy file, refusing one larger than [`MAX_POLICY_BYTES`].
async fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_POLICY_BYTES as u64 {
        return Err(format!(
            "{}: larger than {MAX_POLICY_BYTES} bytes",
            path.display()
        ));
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn parse(bytes: &[u8], path: &Path) -> Result<Policy, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| format!("{}: the policy is not UTF-8", path.display()))?;
    Policy::parse(text, &path.display().to_string()).map_err(|e| e.to_string())
}

impl LivePolicy {
    /// Loads the file for the first time; an invalid file is an error
    /// (s3gate does not start without a policy: default deny).
    pub async fn load(path: &Path) -> anyhow::Result<LivePolicy> {
        let bytes = read_bounded(path).await.map_err(anyhow::Error::msg)?;
        let policy = parse(&bytes, path).map_err(anyhow::Error::msg)?;
        Ok(LivePolicy {
            current: ArcSwap::from_pointee(policy),
            file: Some(path.to_owned()),
            last_seen: Mutex::new(Some(Sha256::digest(&bytes).into())),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
        })
    }

    /// A policy that is not read from a file and never reloads.
    pub fn fixed(policy: Policy) -> LivePolicy {
        LivePolicy {
            current: ArcSwap::from_pointee(policy),
            file: None,
            last_seen: Mutex::new(None),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
        }
    }

    /// The policy now. Hold it for one request: it stays valid (and the
    /// same version) even if a reload swaps in another meanwhile.
    pub fn current(&self) -> Arc<Policy> {
        self.current.load_full()
    }

    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Reads the file again; swaps in the new policy when the text changed
    /// and is valid. Returns whether a new version is in effect. An
    /// unreadable or invalid file is logged and counted once per distinct
    /// content, and the current policy stays.
    pub async fn reload(&self) -> bool {
        let Some(path) = &self.file else {
            return false;
        };
        let mut last_seen = self.last_seen.lock().await;
        let bytes = match read_bounded(path).await {
            Ok(b) => b,
            Err(e) => {
                // Count a vanished or unreadable file once, until it
                // comes back.
                if last_seen.is_some() {
                    *last_seen = None;
                    self.reload_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        policy.file = %path.display(),
                        error = %e,
                        policy.version = %self.current.load().version(),
                        "policy reload failed; keeping the current policy"
                    );
                }
                return false;
            }
        };
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        if *last_seen == Some(hash) {
            return false;
        }
        *last_seen = Some(hash);
        match parse(&bytes, path) {
            Ok(policy) => {
                let version = policy.version().to_owned();
                let old = self.current.swap(Arc::new(policy));
                if old.version() == version {
                    return false;
                }
                self.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    policy.file = %path.display(),
                    policy.version = %version,
                    policy.previous = %old.version(),
                    "policy reloaded"
                );
                true
            }
            Err(e) => {
                self.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    error = %e,
                    policy.version = %self.current.load().version(),
                    "policy reload refused; keeping the current policy"
                );
                false
            }
        }
    }

    /// Checks the file every `interval` until `shutdown` turns true.
    /// Polling (rather than inotify) also sees a file replaced by rename,
    /// a ConfigMap-style symlink swap, or a network filesystem.
    pub fn watch(
        self: &Arc<Self>,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let live = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => { live.reload().await; }
                    _ = shutdown.changed() => break,
                }
                if *shutdown.borrow() {
                    break;
                }
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::policy::Caller;
    use crate::s3::Action;
    use crate::session::Identity;

    fn grant(id: &str, user: &str) -> String {
        format!(
            "[[grant]]\nid = \"{id}\"\nprincipals = [\"user:{user}\"]\nactions = [\"read\"]\nresources = [\"s3://b/*\"]\n"
        )
    }

    fn may_read(live: &LivePolicy, user: &str) -> bool {
        let id = Identity::new("mint", user);
        let caller = Caller {
            identity: &id,
            chain: &[],
            client: None,
            now: SystemTime::now(),
        };
        live.current()
            .explain(&caller, Action::GetObject, "s3://b/k")
            .allowed
    }

    #[tokio::test]
    async fn a_valid_edit_swaps_and_a_bad_one_keeps_the_old_policy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, grant("a", "alice")).unwrap();
        let live = LivePolicy::load(&path).await.unwrap();
        assert!(may_read(&live, "alice"));
        assert!(!live.reload().await, "unchanged file: no new version");

        std::fs::write(&path, grant("b", "bob")).unwrap();
        assert!(live.reload().await);
        assert!(!may_read(&live, "alice"), "the removed grant ends access");
        assert!(may_read(&live, "bob"));
        assert_eq!(live.reloads.load(Ordering::Relaxed), 1);

        std::fs::write(&path, "[[grant]]\nid = \"c\"\nprincipals = [\"nobody\"]\n").unwrap();
        assert!(!live.reload().await);
        assert!(!live.reload().await, "the same bad file is counted once");
        assert_eq!(live.reload_failures.load(Ordering::Relaxed), 1);
        assert!(may_read(&live, "bob"), "the old policy stays");

        std::fs::remove_file(&path).unwrap();
        assert!(!live.reload().await);
        assert_eq!(live.reload_failures.load(Ordering::Relaxed), 2);
        assert!(may_read(&live, "bob"));

        std::fs::write(&path, grant("a", "alice")).unwrap();
        assert!(live.reload().await);
        assert!(may_read(&live, "alice"));
    }

    #[tokio::test]
    async fn an_invalid_file_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, "[[grant]]\nid = 1\n").unwrap();
        let err = LivePolicy::load(&path).await.err().unwrap().to_string();
        assert!(err.contains("policy.toml:2:"), "{err}");
        let missing = LivePolicy::load(&dir.path().join("nope.toml")).await;
        assert!(missing.is_err());
    }
}
