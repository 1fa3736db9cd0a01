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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use http_body_util::BodyExt as _;
    use hyper_util::rt::TokioIo;
    use tokio::io::AsyncWriteExt as _;

    use super::*;

    /// How the handler reads the body.
    #[derive(Clone, Copy)]
    enum Read {
        Nothing,
        /// Frame by frame while the body says it is not over: a reader of
        /// a known length stops at its last frame and never sees `None`.
        UntilEndStream,
        /// To `None`.
        Collect,
    }

    /// Sends `wire` to hyper's HTTP/1 server, whose handler reads the
    /// watched body as `read` says; whether a flag was made, and whether
    /// the body was left unread once the handler answered.
    async fn served(wire: &'static [u8], read: Read) -> (bool, bool) {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let tx = tx.lock().unwrap().take();
            async move {
                let (mut body, end) = RequestBody::new(req.into_body(), true);
                match read {
                    Read::Nothing => {}
                    Read::UntilEndStream => {
                        while !body.is_end_stream() {
                            if body.frame().await.is_none() {
                                break;
                            }
                        }
                    }
                    Read::Collect => {
                        body.collect().await.unwrap();
                    }
                }
                if let Some(tx) = tx {
                    let _ = tx.send((end.0.is_some(), end.left_unread()));
                }
                Ok::<_, std::convert::Infallible>(http::Response::new(
                    http_body_util::Empty::<Bytes>::new(),
                ))
            }
        });
        let conn = tokio::spawn(
            hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(server), service),
        );
        client.write_all(wire).await.unwrap();
        let seen = rx.await.unwrap();
        conn.abort();
        seen
    }

    #[tokio::test]
    async fn a_request_without_a_body_carries_no_flag() {
        let wire = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
        assert_eq!(served(wire, Read::Nothing).await, (false, false));
        let wire = b"PUT / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(served(wire, Read::Nothing).await, (false, false));
    }

    #[tokio::test]
    async fn a_declared_body_not_read_is_left_unread() {
        let wire = b"PUT / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(served(wire, Read::Nothing).await, (true, true));
        let wire =
            b"PUT / HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n";
        assert_eq!(served(wire, Read::Nothing).await, (true, true));
    }

    #[tokio::test]
    async fn a_body_of_known_length_ends_with_its_last_frame() {
        let wire = b"PUT / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(served(wire, Read::UntilEndStream).await, (true, false));
        assert_eq!(served(wire, Read::Collect).await, (true, false));
    }

    #[tokio::test]
    async fn a_chunked_body_ends_with_its_last_chunk() {
        let wire = b"PUT / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n\
                     5\r\nhello\r\n0\r\n\r\n";
        assert_eq!(served(wire, Read::Collect).await, (true, false));
    }
}
