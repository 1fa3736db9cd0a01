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
//! Only the caller's slowness counts. The window's clock runs while the
//! floor waits on the caller (from a poll of the raw body that found
//! nothing yet until the caller's bytes wake the task), not while the
//! store waits to read (the body is not polled at all when the upstream
//! connection is full, even after the caller's bytes arrived). And it counts bytes as they arrive,
//! beneath the signature stage: an aws-chunked chunk is released only once
//! its signature is checked at its end, so a large one, honestly sent,
//! would otherwise bring nothing for many windows
//! ([`paced_verified_body`] stacks the two in that order). The window
//! restarts each time the floor is reached.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::sigv4::{BodyChecks, SigV4Error, Verified, VerifiedBody};

/// The caller's body as the store gets it: the floor on the raw bytes as
/// they arrive, and the signature stage on top.
pub fn paced_verified_body<B>(
    raw: B,
    verified: &Verified,
    parts: &http::request::Parts,
    checks: BodyChecks,
    window: Duration,
    bytes_per_second: u64,
) -> VerifiedBody<MinRate<B>>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    crate::sigv4::verified_body(
        MinRate::new(raw, window, bytes_per_second),
        verified,
        parts,
        checks,
    )
}

pub struct MinRate<B> {
    inner: B,
    window: Duration,
    /// Bytes each window must bring.
    floor: u64,
    /// Bytes this window brought so far.
    got: u64,
    /// How long this window waited on the caller so far.
    waited: Duration,
    /// Since when the floor waits on the caller: set when a poll of the
    /// inner body is pending, taken at the next poll.
    waiting_since: Option<Instant>,
    /// Wakes the task when the window's wait runs out; made at the first
    /// wait.
    timer: Option<Pin<Box<Sleep>>>,
    /// The waker the inner body is polled with: it notes when the caller's
    /// bytes arrived. Made at the first poll.
    stamp: Option<Arc<WakeStamp>>,
}

/// Wakes the task polling the caller's body, and notes when it was first
/// woken since the last poll: the caller's bytes may arrive while the
/// store's connection is full, and the time until the body is polled
/// again is the store's, not the caller's.
#[derive(Default)]
struct WakeStamp(Mutex<Stamped>);

#[derive(Default)]
struct Stamped {
    task: Option<Waker>,
    woke_at: Option<Instant>,
}

impl WakeStamp {
    fn lock(&self) -> std::sync::MutexGuard<'_, Stamped> {
        // Nothing here can panic while holding it; a poisoned lock still
        // holds a usable waker.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wakes `task` from now on; returns when the last waker was woken, if
    /// it was since the last call.
    fn renew(&self, task: &Waker) -> Option<Instant> {
        let mut s = self.lock();
        if !s.task.as_ref().is_some_and(|w| w.will_wake(task)) {
            s.task = Some(task.clone());
        }
        s.woke_at.take()
    }
}

impl Wake for WakeStamp {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut s = self.lock();
        s.woke_at.get_or_insert_with(Instant::now);
        if let Some(task) = &s.task {
            task.wake_by_ref();
        }
    }
}

impl<B> MinRate<B> {
    /// `inner`, cut when a `window` of waiting on it brings fewer than
    /// `bytes_per_second` times its length in bytes (and at least one).
    pub fn new(inner: B, window: Duration, bytes_per_second: u64) -> Self {
        let floor = bytes_per_second.saturating_mul(window.as_secs()).max(1);
        Self {
            inner,
            window,
            floor,
            got: 0,
            waited: Duration::ZERO,
            waiting_since: None,
            timer: None,
            stamp: None,
        }
    }

    fn stalled(&self) -> Poll<Option<Result<Frame<Bytes>, SigV4Error>>> {
        Poll::Ready(Some(Err(SigV4Error::BodyStalled {
            window_secs: self.window.as_secs(),
        })))
    }
}

