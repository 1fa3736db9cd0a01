//! The revocation list as the server holds it: read at start, re-read every
//! `session.revocation_poll`, swapped whole, consulted by every request
//! that opens a session (S3 and STS alike) — and [`append`], how
//! `s3gate revoke` adds to it.
//!
//! The list lives in a local file (`session.revocation_file`) or in an S3
//! object (`session.revocation_url`) read through the upstream serving its
//! bucket, with that upstream's own credentials ([`crate::upstream::object`]).
//! An object is polled with `If-None-Match` on the last ETag, so an
//! unchanged list costs a 304; it is written by a read-modify-write
//! conditional on the ETag read, retried on conflict.
//!
//! Does I/O (the file, the store) and reads the clock; the list itself is
//! pure ([`crate::session::revocation`]). A failed read never unrevokes:
//! the last good list stays, with a warning and
//! `s3gate_revocation_reads_total{result="error"}`. Nor does a list that
//! goes missing after it was read once (deleted, or a lifecycle rule): the
//! last list stays, `s3gate_revocation_list_missing` is 1, each poll warns,
//! and `readyz` fails once it has been missing for [`MISSING_GRACE_POLLS`]
//! polls. A list that never existed yet is an empty list (nothing revoked).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use arc_swap::ArcSwap;
use bytes::Bytes;
use rand::Rng as _;
use tokio::sync::watch;

use crate::config::{Config, RevocationSource};
use crate::metrics;
use crate::session::revocation::{MAX_REVOCATION_FILE_BYTES, rewrite};
use crate::session::{Claims, RevocationEntry, RevocationList};
use crate::upstream::object::{Condition, Fetched, Stored};
use crate::upstream::{Upstream, Upstreams};

/// Read-modify-write attempts before `s3gate revoke` gives up; each lost
/// race means another writer's entry landed, so this many in a row is a
/// storm, not bad luck.
const WRITE_ATTEMPTS: u32 = 10;

/// Polls a list may be missing before `readyz` fails: enough for an
/// operator replacing the object by hand, few enough that an instance
/// serving without its list is taken out of rotation.
pub const MISSING_GRACE_POLLS: u32 = 3;

/// Where the list comes from.
enum Source {
    None,
    File(PathBuf),
    Object {
        upstream: Arc<Upstream>,
        bucket: String,
        key: String,
    },
}

impl Source {
    fn new(config: &Config, upstreams: &Upstreams) -> Source {
        match config.session.revocation_source() {
            RevocationSource::None => Source::None,
            RevocationSource::File(path) => Source::File(path.to_owned()),
            RevocationSource::Object { bucket, key } => Source::Object {
                upstream: upstreams.route_shared(Some(bucket)).clone(),
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            },
        }
    }

    /// For logs and errors: the path or `s3://bucket/key`.
    fn describe(&self) -> String {
        match self {
            Source::None => "none".to_owned(),
            Source::File(path) => path.display().to_string(),
            Source::Object { bucket, key, .. } => format!("s3://{bucket}/{key}"),
        }
    }

    /// Reads the list: `None` when the object still has ETag `seen`, else
    /// the list, its ETag and whether it was missing. A missing file or
    /// object reads as an empty list (the caller decides what that means);
    /// an unreadable or oversized one is an error (the caller keeps what it
    /// had).
    async fn read(
        &self,
        seen: Option<&str>,
        now: SystemTime,
    ) -> Result<Option<(RevocationList, Option<String>, bool)>, String> {
        let (text, etag, missing) = match self {
            Source::None => (String::new(), None, false),
            Source::File(path) => match read_file(path).await? {
                Some(text) => (text, None, false),
                None => (String::new(), None, true),
            },
            Source::Object {
                upstream,
                bucket,
                key,
            } => match upstream
                .get_own_object(bucket, key, seen, MAX_REVOCATION_FILE_BYTES, now)
                .await
                .map_err(|e| e.to_string())?
            {
                Fetched::Unchanged => return Ok(None),
                Fetched::Missing => (String::new(), None, true),
                Fetched::Found { body, etag } => (utf8(body)?, etag, false),
            },
        };
        Ok(Some((
            RevocationList::parse(&text, unix(now)),
            etag,
            missing,
        )))
    }
}

