//! Metrics: process-wide counters, gauges and histograms in plain atomics,
//! rendered at `/_s3gate/metrics` by `prometheus-client` (OpenMetrics text)
//! with typed label sets.
//!
//! Every label comes from a fixed set known at compile time (operation
//! names, decisions, status classes, outcome enums), so cardinality is
//! bounded by construction: a bucket, key or user never becomes a label.
//! Recording is a few relaxed atomic adds into arrays indexed by those sets —
//! no lock, no allocation on the request path (`prometheus-client`'s own
//! histogram takes a mutex per observation, so the atomics stay ours and a
//! collector reads them at scrape time).
//!
//! Other stages count their own events through the statics below
//! ([`STS_ASSUME_ROLE`], [`CREDENTIAL_CACHE`], [`JWKS_FETCH`],
//! [`POLICY_RELOAD`], …). Depends on nothing in the crate: the gateway hands
//! it a [`RequestSample`] of each finished request.
//!
//! Format: <https://prometheus.io/docs/instrumenting/exposition_formats/>.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
    NoLabelSet, text,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

/// A monotonically increasing count.
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for Counter {
    fn default() -> Self {
        Self::new()
    }
}

/// A value that goes up and down.
pub struct Gauge(AtomicI64);

impl Gauge {
    pub const fn new() -> Self {
        Self(AtomicI64::new(0))
    }
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for Gauge {
    fn default() -> Self {
        Self::new()
    }
}

/// Success or failure of an outbound call or a reload.
pub struct Outcome {
    ok: Counter,
    error: Counter,
}

impl Outcome {
    pub const fn new() -> Self {
        Self {
            ok: Counter::new(),
            error: Counter::new(),
        }
    }
    pub fn ok(&self) {
        self.ok.inc();
    }
    pub fn error(&self) {
        self.error.inc();
    }
    /// Copies counts a stage keeps itself (e.g. the live policy's reload
    /// counters), so they render here without a second counting site.
    pub fn mirror(&self, ok: u64, error: u64) {
        self.ok.0.store(ok, Ordering::Relaxed);
        self.error.0.store(error, Ordering::Relaxed);
    }
    pub fn record<T, E>(&self, r: &Result<T, E>) {
        match r {
            Ok(_) => self.ok(),
            Err(_) => self.error(),
        }
    }
}

impl Default for Outcome {
    fn default() -> Self {
        Self::new()
    }
}

/// Cache lookups.
pub struct HitMiss {
    hit: Counter,
    miss: Counter,
}

impl HitMiss {
    pub const fn new() -> Self {
        Self {
            hit: Counter::new(),
            miss: Counter::new(),
        }
    }
    pub fn hit(&self) {
        self.hit.inc();
    }
    pub fn miss(&self) {
        self.miss.inc();
    }
}

impl Default for HitMiss {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------
// The registry: for other stages to count into.

/// `sts:AssumeRole` calls to AWS for upstream credentials.
pub static STS_ASSUME_ROLE: Outcome = Outcome::new();
/// Upstream credential cache lookups (per role and scope).
pub static CREDENTIAL_CACHE: HitMiss = HitMiss::new();
/// JWKS fetches from OIDC issuers.
pub static JWKS_FETCH: Outcome = Outcome::new();
/// JWKS cache lookups by key id.
pub static JWKS_CACHE: HitMiss = HitMiss::new();
/// Policy file reloads (an error keeps the old policy).
pub static POLICY_RELOAD: Outcome = Outcome::new();
/// Keyring file reloads (an error keeps the keys in force).
pub static KEYRING_RELOAD: Outcome = Outcome::new();
/// `GetCallerIdentity` forwarded to AWS STS for the AWS-identity login.
pub static STS_GET_CALLER_IDENTITY: Outcome = Outcome::new();
/// Audit batches that could not be written.
pub static AUDIT_WRITE_FAILURES: Counter = Counter::new();
/// Audit records written.
pub static AUDIT_RECORDS: Counter = Counter::new();
/// Client connections open now.
pub static OPEN_CONNECTIONS: Gauge = Gauge::new();
/// Client connections accepted.
pub static CONNECTIONS: Counter = Counter::new();
/// TLS certificate reloads.
pub static TLS_RELOAD: Outcome = Outcome::new();
/// 1 while draining for shutdown.
pub static DRAINING: Gauge = Gauge::new();
/// 1 when the last upstream probe connected.
pub static UPSTREAM_REACHABLE: Gauge = Gauge::new();
/// Reads of the revocation list (an error keeps the last list).
pub static REVOCATION_READ: Outcome = Outcome::new();
/// Revocation entries in force after the last good read.
pub static REVOCATION_ENTRIES: Gauge = Gauge::new();
/// 1 while the revocation list, read before, is missing (the last list
/// stays in force).
pub static REVOCATION_MISSING: Gauge = Gauge::new();
/// Calls to the shared state store (`[shared] backend = "dynamodb"`); an
/// error fails closed (a quota'd request or a sign-in step is refused).
pub static SHARED_STATE: Outcome = Outcome::new();

/// Why s3gate refused a request or connection before the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    MaxConnections,
    HeaderBytes,
    HeaderCount,
    UrlBytes,
    IdleTimeout,
    ConnectionsPerSource,
    RequestsPerPrincipal,
    HeaderReadTimeout,
}

impl Limit {
    const ALL: [Limit; 8] = [
        Limit::MaxConnections,
        Limit::HeaderBytes,
        Limit::HeaderCount,
        Limit::UrlBytes,
        Limit::IdleTimeout,
        Limit::ConnectionsPerSource,
        Limit::RequestsPerPrincipal,
        Limit::HeaderReadTimeout,
    ];
    /// The limit's name as configured, and its metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::MaxConnections => "max_connections",
            Limit::HeaderBytes => "max_header_bytes",
            Limit::HeaderCount => "max_headers",
            Limit::UrlBytes => "max_url_bytes",
            Limit::IdleTimeout => "idle_timeout",
            Limit::ConnectionsPerSource => "max_connections_per_source",
            Limit::RequestsPerPrincipal => "max_requests_per_principal",
            Limit::HeaderReadTimeout => "header_read_timeout",
        }
    }
}

