//! The configuration file: serde structs with their defaults, validation
//! with errors that name the field, and loading from disk.
//!
//! May read files; depends on nothing else in the crate but the addressing
//! enum shared with `upstream`. Every field's default is in its doc, and
//! `config/s3gate.example.toml` shows them all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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
    /// The store requests are forwarded to.
    pub upstream: UpstreamConfig,
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
}

/// Limits on what a caller may send and how long it may take, and the
/// drain on shutdown. Each limit answers the error an S3 client expects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// After SIGTERM, how long in-flight requests may run before the
    /// process exits anyway. Keep it below the orchestrator's kill timeout
    /// (ECS `stopTimeout`, 30 s by default). Default: `25s`.
    #[serde(default = "default_drain_timeout", with = "duration")]
    pub drain_timeout: Duration,
    /// After SIGTERM, how long the listener stays open with `readyz`
    /// failing before it closes, for load balancers that only learn of a
    /// shutdown by polling readiness. ECS deregisters the task from its
    /// target group before it sends SIGTERM, so there it can stay 0.
    /// Counted within `drain_timeout`'s budget only for requests it admits.
    /// Default: `0s`.
    #[serde(default, with = "duration")]
    pub shutdown_delay: Duration,
    /// Time a client has to send a request's whole header section
    /// (slowloris). hyper starts this clock when it begins waiting for a
    /// request, so it also bounds how long an idle keep-alive connection
    /// waits for its next one: behind a load balancer keep it above the
    /// balancer's idle timeout (ALB: 60 s), or the balancer may reuse a
    /// connection s3gate is closing (a 502). Exposed directly, 10-30 s.
    /// Default: `75s`.
    #[serde(default = "default_header_read_timeout", with = "duration")]
    pub header_read_timeout: Duration,
    /// A connection that moves no byte either way this long is closed.
    /// Longer than the load balancer's own idle timeout (ALB: 60 s), so the
    /// balancer, not s3gate, closes idle keep-alive connections. Keep it
    /// above `upstream.response_timeout` too: while the store thinks, no
    /// byte moves. Default: `75s`.
    #[serde(default = "default_idle_timeout", with = "duration")]
    pub idle_timeout: Duration,
    /// Open client connections; the next one is answered `503 SlowDown`.
    /// Default: `4096`.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Bytes of a request's header section (names, values, separators);
    /// more is `400 RequestHeaderSectionTooLarge`. S3 allows 8 KiB of
    /// headers plus 2 KiB of user metadata. Default: `16384`.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Header lines in a request; more is `400 RequestHeaderSectionTooLarge`.
    /// Default: `100`.
    #[serde(default = "default_max_headers")]
    pub max_headers: usize,
    /// Bytes of the request target (path and query); more is
    /// `400 InvalidURI`. Default: `8192`.
    #[serde(default = "default_max_url_bytes")]
    pub max_url_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            drain_timeout: default_drain_timeout(),
            shutdown_delay: Duration::ZERO,
            header_read_timeout: default_header_read_timeout(),
            idle_timeout: default_idle_timeout(),
            max_connections: default_max_connections(),
            max_header_bytes: default_max_header_bytes(),
            max_headers: default_max_headers(),
            max_url_bytes: default_max_url_bytes(),
        }
    }
}

