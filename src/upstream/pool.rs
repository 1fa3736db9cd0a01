//! The stores' HTTP/1 connections, kept open and reused: a request takes
//! the idle connection that went back last, or opens one, and the
//! connection goes back to the pool when the store's response body has
//! been read to its end.
//!
//! The connection is driven by the request's own task: the head (and a
//! body held whole) is written in one `writev`, the response head is
//! read and parsed by [`super::h1`], and the response body reads from the
//! socket as the caller's side asks for it. There is no connection task,
//! no channel between tasks and no wake-up to cross: the load bench
//! measured hyper's client connection (a task per connection, fed by a
//! channel) and hyper-util's pool before it among the largest costs of a
//! small request (benches/load/PROFILE.md, sessions 17 and 19).
//!
//! Last in, first out: a steady load is served by as few connections as
//! it keeps busy, warm ones, and the rest of a burst's connections idle
//! out and close (a queue taken oldest first would keep every one of
//! them in use, and open, for as long as requests come).
//!
//! Depends on [`super::h1`] and the TLS connector; knows nothing of S3.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Response, Uri};
use http_body::{Body as _, Frame, SizeHint};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tower_service::Service;

use super::UpstreamBody;
use super::h1::{self, Chunked, Decoded, Framing, RequestFraming};

/// Most idle connections kept, over all of a store's hosts.
const MAX_IDLE: usize = 1024;

/// Pooled connections a request looks at before it opens a new one.
const LOOK_AT: usize = 8;

/// A connection's first read buffer (hyper's), and the most a body read
/// asks the socket for at once.
const READ_FIRST: usize = 8 * 1024;
const READ_MOST: usize = 64 * 1024;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One store's connections. Its response bodies hold it too, to give
/// their connections back.
pub(super) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connector: HttpsConnector<HttpConnector>,
    idle_timeout: Duration,
    /// The most the store may keep a request waiting ([`Pool::new`]).
    wait: Duration,
    /// A std mutex: it is held for a few loads and a push, never across
    /// an await.
    hosts: Mutex<Hosts>,
}

/// The pooled connections, a queue per host: path-style requests all go
/// to the store's host; virtual-hosted ones (the default for AWS) to one
/// per bucket, and a request must find its own host's connections
/// whatever the other buckets' traffic.
#[derive(Default)]
struct Hosts {
    queues: Vec<Queue>,
    /// The other host's queue the next give-back trims, in turn: a bucket
    /// no longer asked for still has its connections dropped.
    sweep: usize,
}

struct Queue {
    authority: Authority,
    /// The last to go back at the front, the one idle longest at the back.
    idle: VecDeque<Idle>,
}

struct Idle {
    conn: Box<Conn>,
    since: Instant,
}

/// One open connection to a store and what was read from it and not yet
/// used. Boxed: a TLS session is large, and connections move in and out
/// of the pool on every request.
struct Conn {
    io: TokioIo<MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>>,
    buf: BytesMut,
}

impl Conn {
    /// Whether the store has left the idle connection open: a read that
    /// would block says so. It costs no system call unless the socket
    /// was marked readable since its last read (the store's FIN, or bytes
    /// it had no reason to send); either ends the connection.
    fn is_open(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let mut probe = [0u8; 8];
        let mut probe = ReadBuf::new(&mut probe);
        matches!(
            Pin::new(&mut self.io).poll_read(&mut cx, &mut probe),
            Poll::Pending
        )
    }

    /// One read into the buffer, asking for up to `want` bytes (within
    /// [`READ_FIRST`]..=[`READ_MOST`]); `Ok(0)` is the store's end.
    fn poll_fill(&mut self, cx: &mut Context<'_>, want: u64) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < READ_FIRST / 2 {
            let want = usize::try_from(want)
                .unwrap_or(READ_MOST)
                .clamp(READ_FIRST, READ_MOST);
            self.buf.reserve(want);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)
    }

    async fn fill(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx, READ_FIRST as u64)).await
    }

    /// Writes `a` then `b`, in one `writev` when the socket takes both.
    async fn write_two(&mut self, a: &[u8], b: &[u8]) -> io::Result<()> {
        let mut a = a;
        let mut b = b;
        while !a.is_empty() {
            let n = self
                .io
                .write_vectored(&[io::IoSlice::new(a), io::IoSlice::new(b)])
                .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let from_a = n.min(a.len());
            a = &a[from_a..];
            b = &b[n - from_a..];
        }
        self.io.write_all(b).await
    }
}

#[derive(Clone, Copy)]
enum End {
    Front,
    Back,
}

impl Queue {
    /// The first open connection among [`LOOK_AT`] from `end`, taken out;
    /// closed and expired ones met are dropped.
    fn take_open(&mut self, end: End, now: Instant, idle_timeout: Duration) -> Option<Box<Conn>> {
        for _ in 0..LOOK_AT {
            let mut entry = match end {
                End::Front => self.idle.pop_front()?,
                End::Back => self.idle.pop_back()?,
            };
            if now.duration_since(entry.since) <= idle_timeout && entry.conn.is_open() {
                return Some(entry.conn);
            }
        }
        None
    }

    /// Drops the expired connections at the back (idle longest).
    fn trim(&mut self, now: Instant, idle_timeout: Duration) {
        while self
            .idle
            .back()
            .is_some_and(|e| now.duration_since(e.since) > idle_timeout)
        {
            self.idle.pop_back();
        }
    }
}

