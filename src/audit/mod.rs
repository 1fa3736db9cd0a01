//! Audit events: one JSON line per request, allowed or denied, written when
//! the request ends.
//!
//! A request reserves its slot in the bounded audit channel *before* any
//! work is done ([`AuditSink::reserve`]), so the event can always be sent
//! when the request ends — from a response body's `Drop` if need be — and a
//! slow sink slows callers down instead of losing records. Once a response
//! starts streaming, the slot gives its room back ([`AuditPermit::defer`]):
//! slow downloads never hold the queue's room away from other callers. If the sink
//! cannot be written, [`AuditSink::healthy`] turns false and the gateway
//! refuses new requests rather than serve unaudited access.
//!
//! Events never carry a secret, a session token or a signature: the fields
//! below are all there is. The record schema is documented, field by field,
//! in `docs/audit.md`; [`SCHEMA_VERSION`] changes when a field's meaning does.
//! With `[audit] chain = true` each line is sealed by [`chain`]. The line
//! itself is written by `json`, field by field, to the derived
//! `Serialize`'s bytes.

pub mod chain;
mod json;

use std::cell::Cell;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::config::AuditOutput;
use crate::metrics;
use crate::session::Subject;

/// The `v` field of every record: bumped when a field changes meaning or
/// disappears (adding a field does not bump it).
pub const SCHEMA_VERSION: u32 = 1;

/// Lines buffered between requests and the writer. Enough for bursts; when
/// full, new requests wait for room (back-pressure, never loss).
const AUDIT_QUEUE: usize = 16 * 1024;

/// Most events written in one go.
const AUDIT_BATCH: usize = 256;

/// After a write that did not fill a batch, the writer waits this long
/// before looking again, so that under load it wakes once per batch rather
/// than once per request (each wake-up is a futex call and two context
/// switches on the request path). A lone request's line is still written at
/// once; lines under load are at most this much later.
///
/// Measured per thread (`benches/load/PROFILE.md`, session 14): at 1 ms
/// the writer woke every ~1.8 requests at ~1,500 requests/s and cost
/// 18 CPU-µs a request there, 3.8 at 64 connections; at 5 ms, 7.8 and
/// 1.7; at 10 ms, 5.8 and 1.4.
const AUDIT_LINGER: Duration = Duration::from_millis(5);

/// One audit record.
#[derive(Debug, Serialize, Default)]
pub struct AuditEvent {
    /// Schema version ([`SCHEMA_VERSION`]), set by the writer.
    pub v: u32,
    /// RFC 3339, UTC, milliseconds.
    pub time: Stamp,
    pub request_id: String,
    /// `s3`, `sts` or `web`.
    pub api: &'static str,
    /// Who the request is from, filled in field by field; empty when a
    /// session's shared subject says it instead.
    #[serde(flatten)]
    pub who: Subject,
    /// A session's subject, shared with the session's other requests
    /// (see [`AuditEvent::set_session`]).
    #[serde(flatten)]
    pub subject: Option<SharedSubject>,
    /// `header`, `presigned`, or absent when the request was not signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<&'static str>,
    /// The S3 or STS operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<&'static str>,
    /// Shared with the classified request.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "shared_str")]
    pub bucket: Option<Arc<str>>,
    /// Shared with the classified request.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "shared_str")]
    pub key: Option<Arc<str>>,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The policy rule that decided: a deny's id, the allowing grants' ids
    /// (comma-separated), `no grant`, or `session scope` when the policy
    /// allowed but the session's own scope did not. Shared with the
    /// policy's decision.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "shared_str")]
    pub rule: Option<Arc<str>>,
    /// The version of the policy that decided (`LABEL/HASH` or `HASH`),
    /// shared with the policy.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "shared_str")]
    pub policy_version: Option<Arc<str>>,
    /// Why, in words: the decision, or the refusal.
    pub reason: Reason,
    /// The S3 error code when s3gate refused or failed the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration_ms: f64,
    /// Whether the response body was delivered in full.
    pub complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<SocketAddr>,
    /// The address the policy's conditions saw, when it is not `client`'s:
    /// taken from `X-Forwarded-For` behind a trusted proxy, or `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_request_id: Option<String>,
    /// The upstream the request went to (`default` or an `[[upstreams]]`
    /// name), shared with the upstream.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "shared_str")]
    pub upstream: Option<Arc<str>>,
    /// The assumed-role session ARN the store saw, when a role was assumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_role_session: Option<String>,
}

