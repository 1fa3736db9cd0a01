//! `[session]` (keyring, lifetimes, the revocation list), `[audit]` and
//! `[policy]`.

use super::*;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// The keyring file (`s3gate keyring new` writes one), or
    /// `env:NAME` to read the keyring's text from environment variable
    /// `NAME` (on ECS: a Secrets Manager secret injected through the task
    /// definition's `secrets`). Required.
    pub keyring: PathBuf,
    /// Longest session `s3gate session mint` issues. Default: `12h`.
    #[serde(default = "default_max_ttl", with = "duration")]
    pub max_ttl: Duration,
    /// The revocation list every instance polls (`s3gate revoke` appends
    /// to it; share it between instances, e.g. on a shared volume). A file
    /// that does not exist yet is an empty list. Default: none (no
    /// revocation).
    #[serde(default)]
    pub revocation_file: Option<PathBuf>,
    /// The revocation list as an S3 object, `s3://bucket/key`, read and
    /// written through the upstream that serves `bucket`, with that
    /// upstream's own credentials. A missing object is an empty list.
    /// Instead of `revocation_file`, not with it. Default: none.
    #[serde(default)]
    pub revocation_url: Option<String>,
    /// How often the revocation list is re-read. Default: `5s`.
    #[serde(default = "default_revocation_poll", with = "duration")]
    pub revocation_poll: Duration,
    /// How often a keyring file is re-read, so a rotation reaches running
    /// instances (not an `env:` keyring, read once). Default: `5s`.
    #[serde(default = "default_revocation_poll", with = "duration")]
    pub keyring_poll: Duration,
}

/// Where the revocation list lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationSource<'a> {
    /// None configured: nothing can be revoked.
    None,
    File(&'a Path),
    Object {
        bucket: &'a str,
        key: &'a str,
    },
}

/// `s3://bucket/key` split, if it is one.
pub(super) fn s3_url(url: &str) -> Option<(&str, &str)> {
    let (bucket, key) = url.strip_prefix("s3://")?.split_once('/')?;
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-".contains(c));
    (bucket_ok && !key.is_empty()).then_some((bucket, key))
}

fn default_revocation_poll() -> Duration {
    Duration::from_secs(5)
}

impl SessionConfig {
    /// The keyring's text, from its file or environment variable. A file
    /// other users can read or change is refused
    /// ([`crate::secret_file::private`]): its keys seal every session.
    pub fn keyring_text(&self) -> Result<String, ConfigError> {
        let (text, file) = read_source(&self.keyring)?;
        if let Some(meta) = &file {
            judged(&self.keyring, "keyring", meta, crate::secret_file::private)?;
        }
        Ok(text)
    }

    /// The keyring's file, if it is one (not `env:NAME`).
    pub fn keyring_file(&self) -> Option<&Path> {
        env_source(&self.keyring)
            .is_none()
            .then_some(self.keyring.as_path())
    }

    /// Where the revocation list lives (validation made the two fields
    /// exclusive and the URL well-formed).
    pub fn revocation_source(&self) -> RevocationSource<'_> {
        if let Some(path) = &self.revocation_file {
            return RevocationSource::File(path);
        }
        match self.revocation_url.as_deref().and_then(s3_url) {
            Some((bucket, key)) => RevocationSource::Object { bucket, key },
            None => RevocationSource::None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// `stdout` (default), `stderr`, or a file path appended to.
    #[serde(default)]
    pub output: AuditOutput,
    /// Tamper evidence: each record carries a hash chained to the previous
    /// record's (`s3gate audit verify FILE` checks it). Default: `false`.
    #[serde(default)]
    pub chain: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AuditOutput {
    #[default]
    Stdout,
    Stderr,
    File(PathBuf),
}

impl<'de> Deserialize<'de> for AuditOutput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "stdout" | "-" => Self::Stdout,
            "stderr" => Self::Stderr,
            _ => Self::File(PathBuf::from(s)),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The policy file (see `docs/policy.md`). Required.
    pub file: PathBuf,
    /// Reload the file when it changes. SIGHUP reloads it too. Default: `true`.
    #[serde(default = "default_true")]
    pub watch: bool,
    /// How often a watched file is checked. Default: `1s`.
    #[serde(default = "default_reload_interval", with = "duration")]
    pub reload_interval: Duration,
}
