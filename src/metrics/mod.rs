//! Metrics: process-wide counters, gauges and histograms in plain atomics,
//! rendered as Prometheus text at `/_s3gate/metrics`.
//!
//! Every label comes from a fixed set known at compile time (operation
//! names, decisions, status classes, outcome enums), so cardinality is
//! bounded by construction: a bucket, key or user never becomes a label.
//! Recording is a few relaxed atomic adds into arrays indexed by those sets —
//! no lock, no allocation on the request path. No metrics crate: what is
//! needed here is a hundred lines, and the text format is simple.
//!
//! Other stages count their own events through the statics below
//! ([`STS_ASSUME_ROLE`], [`CREDENTIAL_CACHE`], [`JWKS_FETCH`],
//! [`POLICY_RELOAD`], …). Depends on nothing in the crate but the audit event
//! it summarises.
//!
//! Format: <https://prometheus.io/docs/instrumenting/exposition_formats/>.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::audit::AuditEvent;

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

/// Why s3gate refused a request or connection before the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    MaxConnections,
    HeaderBytes,
    HeaderCount,
    UrlBytes,
    IdleTimeout,
}

impl Limit {
    const ALL: [Limit; 5] = [
        Limit::MaxConnections,
        Limit::HeaderBytes,
        Limit::HeaderCount,
        Limit::UrlBytes,
        Limit::IdleTimeout,
    ];
    fn as_str(self) -> &'static str {
        match self {
            Limit::MaxConnections => "max_connections",
            Limit::HeaderBytes => "max_header_bytes",
            Limit::HeaderCount => "max_headers",
            Limit::UrlBytes => "max_url_bytes",
            Limit::IdleTimeout => "idle_timeout",
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

/// Counts one finished request from its audit event.
pub fn record_request(event: &AuditEvent) {
    let op = op_index(event.operation);
    let decision = usize::from(event.decision != "allow");
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

/// The whole registry in Prometheus text format.
pub fn render() -> String {
    let mut out = String::with_capacity(8 * 1024);
    let o = &mut out;

    header(
        o,
        "s3gate_requests_total",
        "counter",
        "Requests by operation, decision and status class.",
    );
    for (op, op_name) in OPERATIONS.iter().enumerate() {
        for (d, d_name) in DECISIONS.iter().enumerate() {
            for (c, c_name) in STATUS_CLASSES.iter().enumerate() {
                let n = REQUESTS[(op * DECISIONS.len() + d) * STATUS_CLASSES.len() + c].get();
                if n > 0 {
                    let _ = writeln!(
                        o,
                        "s3gate_requests_total{{operation=\"{op_name}\",decision=\"{d_name}\",status=\"{c_name}\"}} {n}"
                    );
                }
            }
        }
    }

    header(
        o,
        "s3gate_request_duration_seconds",
        "histogram",
        "Time from request head to the end of the response body.",
    );
    for (op, op_name) in OPERATIONS.iter().enumerate() {
        let counts: Vec<u64> = (0..N_BUCKETS)
            .map(|b| LATENCY[op * N_BUCKETS + b].get())
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            continue;
        }
        let mut cumulative = 0;
        for (b, le) in BUCKETS.iter().enumerate() {
            cumulative += counts[b];
            let _ = writeln!(
                o,
                "s3gate_request_duration_seconds_bucket{{operation=\"{op_name}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            o,
            "s3gate_request_duration_seconds_bucket{{operation=\"{op_name}\",le=\"+Inf\"}} {total}"
        );
        let sum = LATENCY_SUM_MICROS[op].get() as f64 / 1e6;
        let _ = writeln!(
            o,
            "s3gate_request_duration_seconds_sum{{operation=\"{op_name}\"}} {sum}"
        );
        let _ = writeln!(
            o,
            "s3gate_request_duration_seconds_count{{operation=\"{op_name}\"}} {total}"
        );
    }

    for (name, help, series) in [
        (
            "s3gate_request_bytes_total",
            "Request body bytes received from callers.",
            &BYTES_IN,
        ),
        (
            "s3gate_response_bytes_total",
            "Response body bytes sent to callers.",
            &BYTES_OUT,
        ),
    ] {
        header(o, name, "counter", help);
        for (op, op_name) in OPERATIONS.iter().enumerate() {
            let n = series[op].get();
            if n > 0 {
                let _ = writeln!(o, "{name}{{operation=\"{op_name}\"}} {n}");
            }
        }
    }

    header(
        o,
        "s3gate_limit_refusals_total",
        "counter",
        "Requests and connections refused by a configured limit.",
    );
    for l in Limit::ALL {
        let _ = writeln!(
            o,
            "s3gate_limit_refusals_total{{limit=\"{}\"}} {}",
            l.as_str(),
            LIMIT_HITS[l as usize].get()
        );
    }

    for (name, help, outcome) in [
        (
            "s3gate_sts_assume_role_total",
            "sts:AssumeRole calls for upstream credentials.",
            &STS_ASSUME_ROLE,
        ),
        (
            "s3gate_sts_get_caller_identity_total",
            "GetCallerIdentity calls forwarded to AWS STS.",
            &STS_GET_CALLER_IDENTITY,
        ),
        (
            "s3gate_jwks_fetch_total",
            "JWKS fetches from OIDC issuers.",
            &JWKS_FETCH,
        ),
        (
            "s3gate_policy_reloads_total",
            "Policy file reloads.",
            &POLICY_RELOAD,
        ),
        (
            "s3gate_tls_reloads_total",
            "TLS certificate reloads.",
            &TLS_RELOAD,
        ),
        (
            "s3gate_revocation_reads_total",
            "Revocation list reads (an error keeps the last list).",
            &REVOCATION_READ,
        ),
    ] {
        header(o, name, "counter", help);
        let _ = writeln!(o, "{name}{{result=\"ok\"}} {}", outcome.ok.get());
        let _ = writeln!(o, "{name}{{result=\"error\"}} {}", outcome.error.get());
    }
    for (name, help, cache) in [
        (
            "s3gate_credential_cache_total",
            "Upstream credential cache lookups.",
            &CREDENTIAL_CACHE,
        ),
        (
            "s3gate_jwks_cache_total",
            "JWKS cache lookups.",
            &JWKS_CACHE,
        ),
    ] {
        header(o, name, "counter", help);
        let _ = writeln!(o, "{name}{{result=\"hit\"}} {}", cache.hit.get());
        let _ = writeln!(o, "{name}{{result=\"miss\"}} {}", cache.miss.get());
    }
    for (name, help, c) in [
        (
            "s3gate_audit_records_total",
            "Audit records written.",
            &AUDIT_RECORDS,
        ),
        (
            "s3gate_audit_write_failures_total",
            "Audit writes that failed (the gateway then refuses requests).",
            &AUDIT_WRITE_FAILURES,
        ),
        (
            "s3gate_connections_total",
            "Client connections accepted.",
            &CONNECTIONS,
        ),
    ] {
        header(o, name, "counter", help);
        let _ = writeln!(o, "{name} {}", c.get());
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
        header(o, name, "gauge", help);
        let _ = writeln!(o, "{name} {}", g.get());
    }
    out
}

fn header(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} {kind}");
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
        let event = AuditEvent {
            operation: Some("GetObjectAttributes"),
            decision: "allow",
            status: 200,
            bytes_in: 0,
            bytes_out: 1234,
            duration_ms: 7.0,
            bucket: Some("secret-bucket".into()),
            ..Default::default()
        };
        record_request(&event);
        let text = render();
        assert!(text.contains(
            "s3gate_requests_total{operation=\"GetObjectAttributes\",decision=\"allow\",status=\"2xx\"} "
        ));
        assert!(text.contains(
            "s3gate_request_duration_seconds_bucket{operation=\"GetObjectAttributes\",le=\"0.005\"} 0"
        ));
        assert!(text.contains(
            "s3gate_request_duration_seconds_bucket{operation=\"GetObjectAttributes\",le=\"0.01\"} "
        ));
        assert!(text.contains("s3gate_response_bytes_total{operation=\"GetObjectAttributes\"} "));
        assert!(!text.contains("secret-bucket"));
    }
}