impl AuditEvent {
    /// Records who the request is from: subject, method, and the parts of
    /// the identity a reader needs to know who that is.
    /// A request's event before anything is decided: a denial until a
    /// stage allows it.
    pub fn begin(
        api: &'static str,
        request_id: String,
        now: SystemTime,
        client: SocketAddr,
        headers: &http::HeaderMap,
    ) -> AuditEvent {
        AuditEvent {
            time: Stamp(now),
            request_id,
            api,
            decision: "deny",
            client: Some(client),
            user_agent: headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            ..Default::default()
        }
    }

    /// Appends the record as one JSON object (no newline) to `out`: the
    /// writer's reused line buffer.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        json::write_event(out, self);
    }

    /// Records that the request is the session's: who it is from, without
    /// copying a string (the subject was built when the session opened).
    pub fn set_session(&mut self, subject: &Arc<Subject>) {
        // The subject writes these; a record must not name a field twice.
        self.who = Subject::default();
        self.subject = Some(SharedSubject(Arc::clone(subject)));
    }

    /// The principal the record names, if any.
    pub fn identity(&self) -> Option<&str> {
        match &self.subject {
            Some(s) => s.0.identity.as_deref(),
            None => self.who.identity.as_deref(),
        }
    }

    pub fn set_identity(&mut self, id: &crate::session::Identity) {
        self.who.set_identity(id);
    }
}

/// A session's [`Subject`] as an event holds it: shared, written in
/// place of the event's own identity fields.
#[derive(Debug)]
pub struct SharedSubject(Arc<Subject>);

impl Serialize for SharedSubject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// A record's `reason`. The usual one, a request the policy's grants
/// allow within the session's scope, is kept as the grants' label and
/// spelled only when the writer serialises the record; any other reason is
/// its own text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Text(String),
    /// Allowed by the grants with these ids (the decision's rule label),
    /// and within the session's scope.
    Granted(Arc<str>),
}

impl Reason {
    pub fn is_empty(&self) -> bool {
        match self {
            Reason::Text(text) => text.is_empty(),
            Reason::Granted(_) => false,
        }
    }
}

impl Default for Reason {
    fn default() -> Reason {
        Reason::Text(String::new())
    }
}

impl From<String> for Reason {
    fn from(text: String) -> Reason {
        Reason::Text(text)
    }
}

impl From<&str> for Reason {
    fn from(text: &str) -> Reason {
        Reason::Text(text.to_owned())
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Text(text) => f.write_str(text),
            Reason::Granted(rule) => write!(
                f,
                "{}; within the session's scope",
                crate::policy::GrantedBy(rule)
            ),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Reason::Text(text) => s.serialize_str(text),
            // Escaped as the same text would be.
            Reason::Granted(_) => s.collect_str(self),
        }
    }
}

/// Writes a shared string as the string it is (serde writes an `Arc` only
/// with its `rc` feature).
fn shared_str<S: serde::Serializer>(v: &Option<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(text) => s.serialize_str(text),
        None => s.serialize_none(),
    }
}

/// Where events go.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Box<AuditEvent>>,
    state: Arc<SinkState>,
}

struct SinkState {
    healthy: AtomicBool,
    written: AtomicU64,
}

/// A request's slot. Reserved before any work, it holds room in the
/// queue, so sending never waits and never fails while the writer runs.
/// Once the response has started ([`AuditPermit::defer`]) it gives that
/// room back: a slow download must not hold room for its whole life, or a
/// few thousand stalled downloads would keep every other caller's request
/// waiting for a slot. Its record is then sent when the body ends, at once
/// if there is room, else by a task that waits for room (never lost).
pub struct AuditPermit {
    slot: Slot,
    state: Arc<SinkState>,
}

enum Slot {
    Reserved(mpsc::OwnedPermit<Box<AuditEvent>>),
    Deferred(mpsc::Sender<Box<AuditEvent>>),
}

