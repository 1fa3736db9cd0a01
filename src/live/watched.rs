//! A file the gateway re-reads while it runs, and what it holds behind an
//! atomic swap: the mechanism the live policy and the live keyring share.
//! Reads the file bounded in size, remembers the SHA-256 of what it last
//! looked at (so an unchanged file is not parsed again, and a bad one is
//! logged and counted once, not every poll), swaps a valid new value in
//! whole, keeps the old one on any error, and polls on an interval until
//! shutdown.
//!
//! Requests read the value with one atomic load (`arc-swap`): no lock on
//! the hot path, and a reload never waits for requests nor they for it.
//! Polling (rather than inotify) also sees a file replaced by rename, a
//! ConfigMap-style symlink swap, or a network filesystem. Depends on
//! nothing else in the crate but [`crate::secret_file`]; what a file means
//! is its [`Loaded`] type's.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::secret_file;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, watch};

/// What a watched file holds.
pub trait Loaded: Sized + Send + Sync + 'static {
    /// What log lines call it (`policy`, `keyring`).
    const WHAT: &'static str;
    /// The value in `bytes`, read from `path` (which only labels errors).
    fn parse(bytes: &[u8], path: &Path) -> Result<Self, String>;
    /// What log lines say is in force: a version, key ids, never a secret.
    fn describe(&self) -> String;
    /// Whether `new` is what is in force already: then a reload swaps it in
    /// but neither counts nor logs it.
    fn same(&self, _new: &Self) -> bool {
        false
    }
}

/// A value loaded from a file (or given), swapped whole on reload.
pub struct Live<T> {
    current: ArcSwap<T>,
    /// `None` for a value not read from a file, which never reloads.
    file: Option<WatchedFile>,
    /// Successful reloads (a new value swapped in).
    pub reloads: AtomicU64,
    /// Reloads refused: an unreadable or invalid file. The old value stayed.
    pub reload_failures: AtomicU64,
}

impl<T: Loaded> Live<T> {
    /// `value`, re-read from `file` when one is given.
    pub(super) fn new(value: T, file: Option<WatchedFile>) -> Live<T> {
        Live {
            current: ArcSwap::from_pointee(value),
            file,
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
        }
    }

    /// The value now. Hold it for one request: it stays valid (and the same
    /// version) even if a reload swaps in another meanwhile.
    pub fn current(&self) -> Arc<T> {
        self.current.load_full()
    }

    /// The file it is re-read from, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_ref().map(WatchedFile::path)
    }

    /// Reads the file again; swaps in the new value when the text changed
    /// and is valid. Returns whether a new value is in effect. An
    /// unreadable or invalid file is logged and counted once per distinct
    /// content, and the current value stays.
    pub async fn reload(&self) -> bool {
        let Some(file) = &self.file else {
            return false;
        };
        let path = file.path();
        let refused = |e: &str| {
            self.reload_failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                file = %path.display(),
                error = %e,
                in_force = %self.current.load().describe(),
                "{} reload refused; keeping the current {}",
                T::WHAT,
                T::WHAT
            );
        };
        let apply = |bytes: &[u8]| match T::parse(bytes, path) {
            Ok(value) => {
                let now = value.describe();
                let old = self.current.swap(Arc::new(value));
                if old.same(&self.current.load()) {
                    return false;
                }
                self.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    file = %path.display(),
                    in_force = %now,
                    previous = %old.describe(),
                    "{} reloaded",
                    T::WHAT
                );
                true
            }
            Err(e) => {
                refused(&e);
                false
            }
        };
        file.look(refused, apply).await.unwrap_or(false)
    }

    /// Checks the file every `interval` until `shutdown` turns true.
    pub fn watch(
        self: &Arc<Self>,
        interval: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        poll(self.clone(), interval, shutdown, |live| async move {
            live.reload().await
        })
    }
}

/// A file looked at again on each poll.
pub(super) struct WatchedFile {
    path: PathBuf,
    max_bytes: u64,
    /// What the file must pass to be used (who may read or change it).
    guard: secret_file::Guard,
    /// The SHA-256 of the text last looked at (valid or not); `None` after
    /// a failed read, so a file that comes back is parsed again.
    last_seen: Mutex<Option<[u8; 32]>>,
}

/// Reads `path`, refusing a file larger than `max_bytes` or one `guard`
/// refuses, judged on the file as read ([`secret_file::read_guarded`]).
pub(super) async fn read_bounded(
    path: &Path,
    max_bytes: u64,
    guard: secret_file::Guard,
) -> Result<Vec<u8>, String> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || secret_file::read_guarded(&path, max_bytes, guard))
        .await
        .map_err(|e| e.to_string())?
}

impl WatchedFile {
    /// Watches `path`, whose content `first` was loaded at start.
    pub(super) fn new(path: &Path, max_bytes: u64, first: &[u8]) -> WatchedFile {
        WatchedFile {
            path: path.to_owned(),
            max_bytes,
            guard: secret_file::any,
            last_seen: Mutex::new(Some(Sha256::digest(first).into())),
        }
    }

    /// Each re-read first passes `guard` (as the first read did), or fails
    /// and keeps what is in force.
    pub(super) fn guarded(mut self, guard: secret_file::Guard) -> WatchedFile {
        self.guard = guard;
        self
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file again. When its text changed, runs `apply` on it and
    /// returns what `apply` returned; an unchanged file returns `None`. A
    /// file that cannot be read is reported to `failed` once, until it
    /// reads again, and returns `None`. Looks are serialised, so two
    /// reloads (a poll and a signal) never apply out of order.
    pub(super) async fn look<R>(
        &self,
        failed: impl FnOnce(&str),
        apply: impl FnOnce(&[u8]) -> R,
    ) -> Option<R> {
        let mut last_seen = self.last_seen.lock().await;
        // Wiped when dropped: the file may be the keyring.
        let bytes = match read_bounded(&self.path, self.max_bytes, self.guard).await {
            Ok(b) => zeroize::Zeroizing::new(b),
            Err(e) => {
                if last_seen.take().is_some() {
                    failed(&e);
                }
                return None;
            }
        };
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        if *last_seen == Some(hash) {
            return None;
        }
        *last_seen = Some(hash);
        Some(apply(&bytes))
    }
}

/// Runs `reload(target)` every `interval` until `shutdown` turns true.
fn poll<T, F, Fut>(
    target: Arc<T>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
    reload: F,
) -> tokio::task::JoinHandle<()>
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => { reload(target.clone()).await; }
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
    })
}
