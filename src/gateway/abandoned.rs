//! The audit record of a request whose handler never finished: the client
//! left (or the idle timeout or the drain cut the connection) while the
//! pipeline was still working, so hyper dropped the handler — and with it
//! the pipeline's own audit slot — before any response existed.
//!
//! [`Abandoned`] reserves a second slot before the handler starts and writes
//! a minimal record from `Drop` unless the handler returned a response (from
//! then on the response body owns the record). So the count of audit
//! records equals the count of requests, whatever their fate.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use http::Request;
use hyper::body::Incoming;

use super::Gateway;
use crate::audit::{AuditEvent, AuditPermit};

/// `499`, as nginx logs it: the client closed the request before the answer.
const CLIENT_CLOSED: u16 = 499;

pub struct Abandoned {
    armed: Option<(AuditPermit, AuditEvent)>,
    started: Instant,
}

impl Abandoned {
    /// `None` when the audit sink cannot take records (the caller refuses).
    pub async fn arm(
        gateway: &Gateway,
        req: &Request<Incoming>,
        client: SocketAddr,
        request_id: &str,
        now: SystemTime,
        api: &'static str,
    ) -> Option<Self> {
        let permit = gateway.audit.reserve().await?;
        let event = AuditEvent {
            reason: format!(
                "{} {}: the connection closed before s3gate answered; the request was abandoned",
                req.method(),
                // The path only: the query may hold a presigned signature.
                req.uri().path()
            ),
            error: Some("RequestAbandoned"),
            status: CLIENT_CLOSED,
            ..AuditEvent::begin(api, request_id.to_owned(), now, client, req.headers())
        };
        Some(Self {
            armed: Some((permit, event)),
            started: Instant::now(),
        })
    }

    /// The handler answered: its response body writes the record.
    pub fn disarm(mut self) {
        self.armed = None;
    }
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if let Some((permit, mut event)) = self.armed.take() {
            event.duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
            crate::metrics::record_request(&event);
            permit.send(event);
        }
    }
}