static LIMIT_HITS: [Counter; Limit::ALL.len()] = [const { Counter::new() }; Limit::ALL.len()];

/// Counts one refusal by a limit.
pub fn limit_hit(limit: Limit) {
    LIMIT_HITS[limit as usize].inc();
}

// ---------------------------------------------------------------------------
// Requests, from their audit events.

/// Operation labels: S3's and STS's names. Anything else is `Other`, so a
/// caller cannot mint new label values.
const OPERATIONS: [&str; 52] = [
    "ListBuckets",
    "CreateBucket",
    "DeleteBucket",
    "HeadBucket",
    "GetBucketLocation",
    "GetBucketVersioning",
    "PutBucketVersioning",
    "GetBucketTagging",
    "PutBucketTagging",
    "DeleteBucketTagging",
    "GetBucketAcl",
    "PutBucketAcl",
    "GetBucketPolicy",
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "GetBucketCors",
    "PutBucketCors",
    "DeleteBucketCors",
    "GetBucketLifecycleConfiguration",
    "PutBucketLifecycleConfiguration",
    "DeleteBucketLifecycle",
    "GetBucketEncryption",
    "PutBucketEncryption",
    "DeleteBucketEncryption",
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
    "ListMultipartUploads",
    "GetObject",
    "HeadObject",
    "PutObject",
    "CopyObject",
    "DeleteObject",
    "DeleteObjects",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    "GetObjectTagging",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "GetObjectAcl",
    "PutObjectAcl",
    "GetObjectAttributes",
    "AssumeRoleWithWebIdentity",
    "AssumeRole",
    "GetCallerIdentity",
    "GetSessionToken",
    // Refused before classification (limits, unparseable requests).
    "None",
    "Other",
];
const N_OPS: usize = OPERATIONS.len();
const OTHER: usize = N_OPS - 1;
const NONE: usize = N_OPS - 2;

fn op_index(name: Option<&str>) -> usize {
    match name {
        None => NONE,
        Some(n) => OPERATIONS.iter().position(|o| *o == n).unwrap_or(OTHER),
    }
}

const DECISIONS: [&str; 2] = ["allow", "deny"];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Latency bucket upper bounds, in seconds.
const BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const N_BUCKETS: usize = BUCKETS.len() + 1;

const N_REQ: usize = N_OPS * DECISIONS.len() * STATUS_CLASSES.len();
static REQUESTS: [Counter; N_REQ] = [const { Counter::new() }; N_REQ];
static LATENCY: [Counter; N_OPS * N_BUCKETS] = [const { Counter::new() }; N_OPS * N_BUCKETS];
static LATENCY_SUM_MICROS: [Counter; N_OPS] = [const { Counter::new() }; N_OPS];
static BYTES_IN: [Counter; N_OPS] = [const { Counter::new() }; N_OPS];
static BYTES_OUT: [Counter; N_OPS] = [const { Counter::new() }; N_OPS];

/// What the metrics keep of one finished request (the gateway fills it
/// from the request's audit event).
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestSample<'a> {
    pub operation: Option<&'a str>,
    pub allowed: bool,
    pub status: u16,
    pub duration_ms: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Counts one finished request.