impl AuditPermit {
    pub fn send(self, event: Box<AuditEvent>) {
        match self.slot {
            Slot::Reserved(permit) => {
                permit.send(event);
            }
            Slot::Deferred(tx) => match tx.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => {
                    // Back-pressure stays where it belongs, on new
                    // requests reserving; this record waits its turn.
                    let state = self.state;
                    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                        runtime.spawn(async move {
                            if tx.send(event).await.is_err() {
                                state.healthy.store(false, Ordering::Relaxed);
                            }
                        });
                    } else {
                        state.healthy.store(false, Ordering::Relaxed);
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.state.healthy.store(false, Ordering::Relaxed);
                }
            },
        }
    }

    /// Gives the queue room back while the response streams; the record
    /// is sent when it ends (see [`AuditPermit`]).
    #[must_use]
    pub fn defer(self) -> Self {
        match self.slot {
            Slot::Reserved(permit) => Self {
                slot: Slot::Deferred(permit.release()),
                state: self.state,
            },
            deferred @ Slot::Deferred(_) => Self {
                slot: deferred,
                state: self.state,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot open audit file {path}: {source}")]
    Open {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl AuditSink {
    /// Starts the writer task for `output`. Needs a tokio runtime.
    pub fn start(output: &AuditOutput) -> Result<Self, AuditError> {
        Self::start_with(output, false)
    }

    /// Like [`AuditSink::start`]; `chain` seals each line with a hash
    /// chained to the previous one (a file continues its own chain).
    pub fn start_with(output: &AuditOutput, chain: bool) -> Result<Self, AuditError> {
        Self::start_with_queue(output, chain, AUDIT_QUEUE)
    }

    /// Like [`AuditSink::start_with`], with room for `queue` lines between
    /// requests and the writer.
    pub fn start_with_queue(
        output: &AuditOutput,
        chain: bool,
        queue: usize,
    ) -> Result<Self, AuditError> {
        let chain = if chain {
            let prev = match output {
                AuditOutput::File(path) => {
                    chain::last_hash(path).map_err(|source| AuditError::Open {
                        path: path.clone(),
                        source,
                    })?
                }
                AuditOutput::Stdout | AuditOutput::Stderr => None,
            };
            Some(chain::Chain::new(prev))
        } else {
            None
        };
        let writer: Box<dyn Write + Send> = match output {
            AuditOutput::Stdout => Box::new(std::io::stdout()),
            AuditOutput::Stderr => Box::new(std::io::stderr()),
            AuditOutput::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| AuditError::Open {
                        path: path.clone(),
                        source,
                    })?,
            ),
        };
        let (tx, rx) = mpsc::channel(queue);
        let state = Arc::new(SinkState {
            healthy: AtomicBool::new(true),
            written: AtomicU64::new(0),
        });
        let writer_state = state.clone();
        // Writes are blocking file I/O: keep them off the async workers.
        tokio::task::spawn_blocking(move || write_loop(rx, writer, &writer_state, chain));
        Ok(Self { tx, state })
    }

    /// False once a write failed: the gateway must refuse requests.
    pub fn healthy(&self) -> bool {
        self.state.healthy.load(Ordering::Relaxed)
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.state.written.load(Ordering::Relaxed)
    }

    /// Reserves room for one event; waits while the queue is full. `None`
    /// when the writer has stopped.
    pub async fn reserve(&self) -> Option<AuditPermit> {
        if !self.healthy() {
            return None;
        }
        self.tx
            .clone()
            .reserve_owned()
            .await
            .ok()
            .map(|permit| AuditPermit {
                slot: Slot::Reserved(permit),
                state: self.state.clone(),
            })
    }

    /// Sends an event for work that did not reserve (startup, refusals
    /// before reservation). Waits for room.
    pub async fn send(&self, event: Box<AuditEvent>) {
        if self.tx.send(event).await.is_err() {
            self.state.healthy.store(false, Ordering::Relaxed);
        }
    }
}

fn write_loop(
    mut rx: mpsc::Receiver<Box<AuditEvent>>,
    mut out: Box<dyn Write + Send>,
    state: &SinkState,
    mut chain: Option<chain::Chain>,
) {
    let mut batch = Vec::with_capacity(AUDIT_BATCH);
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut line = Vec::with_capacity(1024);
    while rx.blocking_recv_many(&mut batch, AUDIT_BATCH) > 0 {
        buf.clear();
        let n = batch.len() as u64;
        for mut event in batch.drain(..) {
            event.v = SCHEMA_VERSION;
            line.clear();
            event.write_json(&mut line);
            if let Some(chain) = &mut chain {
                chain.seal(&mut line);
            }
            buf.extend_from_slice(&line);
            buf.push(b'\n');
        }
        if let Err(e) = out.write_all(&buf).and_then(|()| out.flush()) {
            metrics::AUDIT_WRITE_FAILURES.inc();
            state.healthy.store(false, Ordering::Relaxed);
            tracing::error!(error = %e, "audit sink failed; refusing requests until restart");
            // Keep draining so requests holding permits do not hang; each
            // drained event is one more record that could not be written.
            while let Some(event) = rx.blocking_recv() {
                tracing::error!(request.id = %event.request_id, "audit record lost");
            }
            return;
        }
        state.written.fetch_add(n, Ordering::Relaxed);
        metrics::AUDIT_RECORDS.add(n);
        if n < AUDIT_BATCH as u64 {
            std::thread::sleep(AUDIT_LINGER);
        }
    }
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-27T21:07:05.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    String::from_utf8_lossy(&rfc3339_millis(t)).into_owned()
}

/// A record's time: kept as a `SystemTime` on the request path and spelled
/// (RFC 3339, UTC, milliseconds) only when the writer serialises the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp(pub SystemTime);

impl Default for Stamp {
    fn default() -> Stamp {
        Stamp(SystemTime::UNIX_EPOCH)
    }
}

impl Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = rfc3339_millis(self.0);
        // ASCII digits and separators only.
        s.serialize_str(std::str::from_utf8(&text).unwrap_or_default())
    }
}

