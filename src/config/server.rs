//! `[server]` (transport limits, shutdown, trusted proxies), `[s3]` and
//! `[tls]`.

use super::*;

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
    /// (slowloris): for a connection's first request from the moment it
    /// opens, for a later one from its head's first byte. A connection
    /// that sends nothing in that time is closed without an answer, so
    /// behind a load balancer keep it above the balancer's idle timeout
    /// (ALB: 60 s), or the balancer may use a connection s3gate is
    /// closing (a 502); one idle between requests is `idle_timeout`'s.
    /// Exposed directly, 10-30 s. Default: `75s`.
    #[serde(default = "default_header_read_timeout", with = "duration")]
    pub header_read_timeout: Duration,
    /// A connection that moves no byte either way this long is closed.
    /// Longer than the load balancer's own idle timeout (ALB: 60 s), so the
    /// balancer, not s3gate, closes idle keep-alive connections. Keep it
    /// above `upstream.response_timeout` too: while the store thinks, no
    /// byte moves. Default: `75s`.
    #[serde(default = "default_idle_timeout", with = "duration")]
    pub idle_timeout: Duration,
    /// A request body must bring at least `body_min_rate` bytes a second
    /// (and at least one byte) in every window of this length, or it is
    /// cut with S3's `400 RequestTimeout` and nothing is stored. Only time
    /// spent waiting on the caller counts, not on the store. S3 cuts a
    /// body that sends nothing for about 20 s. Default: `20s`.
    #[serde(default = "default_body_rate_window", with = "duration")]
    pub body_rate_window: Duration,
    /// The minimum pace of a request body, in bytes a second, averaged
    /// over `body_rate_window`. Default: `0` (any byte in a window will
    /// do, as on S3).
    #[serde(default)]
    pub body_min_rate: u64,
    /// Open client connections; the next one is answered `503 SlowDown`,
    /// and must send its request within 5 s. Refusals are bounded too:
    /// past an eighth of this many (at least 16, at most 512) being
    /// refused at once, a new connection is closed unanswered.
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
    /// Peers in `trusted_proxies` (the load balancers, which carry every
    /// client's connections) are not held to it; 0: no per-source limit.
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
            body_rate_window: default_body_rate_window(),
            body_min_rate: 0,
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
fn default_body_rate_window() -> Duration {
    Duration::from_secs(20)
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}