fn default_drain_timeout() -> Duration {
    Duration::from_secs(25)
}
fn default_header_read_timeout() -> Duration {
    Duration::from_secs(75)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(75)
}
fn default_max_connections() -> usize {
    4096
}
fn default_max_header_bytes() -> usize {
    16 * 1024
}
fn default_max_headers() -> usize {
    100
}
fn default_max_url_bytes() -> usize {
    8 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Path-style (`host/bucket/key`) or virtual-hosted-style (`bucket.host/key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamAddressing {
    #[default]
    Path,
    Virtual,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL of the store, `http://` or `https://`, no path.
    /// Default: `https://s3.<region>.amazonaws.com`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region requests are signed for. Default: `us-east-1`.
    #[serde(default = "default_region")]
    pub region: String,
    /// Default: `path` for a configured endpoint, `virtual` for AWS.
    #[serde(default)]
    pub addressing: Option<UpstreamAddressing>,
    /// Static keys, for S3-compatible stores without STS. Default: none,
    /// which means the AWS default credential chain (environment, profile,
    /// ECS container credentials, instance metadata).
    #[serde(default)]
    pub credentials: Option<StaticCredentials>,
    /// Time to connect to the store. Default: `5s`.
    #[serde(default = "default_connect_timeout", with = "duration")]
    pub connect_timeout: Duration,
    /// Time to wait for the store's response head. Default: `60s`.
    #[serde(default = "default_response_timeout", with = "duration")]
    pub response_timeout: Duration,
    /// Extra PEM CA certificates trusted for an `https://` upstream, on top
    /// of the platform's roots (a private CA in front of the store).
    /// Default: none.
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

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

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Domains under which `bucket.<domain>` is virtual-hosted-style
    /// addressing. Default: none (path style only).
    #[serde(default)]
    pub virtual_host_domains: Vec<String>,
}

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
fn default_max_ttl() -> Duration {
    Duration::from_secs(12 * 3600)
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

/// The text of a file, or of the environment variable `env:NAME` names.
fn read_source(path: &Path) -> Result<String, ConfigError> {
    let read = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    match env_source(path) {
        Some(var) => std::env::var(var).map_err(|_| {
            read(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("environment variable {var} is not set"),
            ))
        }),
        None => std::fs::read_to_string(path).map_err(read),
    }
}

impl SessionConfig {
    /// The keyring's text, from its file or environment variable.
    pub fn keyring_text(&self) -> Result<String, ConfigError> {
        read_source(&self.keyring)
    }
}

impl Config {
    /// Reads, parses and validates a config file (or `env:NAME`: the
    /// config's text in an environment variable). Relative paths inside a
    /// file are taken relative to the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = read_source(path)?;
        let mut config = Self::parse(&text, path)?;
        if let Some(dir) = path.parent() {
            config.resolve_relative_to(dir);
        }
        Ok(config)
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
        if let Some(tls) = &mut self.tls {
            fix(&mut tls.cert);
            fix(&mut tls.key);
        }
        if let AuditOutput::File(p) = &mut self.audit.output {
            fix(p);
        }
        if let Some(p) = &mut self.upstream.ca_bundle {
            fix(p);
        }
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            message,
        };
        if let Some(endpoint) = &self.upstream.endpoint {
            let uri: http::Uri = endpoint
                .parse()
                .map_err(|e| invalid("upstream.endpoint", format!("not a URL: {e}")))?;
            match uri.scheme_str() {
                Some("http" | "https") => {}
                _ => {
                    return Err(invalid(
                        "upstream.endpoint",
                        "must start with http:// or https://".into(),
                    ));
                }
            }
            if uri.host().is_none() {
                return Err(invalid("upstream.endpoint", "has no host".into()));
            }
            if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
                return Err(invalid(
                    "upstream.endpoint",
                    "must not have a path or query (the bucket comes from each request)".into(),
                ));
            }
        }
        if self.upstream.region.is_empty() {
            return Err(invalid("upstream.region", "must not be empty".into()));
        }
        if let Some(c) = &self.upstream.credentials
            && (c.access_key_id.is_empty() || c.secret_access_key.is_empty())
        {
            return Err(invalid(
                "upstream.credentials",
                "access_key_id and secret_access_key must both be set".into(),
            ));
        }
        if self.session.max_ttl < Duration::from_secs(60) {
            return Err(invalid("session.max_ttl", "must be at least 1m".into()));
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
        for d in &self.s3.virtual_host_domains {
            if d.is_empty() || d.contains('/') || d.contains(':') {
                return Err(invalid(
                    "s3.virtual_host_domains",
                    format!("`{d}` is not a bare domain name"),
                ));
            }
        }
        Ok(())
    }

    /// The upstream base URL, defaulting to AWS's regional endpoint.
    pub fn upstream_endpoint(&self) -> String {
        match &self.upstream.endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("https://s3.{}.amazonaws.com", self.upstream.region),
        }
    }

    pub fn upstream_addressing(&self) -> UpstreamAddressing {
        self.upstream
            .addressing
            .unwrap_or(match self.upstream.endpoint {
                Some(_) => UpstreamAddressing::Path,
                None => UpstreamAddressing::Virtual,
            })
    }
}