/// The request's body as the exchange sends it: held whole (and so sent
/// again as it is if a pooled connection turns out closed), or streamed.
enum Outgoing {
    Whole(Option<Bytes>),
    Stream(UpstreamBody, RequestFraming),
}

/// Why an exchange failed, and whether the request may go again on a new
/// connection (see [`exchange`]: never once a streamed body was read).
struct Failed {
    error: Error,
    again: bool,
}

impl Failed {
    fn io(error: io::Error, again: bool) -> Self {
        Self {
            error: error.into(),
            again,
        }
    }
}

impl Pool {
    /// `wait` bounds each wait on the store, not the exchange as a
    /// whole: a new connection (TCP and TLS), each write of the request
    /// that the store does not take, and its answer once the request is
    /// sent. Time spent waiting on the caller's body is not the store's:
    /// a large upload from a slow caller may take far longer than
    /// `wait`, and its pace is the caller side's to police
    /// (`server.body_rate_window`).
    pub(super) fn new(
        connector: HttpsConnector<HttpConnector>,
        idle_timeout: Duration,
        wait: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                connector,
                idle_timeout,
                wait,
                hosts: Mutex::new(Hosts::default()),
            }),
        }
    }

    /// Sends `request` (its URI absolute: the scheme and host say where)
    /// on a pooled connection to that host, or on a new one; the body
    /// sent decides its framing ([`h1::write_request_head`]). A request a
    /// pooled connection turned out to be closed for is sent again on a
    /// new connection when that cannot do it twice (see [`exchange`]): the
    /// store may close an idle connection at any moment. The response's
    /// body gives the connection back when it ends.
    pub(super) async fn send(
        &self,
        request: Request<UpstreamBody>,
    ) -> Result<Response<PooledBody>, Error> {
        let (parts, body) = request.into_parts();
        let uri = parts.uri.into_parts();
        let (Some(scheme), Some(authority)) = (uri.scheme, uri.authority) else {
            return Err("the upstream request's URI names no host".into());
        };
        let path = uri
            .path_and_query
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let mut outgoing = match body {
            UpstreamBody::Empty => Outgoing::Whole(None),
            UpstreamBody::Bytes(b) => Outgoing::Whole(b),
            stream => {
                let framing = match stream.size_hint().exact() {
                    Some(n) => RequestFraming::Length(n),
                    None => RequestFraming::Chunked,
                };
                Outgoing::Stream(stream, framing)
            }
        };
        let framing = match &outgoing {
            Outgoing::Stream(_, framing) => *framing,
            Outgoing::Whole(b) => RequestFraming::Length(b.as_ref().map_or(0, |b| b.len() as u64)),
        };
        let mut head = Vec::with_capacity(1024);
        h1::write_request_head(
            &mut head,
            &parts.method,
            path.as_str(),
            &parts.headers,
            framing,
        )?;

        let wait = self.inner.wait;
        if let Some(mut conn) = self.inner.take(&authority) {
            match exchange(&mut conn, &head, &mut outgoing, &parts.method, wait).await {
                Ok(response) => return Ok(self.leased(response, conn, authority)),
                Err(Failed { again: true, .. }) => {}
                Err(failed) => return Err(failed.error),
            }
        }
        let mut conn = within(wait, self.inner.connect(scheme, &authority))
            .await
            .map_err(Error::from)??;
        match exchange(&mut conn, &head, &mut outgoing, &parts.method, wait).await {
            Ok(response) => Ok(self.leased(response, conn, authority)),
            Err(failed) => Err(failed.error),
        }
    }

    /// The response, with a body that gives `conn` back when it ends.
    fn leased(
        &self,
        head: h1::ResponseHead,
        conn: Box<Conn>,
        authority: Authority,
    ) -> Response<PooledBody> {
        let mut response = Response::new(());
        *response.status_mut() = head.status;
        *response.version_mut() = head.version;
        *response.headers_mut() = head.headers;
        let state = match head.framing {
            Framing::Empty => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(Chunked::new()),
            Framing::UntilClose => State::UntilClose,
        };
        let mut body = PooledBody {
            state,
            conn: Some(conn),
            lease: Some(Lease {
                pool: Arc::clone(&self.inner),
                authority,
            }),
            keep_alive: head.keep_alive,
        };
        if body.state == State::Done {
            // A HEAD's, a 204's or a 304's answer has ended already.
            body.finish();
        }
        response.map(|()| body)
    }
}

/// `fut`, given at most `wait`: past it, an `io::ErrorKind::TimedOut`
/// error ([`timed_out`]).
async fn within<T>(wait: Duration, fut: impl Future<Output = T>) -> io::Result<T> {
    tokio::time::timeout(wait, fut)
        .await
        .map_err(|_| timed_out(wait))
}

/// The error of a store that kept a request waiting past `wait`; the
/// upstream maps it to its own timeout by its kind.
fn timed_out(wait: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("the store kept the request waiting over {wait:?}"),
    )
}

