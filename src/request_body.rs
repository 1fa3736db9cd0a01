//! The caller's request body as the transport hands it to the gateway:
//! hyper's `Incoming`, and whether it was read to its end.
//!
//! After the gateway answers, the transport ([`crate::server`]) asks the
//! [`BodyEnd`] whether a declared body was left unread, and if so the
//! answer says `Connection: close` (the rule and why are there). Only a
//! request that declares a body pays for the question: one shared flag;
//! a GET or HEAD without one carries nothing.
//!
//! Depends on hyper's body types only; the gateway, the form upload and the
//! upstream stream see this type wherever they took `Incoming` before.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// A request body that records reaching its end.
pub struct RequestBody {
    inner: Incoming,
    /// Set once the body's last frame was read; `None` when nobody asks.
    ended: Option<Arc<AtomicBool>>,
}

/// The transport's half: whether the body it handed over was read to its
/// end.
pub struct BodyEnd(Option<Arc<AtomicBool>>);

impl RequestBody {
    /// Wraps `inner`. With `watch`, the returned [`BodyEnd`] tells whether
    /// it was read to its end; a body that declares nothing is over before
    /// it starts and is never watched.
    pub fn new(inner: Incoming, watch: bool) -> (Self, BodyEnd) {
        let ended = (watch && !inner.is_end_stream()).then(|| Arc::new(AtomicBool::new(false)));
        let end = BodyEnd(ended.clone());
        (Self { inner, ended }, end)
    }
}

impl BodyEnd {
    /// Whether a watched body has not been read to its end (yet).
    pub fn left_unread(&self) -> bool {
        self.0.as_ref().is_some_and(|e| !e.load(Ordering::Acquire))
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Some(ended) = &this.ended {
            // A body of known length ends with its last data frame (a
            // reader that stops there never sees `None`); a chunked one
            // with `None`. An error is no end: what follows is unknown.
            let end = match &polled {
                Poll::Ready(None) => true,
                Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
                Poll::Ready(Some(Err(_))) | Poll::Pending => false,
            };
            if end {
                ended.store(true, Ordering::Release);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