/// Durations as `90s`, `15m`, `12h`, `7d` or a bare number of seconds.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn parse(s: &str) -> Result<Duration, String> {
        let s = s.trim();
        let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
            Some(i) => s.split_at(i),
            None => (s, "s"),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{s}` is not a duration like 90s, 15m, 12h or 7d"))?;
        let secs = match unit {
            "s" => Some(n),
            "m" => n.checked_mul(60),
            "h" => n.checked_mul(3600),
            "d" => n.checked_mul(86400),
            _ => None,
        }
        .ok_or_else(|| format!("`{s}` is not a duration like 90s, 15m, 12h or 7d"))?;
        Ok(Duration::from_secs(secs))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("t.toml"))
    }

    const MINIMAL: &str = "[upstream]\n[session]\nkeyring = \"k.toml\"\n";

    #[test]
    fn minimal_config_takes_documented_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.listen, "127.0.0.1:7070".parse().unwrap());
        assert_eq!(c.upstream.region, "us-east-1");
        assert_eq!(c.upstream_endpoint(), "https://s3.us-east-1.amazonaws.com");
        assert_eq!(c.upstream_addressing(), UpstreamAddressing::Virtual);
        assert_eq!(c.session.max_ttl, Duration::from_secs(43200));
        assert_eq!(c.audit.output, AuditOutput::Stdout);
        assert!(!c.audit.chain);
        assert_eq!(c.server.drain_timeout, Duration::from_secs(25));
        assert_eq!(c.server.idle_timeout, Duration::from_secs(75));
        assert_eq!(c.server.max_connections, 4096);
        // Behind an ALB (idle timeout 60 s) s3gate must not be the side that
        // closes idle keep-alive connections.
        assert!(c.server.header_read_timeout > Duration::from_secs(60));
        assert!(c.server.idle_timeout > Duration::from_secs(60));
    }

    #[test]
    fn unknown_field_is_refused_by_name() {
        let err = parse("[upstream]\nendpiont = \"x\"\n[session]\nkeyring = \"k\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("endpiont"), "{err}");
    }

    #[test]
    fn bad_endpoint_names_the_field() {
        let err = parse("[upstream]\nendpoint = \"ftp://x\"\n[session]\nkeyring = \"k\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("upstream.endpoint"), "{err}");
        let err = parse("[upstream]\nendpoint = \"http://x/bucket\"\n[session]\nkeyring = \"k\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("path"), "{err}");
    }

    #[test]
    fn the_example_config_is_valid() {
        let c = parse(include_str!("../../config/s3gate.example.toml")).unwrap();
        assert_eq!(c.listen, "0.0.0.0:7070".parse().unwrap());
        assert_eq!(c.upstream.response_timeout, Duration::from_secs(60));
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(duration::parse("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration::parse("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(duration::parse("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(duration::parse("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(duration::parse("30").unwrap(), Duration::from_secs(30));
        assert!(duration::parse("1y").is_err());
        assert!(duration::parse("h").is_err());
    }

    #[test]
    fn config_and_keyring_can_come_from_the_environment() {
        // An unset variable is a read error naming it. (Setting one needs
        // `unsafe` in edition 2024; the e2e shutdown test runs the binary
        // with both variables set.)
        let err = Config::load(Path::new("env:S3GATE_TEST_UNSET_VARIABLE")).unwrap_err();
        assert!(
            err.to_string().contains("S3GATE_TEST_UNSET_VARIABLE"),
            "{err}"
        );
        let c = parse("[upstream]\n[session]\nkeyring = \"env:S3GATE_KEYRING\"\n").unwrap();
        let mut c2 = c.clone();
        c2.resolve_relative_to(Path::new("/etc/s3gate"));
        assert_eq!(c2.session.keyring, PathBuf::from("env:S3GATE_KEYRING"));
        assert_eq!(env_source(&c.session.keyring), Some("S3GATE_KEYRING"));
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3gate.toml");
        std::fs::write(&path, MINIMAL).unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.session.keyring, dir.path().join("k.toml"));
    }
}
