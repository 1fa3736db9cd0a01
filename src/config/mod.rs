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
    /// Open connections from one client address; the next one is answered
    /// `503 SlowDown`, so one source cannot take every connection slot.
    /// Behind a load balancer the peers are the balancer's own addresses:
    /// raise it to `max_connections` there, or 0 for no per-source limit.
    /// Default: `512`.
    #[serde(default = "default_max_connections_per_source")]
    pub max_connections_per_source: usize,
    /// Requests one principal (the audit line's `identity`) may have in
    /// flight at once, bodies included; the next is answered `503
    /// SlowDown` (SDKs retry it with back-off). 0: no limit. Default: `256`.
    #[serde(default = "default_max_requests_per_principal")]
    pub max_requests_per_principal: usize,
    /// Address blocks of the load balancers and proxies in front of s3gate
    /// (`["10.0.0.0/8"]`). From a peer in them, the client address that
    /// `source_cidr` conditions see is the rightmost `X-Forwarded-For`
    /// entry outside them; from any other peer, the peer's address.
    /// Default: none (the header is never read).
    #[serde(default, deserialize_with = "cidrs")]
    pub trusted_proxies: Vec<crate::policy::Cidr>,
}

fn cidrs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<crate::policy::Cidr>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|t| crate::policy::Cidr::parse(t).map_err(serde::de::Error::custom))
        .collect()
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
            max_connections_per_source: default_max_connections_per_source(),
            max_requests_per_principal: default_max_requests_per_principal(),
            trusted_proxies: Vec::new(),
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
fn default_max_connections_per_source() -> usize {
    512
}
fn default_max_requests_per_principal() -> usize {
    256
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

/// `[identity]`: the identity providers callers prove themselves with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Session lifetime when the caller asks for none (`DurationSeconds`
    /// absent). Default: `1h`.
    #[serde(default = "default_session_ttl", with = "duration")]
    pub default_session_ttl: Duration,
    /// Shortest `DurationSeconds` accepted. Default: `15m` (STS's own).
    #[serde(default = "default_min_session_ttl", with = "duration")]
    pub min_session_ttl: Duration,
    /// Longest `DurationSeconds` accepted; longer asks are refused with
    /// `ValidationError`, as STS does. Default: `12h`.
    #[serde(default = "default_max_ttl", with = "duration")]
    pub max_session_ttl: Duration,
    /// OIDC issuers whose tokens `AssumeRoleWithWebIdentity` accepts.
    /// Default: none.
    #[serde(default)]
    pub oidc: Vec<OidcIssuerConfig>,
    /// AWS principals proving themselves with a signed
    /// `sts:GetCallerIdentity`. Default: off.
    #[serde(default)]
    pub aws: Option<AwsIdentityConfig>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            default_session_ttl: default_session_ttl(),
            min_session_ttl: default_min_session_ttl(),
            max_session_ttl: default_max_ttl(),
            oidc: Vec::new(),
            aws: None,
        }
    }
}

/// `[[identity.oidc]]`: one trusted OIDC issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcIssuerConfig {
    /// The issuer URL, exactly as in the tokens' `iss` and the discovery
    /// document. `https://` (or `http://` on a loopback host). Required.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one. Required.
    pub audiences: Vec<String>,
    /// Accepted signature algorithms. Asymmetric only: `HS*` and `none`
    /// are refused here. Default: `["RS256", "ES256"]`.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// The claim naming the subject. Default: `sub`.
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// The claim naming the user (audit lines, and `${identity.username}`
    /// in the policy): name one this issuer keeps unique and users cannot
    /// edit. Default: `sub`. (`preferred_username` is neither at most
    /// providers.) A value that is empty or holds `/`, `..`, `*`, `?` or a
    /// control character is refused at sign-in.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// `amr` values that mean the login used a second factor (the policy's
    /// `mfa` condition). Default: `["mfa"]`.
    #[serde(default = "default_mfa_amr")]
    pub mfa_amr: Vec<String>,
    /// `acr` values that mean the same. Default: none.
    #[serde(default)]
    pub mfa_acr: Vec<String>,
    /// The claim holding groups: an array of strings, or a string split on
    /// `groups_delimiter`. Default: `groups`; absent means no groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Separator for a groups claim given as one string. Default: `,`.
    #[serde(default = "default_groups_delimiter")]
    pub groups_delimiter: String,
    /// Claims that must be present with exactly this value (type included),
    /// e.g. `{ email_verified = true }`. Default: none.
    #[serde(default)]
    pub required_claims: std::collections::BTreeMap<String, toml::Value>,
    /// Tolerance for `exp`, `nbf` and `iat` against our clock. Default: `60s`.
    #[serde(default = "default_oidc_skew", with = "duration")]
    pub clock_skew: Duration,
    /// How long fetched signing keys are trusted without refetching; while
    /// the issuer is down, cached keys keep working until then.
    /// Default: `1h`.
    #[serde(default = "default_jwks_ttl", with = "duration")]
    pub jwks_ttl: Duration,
    /// At most one JWKS fetch per this interval, whatever the number of
    /// tokens with unknown key ids (or failed fetches). Default: `60s`.
    #[serde(default = "default_jwks_cooldown", with = "duration")]
    pub jwks_cooldown: Duration,
    /// Where the discovery document is. Default:
    /// `<issuer>/.well-known/openid-configuration`.
    #[serde(default)]
    pub discovery_url: Option<String>,
}

