//! One caller's HTTP/1.1 connection, driven in the connection's own task:
//! read a head, hand the request to the handler, write its answer, and
//! again while the connection is kept. Request bodies are read by the
//! handler through the shared [`Wire`]; answers stream out as their bodies
//! yield, framed by this side (`h1`), never by the handler's headers.
//!
//! Requests on a connection are answered in order, one at a time: bytes of
//! a pipelined next request wait in the wire's buffer. While the handler
//! works and no body is being read, the connection is still read, so that
//! a caller that hangs up cancels its request instead of holding it.
//!
//! The rule for a body not read to its end: the answer says `Connection:
//! close` iff a declared body has not been read to its end when the answer
//! is ready, whatever the answer's status, and the connection closes after
//! it. Where the next request would begin is then unknown: a caller that
//! sent `Expect: 100-continue` and got a final answer skips the body; one
//! that did not has sent some of it. A body read to its end leaves nothing
//! behind, so a refusal after it (a bad digest, an STS error) keeps the
//! connection.
//!
//! Depends on `server::h1` (the codec) and `request_body` (the wire);
//! knows nothing of S3: answers, refusals included, come from the two
//! functions it is given.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, Version};
use http_body::Body;
use tokio::io::AsyncWrite;
use tokio::time::{Instant, Sleep};

use super::h1::{self, Connection, HeadLimits, Refusal, RequestHead, ResponseFraming};
use crate::http1::ChunkLine;
use crate::request_body::{RequestBody, SharedWire, Wire, lock};

/// How much a head read asks of the connection at once.
const READ_HEAD: usize = 8 * 1024;

/// After an answer that closes the connection with a body left unread,
/// how long and how much of the caller's remaining bytes are read and
/// dropped before the close, so that the kernel does not answer them with
/// a reset that destroys the answer before the caller reads it.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// The transport's settings for a connection.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub limits: HeadLimits,
    pub header_read_timeout: Duration,
}

/// Whether the server is draining: once set, an idle connection closes
/// and one in use closes after its answer.
pub struct Draining {
    signal: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Draining {
    pub fn new(signal: impl Future<Output = ()> + Send + 'static) -> Self {
        Self {
            signal: Some(Box::pin(signal)),
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        match &mut self.signal {
            None => true,
            Some(signal) => {
                if signal.as_mut().poll(cx).is_ready() {
                    self.signal = None;
                }
                self.signal.is_none()
            }
        }
    }

    fn now(&mut self) -> bool {
        self.poll(&mut Context::from_waker(std::task::Waker::noop()))
    }
}

/// Serves requests on `wire` until either side closes it. `call` answers a
/// request; `refuse` answers a head that cannot be served, given why and
/// whether it was a HEAD (the connection closes after it).
pub async fn serve<C, F, R, RF, B>(
    wire: Wire,
    settings: Settings,
    started: Instant,
    mut draining: Draining,
    mut call: C,
    refuse: R,
) where
    C: FnMut(Request<RequestBody>) -> F,
    F: Future<Output = Response<B>>,
    R: FnOnce(Refusal, Method) -> RF,
    RF: Future<Output = Response<B>>,
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let wire: SharedWire = std::sync::Arc::new(std::sync::Mutex::new(wire));
    // The first head's time runs from the connection's start; a later
    // one's from its first byte.
    let mut deadline = Box::pin(tokio::time::sleep_until(
        started + settings.header_read_timeout,
    ));
    let mut armed = true;
    let mut out = Vec::with_capacity(1024);
    let mut slot: Option<Pin<Box<Option<F>>>> = None;
    loop {
        let head = match read_head(&wire, settings, &mut deadline, armed, &mut draining).await {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(HeadError::Refused(why, method)) => {
                tracing::debug!(reason = %why, "request head refused");
                // What follows a refused head is never read as anything;
                // while the refusal waits (for room in the audit queue),
                // only a hang-up matters, as for any request.
                lock(&wire).buf.clear();
                let refusing = std::pin::pin!(Some(refuse(why, method.clone())));
                let Some(answer) = until_answered(refusing, &wire, settings).await else {
                    return;
                };
                let sent = respond(
                    &wire,
                    &mut out,
                    answer,
                    &method,
                    Version::HTTP_11,
                    false,
                    &[],
                );
                if sent.await != Sent::Aborted {
                    linger(&wire).await;
                }
                return;
            }
            Err(HeadError::Io) => return,
        };
        armed = false;
        let RequestHead {
            request,
            body,
            keep_alive,
            expect_continue,
        } = head;
        let method = request.method().clone();
        let version = request.version();
        let body = Wire::start(&wire, body, expect_continue);
        // The handler's future lives in one place for the connection's
        // life: a gateway future is kilobytes, and moving it into a fresh
        // frame per request showed as memcpy in the profile.
        let running = slot.get_or_insert_with(|| Box::pin(None));
        running.set(Some(call(request.map(|()| body))));
        let answered = until_answered(running.as_mut(), &wire, settings).await;
        running.set(None);
        let Some(answer) = answered else {
            // The caller hung up: its request is dropped mid-way.
            return;
        };
        let (body_read, interim) = lock(&wire).answering();
        let keep =
            keep_alive && body_read && !h1::response_closes(answer.headers()) && !draining.now();
        match respond(&wire, &mut out, answer, &method, version, keep, interim).await {
            Sent::Kept => {}
            Sent::Closing if body_read => {
                shutdown(&wire).await;
                return;
            }
            Sent::Closing => {
                linger(&wire).await;
                return;
            }
            // No orderly close (over TLS, no close_notify): the caller
            // must not take a cut answer for a whole one.
            Sent::Aborted => return,
        }
    }
    shutdown(&wire).await;
}

enum HeadError {
    /// Refused, and the method if it was HEAD (its answer has no body).
    Refused(Refusal, Method),
    Io,
}

/// How an answer went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// Whole, and the connection is kept.
    Kept,
    /// Whole, and the connection closes.
    Closing,
    /// Cut short (its body failed, or broke its length, or the caller
    /// left): the connection is dropped without an orderly close.
    Aborted,
}