fn unix(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn utf8(body: Bytes) -> Result<String, String> {
    String::from_utf8(body.to_vec()).map_err(|_| "not UTF-8 text".to_owned())
}

/// The file's text; `None` when it does not exist. Refused when every user
/// may change it: anyone could then un-revoke any session.
async fn read_file(path: &std::path::Path) -> Result<Option<String>, String> {
    let path = path.to_owned();
    let read = tokio::task::spawn_blocking(move || {
        crate::secret_file::read(&path, MAX_REVOCATION_FILE_BYTES).map(|(bytes, meta)| {
            crate::secret_file::not_world_writable(&path, &meta).map(|()| bytes)
        })
    })
    .await
    .map_err(|e| e.to_string())?;
    let bytes = match read {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(format!("{e}; compact it (expired entries can go)"));
        }
        Err(e) => return Err(e.to_string()),
        Ok(checked) => checked?,
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| "not UTF-8 text".to_owned())
}

/// The list in force, and where it comes from.
pub struct Revocations {
    source: Source,
    current: ArcSwap<RevocationList>,
    /// The object's ETag at the last good read, for `If-None-Match`.
    etag: Mutex<Option<String>>,
    /// Whether the list has been found at least once: from then on, a
    /// missing list is an alarm, not an empty list.
    seen: AtomicBool,
    /// Since when the list has been missing (after being seen).
    missing_since: Mutex<Option<SystemTime>>,
    /// How long it may be missing before `readyz` fails.
    grace: Duration,
}

impl Revocations {
    /// Loads the configured list once, from the file or through the
    /// upstream serving the object's bucket; refuses to start on an
    /// unreadable list, since serving without it would honour revoked
    /// sessions.
    pub async fn load(config: &Config, upstreams: &Upstreams) -> anyhow::Result<Revocations> {
        let this = Revocations {
            source: Source::new(config, upstreams),
            current: ArcSwap::from_pointee(RevocationList::default()),
            etag: Mutex::new(None),
            seen: AtomicBool::new(false),
            missing_since: Mutex::new(None),
            grace: config.session.revocation_poll * MISSING_GRACE_POLLS,
        };
        if !matches!(this.source, Source::None) {
            this.refresh(SystemTime::now())
                .await
                .map_err(|e| anyhow::anyhow!("revocation list {}: {e}", this.source.describe()))?;
        }
        Ok(this)
    }

    /// The S3 object the list lives in, `(bucket, key)`: s3gate's own,
    /// refused to every data-plane request.
    pub fn own_object(&self) -> Option<(&str, &str)> {
        match &self.source {
            Source::Object { bucket, key, .. } => Some((bucket, key)),
            _ => None,
        }
    }

    /// Why `readyz` should fail: the list has been missing longer than
    /// the grace period.
    pub fn alarm(&self, now: SystemTime) -> Option<&'static str> {
        let since = (*self.missing_since.lock().ok()?)?;
        let missing_for = now.duration_since(since).unwrap_or(Duration::ZERO);
        (missing_for >= self.grace).then_some("revocation list missing\n")
    }

    /// Why the session is refused, if it has been revoked.
    pub fn revoked(&self, claims: &Claims, now: SystemTime) -> Option<String> {
        self.current.load().revoked(claims, unix(now))
    }

    /// Reads the list again and swaps it in; on failure the last list
    /// stays. Counted either way.
    async fn refresh(&self, now: SystemTime) -> Result<(), String> {
        let seen = self.etag.lock().ok().and_then(|e| e.clone());
        let read = self.source.read(seen.as_deref(), now).await;
        metrics::REVOCATION_READ.record(&read);
        let Some((list, etag, missing)) = read? else {
            return Ok(());
        };
        if missing && self.seen.load(Ordering::Relaxed) {
            // Deleted, or expired by a lifecycle rule: an empty list now
            // would lift every revocation. Keep the last one and alarm.
            metrics::REVOCATION_MISSING.set(1);
            if let Ok(mut since) = self.missing_since.lock() {
                since.get_or_insert(now);
            }
            return Err("the list has gone missing; keeping the last one".into());
        }
        if !missing {
            self.seen.store(true, Ordering::Relaxed);
            metrics::REVOCATION_MISSING.set(0);
            if let Ok(mut since) = self.missing_since.lock() {
                *since = None;
            }
        }
        if list.skipped > 0 {
            tracing::warn!(
                list = %self.source.describe(),
                skipped = list.skipped,
                "the revocation list has unreadable lines"
            );
        }
        metrics::REVOCATION_ENTRIES.set(i64::try_from(list.len()).unwrap_or(i64::MAX));
        self.current.store(Arc::new(list));
        if let Ok(mut slot) = self.etag.lock() {
            *slot = etag;
        }
        Ok(())
    }

    /// Re-reads the list every `interval` until shutdown. A failed read
    /// keeps the last list and warns.
    pub fn poll(self: &Arc<Self>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        if matches!(self.source, Source::None) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => return,
                }
                if let Err(e) = this.refresh(SystemTime::now()).await {
                    tracing::warn!(
                        list = %this.source.describe(),
                        error = %e,
                        "cannot re-read the revocation list; keeping the last one"
                    );
                }
            }
        });
    }
}