/// `[identity.aws]`: AWS principals (ECS tasks, Lambda, EC2, IAM users)
/// proving themselves with a signed `sts:GetCallerIdentity`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsIdentityConfig {
    /// The value callers must sign in `x-s3gate-server-id`: it binds their
    /// signed request to this gateway, so a request signed for another
    /// service cannot be replayed here. Required.
    pub server_id: String,
    /// The STS endpoint s3gate sends the rebuilt request to — the only one,
    /// never a caller-chosen host. Default: `https://sts.<region>.amazonaws.com`.
    #[serde(default)]
    pub sts_endpoint: Option<String>,
    /// The region callers sign for. Default: `us-east-1`.
    #[serde(default = "default_region")]
    pub region: String,
    /// AWS account ids whose principals may obtain sessions. Required.
    pub allowed_accounts: Vec<String>,
    /// Role names (for `assumed-role` ARNs, `*` wildcards) allowed.
    /// Default: `["*"]` (any role of an allowed account).
    #[serde(default = "default_role_patterns")]
    pub role_patterns: Vec<String>,
    /// Whether IAM users (long-lived keys) of allowed accounts are
    /// accepted, by name against `role_patterns`. Default: `false`.
    #[serde(default)]
    pub allow_iam_users: bool,
    /// How far the caller's `X-Amz-Date` may be from our clock. Default: `5m`.
    #[serde(default = "default_aws_date_window", with = "duration")]
    pub date_window: Duration,
    /// Time for STS to answer. Default: `10s`.
    #[serde(default = "default_aws_timeout", with = "duration")]
    pub timeout: Duration,
}

impl AwsIdentityConfig {
    pub fn sts_endpoint(&self) -> String {
        match &self.sts_endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("https://sts.{}.amazonaws.com", self.region),
        }
    }
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
    /// Names the store in logs and errors. Required in `[[upstreams]]`;
    /// `default` for `[upstream]`.
    #[serde(default)]
    pub name: Option<String>,
    /// Bucket name patterns this store serves (`*` matches any run), in
    /// `[[upstreams]]` only. Required there.
    #[serde(default)]
    pub buckets: Vec<String>,
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
    /// Run every request under a per-caller role session obtained with
    /// `sts:AssumeRole` (with s3gate's own credentials above), narrowed by
    /// a session policy generated from the caller's grants. Default: none,
    /// which means s3gate's own credentials sign requests directly.
    #[serde(default)]
    pub assume_role: Option<AssumeRoleConfig>,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssumeRoleConfig {
    /// The role to assume when the deciding grant names none. Default:
    /// none, and a request with no role is refused (never sent with
    /// s3gate's own credentials).
    #[serde(default)]
    pub role_arn: Option<String>,
    /// `DurationSeconds` of each role session, 15m to 12h (the role's own
    /// maximum applies too). Default: `15m`.
    #[serde(default = "default_role_duration", with = "duration")]
    pub duration: Duration,
    /// STS endpoint URL. Default: AWS's regional endpoint for `sts_region`.
    #[serde(default)]
    pub sts_endpoint: Option<String>,
    /// Region of the STS endpoint. Default: the upstream's region.
    #[serde(default)]
    pub sts_region: Option<String>,
    /// Most role sessions cached at once. Default: `10000`.
    #[serde(default = "default_role_cache_capacity")]
    pub cache_capacity: u64,
    /// Refresh a cached role session this long before it expires (while
    /// STS is down, the old one is still used until 30 s before expiry).
    /// Default: a quarter of `duration`, at most `5m`.
    #[serde(default, with = "optional_duration")]
    pub refresh_margin: Option<Duration>,
}