pub fn record_request(event: &RequestSample<'_>) {
    let op = op_index(event.operation);
    let decision = usize::from(!event.allowed);
    let class = match event.status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    };
    REQUESTS[(op * DECISIONS.len() + decision) * STATUS_CLASSES.len() + class].inc();
    let secs = event.duration_ms / 1000.0;
    let bucket = BUCKETS
        .iter()
        .position(|b| secs <= *b)
        .unwrap_or(BUCKETS.len());
    LATENCY[op * N_BUCKETS + bucket].inc();
    // Saturating float-to-int: a negative or NaN duration counts as 0.
    LATENCY_SUM_MICROS[op].add((event.duration_ms * 1000.0) as u64);
    BYTES_IN[op].add(event.bytes_in);
    BYTES_OUT[op].add(event.bytes_out);
}

/// The whole registry in the OpenMetrics text format (which Prometheus
/// reads), encoded by `prometheus-client` from typed label sets.
pub fn render() -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot));
    let mut out = String::with_capacity(8 * 1024);
    // Writing into a String cannot fail; a collector error would be a bug
    // in this module, and the page would then just be cut short.
    let _ = text::encode(&mut out, &registry);
    out
}

/// The content type of [`render`]'s page.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

// ---------------------------------------------------------------------------
// Typed label sets: each label's values come from a closed set, so a
// caller can never mint a new series.

/// An operation label: an index into [`OPERATIONS`].
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct OperationLabel(usize);

impl EncodeLabelValue for OperationLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(OPERATIONS[self.0])
    }
}

/// A label whose values are fixed strings (decisions, status classes,
/// results, limits).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct Fixed(&'static str);

impl EncodeLabelValue for Fixed {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(self.0)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: OperationLabel,
    decision: Fixed,
    status: Fixed,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: OperationLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: Fixed,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: Fixed,
}

/// Reads the atomics at scrape time: the request path only ever adds to
/// them, with no lock and no allocation.
#[derive(Debug)]
struct Snapshot;

fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: impl IntoIterator<Item = (impl EncodeLabelSet, u64)>,
) -> std::fmt::Result {
    let mut family = e.encode_descriptor(name, help, unit, MetricType::Counter)?;
    for (labels, n) in series {
        ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, g: &Gauge) -> std::fmt::Result {
    let metric = ConstGauge::new(g.get());
    metric.encode(e.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let e = &mut e;
        let ops = || (0..N_OPS).map(OperationLabel);
        counter(
            e,
            "s3gate_requests",
            "Requests by operation, decision and status class.",
            None,
            ops().flat_map(|op| {
                DECISIONS.iter().enumerate().flat_map(move |(d, decision)| {
                    STATUS_CLASSES
                        .iter()
                        .enumerate()
                        .filter_map(move |(c, status)| {
                            let n = REQUESTS
                                [(op.0 * DECISIONS.len() + d) * STATUS_CLASSES.len() + c]
                                .get();
                            (n > 0).then_some((
                                RequestLabels {
                                    operation: op,
                                    decision: Fixed(decision),
                                    status: Fixed(status),
                                },
                                n,
                            ))
                        })
                })
            }),
        )?;
        let mut family = e.encode_descriptor(
            "s3gate_request_duration",
            "Time from request head to the end of the response body.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for op in ops() {
            let counts: Vec<(f64, u64)> = BUCKETS
                .iter()
                .copied()
                .chain([f64::INFINITY])
                .enumerate()
                .map(|(b, le)| (le, LATENCY[op.0 * N_BUCKETS + b].get()))
                .collect();
            let total: u64 = counts.iter().map(|(_, n)| n).sum();
            if total == 0 {
                continue;
            }
            let sum = LATENCY_SUM_MICROS[op.0].get() as f64 / 1e6;
            family
                .encode_family(&OperationLabels { operation: op })?
                .encode_histogram::<NoLabelSet>(sum, total, &counts, None)?;
        }
        for (name, help, series) in [
            (
                "s3gate_request",
                "Request body bytes received from callers.",
                &BYTES_IN,
            ),
            (
                "s3gate_response",
                "Response body bytes sent to callers.",
                &BYTES_OUT,
            ),
        ] {
            counter(
                e,
                name,
                help,
                Some(&Unit::Bytes),
                ops().filter_map(|op| {
                    let n = series[op.0].get();
                    (n > 0).then_some((OperationLabels { operation: op }, n))
                }),
            )?;
        }
        counter(
            e,
            "s3gate_limit_refusals",
            "Requests and connections refused by a configured limit.",
            None,
            Limit::ALL.iter().map(|l| {
                (
                    LimitLabels {
                        limit: Fixed(l.as_str()),
                    },
                    LIMIT_HITS[*l as usize].get(),
                )
            }),
        )?;
        for (name, help, outcome) in [
            (
                "s3gate_sts_assume_role",
                "sts:AssumeRole calls for upstream credentials.",
                &STS_ASSUME_ROLE,
            ),
            (
                "s3gate_sts_get_caller_identity",
                "GetCallerIdentity calls forwarded to AWS STS.",
                &STS_GET_CALLER_IDENTITY,
            ),
            (
                "s3gate_jwks_fetch",
                "JWKS fetches from OIDC issuers.",
                &JWKS_FETCH,
            ),
            (
                "s3gate_policy_reloads",
                "Policy file reloads.",
                &POLICY_RELOAD,
            ),
            (
                "s3gate_keyring_reloads",
                "Keyring file reloads (an error keeps the keys in force).",
                &KEYRING_RELOAD,
            ),
            (
                "s3gate_tls_reloads",
                "TLS certificate reloads.",
                &TLS_RELOAD,
            ),
            (
                "s3gate_revocation_reads",
                "Revocation list reads (an error keeps the last list).",
                &REVOCATION_READ,
            ),
            (
                "s3gate_shared_state_calls",
                "Calls to the shared state store (an error fails closed).",
                &SHARED_STATE,
            ),
        ] {
            counter(
                e,
                name,
                help,
                None,
                [("ok", &outcome.ok), ("error", &outcome.error)]
                    .map(|(r, c)| (ResultLabels { result: Fixed(r) }, c.get())),
            )?;
        }
        for (name, help, cache) in [
            (
                "s3gate_credential_cache",
                "Upstream credential cache lookups.",
                &CREDENTIAL_CACHE,
            ),
            ("s3gate_jwks_cache", "JWKS cache lookups.", &JWKS_CACHE),
        ] {
            counter(
                e,
                name,
                help,
                None,
                [("hit", &cache.hit), ("miss", &cache.miss)]
                    .map(|(r, c)| (ResultLabels { result: Fixed(r) }, c.get())),
            )?;
        }
        for (name, help, c) in [
            (
                "s3gate_audit_records",
                "Audit records written.",
                &AUDIT_RECORDS,
            ),
            (
                "s3gate_audit_write_failures",
                "Audit writes that failed (the gateway then refuses requests).",
                &AUDIT_WRITE_FAILURES,
            ),
            (
                "s3gate_connections",
                "Client connections accepted.",
                &CONNECTIONS,
            ),
        ] {
            let metric = ConstCounter::new(c.get());
            metric.encode(e.encode_descriptor(name, help, None, metric.metric_type())?)?;
        }
        for (name, help, g) in [
            (
                "s3gate_open_connections",
                "Client connections open now.",
                &OPEN_CONNECTIONS,
            ),
            ("s3gate_draining", "1 while shutting down.", &DRAINING),
            (
                "s3gate_upstream_reachable",
                "1 when the last upstream probe connected.",
                &UPSTREAM_REACHABLE,
            ),
            (
                "s3gate_revocation_entries",
                "Revocation entries in force after the last good read.",
                &REVOCATION_ENTRIES,
            ),
            (
                "s3gate_revocation_list_missing",
                "1 while the revocation list, read before, is missing; the last list stays in force.",
                &REVOCATION_MISSING,
            ),
        ] {
            gauge(e, name, help, g)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_operations_fold_into_other() {
        assert_eq!(op_index(Some("GetObject")), 28);
        assert_eq!(op_index(Some("my-bucket/secret-key")), OTHER);
        assert_eq!(op_index(None), NONE);
    }

    #[test]
    fn a_request_shows_in_counts_histogram_and_bytes() {
        record_request(&RequestSample {
            operation: Some("GetObjectAttributes"),
            allowed: true,
            status: 200,
            bytes_in: 0,
            bytes_out: 1234,
            duration_ms: 7.0,
        });
        let text = render();
        assert!(text.contains(
            "s3gate_requests_total{operation=\"GetObjectAttributes\",decision=\"allow\",status=\"2xx\"} "
        ));
        assert!(text.contains(
            "s3gate_request_duration_seconds_bucket{le=\"0.005\",operation=\"GetObjectAttributes\"} 0"
        ));
        assert!(text.contains(
            "s3gate_request_duration_seconds_bucket{le=\"0.01\",operation=\"GetObjectAttributes\"} 1"
        ));
        assert!(text.contains("s3gate_response_bytes_total{operation=\"GetObjectAttributes\"} "));
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
