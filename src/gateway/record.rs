//! The audit record's exit: [`Finish`], what a response body carries until
//! it ends, and [`emit`], the one function that writes a request's record
//! and counts the request in the metrics.

use std::time::Instant;

use crate::audit::{AuditEvent, AuditPermit};

/// What is left to do when a response body is done: write its record.
pub struct Finish {
    pub(super) permit: Option<AuditPermit>,
    pub(super) event: Box<AuditEvent>,
    pub(super) started: Instant,
}

impl Finish {
    /// Writes the record, with what the body sent.
    pub fn complete(self, bytes_out: u64, complete: bool) {
        if let Some(permit) = self.permit {
            emit(permit, self.event, self.started, bytes_out, complete);
        }
    }
}

/// Writes one audit record and counts the request. Every record of a
/// request leaves through here.
pub fn emit(
    permit: AuditPermit,
    mut event: Box<AuditEvent>,
    started: Instant,
    bytes_out: u64,
    complete: bool,
) {
    event.bytes_out = bytes_out;
    event.complete = complete;
    event.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    crate::metrics::record_request(&crate::metrics::RequestSample {
        operation: event.operation,
        allowed: event.decision == "allow",
        status: event.status,
        duration_ms: event.duration_ms,
        bytes_in: event.bytes_in,
        bytes_out: event.bytes_out,
    });
    permit.send(event);
}