/// Reads the next request head. `Ok(None)`: the caller closed, or the
/// server is draining and the connection is between requests.
async fn read_head(
    wire: &SharedWire,
    settings: Settings,
    deadline: &mut Pin<Box<Sleep>>,
    mut armed: bool,
    draining: &mut Draining,
) -> Result<Option<RequestHead>, HeadError> {
    // How much of the buffer is known to hold no blank line.
    let mut searched = 0;
    poll_fn(|cx| {
        let mut w = lock(wire);
        loop {
            if !w.buf.is_empty() {
                let method = if w.buf.starts_with(b"HEAD ") {
                    Method::HEAD
                } else {
                    Method::GET
                };
                // Parsed only once a blank line may have ended the head;
                // without one, past the limit it cannot be within it.
                let parsed = if h1::may_be_whole(&w.buf, searched) {
                    h1::parse_request_head(&mut w.buf, settings.limits)
                } else if w.buf.len() > settings.limits.max_bytes {
                    Err(Refusal::TooLarge)
                } else {
                    Ok(None)
                };
                match parsed {
                    Ok(Some(head)) => return Poll::Ready(Ok(Some(head))),
                    Ok(None) => {}
                    Err(why) => return Poll::Ready(Err(HeadError::Refused(why, method))),
                }
            }
            if !w.buf.is_empty() && !armed {
                // Half a head: its time runs from here.
                armed = true;
                deadline
                    .as_mut()
                    .reset(Instant::now() + settings.header_read_timeout);
            }
            searched = w.buf.len();
            match w.poll_fill(cx, READ_HEAD) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(None)),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(Err(HeadError::Io)),
                Poll::Pending => break,
            }
        }
        let between_requests = w.buf.is_empty();
        drop(w);
        if armed && deadline.as_mut().poll(cx).is_ready() {
            // Half a head gets an answer; a connection that sent nothing
            // is closed without one.
            if between_requests {
                return Poll::Ready(Ok(None));
            }
            return Poll::Ready(Err(HeadError::Refused(Refusal::Timeout, Method::GET)));
        }
        if between_requests && draining.poll(cx) {
            return Poll::Ready(Ok(None));
        }
        Poll::Pending
    })
    .await
}

