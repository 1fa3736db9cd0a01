//! The per-request context: the request id, the clock reading every stage
//! decides by, the client's address (the one the policy sees, behind
//! trusted proxies the one they forward), and the audit event being filled in, with the
//! one audit slot the request holds.
//!
//! The slot is reserved when the context is made, before anything is
//! decided, so no access happens without its record (and a full audit
//! queue holds new requests back). Once the response starts, the slot gives
//! its room in the queue back and the record waits for the body's end
//! without holding any (see [`AuditPermit::defer`]). It leaves in exactly
//! one of two ways: [`RequestCtx::finish`] hands it to the response body
//! (which writes the record when the body ends), or, when the handler is
//! dropped before it answered (the client left, the idle timeout or the
//! drain cut the connection), `Drop` writes the record as abandoned. So the
//! count of audit records equals the count of requests, whatever their fate,
//! with one slot each.

use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;
use std::time::{Instant, SystemTime};

use http::StatusCode;

use super::Gateway;
use super::record::{self, Finish};
use crate::audit::{AuditEvent, AuditPermit};
use crate::session::Identity;

/// `499`, as nginx logs it: the client closed the request before the answer.
const CLIENT_CLOSED: u16 = 499;

pub struct RequestCtx {
    /// What the audit line will say; stages fill it in as they learn.
    pub event: EventSlot,
    /// The one clock reading the request is decided by.
    pub now: SystemTime,
    /// The client's address as the policy sees it ([`client_source`]);
    /// `None` when a trusted proxy forwarded something that is not one.
    pub source: Option<IpAddr>,
    started: Instant,
    /// `None` once [`RequestCtx::finish`] handed the slot to a response.
    permit: Option<AuditPermit>,
    /// What the request was, for the record of an abandoned one; written
    /// out only then (a method and a shared `Uri` cost no allocation).
    line: Line,
}

/// The request's audit event, boxed. The context travels by value from
/// stage to stage inside the request's futures, and with a ~650-byte event
/// inline every move copied it: ~2,400 instructions of `memcpy` a request
/// in the server's profile. Boxed, a move copies a pointer, and the box
/// goes on to the audit queue as it is.
///
/// Empty only once [`RequestCtx::finish`] or the abandoned request's
/// `drop` took the event, after which nothing reads it; it reads as an
/// empty event then rather than panic.
pub struct EventSlot(Option<Box<AuditEvent>>);

impl EventSlot {
    fn take(&mut self) -> Box<AuditEvent> {
        self.0.take().unwrap_or_default()
    }
}

impl std::ops::Deref for EventSlot {
    type Target = AuditEvent;

    fn deref(&self) -> &AuditEvent {
        static TAKEN: LazyLock<AuditEvent> = LazyLock::new(AuditEvent::default);
        self.0.as_deref().unwrap_or(&TAKEN)
    }
}

impl std::ops::DerefMut for EventSlot {
    fn deref_mut(&mut self) -> &mut AuditEvent {
        self.0.get_or_insert_with(Box::default)
    }
}

/// What an abandoned request's record says it was.
pub enum Line {
    /// `METHOD PATH` (the path only: the query may hold a presigned
    /// signature).
    Request(http::Method, http::Uri),
    /// A sign-in route, by its operation.
    Operation(&'static str),
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Line::Request(method, uri) => write!(f, "{method} {}", uri.path()),
            Line::Operation(op) => f.write_str(op),
        }
    }
}

/// The client's address for a request from `peer`, as every decision,
/// page and audit line uses it (S3, STS, the portal): the peer's, or behind
/// one of `server.trusted_proxies` the one they forward
/// ([`crate::forwarded::client_address`]). `None` when a trusted proxy
/// forwarded something that is not an address: callers refuse then, since
/// an unknown address would keep a `not_source_cidr` deny from denying.
pub fn client_source(
    gateway: &Gateway,
    peer: SocketAddr,
    headers: &http::HeaderMap,
) -> Option<IpAddr> {
    crate::forwarded::client_address(peer.ip(), headers, &gateway.limits.trusted_proxies)
}

impl RequestCtx {
    /// Reserves the request's audit slot. `None` when the audit sink cannot
    /// take records: the caller refuses rather than serve unaudited.
    pub async fn begin<B>(
        gateway: &Gateway,
        api: &'static str,
        req: &http::Request<B>,
        client: SocketAddr,
        request_id: String,
    ) -> Option<Self> {
        let line = Line::Request(req.method().clone(), req.uri().clone());
        let source = client_source(gateway, client, req.headers());
        Self::open(
            gateway,
            api,
            line,
            req.headers(),
            client,
            source,
            request_id,
        )
        .await
    }

    /// Like [`RequestCtx::begin`] from the request's headers alone; `line`
    /// says what the request was, should it be abandoned, and `source` is
    /// the client's address the caller already worked out
    /// ([`client_source`]).
    pub async fn open(
        gateway: &Gateway,
        api: &'static str,
        line: Line,
        headers: &http::HeaderMap,
        client: SocketAddr,
        source: Option<IpAddr>,
        request_id: String,
    ) -> Option<Self> {
        let now = SystemTime::now();
        let permit = gateway.audit.reserve().await?;
        let mut event = Box::new(AuditEvent::begin(api, request_id, now, client, headers));
        if source != Some(client.ip()) {
            event.source_ip = Some(source.map_or_else(|| "unknown".into(), |ip| ip.to_string()));
        }
        Some(Self {
            event: EventSlot(Some(event)),
            now,
            source,
            started: Instant::now(),
            permit: Some(permit),
            line,
        })
    }

    pub fn request_id(&self) -> &str {
        &self.event.request_id
    }

    /// Records a refusal: its S3 or STS error code and why.
    pub fn deny(&mut self, error: &'static str, reason: impl Into<String>) {
        self.event.decision = "deny";
        self.event.error = Some(error);
        self.event.reason = crate::audit::Reason::Text(reason.into());
    }

    /// Records who was let in, and why.
    pub fn allow(&mut self, identity: &Identity, reason: impl Into<String>) {
        self.event.set_identity(identity);
        self.event.decision = "allow";
        self.event.reason = crate::audit::Reason::Text(reason.into());
    }

    /// Sets `reason` unless a stage already said why (the first reason,
    /// closest to the cause, is the one a reader needs).
    pub fn reason_if_unset(&mut self, reason: impl Into<String>) {
        if self.event.reason.is_empty() {
            self.event.reason = crate::audit::Reason::Text(reason.into());
        }
    }

    /// Hands the audit slot and the event to the response: the body writes
    /// the record when it ends.
    pub fn finish(mut self, status: StatusCode) -> Finish {
        self.event.status = status.as_u16();
        let event = self.event.take();
        Finish {
            // Always `Some` here: only `finish` and `drop` take it, once.
            // The response has started: its queue room goes back, so a
            // slow download does not hold it for its whole life.
            permit: self.permit.take().map(AuditPermit::defer),
            event,
            started: self.started,
        }
    }
}

impl Drop for RequestCtx {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut event = self.event.take();
        event.status = CLIENT_CLOSED;
        event.decision = "deny";
        event.error = Some("RequestAbandoned");
        event.reason = format!(
            "{}: the connection closed before s3gate answered; the request was abandoned",
            self.line
        )
        .into();
        record::emit(permit, event, self.started, 0, false);
    }
}
