//! The configuration file: serde structs with their defaults, validation
//! with errors that name the field, and loading from disk. One file per
//! section family (`server`, `identity`, `upstream`, `session`, `login`);
//! this one holds the whole file's struct, loading and validation.
//!
//! May read files; depends on nothing else in the crate but the addressing
//! enum shared with `upstream` and the pure CORS rule shape of
//! [`crate::s3::cors`]. Every field's default is in its doc, and
//! `config/s3gate.example.toml` shows them all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod login;
pub use login::LoginConfig;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Default: `127.0.0.1:7070`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Serve HTTPS with these PEM files. Default: plain HTTP (for use
    /// behind a TLS-terminating load balancer).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// The default store: it serves ListBuckets and every bucket no
    /// `[[upstreams]]` entry claims.
    pub upstream: UpstreamConfig,
    /// More stores, each serving the buckets its `buckets` patterns match
    /// (first matching entry wins). Default: none.
    #[serde(default)]
    pub upstreams: Vec<UpstreamConfig>,
    /// Session credentials.
    pub session: SessionConfig,
    /// Where audit lines go.
    #[serde(default)]
    pub audit: AuditConfig,
    /// How callers address s3gate.
    #[serde(default)]
    pub s3: S3Config,
    /// Connection handling: limits against abuse and the shutdown drain.
    #[serde(default)]
    pub server: ServerConfig,
    /// The policy file. Required by `serve`: without a policy there is
    /// nothing to allow, and s3gate refuses to start rather than deny
    /// everything silently.
    #[serde(default)]
    pub policy: Option<PolicyConfig>,
    /// Who may obtain sessions through the STS API, and how long they last.
    /// Default: nobody (no issuers, no AWS identity).
    #[serde(default)]
    pub identity: IdentityConfig,
    /// Browser and CLI sign-in through an OIDC provider (the portal at
    /// `/_s3gate/`). Default: off.
    #[serde(default)]
    pub login: Option<LoginConfig>,
    /// Per-bucket CORS rules (`[[cors]]`, S3's `CORSRule` shape plus the
    /// `buckets` each applies to), the source of truth for preflights and
    /// `GetBucketCors`. Read at start: a change needs a restart. Default:
    /// none (every preflight is refused).
    #[serde(default)]
    pub cors: Vec<crate::s3::cors::CorsRule>,
    /// State every instance must share (one-time codes, device approvals,
    /// quota leases). Default: this process's memory.
    #[serde(default)]
    pub shared: SharedConfig,
}

mod duration_field;
mod identity;
pub mod origin;
mod server;
mod session;
mod shared;
mod upstream;