/// Runs the handler's future to its answer. While no body is being read,
/// the connection is read too: bytes of a next request wait in the
/// buffer (up to a head's worth), and a caller that closed ends the
/// request (`None`).
async fn until_answered<F, B>(
    mut answer: Pin<&mut Option<F>>,
    wire: &SharedWire,
    settings: Settings,
) -> Option<Response<B>>
where
    F: Future<Output = Response<B>>,
{
    poll_fn(|cx| {
        let Some(running) = answer.as_mut().as_pin_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(answer) = running.poll(cx) {
            return Poll::Ready(Some(answer));
        }
        let mut w = lock(wire);
        while w.idle() && w.buf.len() < settings.limits.max_bytes {
            match w.poll_fill(cx, READ_HEAD) {
                Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(None),
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => break,
            }
        }
        Poll::Pending
    })
    .await
}

/// Writes `answer` (after `interim`, the rest of a `100 Continue` that
/// went out in part), keeping the connection if `keep` and the answer's
/// framing allow.
async fn respond<B>(
    wire: &SharedWire,
    out: &mut Vec<u8>,
    answer: Response<B>,
    method: &Method,
    version: Version,
    keep: bool,
    interim: &'static [u8],
) -> Sent
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let (parts, mut body) = answer.into_parts();
    let framing = h1::response_framing(
        h1::has_body(method, parts.status),
        &parts.headers,
        body.size_hint().exact(),
        version,
    );
    let keep = keep && framing != ResponseFraming::UntilClose;
    let connection = match (keep, version) {
        (false, _) => Connection::Close,
        (true, Version::HTTP_10) => Connection::KeepAlive10,
        (true, _) => Connection::KeepAlive,
    };
    out.clear();
    h1::write_response_head(
        out,
        parts.status,
        &parts.headers,
        framing,
        connection,
        &http_date(),
    );
    drop(parts);
    // The head goes out with the body's first bytes, in one write.
    let mut head: &[u8] = out;
    let mut interim = interim;
    let mut sent: u64 = 0;
    if framing != ResponseFraming::None {
        while !body.is_end_stream() {
            let frame = match poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                None => break,
                Some(Ok(frame)) => frame,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "response body failed: connection dropped");
                    return Sent::Aborted;
                }
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers: not sent over HTTP/1
            };
            if data.is_empty() {
                continue;
            }
            sent += data.len() as u64;
            let written = match framing {
                ResponseFraming::Length(n) if sent > n => {
                    tracing::debug!("response body longer than its length: connection dropped");
                    return Sent::Aborted;
                }
                ResponseFraming::Chunked => {
                    let line = ChunkLine::new(data.len());
                    let parts = &mut [interim, head, line.as_bytes(), &data, b"\r\n"];
                    write_all(wire, parts).await
                }
                _ => write_all(wire, &mut [interim, head, &data]).await,
            };
            if written.is_err() {
                return Sent::Aborted;
            }
            head = &[];
            interim = &[];
        }
    }
    drop(body);
    let last: &[u8] = match framing {
        ResponseFraming::Length(n) if sent != n => {
            tracing::debug!("response body shorter than its length: connection dropped");
            return Sent::Aborted;
        }
        ResponseFraming::Chunked => b"0\r\n\r\n",
        _ => b"",
    };
    if write_all(wire, &mut [interim, head, last]).await.is_err() {
        return Sent::Aborted;
    }
    if keep { Sent::Kept } else { Sent::Closing }
}

/// Writes every byte of `parts`, in as few writes as the connection takes,
/// and flushes them: over TLS a record may wait in the session otherwise,
/// and the next part of a streamed answer may be long in coming.
async fn write_all(wire: &SharedWire, parts: &mut [&[u8]]) -> io::Result<()> {
    let mut first = 0;
    poll_fn(|cx| {
        let mut w = lock(wire);
        loop {
            while first < parts.len() && parts[first].is_empty() {
                first += 1;
            }
            if first == parts.len() {
                return Pin::new(&mut w.io).poll_flush(cx);
            }
            let slices: [io::IoSlice<'_>; 4] = std::array::from_fn(|i| {
                io::IoSlice::new(parts.get(first + i).copied().unwrap_or(&[]))
            });
            let n = match Pin::new(&mut w.io).poll_write_vectored(cx, &slices) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            let mut n = n;
            while n > 0 && first < parts.len() {
                let take = n.min(parts[first].len());
                parts[first] = &parts[first][take..];
                n -= take;
                if parts[first].is_empty() {
                    first += 1;
                }
            }
        }
    })
    .await
}

/// Closes the connection's sending side (TLS: with `close_notify`).
async fn shutdown(wire: &SharedWire) {
    let _ = poll_fn(|cx| Pin::new(&mut lock(wire).io).poll_shutdown(cx)).await;
}