/// Adds `entry` to the configured list (`s3gate revoke`): one appended
/// line for a file, a conditional read-modify-write for an S3 object.
/// Returns where it went.
pub async fn append(config: &Config, entry: &RevocationEntry) -> anyhow::Result<String> {
    match config.session.revocation_source() {
        RevocationSource::None => anyhow::bail!(
            "the config names no session.revocation_file or session.revocation_url: \
             nothing can be revoked"
        ),
        RevocationSource::File(path) => {
            append_line(path, entry).await?;
            Ok(path.display().to_string())
        }
        RevocationSource::Object { bucket, key } => {
            let upstreams = Upstreams::new(config).await?;
            let upstream = upstreams.route(Some(bucket));
            append_object(upstream, bucket, key, entry)
                .await
                .with_context(|| format!("cannot add to s3://{bucket}/{key}"))?;
            Ok(format!("s3://{bucket}/{key}"))
        }
    }
}

/// One write of one line: appends this size do not interleave.
async fn append_line(path: &std::path::Path, entry: &RevocationEntry) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let mut line = serde_json::to_string(entry)?;
    line.push('\n');
    let mut f = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .with_context(|| format!("cannot append to {}", path.display()))?;
    f.write_all(line.as_bytes()).await?;
    f.sync_all().await?;
    Ok(())
}

/// Read, add (dropping what is void), write back only if nobody wrote in
/// between; on a lost race, again from the read. A store that ignores
/// `If-Match` / `If-None-Match` accepts every write: the last writer wins.
async fn append_object(
    upstream: &Upstream,
    bucket: &str,
    key: &str,
    entry: &RevocationEntry,
) -> anyhow::Result<()> {
    for attempt in 1..=WRITE_ATTEMPTS {
        let now = SystemTime::now();
        let (text, etag, exists) = match upstream
            .get_own_object(bucket, key, None, MAX_REVOCATION_FILE_BYTES, now)
            .await?
        {
            // Never asked with an ETag, so never unchanged.
            Fetched::Missing | Fetched::Unchanged => (String::new(), None, false),
            Fetched::Found { body, etag } => (utf8(body).map_err(anyhow::Error::msg)?, etag, true),
        };
        let condition = match (&etag, exists) {
            (Some(etag), _) => Condition::IfMatch(etag),
            (None, false) => Condition::IfAbsent,
            // An object without an ETag: nothing to make the write
            // conditional on.
            (None, true) => Condition::Always,
        };
        let body = Bytes::from(rewrite(&text, entry, unix(now))?);
        match upstream
            .put_own_object(bucket, key, body, condition, now)
            .await?
        {
            Stored::Written => return Ok(()),
            Stored::Conflict => {
                tracing::info!(attempt, "the revocation list changed while writing; again");
                // Apart from the other writer, a little further each time.
                let ms = 50 * u64::from(attempt) + rand::rng().random_range(0..50);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
    }
    anyhow::bail!(
        "the list changed under each of {WRITE_ATTEMPTS} attempts (other writers); try again"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_list_every_user_may_change_is_not_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.toml");
        std::fs::write(&path, "").unwrap();
        assert_eq!(read_file(&path).await, Ok(Some(String::new())));
        // Anyone could delete an entry and bring a revoked session back.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = read_file(&path).await.unwrap_err();
        assert!(err.contains("chmod o-w"), "{err}");
        assert_eq!(read_file(&dir.path().join("none")).await, Ok(None));
    }
}