pub use duration_field::duration;
use duration_field::optional_duration;
pub use identity::*;
pub use server::*;
pub use session::*;
pub use shared::*;
pub use upstream::*;

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7070))
}
fn default_region() -> String {
    "us-east-1".to_owned()
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_response_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_role_duration() -> Duration {
    Duration::from_secs(900)
}
fn default_role_cache_capacity() -> u64 {
    10_000
}
fn default_true() -> bool {
    true
}
fn default_reload_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_max_ttl() -> Duration {
    Duration::from_secs(12 * 3600)
}
fn default_session_ttl() -> Duration {
    Duration::from_secs(3600)
}
fn default_min_session_ttl() -> Duration {
    Duration::from_secs(900)
}
fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into()]
}
fn default_subject_claim() -> String {
    "sub".into()
}
fn default_username_claim() -> String {
    "sub".into()
}
fn default_mfa_amr() -> Vec<String> {
    vec!["mfa".into()]
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_groups_delimiter() -> String {
    ",".into()
}
fn default_oidc_skew() -> Duration {
    Duration::from_secs(60)
}
fn default_jwks_ttl() -> Duration {
    Duration::from_secs(3600)
}
fn default_jwks_cooldown() -> Duration {
    Duration::from_secs(60)
}
fn default_role_patterns() -> Vec<String> {
    vec!["*".into()]
}
fn default_aws_date_window() -> Duration {
    Duration::from_secs(300)
}
fn default_aws_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Signature algorithms an issuer may be configured with: asymmetric only,
/// so a public key can never be used as an HMAC secret.
pub const ASYMMETRIC_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// `https://`, or `http://` to a loopback host (tests, sidecars).
fn is_trusted_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    match (uri.scheme_str(), uri.host()) {
        (Some("https"), Some(_)) => true,
        (Some("http"), Some(h)) => {
            h == "localhost"
                || h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

/// A configuration problem, naming the file and field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: `{field}`: {message}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        message: String,
    },
}

/// `env:NAME` names an environment variable instead of a file.
fn env_source(path: &Path) -> Option<&str> {
    path.to_str()?.strip_prefix("env:")
}

/// The most a config or keyring file may hold.
const MAX_SOURCE_BYTES: u64 = 4 * 1024 * 1024;

/// The text of a file, with the metadata of the very file read (for
/// [`crate::secret_file`]'s checks), or of the environment variable
/// `env:NAME` names (no metadata).
fn read_source(path: &Path) -> Result<(String, Option<std::fs::Metadata>), ConfigError> {
    let read = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let (bytes, meta) = match env_source(path) {
        Some(var) => {
            let text = std::env::var(var).map_err(|_| {
                read(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("environment variable {var} is not set"),
                ))
            })?;
            return Ok((text, None));
        }
        None => crate::secret_file::read(path, MAX_SOURCE_BYTES).map_err(read)?,
    };
    let text = String::from_utf8(bytes).map_err(|_| {
        read(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text",
        ))
    })?;
    Ok((text, Some(meta)))
}

/// `check`'s verdict on a file as a config error naming `field`.
fn judged(
    path: &Path,
    field: &'static str,
    meta: &std::fs::Metadata,
    check: crate::secret_file::Guard,
) -> Result<(), ConfigError> {
    check(path, meta).map_err(|message| ConfigError::Invalid {
        path: path.to_owned(),
        field,
        message,
    })
}

