//! A floor under the pace of a caller's request body: every window
//! (`[server] body_rate_window`) must bring at least `body_min_rate` bytes
//! a second (at least one byte), or the body fails with
//! [`SigV4Error::BodyStalled`], which the gateway answers as S3 does, with
//! `400 RequestTimeout`. The upstream request is then cut short of its
//! `Content-Length`, so the store commits nothing.
//!
//! Without it a caller that announces a length and stops sending holds a
//! connection to the store (pooled, shared with other callers) until the
//! store's own timeout, and gets a `503` that blames the store.
//!
//! The window starts when the body is first asked for (after the request
//! was authorized and the store connected), and restarts each time the
//! floor is reached. A store that reads slowly does not count against the
//! caller: the caller's bytes wait in the socket, and the next poll finds
//! them.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::sigv4::SigV4Error;

pub struct MinRate<B> {
    inner: B,
    window: Duration,
    /// Bytes each window must bring.
    floor: u64,
    /// Bytes this window brought so far.
    got: u64,
    /// The end of this window; `None` until the body is first polled.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<B> MinRate<B> {
    /// `inner`, cut when a `window` brings fewer than `bytes_per_second`
    /// times its length in bytes (and at least one).
    pub fn new(inner: B, window: Duration, bytes_per_second: u64) -> Self {
        let floor = bytes_per_second.saturating_mul(window.as_secs()).max(1);
        Self {
            inner,
            window,
            floor,
            got: 0,
            deadline: None,
        }
    }
}

impl<B> Body for MinRate<B>
where
    B: Body<Data = Bytes, Error = SigV4Error> + Unpin,
{
    type Data = Bytes;
    type Error = SigV4Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, SigV4Error>>> {
        let this = self.get_mut();
        let window = this.window;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(window)));
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.got = this.got.saturating_add(data.len() as u64);
                    if this.got >= this.floor {
                        this.got = 0;
                        deadline.as_mut().reset(Instant::now() + window);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(SigV4Error::BodyStalled {
                        window_secs: window.as_secs(),
                    })));
                }
                Poll::Pending
            }
            other => other,
        }
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
    use std::collections::VecDeque;

    use http_body_util::BodyExt as _;

    use super::*;

    /// A caller's body: each piece after its pause (ms), then the end.
    struct Paced {
        pieces: VecDeque<(Duration, &'static [u8])>,
        wait: Option<Pin<Box<Sleep>>>,
    }

    fn paced(pieces: &[(u64, &'static [u8])]) -> Paced {
        Paced {
            pieces: pieces
                .iter()
                .map(|(ms, b)| (Duration::from_millis(*ms), *b))
                .collect(),
            wait: None,
        }
    }

    impl Body for Paced {
        type Data = Bytes;
        type Error = SigV4Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, SigV4Error>>> {
            let this = self.get_mut();
            let Some((pause, bytes)) = this.pieces.front().copied() else {
                return Poll::Ready(None);
            };
            let wait = this
                .wait
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
            if wait.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.wait = None;
            this.pieces.pop_front();
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(bytes)))))
        }
    }

    // Real time (the crate's tokio has no paused clock), with margins wide
    // enough that the outcome, not the timing, is what is checked.

    #[tokio::test]
    async fn a_body_that_stops_for_a_window_is_cut() {
        let body = MinRate::new(
            paced(&[(0, b"abc"), (60_000, b"def")]),
            Duration::from_secs(1),
            0,
        );
        let err = body.collect().await.unwrap_err();
        assert!(
            matches!(err, SigV4Error::BodyStalled { window_secs: 1 }),
            "{err:?}"
        );
        assert_eq!(
            err.to_s3_error().code,
            crate::s3::S3ErrorCode::RequestTimeout
        );
    }

    #[tokio::test]
    async fn a_body_that_keeps_coming_passes_whole() {
        let body = MinRate::new(
            paced(&[(0, b"ab"), (50, b"cd"), (50, b"ef"), (50, b"gh")]),
            Duration::from_secs(2),
            0,
        );
        let all = body.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"abcdefgh");
    }

    #[tokio::test]
    async fn too_few_bytes_a_window_is_cut_even_while_some_come() {
        // A byte every 300 ms is under the 10 bytes a second asked for.
        let body = MinRate::new(
            paced(&[
                (0, b"a"),
                (300, b"b"),
                (300, b"c"),
                (300, b"d"),
                (60_000, b"e"),
            ]),
            Duration::from_secs(1),
            10,
        );
        let err = body.collect().await.unwrap_err();
        assert!(matches!(err, SigV4Error::BodyStalled { .. }), "{err:?}");
    }
}