/// The last instant [`rfc3339_millis`] spells: 9999-12-31T23:59:59.999Z.
const LAST_SPELLED: Duration = Duration::from_millis(253_402_300_799_999);

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` without a heap string (the audit line's
/// time is written for every request). A clock before 1970 shows as the
/// epoch and one past year 9999 as its last millisecond, rather than failing.
///
/// The text up to the second is kept, per thread, for the second it
/// names: spelled a digit at a time it was ~320 instructions of every
/// record, for a value that changes once a second under load.
fn rfc3339_millis(t: SystemTime) -> [u8; 24] {
    thread_local! {
        static LAST: Cell<(u64, [u8; 24])> = const { Cell::new((u64::MAX, [0; 24])) };
    }
    let since = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .min(LAST_SPELLED);
    let secs = since.as_secs();
    let mut out = LAST.with(|last| match last.get() {
        (second, text) if second == secs => text,
        _ => {
            let text = rfc3339_seconds(secs);
            last.set((secs, text));
            text
        }
    });
    put_digits(&mut out[20..23], u64::from(since.subsec_millis()));
    out
}

/// [`rfc3339_millis`]'s text for the whole second `secs`, `.000Z` last.
fn rfc3339_seconds(secs: u64) -> [u8; 24] {
    let day_secs = secs % 86_400;
    let (year, month, day) = crate::calendar::civil_from_days(secs / 86_400);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    put_digits(&mut out[0..4], year.into());
    put_digits(&mut out[5..7], month.into());
    put_digits(&mut out[8..10], day.into());
    put_digits(&mut out[11..13], day_secs / 3600);
    put_digits(&mut out[14..16], day_secs / 60 % 60);
    put_digits(&mut out[17..19], day_secs % 60);
    out
}

/// `n`'s last `digits.len()` decimal digits, zero-padded, into `digits`.
fn put_digits(digits: &mut [u8], mut n: u64) {
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// ISO 8601 UTC seconds, as STS and `credential_process` expect.
pub fn iso8601(t: SystemTime) -> String {
    format_utc(t, ISO8601_SECONDS)
}

const ISO8601_SECONDS: &[time::format_description::BorrowedFormatItem<'_>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

fn format_utc(
    t: SystemTime,
    format: &[time::format_description::BorrowedFormatItem<'_>],
) -> String {
    // Before 1970 (a clock gone wrong) shows as the epoch rather than failing.
    let t = t.max(SystemTime::UNIX_EPOCH);
    // Formatting a valid date with a fixed description cannot fail.
    time::OffsetDateTime::from(t)
        .format(format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The hand-written spelling agrees with the `time` crate's over
        /// every millisecond it spells.
        #[test]
        fn rfc3339_agrees_with_the_time_crate(ms in 0u64..=253_402_300_799_999) {
            let t = SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
            let theirs = time::OffsetDateTime::from(t)
                .format(time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                ))
                .unwrap();
            proptest::prop_assert_eq!(rfc3339(t), theirs);
        }
    }

    /// A session's record written through its shared subject is the same
    /// line, byte for byte, as one that copies each field in, whatever
    /// was set before the session opened.
    #[test]
    fn a_shared_subject_writes_the_fields_it_replaces() {
        use crate::session::{Claims, Identity, Quota};
        let identity = Identity {
            method: "oidc".into(),
            subject: "sub-1".into(),
            issuer: Some("https://idp.example".into()),
            username: Some("alice".into()),
            groups: vec!["eng".into(), "ops".into()],
            aws_account: None,
            aws_role: None,
            aws_session: Some("s\"1".into()),
            email: Some("a@example.com".into()),
            mfa: Some(true),
        };
        let claims = Claims {
            session_id: "0123abcd".into(),
            access_key_id: "SGIAAAAAAAAAAAAAAAAA".into(),
            identity,
            scope: Default::default(),
            issued_at: 0,
            expires_at: 1,
            chain: vec!["user:root".into()],
            parent_scopes: Vec::new(),
            parent_sessions: Vec::new(),
            quota: Quota::default(),
            parent_quotas: Vec::new(),
        };
        let client: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let begin = || {
            let mut e = AuditEvent::begin(
                "s3",
                "RID".into(),
                SystemTime::UNIX_EPOCH,
                client,
                &http::HeaderMap::new(),
            );
            e.who.access_key_id = Some(claims.access_key_id.clone());
            e.auth = Some("header");
            e
        };
        let mut copied = begin();
        copied.who.session_id = Some(claims.session_id.clone());
        copied.set_identity(&claims.identity);
        copied.who.chain = claims.chain.clone();
        let mut shared = begin();
        shared.set_session(&Arc::new(Subject::of(&claims)));
        assert_eq!(shared.identity(), copied.who.identity.as_deref());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        copied.write_json(&mut a);
        shared.write_json(&mut b);
        assert_eq!(String::from_utf8(b).unwrap(), String::from_utf8(a).unwrap());
    }

    proptest::proptest! {
        /// An allowed request's reason, spelled by the writer from the
        /// grants' label, is the line the gateway used to build per
        /// request, escapes and all.
        #[test]
        fn a_granted_reason_writes_the_text_it_replaces(rule in "\\PC{0,40}|[a-z\"\\\\,`\n-]{0,20}") {
            // As the gateway built it: the decision's why, then the scope.
            let why = format!("allowed by grant `{rule}`");
            let old = format!("{why}; within the session's scope");
            let event = |reason: Reason| AuditEvent { reason, ..Default::default() };
            let (mut a, mut b) = (Vec::new(), Vec::new());
            event(Reason::Text(old.clone())).write_json(&mut a);
            event(Reason::Granted(rule.as_str().into())).write_json(&mut b);
            proptest::prop_assert_eq!(String::from_utf8(b).unwrap(), String::from_utf8(a).unwrap());
            proptest::prop_assert_eq!(Reason::Granted(rule.as_str().into()).to_string(), old);
        }
    }

    /// Shared names are written as the strings they share.
    #[test]
    fn shared_fields_write_as_strings() {
        let event = AuditEvent {
            policy_version: Some("v7/0123456789ab".into()),
            rule: Some("a\"b".into()),
            upstream: Some("default".into()),
            ..Default::default()
        };
        let mut line = Vec::new();
        event.write_json(&mut line);
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["policy_version"], "v7/0123456789ab");
        assert_eq!(v["rule"], "a\"b");
        assert_eq!(v["upstream"], "default");
        let mut none = Vec::new();
        AuditEvent::default().write_json(&mut none);
        let v: serde_json::Value = serde_json::from_slice(&none).unwrap();
        assert!(
            v.get("rule").is_none() && v.get("upstream").is_none(),
            "{v}"
        );
    }

    #[test]
    fn rfc3339_clamps_a_clock_out_of_range() {
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(rfc3339(before), "1970-01-01T00:00:00.000Z");
        let after = SystemTime::UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(rfc3339(after), "9999-12-31T23:59:59.999Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_661);
        assert_eq!(rfc3339(leap), "2000-02-29T01:01:01.000Z");
    }

    #[test]
    fn timestamps_are_utc_iso8601() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_369_353_600_123);
        assert_eq!(rfc3339(t), "2013-05-24T00:00:00.123Z");
        assert_eq!(iso8601(t), "2013-05-24T00:00:00Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_661);
        assert_eq!(iso8601(leap), "2000-02-29T01:01:01Z");
    }

    /// Responses still streaming (a slow download) hold no room in the
    /// queue: their records are due when they end, but another caller's
    /// request gets its slot meanwhile, and every record is still written.
    #[tokio::test(flavor = "multi_thread")]
    async fn streaming_responses_do_not_keep_other_requests_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let sink = AuditSink::start_with_queue(&AuditOutput::File(path.clone()), false, 4).unwrap();
        let event = |id: String| {
            Box::new(AuditEvent {
                request_id: id,
                decision: "allow",
                ..Default::default()
            })
        };
        // As many slow downloads as the queue has room, answered and
        // streaming: their records wait for their bodies' ends.
        let mut streaming = Vec::new();
        for _ in 0..4 {
            streaming.push(sink.reserve().await.unwrap().defer());
        }
        // A guard against hanging the suite, not a timing assertion: on
        // the old code this waited for a download to end.
        let other = tokio::time::timeout(Duration::from_secs(30), sink.reserve())
            .await
            .expect("another caller's request got no audit slot while downloads stream")
            .unwrap();
        other.send(event("other".into()));
        for (i, permit) in streaming.into_iter().enumerate() {
            permit.send(event(format!("download{i}")));
        }
        for _ in 0..500 {
            if sink.written() == 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 5, "{text}");
        for id in ["other", "download0", "download3"] {
            assert!(text.contains(&format!("\"{id}\"")), "{text}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn events_are_written_one_json_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let sink = AuditSink::start(&AuditOutput::File(path.clone())).unwrap();
        for i in 0..3 {
            let permit = sink.reserve().await.unwrap();
            permit.send(Box::new(AuditEvent {
                request_id: format!("r{i}"),
                decision: "allow",
                ..Default::default()
            }));
        }
        for _ in 0..100 {
            if sink.written() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let v: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
        assert_eq!(v["request_id"], "r2");
        assert_eq!(v["decision"], "allow");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_burst_is_written_whole_across_batches_and_lingers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let sink = AuditSink::start(&AuditOutput::File(path.clone())).unwrap();
        let total = 3 * AUDIT_BATCH + 7;
        for i in 0..total {
            let permit = sink.reserve().await.unwrap();
            permit.send(Box::new(AuditEvent {
                request_id: format!("r{i}"),
                ..Default::default()
            }));
            if i % 100 == 0 {
                // Let the writer catch some mid-burst, to cross a linger.
                tokio::time::sleep(AUDIT_LINGER / 2).await;
            }
        }
        for _ in 0..200 {
            if sink.written() == total as u64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let ids: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["request_id"].to_string()
            })
            .collect();
        let want: Vec<String> = (0..total).map(|i| format!("\"r{i}\"")).collect();
        assert_eq!(ids, want, "every event, once, in order");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failing_sink_turns_unhealthy() {
        // /dev/full accepts the open and fails every write with ENOSPC.
        let sink = AuditSink::start(&AuditOutput::File("/dev/full".into())).unwrap();
        let permit = sink.reserve().await.unwrap();
        permit.send(Box::default());
        for _ in 0..100 {
            if !sink.healthy() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!sink.healthy());
        assert!(sink.reserve().await.is_none());
    }
}