/// Writes the request on `conn` and reads the response's head, giving
/// the store at most `wait` each time it is waited on (see
/// [`Pool::new`]); a wait that runs out is not tried again: the store
/// may have the request.
async fn exchange(
    conn: &mut Conn,
    head: &[u8],
    outgoing: &mut Outgoing,
    method: &Method,
    wait: Duration,
) -> Result<h1::ResponseHead, Failed> {
    let gave_up = |e: io::Error| Failed::io(e, false);
    match outgoing {
        // A body held whole waits on no one but the store: one bound for
        // the exchange, one timer a request.
        Outgoing::Whole(body) => {
            let body = body.as_deref().unwrap_or_default();
            within(wait, async {
                conn.write_two(head, body)
                    .await
                    .map_err(|e| Failed::io(e, true))?;
                answer(conn, method, true).await
            })
            .await
            .map_err(gave_up)?
        }
        Outgoing::Stream(body, framing) => {
            within(wait, conn.io.write_all(head))
                .await
                .map_err(gave_up)?
                .map_err(|e| Failed::io(e, true))?;
            match send_body(conn, body, *framing, wait).await {
                Ok(Sent::All) => {}
                Ok(Sent::Answered) => return early_answer(conn, method, wait).await,
                Err(failed) => {
                    // The store may have answered and closed before its
                    // answer was seen: it says more than a broken pipe.
                    if failed.is_io()
                        && let Ok(head) = early_answer(conn, method, wait).await
                    {
                        return Ok(head);
                    }
                    return Err(Failed {
                        error: failed.into_error(),
                        again: false,
                    });
                }
            }
            // The body is spent: nothing can go again.
            within(wait, answer(conn, method, false))
                .await
                .map_err(gave_up)?
        }
    }
}

/// Flushes the request sent on `conn` and reads the answer's head.
/// `whole`: the request was held whole, and can be sent again.
async fn answer(conn: &mut Conn, method: &Method, whole: bool) -> Result<h1::ResponseHead, Failed> {
    conn.io.flush().await.map_err(|e| Failed::io(e, whole))?;
    // Once the whole request is out, a connection the store had closed
    // shows only now: an end or a reset before any byte of an answer.
    // The store may then have acted on the request after all (crashed
    // before answering), so it goes again only if doing it twice is
    // doing it once: an idempotent method, its body held whole.
    let again = whole && method.is_idempotent();
    match read_head(conn, method).await {
        Ok(Some(head)) => Ok(head),
        Ok(None) => Err(Failed {
            error: "the store closed the connection without answering".into(),
            again: again && conn.buf.is_empty(),
        }),
        Err(e) => Err(Failed {
            again: again && conn.buf.is_empty() && e.is::<io::Error>(),
            error: e,
        }),
    }
}

/// The store's answer to a request whose body it did not take whole: the
/// connection cannot carry another request.
async fn early_answer(
    conn: &mut Conn,
    method: &Method,
    wait: Duration,
) -> Result<h1::ResponseHead, Failed> {
    let head = within(wait, read_head(conn, method))
        .await
        .map_err(|e| Failed::io(e, false))?;
    match head {
        Ok(Some(mut head)) => {
            head.keep_alive = false;
            Ok(head)
        }
        Ok(None) => Err(Failed {
            error: "the store closed the connection while the body was sent".into(),
            again: false,
        }),
        Err(error) => Err(Failed {
            error,
            again: false,
        }),
    }
}

/// A failure while sending a streamed body: the body's own (the caller's
/// bytes failed verification, or stopped), or the connection's.
enum BodyFailure {
    Body(Error),
    Io(io::Error),
}

impl BodyFailure {
    fn is_io(&self) -> bool {
        matches!(self, Self::Io(_))
    }

    fn into_error(self) -> Error {
        match self {
            Self::Body(e) => e,
            Self::Io(e) => e.into(),
        }
    }
}

/// What sending a streamed body came to.
enum Sent {
    All,
    /// The store answered before the body was all sent: a refusal. What
    /// is left of the body is not sent, and the connection not reused.
    Answered,
}

/// Sends a streamed body as it comes, listening the while for an early
/// answer: a store that refuses an upload at its head (a bucket that is
/// not there) may stop reading it, and the caller should hear the
/// store's answer, not wait for a stalled upload to time out.
///
/// Only a write the store leaves waiting is timed, each for `wait`: a
/// body that takes long because the caller sends it slowly is not the
/// store's delay.
async fn send_body(
    conn: &mut Conn,
    body: &mut UpstreamBody,
    framing: RequestFraming,
    wait: Duration,
) -> Result<Sent, BodyFailure> {
    const CRLF: Bytes = Bytes::from_static(b"\r\n");
    const LAST_CHUNK: Bytes = Bytes::from_static(b"0\r\n\r\n");
    let mut body = Pin::new(body);
    // What is to be written next: a frame's data, with its chunk framing.
    let mut out: VecDeque<Bytes> = VecDeque::with_capacity(3);
    // What the head announced and is still owed: a body that yields more
    // would have its excess read by the store as the next request on the
    // connection, one that yields less would leave the store waiting.
    let mut owed = match framing {
        RequestFraming::Length(n) => Some(n),
        RequestFraming::Chunked => None,
    };
    let length_error = || BodyFailure::Body(Box::new(h1::H1Error::BodyLength));
    let mut ended = false;
    // Armed when the store does not take a write, disarmed when it takes
    // one: allocated only for a store that keeps a write waiting.
    let mut stalled: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        loop {
            // Costs no system call unless the socket turned readable.
            match conn.poll_fill(cx, READ_FIRST as u64) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(BodyFailure::Io(io::ErrorKind::UnexpectedEof.into())));
                }
                Poll::Ready(Ok(_)) => return Poll::Ready(Ok(Sent::Answered)),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(BodyFailure::Io(e))),
                Poll::Pending => {}
            }
            if !out.is_empty() {
                let mut slices = [io::IoSlice::new(&[]); 3];
                for (slice, bytes) in slices.iter_mut().zip(&out) {
                    *slice = io::IoSlice::new(bytes);
                }
                let slices = &slices[..out.len().min(3)];
                match Pin::new(&mut conn.io).poll_write_vectored(cx, slices) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(BodyFailure::Io(io::ErrorKind::WriteZero.into())));
                    }
                    Poll::Ready(Ok(mut n)) => {
                        stalled = None;
                        while let Some(front) = out.front_mut() {
                            let take = n.min(front.len());
                            bytes::Buf::advance(front, take);
                            n -= take;
                            if !front.is_empty() {
                                break;
                            }
                            out.pop_front();
                        }
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(BodyFailure::Io(e))),
                    Poll::Pending => {
                        let timer =
                            stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(wait)));
                        if timer.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(Err(BodyFailure::Io(timed_out(wait))));
                        }
                        return Poll::Pending;
                    }
                }
            }
            if ended {
                return Poll::Ready(Ok(Sent::All));
            }
            match body.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    ended = true;
                    match owed {
                        Some(0) => {}
                        Some(_) => return Poll::Ready(Err(length_error())),
                        None => out.push_back(LAST_CHUNK),
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(BodyFailure::Body(e.into()))),
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers are not sent on, as hyper's client did not.
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        match &mut owed {
                            Some(left) => {
                                *left = left
                                    .checked_sub(data.len() as u64)
                                    .ok_or_else(length_error)?;
                                out.push_back(data);
                            }
                            None => {
                                out.push_back(h1::chunk_header(data.len()));
                                out.push_back(data);
                                out.push_back(CRLF);
                            }
                        }
                    }
                }
            }
        }
    })
    .await
}

