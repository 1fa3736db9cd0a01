//! The response body every request gets: S3's XML error or the upstream's
//! stream, counted as it goes, with the audit event sent exactly once when
//! the body ends, fails, or is dropped by a departing client.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::record::Finish;
use crate::live::Held;
use crate::session::ReadMeter;

pub enum Inner {
    Full(Option<Bytes>),
    Upstream(crate::upstream::ResponseBody),
}

pub struct GatewayBody {
    inner: Inner,
    bytes_out: u64,
    finish: Option<Finish>,
    /// Charges the bytes sent to the session's bytes-read quotas (none for
    /// most sessions).
    meter: ReadMeter,
    /// The caller's in-flight slot, given back when the body ends.
    held: Option<Held>,
}

impl GatewayBody {
    pub fn full(bytes: impl Into<Bytes>, finish: Option<Finish>) -> Self {
        Self {
            inner: Inner::Full(Some(bytes.into())),
            bytes_out: 0,
            finish,
            meter: ReadMeter::default(),
            held: None,
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
            held: None,
        }
    }

    /// Counts the body against bytes-read quotas as it streams.
    #[must_use]
    pub fn metered(mut self, meter: ReadMeter) -> Self {
        self.meter = meter;
        self
    }

    /// Holds the caller's in-flight slot until the body ends.
    #[must_use]
    pub fn holding(mut self, held: Option<Held>) -> Self {
        self.held = held;
        self
    }

    fn complete(&mut self, complete: bool) {
        self.held = None;
        if let Some(finish) = self.finish.take() {
            finish.complete(self.bytes_out, complete);
        }
    }
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
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
