//! Sessions cached on the caller's machine (`s3gate credentials aws|sso`,
//! `s3gate login`) and the owner-only writer they share with keyrings.

use std::path::Path;
use std::time::{Duration, SystemTime};

/// A cached session is reused only while it has this much life left, so
/// a client never starts a request with credentials about to lapse.
pub const CACHE_MARGIN: Duration = Duration::from_secs(300);

/// A cached session with more than [`CACHE_MARGIN`] left.
pub fn cached(path: &Path, now: SystemTime) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let exp = time::OffsetDateTime::parse(
        v["Expiration"].as_str()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    let exp =
        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(exp.unix_timestamp()).ok()?);
    (exp > now + CACHE_MARGIN).then(|| text.trim().to_owned())
}

/// Writes a secret (a cached session, a keyring) for its owner only: the
/// folder is created 0700 if missing, the file is written 0600 under a
/// temporary name, synced, and renamed into place, so a reader never sees
/// half of it.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