/// Reads until a whole response head is parsed; `Ok(None)` if the store
/// closed the connection first.
async fn read_head(conn: &mut Conn, method: &Method) -> Result<Option<h1::ResponseHead>, Error> {
    loop {
        if !conn.buf.is_empty()
            && let Some(head) = h1::parse_response_head(&mut conn.buf, method)?
        {
            return Ok(Some(head));
        }
        if conn.fill().await? == 0 {
            return Ok(None);
        }
    }
}

/// A store's response body; it gives its connection back to the pool
/// when it ends. Dropped before its end, it closes the connection (what
/// is left of the body cannot be told from the next response).
pub struct PooledBody {
    state: State,
    conn: Option<Box<Conn>>,
    lease: Option<Lease>,
    keep_alive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Length(u64),
    Chunked(Chunked),
    UntilClose,
    Done,
}

struct Lease {
    pool: Arc<Inner>,
    authority: Authority,
}

impl PooledBody {
    /// The body has ended: the connection goes back if it may carry
    /// another request and nothing unasked for came after the body.
    fn finish(&mut self) {
        self.state = State::Done;
        let conn = self.conn.take();
        if let (Some(conn), Some(lease)) = (conn, self.lease.take())
            && self.keep_alive
            && conn.buf.is_empty()
        {
            lease.pool.give_back(&lease.authority, conn);
        }
    }

    fn fail(&mut self, e: impl Into<io::Error>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.state = State::Done;
        self.conn = None;
        self.lease = None;
        Poll::Ready(Some(Err(e.into())))
    }
}