/// Closes after an answer that left the caller's bytes unread: the
/// sending side first, then the caller's remaining bytes are read and
/// dropped for a while, so that closing with them unread does not reset
/// the connection under the answer.
async fn linger(wire: &SharedWire) {
    shutdown(wire).await;
    let mut dropped = 0;
    let _ = tokio::time::timeout(
        LINGER,
        poll_fn(|cx| {
            let mut w = lock(wire);
            loop {
                w.buf.clear();
                match w.poll_fill(cx, READ_HEAD) {
                    Poll::Ready(Ok(n)) if n > 0 && dropped < LINGER_BYTES => dropped += n,
                    Poll::Ready(_) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
            }
        }),
    )
    .await;
}

/// The `Date` header's value, formatted once a second per thread.
fn http_date() -> [u8; 29] {
    use std::cell::Cell;
    use std::time::{SystemTime, UNIX_EPOCH};
    thread_local! {
        static CACHED: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [b' '; 29])) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let (at, text) = cached.get();
        if at == second {
            return text;
        }
        let mut text = [b' '; 29];
        let formatted = httpdate::fmt_http_date(now);
        let len = formatted.len().min(29);
        text[..len].copy_from_slice(&formatted.as_bytes()[..len]);
        cached.set((second, text));
        text
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use bytes::BytesMut;
    use http_body_util::{BodyExt as _, Full, StreamBody};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};

    use super::*;

    const SETTINGS: Settings = Settings {
        limits: HeadLimits {
            max_bytes: 4096,
            max_headers: 20,
        },
        header_read_timeout: Duration::from_secs(5),
    };

    async fn refuse(why: Refusal, _method: Method) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::from(format!("refused: {why}")));
        *r.status_mut() = http::StatusCode::BAD_REQUEST;
        r
    }

    /// Answers `METHOD path: <body bytes read>`; a path starting `/skip`
    /// answers without reading the body.
    async fn echo(req: Request<RequestBody>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let read = if parts.uri.path().starts_with("/skip") {
            String::from("-")
        } else {
            match body.collect().await {
                Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
                Err(e) => format!("error {e}"),
            }
        };
        Response::new(Full::from(format!(
            "{} {}: {read}",
            parts.method,
            parts.uri.path()
        )))
    }

    /// Serves one connection with `echo`; the caller's end.
    fn start() -> (DuplexStream, tokio::task::JoinHandle<()>) {
        start_with(echo, refuse)
    }

    /// Serves one connection with `call` and `refuse`; the caller's end.
    fn start_with<C, F, R, RF, B>(call: C, refuse: R) -> (DuplexStream, tokio::task::JoinHandle<()>)
    where
        C: FnMut(Request<RequestBody>) -> F + Send + 'static,
        F: Future<Output = Response<B>> + Send + 'static,
        R: FnOnce(Refusal, Method) -> RF + Send + 'static,
        RF: Future<Output = Response<B>> + Send + 'static,
        B: Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: std::fmt::Display,
    {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let wire = Wire::new(Box::new(server), BytesMut::new());
        let task = tokio::spawn(serve(
            wire,
            SETTINGS,
            Instant::now(),
            Draining::new(std::future::pending()),
            call,
            refuse,
        ));
        (client, task)
    }

    async fn read_to_close(client: &mut DuplexStream) -> String {
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), client.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&got).into_owned()
    }

    /// Reads until `want` answers' bodies (this test's bodies end in
    /// `:...` and are length-framed) have arrived.
    async fn read_answers(client: &mut DuplexStream, want: usize) -> String {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while String::from_utf8_lossy(&got).matches("HTTP/1.1 ").count() < want
            || !got.ends_with(b"\r\n\r\n") && !answers_complete(&got, want)
        {
            let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    fn answers_complete(got: &[u8], want: usize) -> bool {
        let text = String::from_utf8_lossy(got);
        let mut rest = &text[..];
        for _ in 0..want {
            let Some(head_end) = rest.find("\r\n\r\n") else {
                return false;
            };
            let head = &rest[..head_end];
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |l| l.parse().unwrap());
            if rest.len() < head_end + 4 + len {
                return false;
            }
            rest = &rest[head_end + 4 + len..];
        }
        true
    }

    #[tokio::test]
    async fn pipelined_requests_are_answered_in_order_on_one_connection() {
        let (mut client, _task) = start();
        client
            .write_all(
                b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n\
                  PUT /b HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello\
                  POST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n\
                  3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n\
                  GET /d HTTP/1.1\r\nhost: x\r\n\r\n",
            )
            .await
            .unwrap();
        let got = read_answers(&mut client, 4).await;
        let bodies: Vec<_> = got
            .split("HTTP/1.1 200 OK\r\n")
            .skip(1)
            .map(|a| a.split("\r\n\r\n").nth(1).unwrap())
            .collect();
        assert_eq!(
            bodies,
            ["GET /a: ", "PUT /b: hello", "POST /c: abcde", "GET /d: "],
            "{got}"
        );
        assert!(got.contains("\r\ndate: "), "{got}");
        assert!(!got.contains("connection: close"), "{got}");
    }

    #[tokio::test]
    async fn expect_continue_is_answered_when_the_body_is_first_read() {
        let (mut client, _task) = start();
        client
            .write_all(
                b"PUT /a HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 3\r\n\r\n",
            )
            .await
            .unwrap();
        let mut interim = [0u8; 25];
        client.read_exact(&mut interim).await.unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        client.write_all(b"abc").await.unwrap();
        let got = read_answers(&mut client, 1).await;
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(got.ends_with("PUT /a: abc"), "{got}");
    }

    #[tokio::test]
    async fn an_answer_before_the_body_was_read_closes_and_serves_nothing_after() {
        let (mut client, task) = start();
        // The caller waits for `100 Continue`, gets a final answer, skips
        // its body and sends its next request: that must not be taken for
        // the body, nor served on a connection whose framing is lost.
        client
            .write_all(
                b"PUT /skip HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 30\r\n\r\n\
                  GET /next HTTP/1.1\r\nhost: x\r\n\r\n",
            )
            .await
            .unwrap();
        let got = read_to_close(&mut client).await;
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(got.contains("\r\nconnection: close\r\n"), "{got}");
        assert!(!got.contains("100 Continue"), "{got}");
        assert!(!got.contains("/next"), "{got}");
        assert_eq!(got.matches("HTTP/1.1").count(), 1, "{got}");
        drop(client);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn ambiguous_framing_is_refused_and_the_rest_never_parsed() {
        for smuggle in [
            "POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n",
            "POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ncontent-length: 40\r\n\r\n",
            "POST /a HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
        ] {
            let (mut client, task) = start();
            let wire = format!("{smuggle}0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n");
            client.write_all(wire.as_bytes()).await.unwrap();
            let got = read_to_close(&mut client).await;
            assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
            assert!(got.contains("connection: close"), "{got}");
            assert!(!got.contains("smuggled"), "{got}");
            drop(client);
            task.await.unwrap();
        }
    }

    #[tokio::test]
    async fn http10_closes_unless_asked_and_bodies_of_unknown_length_run_to_the_close() {
        let (mut client, task) = start();
        client.write_all(b"GET /a HTTP/1.0\r\n\r\n").await.unwrap();
        let got = read_to_close(&mut client).await;
        assert!(got.contains("connection: close"), "{got}");
        task.await.unwrap();

        let (mut client, _task) = start();
        client
            .write_all(b"GET /a HTTP/1.0\r\nconnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\nconnection: keep-alive\r\n\r\n")
            .await
            .unwrap();
        let got = read_answers(&mut client, 2).await;
        assert_eq!(got.matches("connection: keep-alive").count(), 2, "{got}");

        // A streamed body of unknown length: chunked for HTTP/1.1, until
        // the close for HTTP/1.0.
        for (version, framed) in [
            ("1.1", "transfer-encoding: chunked"),
            ("1.0", "connection: close"),
        ] {
            let (client, server) = tokio::io::duplex(64 * 1024);
            let mut client = client;
            let wire = Wire::new(Box::new(server), BytesMut::new());
            let task = tokio::spawn(serve(
                wire,
                SETTINGS,
                Instant::now(),
                Draining::new(std::future::pending()),
                |_req| async { Response::new(frames(&["ab", "cd"])) },
                |_why, _method| async { Response::new(frames(&[])) },
            ));
            client
                .write_all(format!("GET / HTTP/{version}\r\nconnection: close\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let got = read_to_close(&mut client).await;
            assert!(got.contains(framed), "{got}");
            let body = got.split_once("\r\n\r\n").unwrap().1;
            if version == "1.1" {
                assert_eq!(body, "2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n", "{got}");
            } else {
                assert_eq!(body, "abcd", "{got}");
            }
            task.await.unwrap();
        }
    }

    type Frames = StreamBody<
        futures_util::stream::Iter<
            std::vec::IntoIter<Result<http_body::Frame<Bytes>, std::convert::Infallible>>,
        >,
    >;

    /// A body of unknown length that yields `parts`.
    fn frames(parts: &[&'static str]) -> Frames {
        let frames: Vec<_> = parts
            .iter()
            .map(|s| Ok(http_body::Frame::data(Bytes::from_static(s.as_bytes()))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    /// An answer whose handler says its length is `length`.
    fn with_length(body: &'static str, length: &'static str) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::from(body));
        r.headers_mut().insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from_static(length),
        );
        r
    }

    #[tokio::test]
    async fn a_head_answer_keeps_its_length_and_sends_no_body() {
        let (mut client, _task) =
            start_with(|_req| async { with_length("not sent", "1234") }, refuse);
        client
            .write_all(b"HEAD /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let got = read_to_close(&mut client).await;
        assert_eq!(got.matches("content-length: 1234\r\n").count(), 2, "{got}");
        assert!(!got.contains("not sent"), "{got}");
    }

    /// Sets its flag when dropped.
    struct Flag(Arc<AtomicBool>);

    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// An answer that never comes, holding `flag` until it is dropped.
    async fn never(flag: Flag) -> Response<Full<Bytes>> {
        let _flag = flag;
        std::future::pending::<()>().await;
        Response::new(Full::from(""))
    }

    /// Sends `wire`, hangs up, and says whether the connection's task
    /// ended and dropped what it was waiting for.
    async fn hang_up_after(wire: &'static [u8]) -> bool {
        let dropped = Arc::new(AtomicBool::new(false));
        let (request_flag, refusal_flag) = (dropped.clone(), dropped.clone());
        let (mut client, task) = start_with(
            move |_req| never(Flag(request_flag.clone())),
            move |_why, _method| never(Flag(refusal_flag)),
        );
        client.write_all(wire).await.unwrap();
        tokio::task::yield_now().await;
        drop(client);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        dropped.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_caller_that_hangs_up_cancels_its_request() {
        assert!(hang_up_after(b"GET /a HTTP/1.1\r\n\r\n").await);
        // A refusal that waits (for audit room) is cancelled the same way.
        assert!(hang_up_after(b"GET /a HTTP/1.1\r\nx: 1\nx: 2\r\n\r\n").await);
    }

    #[tokio::test]
    async fn a_head_trickled_a_byte_at_a_time_is_parsed_once_not_once_a_byte() {
        let (mut client, _task) = start();
        let lines: String = (0..15).map(|i| format!("x-h{i}: v\r\n")).collect();
        let head = format!("GET /slow HTTP/1.1\r\nhost: x\r\n{lines}\r\n");
        h1::PARSES.with(|n| n.set(0));
        for byte in head.as_bytes() {
            client.write_all(&[*byte]).await.unwrap();
            tokio::task::yield_now().await;
        }
        let got = read_answers(&mut client, 1).await;
        assert!(got.ends_with("GET /slow: "), "{got}");
        // The server task runs on this thread (current-thread runtime).
        let parses = h1::PARSES.with(std::cell::Cell::get);
        assert!(parses <= 2, "{parses} parses of a {}-byte head", head.len());
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_does_not_arrive_in_time_is_refused_and_closed() {
        let (mut client, task) = start();
        client
            .write_all(b"GET /a HTTP/1.1\r\nx-slow: a")
            .await
            .unwrap();
        let got = read_to_close(&mut client).await;
        assert!(got.starts_with("HTTP/1.1 400"), "{got}");
        assert!(got.contains("not received in time"), "{got}");
        task.await.unwrap();
        // A connection that sends nothing is closed without an answer.
        let (mut client, task) = start();
        assert_eq!(read_to_close(&mut client).await, "");
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_body_longer_than_its_length_is_cut_and_the_connection_closed() {
        let (mut client, task) =
            start_with(|_req| async { with_length("0123456789", "4") }, refuse);
        client
            .write_all(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        // Its first frame already breaks the length: nothing of the
        // answer goes out, and nothing of the next request is served.
        let got = read_to_close(&mut client).await;
        assert_eq!(got, "");
        task.await.unwrap();
    }
}