impl Config {
    /// Reads, parses and validates a config file (or `env:NAME`: the
    /// config's text in an environment variable). Relative paths inside a
    /// file are taken relative to the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let (text, file) = read_source(path)?;
        let mut config = Self::parse(&text, path)?;
        if let Some(meta) = &file {
            // A file that holds a secret itself is held to the keyring's
            // rule; any config, to the policy's (it names the keyring, the
            // policy and the trusted proxies). Judged on the file read.
            match config.inline_secret() {
                Some(field) => judged(path, field, meta, crate::secret_file::private)?,
                None => judged(path, "(file)", meta, crate::secret_file::not_world_writable)?,
            }
        }
        if let Some(dir) = path.parent() {
            config.resolve_relative_to(dir);
        }
        Ok(config)
    }

    /// The first secret written into the config itself, not taken from
    /// the environment: static store credentials, the portal's client
    /// secret.
    fn inline_secret(&self) -> Option<&'static str> {
        if std::iter::once(&self.upstream)
            .chain(&self.upstreams)
            .any(|u| u.credentials.is_some())
        {
            return Some("upstream.credentials");
        }
        self.login
            .as_ref()
            .is_some_and(LoginConfig::secret_is_inline)
            .then_some("login.client_secret")
    }

    /// Parses and validates config text; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn resolve_relative_to(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && env_source(p).is_none() {
                *p = dir.join(&*p);
            }
        };
        fix(&mut self.session.keyring);
        if let Some(p) = &mut self.session.revocation_file {
            fix(p);
        }
        if let Some(tls) = &mut self.tls {
            fix(&mut tls.cert);
            fix(&mut tls.key);
        }
        if let AuditOutput::File(p) = &mut self.audit.output {
            fix(p);
        }
        for u in std::iter::once(&mut self.upstream).chain(&mut self.upstreams) {
            if let Some(p) = &mut u.ca_bundle {
                fix(p);
            }
        }
        if let Some(policy) = &mut self.policy {
            fix(&mut policy.file);
        }
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            message,
        };
        self.upstream
            .validate("upstream", None)
            .map_err(|(field, message)| invalid(field, message))?;
        self.shared
            .validate()
            .map_err(|(field, message)| invalid(field, message))?;
        if self.upstream.name.is_some() || !self.upstream.buckets.is_empty() {
            return Err(invalid(
                "upstream",
                "`name` and `buckets` belong to [[upstreams]] entries; [upstream] is the default"
                    .into(),
            ));
        }
        let mut names = vec!["default"];
        for u in &self.upstreams {
            let Some(name) = u.name.as_deref().filter(|n| !n.is_empty()) else {
                return Err(invalid(
                    "upstreams.name",
                    "every [[upstreams]] entry needs a name".into(),
                ));
            };
            if names.contains(&name) {
                return Err(invalid(
                    "upstreams.name",
                    format!("`{name}` names two upstreams"),
                ));
            }
            names.push(name);
            u.validate("upstreams", Some(name))
                .map_err(|(field, message)| invalid(field, message))?;
            if u.buckets.is_empty() {
                return Err(invalid(
                    "upstreams.buckets",
                    format!("upstream `{name}` serves no bucket: list bucket name patterns"),
                ));
            }
            for b in &u.buckets {
                let ok = !b.is_empty()
                    && b.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_*".contains(c)
                    });
                if !ok {
                    return Err(invalid(
                        "upstreams.buckets",
                        format!(
                            "upstream `{name}`: `{b}` is not a bucket name pattern \
                             (lowercase letters, digits, `.`, `-`, `_` and `*`)"
                        ),
                    ));
                }
            }
        }
        crate::s3::cors::CorsRules::new(self.cors.clone()).map_err(|e| invalid("cors", e))?;
        if self.session.max_ttl < Duration::from_secs(60) {
            return Err(invalid("session.max_ttl", "must be at least 1m".into()));
        }
        if let Some(url) = &self.session.revocation_url {
            if self.session.revocation_file.is_some() {
                return Err(invalid(
                    "session.revocation_url",
                    "name one revocation list: revocation_file or revocation_url, not both".into(),
                ));
            }
            if s3_url(url).is_none() {
                return Err(invalid(
                    "session.revocation_url",
                    format!("`{url}` is not s3://bucket/key (a bucket name, then a key)"),
                ));
            }
        }
        for (field, poll) in [
            ("session.revocation_poll", self.session.revocation_poll),
            ("session.keyring_poll", self.session.keyring_poll),
        ] {
            if poll < Duration::from_secs(1) {
                return Err(invalid(field, "must be at least 1s".into()));
            }
        }
        let srv = &self.server;
        if srv.drain_timeout.is_zero() || srv.header_read_timeout.is_zero() {
            return Err(invalid(
                "server",
                "drain_timeout and header_read_timeout must be positive".into(),
            ));
        }
        if srv.idle_timeout < srv.header_read_timeout {
            return Err(invalid(
                "server.idle_timeout",
                "must not be shorter than server.header_read_timeout".into(),
            ));
        }
        if srv.max_connections == 0 || srv.max_headers == 0 {
            return Err(invalid(
                "server",
                "max_connections and max_headers must be positive".into(),
            ));
        }
        if srv.max_header_bytes < 4096 || srv.max_url_bytes < 2048 {
            return Err(invalid(
                "server",
                "max_header_bytes must be at least 4096 and max_url_bytes at least 2048".into(),
            ));
        }
        if self.server.body_rate_window < std::time::Duration::from_secs(1) {
            return Err(invalid(
                "server.body_rate_window",
                "must be at least 1s".into(),
            ));
        }
        if let Some(p) = &self.policy
            && p.reload_interval.is_zero()
        {
            return Err(invalid(
                "policy.reload_interval",
                "must be at least 1s".into(),
            ));
        }
        for d in &self.s3.virtual_host_domains {
            if d.is_empty() || d.contains('/') || d.contains(':') {
                return Err(invalid(
                    "s3.virtual_host_domains",
                    format!("`{d}` is not a bare domain name"),
                ));
            }
        }
        self.validate_identity(path)?;
        self.validate_login(path)
    }

    fn validate_identity(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            message,
        };
        let id = &self.identity;
        if id.min_session_ttl < Duration::from_secs(60) {
            return Err(invalid(
                "identity.min_session_ttl",
                "must be at least 1m".into(),
            ));
        }
        if id.max_session_ttl < id.min_session_ttl
            || id.default_session_ttl < id.min_session_ttl
            || id.default_session_ttl > id.max_session_ttl
        {
            return Err(invalid(
                "identity.default_session_ttl",
                "must lie between min_session_ttl and max_session_ttl".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for o in &id.oidc {
            if !is_trusted_url(&o.issuer) {
                return Err(invalid(
                    "identity.oidc.issuer",
                    format!(
                        "`{}` must be an https:// URL (http:// only on loopback)",
                        o.issuer
                    ),
                ));
            }
            if !seen.insert(o.issuer.as_str()) {
                return Err(invalid(
                    "identity.oidc.issuer",
                    format!("`{}` is configured twice", o.issuer),
                ));
            }
            if let Some(d) = &o.discovery_url
                && !is_trusted_url(d)
            {
                return Err(invalid(
                    "identity.oidc.discovery_url",
                    format!("`{d}` must be an https:// URL (http:// only on loopback)"),
                ));
            }
            if o.audiences.is_empty() || o.audiences.iter().any(String::is_empty) {
                return Err(invalid(
                    "identity.oidc.audiences",
                    format!("issuer `{}` needs at least one audience", o.issuer),
                ));
            }
            if o.algorithms.is_empty() {
                return Err(invalid(
                    "identity.oidc.algorithms",
                    "must name at least one algorithm".into(),
                ));
            }
            for a in &o.algorithms {
                if !ASYMMETRIC_ALGORITHMS.contains(&a.as_str()) {
                    return Err(invalid(
                        "identity.oidc.algorithms",
                        format!(
                            "`{a}` is not allowed (asymmetric only: {})",
                            ASYMMETRIC_ALGORITHMS.join(", ")
                        ),
                    ));
                }
            }
            if o.subject_claim.is_empty() || o.groups_delimiter.is_empty() {
                return Err(invalid(
                    "identity.oidc.subject_claim",
                    "subject_claim and groups_delimiter must not be empty".into(),
                ));
            }
            if o.jwks_cooldown > o.jwks_ttl {
                return Err(invalid(
                    "identity.oidc.jwks_cooldown",
                    "must not be longer than jwks_ttl".into(),
                ));
            }
        }
        if let Some(aws) = &id.aws {
            if aws.server_id.is_empty()
                || aws.server_id.len() > 128
                || !aws.server_id.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(invalid(
                    "identity.aws.server_id",
                    "must be 1 to 128 printable characters without spaces".into(),
                ));
            }
            if !is_trusted_url(&aws.sts_endpoint()) {
                return Err(invalid(
                    "identity.aws.sts_endpoint",
                    "must be an https:// URL (http:// only on loopback)".into(),
                ));
            }
            if aws.allowed_accounts.is_empty()
                || aws
                    .allowed_accounts
                    .iter()
                    .any(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(invalid(
                    "identity.aws.allowed_accounts",
                    "must list 12-digit AWS account ids".into(),
                ));
            }
        }
        Ok(())
    }

    /// The default upstream's base URL, defaulting to AWS's regional endpoint.
    pub fn upstream_endpoint(&self) -> String {
        self.upstream.endpoint_url()
    }

    pub fn upstream_addressing(&self) -> UpstreamAddressing {
        self.upstream.addressing_style()
    }
}

#[cfg(test)]
mod tests;
