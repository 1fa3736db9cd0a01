//! Sessions cached on the caller's machine (`s3gate credentials aws|sso`,
//! `s3gate login`), written with [`write_private`].

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

pub use s3gate::secret_file::write_private;