impl AssumeRoleConfig {
    /// `refresh_margin`, or its default.
    pub fn refresh_margin(&self) -> Duration {
        self.refresh_margin
            .unwrap_or_else(|| (self.duration / 4).min(Duration::from_secs(300)))
    }
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
fn s3_url(url: &str) -> Option<(&str, &str)> {
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
pub struct S3Config {
    /// Domains under which `bucket.<domain>` is virtual-hosted-style
    /// addressing. Default: none (path style only).
    #[serde(default)]
    pub virtual_host_domains: Vec<String>,
    /// Every S3 response carries `X-Content-Type-Options: nosniff` and
    /// `Content-Security-Policy: sandbox`, so an object a caller uploaded
    /// (say as `text/html`, or fetched with `response-content-type`) can
    /// never run script with the gateway's origin — which may also serve
    /// the sign-in portal. Turn off only to serve web pages that must run
    /// script, from a gateway with no `[login]`. Default: true.
    #[serde(default = "default_true")]
    pub sandbox_responses: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            virtual_host_domains: Vec::new(),
            sandbox_responses: true,
        }
    }
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
        if self.session.revocation_poll < Duration::from_secs(1) {
            return Err(invalid(
                "session.revocation_poll",
                "must be at least 1s".into(),
            ));
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

impl UpstreamConfig {
    /// The base URL, defaulting to AWS's regional endpoint.
    pub fn endpoint_url(&self) -> String {
        match &self.endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("https://s3.{}.amazonaws.com", self.region),
        }
    }

    /// Default: `path` for a configured endpoint, `virtual` for AWS.
    pub fn addressing_style(&self) -> UpstreamAddressing {
        self.addressing.unwrap_or(match self.endpoint {
            Some(_) => UpstreamAddressing::Path,
            None => UpstreamAddressing::Virtual,
        })
    }

    /// Checks one upstream's fields; `section` is `upstream` or
    /// `upstreams`, `name` labels the entry of the latter in messages.
    fn validate(
        &self,
        section: &'static str,
        name: Option<&str>,
    ) -> Result<(), (&'static str, String)> {
        let field = |f: &'static str| -> &'static str {
            match (section, f) {
                ("upstream", "endpoint") => "upstream.endpoint",
                ("upstream", "region") => "upstream.region",
                ("upstream", "credentials") => "upstream.credentials",
                ("upstream", _) => "upstream.assume_role",
                (_, "endpoint") => "upstreams.endpoint",
                (_, "region") => "upstreams.region",
                (_, "credentials") => "upstreams.credentials",
                _ => "upstreams.assume_role",
            }
        };
        let err = |f: &'static str, message: String| -> (&'static str, String) {
            match name {
                Some(n) => (field(f), format!("upstream `{n}`: {message}")),
                None => (field(f), message),
            }
        };
        let check_url = |f: &'static str, url: &str| -> Result<(), (&'static str, String)> {
            let uri: http::Uri = url.parse().map_err(|e| err(f, format!("not a URL: {e}")))?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) {
                return Err(err(f, "must start with http:// or https://".into()));
            }
            if uri.host().is_none() {
                return Err(err(f, "has no host".into()));
            }
            if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
                return Err(err(
                    f,
                    "must not have a path or query (the bucket comes from each request)".into(),
                ));
            }
            Ok(())
        };
        if let Some(endpoint) = &self.endpoint {
            check_url("endpoint", endpoint)?;
        }
        if self.region.is_empty() {
            return Err(err("region", "must not be empty".into()));
        }
        if let Some(c) = &self.credentials
            && (c.access_key_id.is_empty() || c.secret_access_key.is_empty())
        {
            return Err(err(
                "credentials",
                "access_key_id and secret_access_key must both be set".into(),
            ));
        }
        if let Some(a) = &self.assume_role {
            if let Some(arn) = &a.role_arn
                && !is_role_arn(arn)
            {
                return Err(err(
                    "assume_role",
                    format!(
                        "`{arn}` is not an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME)"
                    ),
                ));
            }
            if a.duration < Duration::from_secs(900) || a.duration > Duration::from_secs(43200) {
                return Err(err(
                    "assume_role",
                    "duration must be between 15m and 12h".into(),
                ));
            }
            if let Some(ep) = &a.sts_endpoint {
                check_url("assume_role", ep)?;
            }
            if a.refresh_margin() >= a.duration {
                return Err(err(
                    "assume_role",
                    "refresh_margin must be shorter than duration".into(),
                ));
            }
            if a.cache_capacity == 0 {
                return Err(err(
                    "assume_role",
                    "cache_capacity must be at least 1".into(),
                ));
            }
        }
        Ok(())
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`, shape only.
pub fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "iam", "", account, resource]
            if !partition.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("role/").is_some_and(|n| !n.is_empty())
    )
}

/// An optional duration field, in [`duration`]'s syntax.
mod optional_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = String::deserialize(d)?;
        super::duration::parse(&s)
            .map(Some)
            .map_err(serde::de::Error::custom)
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

    const MINIMAL: &str =
        "[upstream]\n[session]\nkeyring = \"k.toml\"\n[policy]\nfile = \"p.toml\"\n";

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
    fn the_revocation_list_is_a_file_or_an_s3_object_never_both() {
        let with = |session: &str| {
            parse(&MINIMAL.replace("[session]\n", &format!("[session]\n{session}\n")))
        };
        let c = with("revocation_url = \"s3://ops-bucket/s3gate/revocations.jsonl\"").unwrap();
        assert_eq!(
            c.session.revocation_source(),
            RevocationSource::Object {
                bucket: "ops-bucket",
                key: "s3gate/revocations.jsonl"
            }
        );
        let c = with("revocation_file = \"r.jsonl\"").unwrap();
        assert_eq!(
            c.session.revocation_source(),
            RevocationSource::File(Path::new("r.jsonl"))
        );
        assert_eq!(
            parse(MINIMAL).unwrap().session.revocation_source(),
            RevocationSource::None
        );
        let err = with("revocation_file = \"r.jsonl\"\nrevocation_url = \"s3://ops-bucket/r\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("session.revocation_url") && err.contains("not both"),
            "{err}"
        );
        for bad in [
            "s3://ops-bucket",
            "s3://ops-bucket/",
            "https://x/y",
            "s3://Ops/k",
            "s3:///k",
        ] {
            let err = with(&format!("revocation_url = \"{bad}\""))
                .unwrap_err()
                .to_string();
            assert!(err.contains("s3://bucket/key"), "{bad}: {err}");
        }
        let err = with("revocation_poll = \"0s\"").unwrap_err().to_string();
        assert!(err.contains("revocation_poll"), "{err}");
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
        let policy = c.policy.unwrap();
        assert_eq!(policy.file, PathBuf::from("policy.toml"));
        assert!(policy.watch);
        assert_eq!(policy.reload_interval, Duration::from_secs(1));
    }

    #[test]
    fn identity_sections_take_defaults_and_refuse_unsafe_settings() {
        let c = parse(&format!(
            "{MINIMAL}[[identity.oidc]]\nissuer = \"https://idp.example\"\naudiences = [\"urn:s3gate\"]\n[identity.aws]\nserver_id = \"gw\"\nallowed_accounts = [\"123456789012\"]\n"
        ))
        .unwrap();
        let o = &c.identity.oidc[0];
        assert_eq!(o.algorithms, ["RS256", "ES256"]);
        assert_eq!(o.subject_claim, "sub");
        assert_eq!(o.jwks_cooldown, Duration::from_secs(60));
        assert_eq!(c.identity.default_session_ttl, Duration::from_secs(3600));
        let aws = c.identity.aws.as_ref().unwrap();
        assert_eq!(aws.sts_endpoint(), "https://sts.us-east-1.amazonaws.com");
        assert_eq!(aws.role_patterns, ["*"]);
        assert!(!aws.allow_iam_users);

        for (bad, field) in [
            (
                "issuer = \"https://i\"\naudiences = [\"a\"]\nalgorithms = [\"HS256\"]",
                "algorithms",
            ),
            (
                "issuer = \"https://i\"\naudiences = [\"a\"]\nalgorithms = [\"none\"]",
                "algorithms",
            ),
            (
                "issuer = \"http://idp.example\"\naudiences = [\"a\"]",
                "issuer",
            ),
            ("issuer = \"https://i\"\naudiences = []", "audiences"),
            (
                "issuer = \"https://i\"\naudiences = [\"a\"]\njwks_uri = \"x\"",
                "jwks_uri",
            ),
        ] {
            let err = parse(&format!("{MINIMAL}[[identity.oidc]]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{bad}: {err}");
        }
        let loopback = parse(&format!(
            "{MINIMAL}[[identity.oidc]]\nissuer = \"http://127.0.0.1:8080\"\naudiences = [\"a\"]\n"
        ));
        assert!(loopback.is_ok(), "loopback http issuers are for tests");
        let err = parse(&format!(
            "{MINIMAL}[identity.aws]\nserver_id = \"gw\"\nallowed_accounts = [\"12345\"]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("allowed_accounts"), "{err}");
    }

    #[test]
    fn assume_role_takes_documented_defaults_and_checks_the_arn_and_duration() {
        let c = parse(
            "[upstream]\n[upstream.assume_role]\nrole_arn = \"arn:aws:iam::123456789012:role/s3gate\"\n\
             [session]\nkeyring = \"k\"\n",
        )
        .unwrap();
        let a = c.upstream.assume_role.unwrap();
        assert_eq!(a.duration, Duration::from_secs(900));
        assert_eq!(a.cache_capacity, 10_000);
        assert_eq!(a.refresh_margin(), Duration::from_secs(225));
        assert!(a.sts_endpoint.is_none() && a.sts_region.is_none());
        for (bad, word) in [
            ("role_arn = \"arn:aws:iam::123:role/x\"", "IAM role ARN"),
            (
                "role_arn = \"arn:aws:iam::123456789012:user/x\"",
                "IAM role ARN",
            ),
            ("duration = \"10m\"", "between 15m and 12h"),
            ("duration = \"13h\"", "between 15m and 12h"),
            ("sts_endpoint = \"sts.amazonaws.com\"", "http"),
            ("cache_capacity = 0", "cache_capacity"),
            ("refresh_margin = \"15m\"", "refresh_margin"),
        ] {
            let text =
                format!("[upstream]\n[upstream.assume_role]\n{bad}\n[session]\nkeyring = \"k\"\n");
            let err = parse(&text).unwrap_err().to_string();
            assert!(
                err.contains("upstream.assume_role") && err.contains(word),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn upstreams_need_a_unique_name_and_bucket_patterns() {
        let entry = |name: &str, buckets: &str| {
            format!(
                "[[upstreams]]\nname = \"{name}\"\nendpoint = \"http://127.0.0.1:9\"\n\
                 buckets = {buckets}\n"
            )
        };
        let config = |entries: &str| format!("{MINIMAL}{entries}");
        let c = parse(&config(
            &(entry("eu", "[\"eu-*\"]") + &entry("logs", "[\"logs\"]")),
        ))
        .unwrap();
        assert_eq!(c.upstreams.len(), 2);
        assert_eq!(c.upstreams[1].addressing_style(), UpstreamAddressing::Path);

        let err = |text: String| parse(&text).unwrap_err().to_string();
        let e = err(config(&(entry("eu", "[\"a\"]") + &entry("eu", "[\"b\"]"))));
        assert!(e.contains("`eu` names two upstreams"), "{e}");
        let e = err(config(&entry("default", "[\"a\"]")));
        assert!(e.contains("`default` names two upstreams"), "{e}");
        let e = err(config(&entry("eu", "[]")));
        assert!(e.contains("upstream `eu` serves no bucket"), "{e}");
        let e = err(config(&entry("eu", "[\"Bad/Name\"]")));
        assert!(
            e.contains("upstreams.buckets") && e.contains("Bad/Name"),
            "{e}"
        );
        let e = err(config(
            "[[upstreams]]\nendpoint = \"http://127.0.0.1:9\"\nbuckets = [\"a\"]\n",
        ));
        assert!(e.contains("needs a name"), "{e}");
        let e = err(config(
            "[[upstreams]]\nname = \"x\"\nendpoint = \"ftp://h\"\nbuckets = [\"a\"]\n",
        ));
        assert!(
            e.contains("upstreams.endpoint") && e.contains("upstream `x`"),
            "{e}"
        );
        let e = err("[upstream]\nbuckets = [\"a\"]\n[session]\nkeyring = \"k\"\n".into());
        assert!(e.contains("belong to [[upstreams]]"), "{e}");
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
        assert_eq!(c.policy.unwrap().file, dir.path().join("p.toml"));
    }
}