impl<B> Body for MinRate<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    type Data = Bytes;
    type Error = SigV4Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, SigV4Error>>> {
        let this = self.get_mut();
        let stamp = this.stamp.get_or_insert_with(Arc::default);
        let woke_at = stamp.renew(cx.waker());
        let waker = Waker::from(Arc::clone(stamp));
        let polled = Pin::new(&mut this.inner).poll_frame(&mut Context::from_waker(&waker));
        if let Some(since) = this.waiting_since.take() {
            // The wait on the caller ended when its bytes (or its end)
            // woke the task, not when the body was next asked for.
            let until = woke_at.unwrap_or_else(Instant::now);
            this.waited += until.saturating_duration_since(since);
        }
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.got = this.got.saturating_add(data.len() as u64);
                    if this.got >= this.floor {
                        this.got = 0;
                        this.waited = Duration::ZERO;
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                let Some(left) = this
                    .window
                    .checked_sub(this.waited)
                    .filter(|l| !l.is_zero())
                else {
                    return this.stalled();
                };
                let now = Instant::now();
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(left)));
                timer.as_mut().reset(now + left);
                if timer.as_mut().poll(cx).is_ready() {
                    return this.stalled();
                }
                this.waiting_since = Some(now);
                Poll::Pending
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(SigV4Error::from_body(e)))),
            Poll::Ready(None) => Poll::Ready(None),
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
        pieces: VecDeque<(Duration, Bytes)>,
        wait: Option<Pin<Box<Sleep>>>,
    }

    fn paced(pieces: &[(u64, &'static [u8])]) -> Paced {
        Paced {
            pieces: pieces
                .iter()
                .map(|(ms, b)| (Duration::from_millis(*ms), Bytes::from_static(b)))
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
            let Some((pause, _)) = this.pieces.front() else {
                return Poll::Ready(None);
            };
            let wait = this
                .wait
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(*pause)));
            if wait.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.wait = None;
            let Some((_, bytes)) = this.pieces.pop_front() else {
                return Poll::Ready(None);
            };
            Poll::Ready(Some(Ok(Frame::data(bytes))))
        }
    }

    // On tokio's paused clock: time moves only when every task waits, so
    // the pauses are exact and the tests take no real time.

    #[tokio::test(start_paused = true)]
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

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_coming_passes_whole() {
        let body = MinRate::new(
            paced(&[(0, b"ab"), (50, b"cd"), (50, b"ef"), (50, b"gh")]),
            Duration::from_secs(2),
            0,
        );
        let all = body.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"abcdefgh");
    }

    #[tokio::test(start_paused = true)]
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

    #[tokio::test(start_paused = true)]
    async fn a_store_that_stops_reading_does_not_count_against_the_caller() {
        let mut body = MinRate::new(
            paced(&[(0, b"ab"), (100, b"cd"), (100, b"ef")]),
            Duration::from_secs(1),
            0,
        );
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "ab");
        // The store's connection is full: the body is not asked for ten
        // windows. The caller's next bytes come 100 ms after it is asked.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let rest = body.collect().await.unwrap().to_bytes();
        assert_eq!(&rest[..], b"cdef");
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_that_arrived_while_the_store_was_full_do_not_count_as_waiting() {
        // 10 bytes a window: "ab" and "cd" alone do not reach it.
        let mut body = MinRate::new(
            paced(&[(0, b"ab"), (100, b"cd"), (100, b"efghijkl")]),
            Duration::from_secs(1),
            10,
        );
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "ab");
        // Asked once: the caller's next bytes are not there yet.
        std::future::poll_fn(|cx| {
            assert!(Pin::new(&mut body).poll_frame(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        // They arrive 100 ms later, but the store's connection is full:
        // the body is not asked again for ten windows.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let rest = body.collect().await.unwrap().to_bytes();
        assert_eq!(&rest[..], b"cdefghijkl");
    }

    #[tokio::test(start_paused = true)]
    async fn a_large_chunk_verified_only_at_its_end_is_paced_by_its_arrival() {
        use crate::sigv4::tests::{CHUNK_SIGS, chunked_verified, chunked_wire};
        // aws-chunked: 64 KiB, then 1 KiB, each released only once its
        // signature is checked at its end. The caller sends 8 KiB every
        // half second, far above the 1000 bytes a second asked for, but
        // the first chunk takes four seconds, four windows.
        let wire = Bytes::from(chunked_wire(CHUNK_SIGS));
        let (verified, parts) = chunked_verified();
        // The first `pieces` of the wire, 8 KiB each half second, then
        // (`stop`) nothing for an hour; verified, under the floor.
        let sent = |pieces: usize, stop: bool| {
            let raw = Paced {
                pieces: wire
                    .chunks(8192)
                    .take(pieces)
                    .map(|piece| (Duration::from_millis(500), wire.slice_ref(piece)))
                    .chain(stop.then(|| (Duration::from_secs(3600), Bytes::new())))
                    .collect(),
                wait: None,
            };
            paced_verified_body(
                raw,
                &verified,
                &parts,
                BodyChecks::default(),
                Duration::from_secs(1),
                1000,
            )
        };
        let all = sent(usize::MAX, false).collect().await.unwrap().to_bytes();
        assert_eq!(all.len(), 66_560);
        // A caller that stops halfway through the chunk is still cut, as
        // `RequestTimeout` through the signature stage.
        let body = sent(3, true);
        let err = body.collect().await.unwrap_err();
        assert!(
            matches!(err, SigV4Error::BodyStalled { window_secs: 1 }),
            "{err:?}"
        );
    }
}