impl http_body::Body for PooledBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            let Some(conn) = this.conn.as_deref_mut() else {
                return Poll::Ready(None);
            };
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Length(left) => {
                    if let Some(data) = crate::http1::take_length(&mut conn.buf, left) {
                        if *left == 0 {
                            // The last frame in hand: whoever reads the
                            // body need not ask for more once its length
                            // is reached.
                            this.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    let want = *left;
                    match ready!(conn.poll_fill(cx, want)) {
                        Ok(0) => return this.fail(io::ErrorKind::UnexpectedEof),
                        Ok(_) => {}
                        Err(e) => return this.fail(e),
                    }
                }
                State::Chunked(chunked) => match chunked.decode(&mut conn.buf) {
                    Ok(Decoded::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Decoded::End) => {
                        this.finish();
                        return Poll::Ready(None);
                    }
                    Ok(Decoded::More) => match ready!(conn.poll_fill(cx, READ_FIRST as u64)) {
                        Ok(0) => return this.fail(io::ErrorKind::UnexpectedEof),
                        Ok(_) => {}
                        Err(e) => return this.fail(e),
                    },
                    Err(e) => {
                        return this.fail(io::Error::new(
                            io::ErrorKind::InvalidData,
                            h1::H1Error::from(e),
                        ));
                    }
                },
                State::UntilClose => {
                    if !conn.buf.is_empty() {
                        let data = conn.buf.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    match ready!(conn.poll_fill(cx, READ_MOST as u64)) {
                        Ok(0) => {
                            this.finish();
                            return Poll::Ready(None);
                        }
                        Ok(_) => {}
                        Err(e) => return this.fail(e),
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Done => SizeHint::with_exact(0),
            State::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

impl Inner {
    /// An open connection to `authority`, if one is idle: the one that
    /// went back last, else those idle longest. Closed and expired
    /// connections met are dropped.
    fn take(&self, authority: &Authority) -> Option<Box<Conn>> {
        let now = Instant::now();
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let queue = hosts
            .queues
            .iter_mut()
            .find(|q| q.authority == *authority)?;
        queue
            .take_open(End::Front, now, self.idle_timeout)
            .or_else(|| queue.take_open(End::Back, now, self.idle_timeout))
    }

    /// Keeps `conn`, its response read through, for the next request to
    /// `authority`. Trims, while the lock is held anyway, this host's queue
    /// and one other in turn, so that a pool that had a burst shrinks back
    /// as long as requests come.
    fn give_back(&self, authority: &Authority, conn: Box<Conn>) {
        let now = Instant::now();
        let mut guard = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let hosts = &mut *guard;
        hosts.sweep = hosts.sweep.wrapping_add(1);
        if let Some(other) = hosts.sweep.checked_rem(hosts.queues.len())
            && let Some(queue) = hosts.queues.get_mut(other)
            && queue.authority != *authority
        {
            queue.trim(now, self.idle_timeout);
            if queue.idle.is_empty() {
                hosts.queues.swap_remove(other);
            }
        }
        // This host's queue stays, empty or not: under light load it is
        // emptied by every request and would otherwise be made again.
        let own = match hosts.queues.iter().position(|q| q.authority == *authority) {
            Some(at) => at,
            None => {
                hosts.queues.push(Queue {
                    authority: authority.clone(),
                    idle: VecDeque::new(),
                });
                hosts.queues.len() - 1
            }
        };
        if let Some(queue) = hosts.queues.get_mut(own) {
            queue.trim(now, self.idle_timeout);
        }
        let held: usize = hosts.queues.iter().map(|q| q.idle.len()).sum();
        if held >= MAX_IDLE {
            // Dropped: the connection closes.
            return;
        }
        if let Some(queue) = hosts.queues.get_mut(own) {
            queue.idle.push_front(Idle { conn, since: now });
        }
    }

    /// A new connection to `authority` (TCP, and TLS for `https`).
    async fn connect(&self, scheme: Scheme, authority: &Authority) -> Result<Box<Conn>, Error> {
        let target = Uri::builder()
            .scheme(scheme)
            .authority(authority.clone())
            .path_and_query("/")
            .build()?;
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx)).await?;
        let stream = connector.call(target).await?;
        Ok(Box::new(Conn {
            io: TokioIo::new(stream),
            buf: BytesMut::with_capacity(READ_FIRST),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full, StreamBody};
    use hyper::body::{Frame, Incoming};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;

    use super::*;

    /// A real HTTP/1 server (hyper's) on loopback: answers every request
    /// with `ok`, or, for `/slow`, a body whose end waits on `release`,
    /// and names the connection that served it (`x-connection`, counted
    /// from 0); counts the connections it accepted and those still open.
    /// `keep_alive: false` closes each connection after its response, as a
    /// store that shuts idle ones does.
    struct Store {
        addr: std::net::SocketAddr,
        accepted: Arc<AtomicUsize>,
        open: Arc<AtomicUsize>,
        release: tokio::sync::watch::Sender<bool>,
    }

    async fn store(keep_alive: bool) -> Store {
        store_on("127.0.0.1", Arc::new(AtomicUsize::new(0)), keep_alive).await
    }

    async fn store_on(ip: &str, accepted: Arc<AtomicUsize>, keep_alive: bool) -> Store {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicUsize::new(0));
        let (release, gate) = tokio::sync::watch::channel(false);
        tokio::spawn(serve(
            listener,
            accepted.clone(),
            open.clone(),
            gate,
            keep_alive,
        ));
        Store {
            addr,
            accepted,
            open,
            release,
        }
    }

    async fn serve(
        listener: TcpListener,
        accepted: Arc<AtomicUsize>,
        open: Arc<AtomicUsize>,
        gate: tokio::sync::watch::Receiver<bool>,
        keep_alive: bool,
    ) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let id = accepted.fetch_add(1, Ordering::SeqCst);
            open.fetch_add(1, Ordering::SeqCst);
            let gate = gate.clone();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut gate = gate.clone();
                async move {
                    if req.uri().path() == "/echo" {
                        // The body as it came, and how it was framed.
                        let framing = req
                            .headers()
                            .get(http::header::TRANSFER_ENCODING)
                            .cloned()
                            .unwrap_or(http::HeaderValue::from_static("length"));
                        let got = req.into_body().collect().await.map(|b| b.to_bytes());
                        let mut response = Response::new(
                            Full::new(got.unwrap_or_default())
                                .map_err(|e| match e {})
                                .boxed(),
                        );
                        response.headers_mut().insert("x-framing", framing);
                        return Ok::<_, Infallible>(response);
                    }
                    let body = if req.uri().path() == "/slow" {
                        let (tx, rx) =
                            tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
                        tokio::spawn(async move {
                            let _ = tx.send(Ok(Frame::data(Bytes::from("sl")))).await;
                            let _ = gate.wait_for(|released| *released).await;
                            let _ = tx.send(Ok(Frame::data(Bytes::from("ow")))).await;
                        });
                        StreamBody::new(tokio_stream_of(rx)).boxed()
                    } else {
                        Full::new(Bytes::from("ok")).map_err(|e| match e {}).boxed()
                    };
                    let mut response = Response::new(body);
                    response
                        .headers_mut()
                        .insert("x-connection", http::HeaderValue::from(id));
                    Ok::<_, Infallible>(response)
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .keep_alive(keep_alive)
                .serve_connection(TokioIo::new(stream), service);
            let open = open.clone();
            tokio::spawn(async move {
                let _ = connection.await;
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    fn tokio_stream_of(
        mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, Infallible>>,
    ) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }

    fn pool() -> Pool {
        pool_idle_for(Duration::from_secs(60))
    }

    fn pool_idle_for(idle_timeout: Duration) -> Pool {
        pool_with(idle_timeout, Duration::from_secs(30))
    }

    fn pool_with(idle_timeout: Duration, wait: Duration) -> Pool {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Pool::new(connector, idle_timeout, wait)
    }

    fn get(store: &Store, path: &str) -> Request<UpstreamBody> {
        let mut req = Request::new(UpstreamBody::Empty);
        *req.uri_mut() = format!("http://{}{path}", store.addr).parse().unwrap();
        req.headers_mut()
            .insert(http::header::HOST, store.addr.to_string().parse().unwrap());
        req
    }

    async fn read(pool: &Pool, req: Request<UpstreamBody>) -> String {
        let response = pool.send(req).await.expect("the store answers");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    /// Sends `n` GETs one after another; the connections the store accepted.
    async fn connections_for_requests_in_turn(keep_alive: bool, n: usize) -> usize {
        connections_for_requests_in_turn_idle_for(keep_alive, n, Duration::from_secs(60)).await
    }

    async fn connections_for_requests_in_turn_idle_for(
        keep_alive: bool,
        n: usize,
        idle_timeout: Duration,
    ) -> usize {
        let store = store(keep_alive).await;
        let pool = pool_idle_for(idle_timeout);
        for _ in 0..n {
            assert_eq!(read(&pool, get(&store, "/k")).await, "ok");
            // The connection turns idle in its own task, once it has
            // read the end of the response.
            tokio::task::yield_now().await;
            if idle_timeout < Duration::from_secs(1) {
                // Past the idle timeout before the next request.
                tokio::time::sleep(idle_timeout * 5).await;
            }
        }
        store.accepted.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn requests_one_after_another_reuse_one_connection() {
        assert_eq!(connections_for_requests_in_turn(true, 5).await, 1);
    }

    #[tokio::test]
    async fn a_connection_busy_with_a_body_is_not_taken_by_the_next_request() {
        let store = store(true).await;
        let pool = pool();
        let slow = pool.send(get(&store, "/slow")).await.unwrap();
        // The slow response's connection is still busy with its body.
        assert_eq!(read(&pool, get(&store, "/k")).await, "ok");
        assert_eq!(store.accepted.load(Ordering::SeqCst), 2);
        store.release.send_replace(true);
        let body = slow.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"slow");
    }

    /// `n` slow responses at once, each on a connection of its own, then
    /// each read to its end: `n` idle connections in the pool.
    async fn burst(pool: &Pool, store: &Store, n: usize) {
        let mut slow = Vec::new();
        for _ in 0..n {
            slow.push(pool.send(get(store, "/slow")).await.unwrap());
        }
        assert_eq!(store.accepted.load(Ordering::SeqCst), n);
        store.release.send_replace(true);
        for response in slow {
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"slow");
        }
        tokio::task::yield_now().await;
    }

    /// After a burst, a steady load is served by the connection that went
    /// back last, not by each of the burst's in turn.
    #[tokio::test]
    async fn a_steady_load_after_a_burst_uses_the_connection_back_last() {
        let store = store(true).await;
        let pool = pool();
        burst(&pool, &store, 3).await;
        let mut served = std::collections::BTreeSet::new();
        for _ in 0..6 {
            let response = pool.send(get(&store, "/k")).await.unwrap();
            served.insert(response.headers()["x-connection"].clone());
            response.into_body().collect().await.unwrap();
            tokio::task::yield_now().await;
        }
        assert_eq!(store.accepted.load(Ordering::SeqCst), 3);
        assert_eq!(served.len(), 1, "served by connections {served:?}");
    }

    /// ... so the burst's other connections idle out and close while the
    /// steady load goes on: the store is not left holding them.
    #[tokio::test]
    async fn connections_a_steady_load_does_not_need_are_closed_once_idle() {
        let store = store(true).await;
        let pool = pool_idle_for(Duration::from_millis(200));
        burst(&pool, &store, 3).await;
        let give_up = Instant::now() + Duration::from_secs(10);
        while store.open.load(Ordering::SeqCst) > 1 {
            assert!(
                Instant::now() < give_up,
                "{} connections still open",
                store.open.load(Ordering::SeqCst)
            );
            assert_eq!(read(&pool, get(&store, "/k")).await, "ok");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(store.accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_connection_the_store_closed_is_not_used_again() {
        assert_eq!(connections_for_requests_in_turn(false, 3).await, 3);
    }

    #[tokio::test]
    async fn a_connection_idle_past_the_idle_timeout_is_not_used_again() {
        let opened =
            connections_for_requests_in_turn_idle_for(true, 3, Duration::from_millis(2)).await;
        assert_eq!(opened, 3);
    }

    /// Virtual-hosted requests (AWS's default) go to a host per bucket:
    /// each must find its own host's idle connection, whatever order the
    /// buckets come in. Ten loopback addresses stand for ten buckets.
    #[tokio::test]
    async fn each_host_finds_its_own_idle_connection_among_many() {
        let accepted = Arc::new(AtomicUsize::new(0));
        let mut hosts = Vec::new();
        for i in 1..=10u8 {
            hosts.push(store_on(&format!("127.0.0.{i}"), accepted.clone(), true).await);
        }
        let pool = pool();
        for round in 0..3 {
            let order: Vec<&Store> = if round % 2 == 0 {
                hosts.iter().collect()
            } else {
                hosts.iter().rev().collect()
            };
            for host in order {
                assert_eq!(read(&pool, get(host, "/k")).await, "ok");
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 10);
    }

    /// A body of unknown length (a form upload's file part) goes to the
    /// store chunked, whole, and the connection is reused after it.
    #[tokio::test]
    async fn a_body_of_unknown_length_is_sent_chunked() {
        let store = store(true).await;
        let pool = pool();
        for _ in 0..2 {
            let frames: Vec<Result<Frame<Bytes>, crate::sigv4::SigV4Error>> = vec![
                Ok(Frame::data(Bytes::from("form "))),
                Ok(Frame::data(Bytes::new())),
                Ok(Frame::data(Bytes::from("file part"))),
            ];
            let body = StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync();
            let mut req = get(&store, "/echo");
            *req.method_mut() = http::Method::POST;
            *req.body_mut() = UpstreamBody::Stream(body);
            let response = pool.send(req).await.expect("the store answers");
            assert_eq!(response.headers()["x-framing"], "chunked");
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"form file part");
            tokio::task::yield_now().await;
        }
        assert_eq!(store.accepted.load(Ordering::SeqCst), 1);
    }

    /// A body held whole whose head gives no length (as s3gate's own
    /// requests' heads may not) still reaches the store framed by its
    /// length, not taken for the start of the next request.
    #[tokio::test]
    async fn a_whole_body_is_framed_by_its_length_whatever_the_headers_say() {
        let store = store(true).await;
        let pool = pool();
        let mut req = get(&store, "/echo");
        *req.method_mut() = http::Method::POST;
        *req.body_mut() = UpstreamBody::Bytes(Some(Bytes::from_static(b"<Delete/>")));
        let response = pool.send(req).await.expect("the store answers");
        assert_eq!(response.headers()["x-framing"], "length");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"<Delete/>");
    }

    /// A body that says it has `hint` bytes and yields `chunks`.
    struct Lying {
        chunks: std::collections::VecDeque<Bytes>,
        hint: u64,
    }

    impl http_body::Body for Lying {
        type Data = Bytes;
        type Error = crate::sigv4::SigV4Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(
                self.get_mut()
                    .chunks
                    .pop_front()
                    .map(|b| Ok(Frame::data(b))),
            )
        }

        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(self.hint)
        }
    }

    /// A streamed body that yields more or fewer bytes than its head
    /// announced fails its request: the excess never reaches the store,
    /// where it would be read as the next request on the connection.
    #[tokio::test]
    async fn a_streamed_body_is_held_to_its_announced_length() {
        for (chunks, hint) in [(&["abcd", "SMUGGLED"][..], 4), (&["ab"][..], 4)] {
            let store = store(true).await;
            let pool = pool();
            let body = Lying {
                chunks: chunks
                    .iter()
                    .map(|c| Bytes::from_static(c.as_bytes()))
                    .collect(),
                hint,
            };
            let mut req = get(&store, "/echo");
            *req.method_mut() = http::Method::PUT;
            req.headers_mut()
                .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(hint));
            *req.body_mut() = UpstreamBody::Stream(body.boxed_unsync());
            assert!(
                pool.send(req).await.is_err(),
                "{chunks:?} announced as {hint}"
            );
            // The connection was not used again: the next request opens one.
            assert_eq!(read(&pool, get(&store, "/k")).await, "ok");
            assert_eq!(store.accepted.load(Ordering::SeqCst), 2, "{chunks:?}");
        }
    }

    /// A store that stops taking an upload is given up on once a write
    /// has waited `wait`, whatever the body's size (the whole exchange is
    /// not timed: see the e2e test of a slow caller's upload).
    #[tokio::test]
    async fn a_store_that_stops_reading_an_upload_is_given_up_on() {
        // Accepts, and never reads: its socket's buffers fill.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let held = tokio::spawn(async move { listener.accept().await });
        let pool = pool_with(Duration::from_secs(60), Duration::from_millis(300));
        let chunk = Bytes::from(vec![b'x'; 1 << 20]);
        let total = 256u64 << 20;
        let body = Lying {
            chunks: std::iter::repeat_n(chunk, 256).collect(),
            hint: total,
        };
        let mut req = Request::new(UpstreamBody::Stream(body.boxed_unsync()));
        *req.method_mut() = http::Method::PUT;
        *req.uri_mut() = format!("http://{addr}/bucket/key").parse().unwrap();
        // A guard against hanging the suite, not a timing assertion.
        let err = tokio::time::timeout(Duration::from_secs(30), pool.send(req))
            .await
            .expect("the wait ends the exchange")
            .err()
            .expect("the upload fails");
        let io = err.downcast_ref::<io::Error>().expect("an I/O error");
        assert_eq!(io.kind(), io::ErrorKind::TimedOut, "{err}");
        drop(held);
    }

    /// A body that fails on its way (the caller's bytes failed their
    /// check) ends the request with the body's own error, and the store
    /// never gets a complete request to act on.
    #[tokio::test]
    async fn a_body_that_fails_on_its_way_fails_the_request() {
        let store = store(true).await;
        let pool = pool();
        let frames: Vec<Result<Frame<Bytes>, crate::sigv4::SigV4Error>> = vec![
            Ok(Frame::data(Bytes::from("half"))),
            Err(crate::sigv4::SigV4Error::Missing),
        ];
        let body = StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync();
        let mut req = get(&store, "/echo");
        *req.method_mut() = http::Method::PUT;
        *req.body_mut() = UpstreamBody::Stream(body);
        let err = pool.send(req).await.err().expect("the request fails");
        assert!(
            err.downcast_ref::<crate::sigv4::SigV4Error>().is_some(),
            "{err}"
        );
    }

    /// Reads a request head off `stream`, a byte at a time (a store of a
    /// few lines, for the tests that need one to misbehave); false if the
    /// connection ended first.
    async fn read_request_head(stream: &mut tokio::net::TcpStream) -> bool {
        use tokio::io::AsyncReadExt;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                return false;
            }
            head.push(byte[0]);
        }
        true
    }

    /// A store that drops a kept connection as the next request arrives,
    /// answering nothing: a GET goes again on a new connection; a POST,
    /// which the store may have acted on, is not sent twice.
    #[tokio::test]
    async fn a_request_dropped_unanswered_goes_again_only_if_idempotent() {
        use tokio::io::AsyncWriteExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(AtomicUsize::new(0));
        let seen = heads.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    // The first request on each connection is answered;
                    // the second is read and the connection dropped.
                    if !read_request_head(&mut stream).await {
                        return;
                    }
                    seen.fetch_add(1, Ordering::SeqCst);
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                    if read_request_head(&mut stream).await {
                        seen.fetch_add(1, Ordering::SeqCst);
                        // Takes the body too, so that the close is a
                        // plain end (FIN), not a reset.
                        let mut rest = [0u8; 64];
                        let _ = tokio::time::timeout(
                            Duration::from_millis(50),
                            tokio::io::AsyncReadExt::read(&mut stream, &mut rest),
                        )
                        .await;
                    }
                });
            }
        });
        let pool = pool();
        let request = |method: http::Method, body: UpstreamBody| {
            let mut req = Request::new(body);
            *req.method_mut() = method;
            *req.uri_mut() = format!("http://{addr}/k").parse().unwrap();
            req
        };
        assert_eq!(
            read(&pool, request(http::Method::GET, UpstreamBody::Empty)).await,
            "ok"
        );
        // On the kept connection: dropped, then sent again on a new one.
        assert_eq!(
            read(&pool, request(http::Method::GET, UpstreamBody::Empty)).await,
            "ok"
        );
        assert_eq!(heads.load(Ordering::SeqCst), 3);
        // The new connection is kept in turn; a POST on it is dropped.
        let post = request(
            http::Method::POST,
            UpstreamBody::Bytes(Some(Bytes::from_static(b"<Complete/>"))),
        );
        assert!(pool.send(post).await.is_err());
        assert_eq!(heads.load(Ordering::SeqCst), 4, "the POST went once");
    }

    /// A store that refuses an upload at its head and stops reading (as
    /// S3 does for a bucket that is not there) gets its answer to the
    /// caller at once, not after the upload stalls into a timeout.
    #[tokio::test]
    async fn a_store_refusing_an_upload_early_is_heard_while_the_body_goes() {
        use tokio::io::AsyncWriteExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            if !read_request_head(&mut stream).await {
                return;
            }
            let _ = stream
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 6\r\n\r\nnobody")
                .await;
            // Reads nothing more, and keeps the connection open.
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(stream);
        });
        // 64 MiB in 1 MiB frames: far more than the sockets' buffers.
        let frames = (0..64).map(|_| {
            Ok::<_, crate::sigv4::SigV4Error>(Frame::data(Bytes::from(vec![b'x'; 1 << 20])))
        });
        let body = StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync();
        let mut req = Request::new(UpstreamBody::Stream(body));
        *req.method_mut() = http::Method::PUT;
        *req.uri_mut() = format!("http://{addr}/no-bucket/k").parse().unwrap();
        let pool = pool();
        let response = tokio::time::timeout(Duration::from_secs(10), pool.send(req))
            .await
            .expect("the store's early answer, not a stall")
            .expect("the store answers");
        assert_eq!(response.status(), http::StatusCode::NOT_FOUND);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"nobody");
    }

    /// A store that closes an idle connection without a word (no
    /// `Connection: close`, just its FIN) costs the next request
    /// nothing: the pool sees the close and opens a new connection.
    #[tokio::test]
    async fn a_connection_the_store_closed_silently_is_not_used_again() {
        use tokio::io::AsyncWriteExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut closed_tx = Some(closed_tx);
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                read_request_head(&mut stream).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                // The first connection is closed right after its answer.
                if let Some(tx) = closed_tx.take() {
                    drop(stream);
                    let _ = tx.send(());
                } else {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        });
        let pool = pool();
        let get = || {
            let mut req = Request::new(UpstreamBody::Empty);
            *req.uri_mut() = format!("http://{addr}/k").parse().unwrap();
            req
        };
        assert_eq!(read(&pool, get()).await, "ok");
        closed_rx.await.unwrap();
        // Let the FIN arrive.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(read(&pool, get()).await, "ok");
    }

    #[tokio::test]
    async fn a_store_that_is_not_there_is_an_error_not_a_hang() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let pool = pool();
        let mut req = Request::new(UpstreamBody::Empty);
        *req.uri_mut() = format!("http://{addr}/k").parse().unwrap();
        assert!(pool.send(req).await.is_err());
    }
}
