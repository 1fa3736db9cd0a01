//! The response body every request gets: S3's XML error or the upstream's
//! stream, counted as it goes, with the audit event sent exactly once when
//! the body ends, fails, or is dropped by a departing client.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::audit::{AuditEvent, AuditPermit};
use crate::session::ReadMeter;

pub enum Inner {
    Full(Option<Bytes>),
    Upstream(crate::upstream::ResponseBody),
}

/// What is left to do when the body is done.
pub struct Finish {
    pub permit: AuditPermit,
    pub event: AuditEvent,
    pub started: Instant,
}

pub struct GatewayBody {
    inner: Inner,
    bytes_out: u64,
    finish: Option<Finish>,
    /// Charges the bytes sent to the session's bytes-read quotas (none for
    /// most sessions).
    meter: ReadMeter,
}

impl GatewayBody {
    pub fn full(bytes: impl Into<Bytes>, finish: Option<Finish>) -> Self {
        Self {
            inner: Inner::Full(Some(bytes.into())),
            bytes_out: 0,
            finish,
            meter: ReadMeter::default(),
        }
    }

    /// Attaches the audit record this body sends when it ends.
    pub fn set_finish(&mut self, finish: Finish) {
        self.finish = Some(finish);
    }

    pub fn upstream(body: crate::upstream::ResponseBody, finish: Option<Finish>) -> Self {
        Self {
            inner: Inner::Upstream(body),
            bytes_out: 0,
            finish,
            meter: ReadMeter::default(),
        }
    }

    /// Counts the body against bytes-read quotas as it streams.
    #[must_use]
    pub fn metered(mut self, meter: ReadMeter) -> Self {
        self.meter = meter;
        self
    }

    fn complete(&mut self, complete: bool) {
        if let Some(Finish {
            permit,
            mut event,
            started,
        }) = self.finish.take()
        {
            event.bytes_out = self.bytes_out;
            event.complete = complete;
            event.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
            crate::metrics::record_request(&event);
            permit.send(event);
        }
    }
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = match &mut this.inner {
            Inner::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Inner::Upstream(body) => Pin::new(body).poll_frame(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes_out += data.len() as u64;
                    this.meter.read(data.len() as u64);
                }
            }
            Poll::Ready(Some(Err(_))) => this.complete(false),
            Poll::Ready(None) => this.complete(true),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            // An empty body (a redirect) is over before it starts: hyper
            // never polls it, and its record must still say complete.
            Inner::Full(b) => b.as_ref().is_none_or(Bytes::is_empty),
            Inner::Upstream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Upstream(body) => body.size_hint(),
        }
    }
}

impl Drop for GatewayBody {
    fn drop(&mut self) {
        // A body dropped before its end: the client left, or the response
        // had no body to poll (HEAD). Either way the record is written.
        let ended = self.is_end_stream();
        self.complete(ended);
    }
}
