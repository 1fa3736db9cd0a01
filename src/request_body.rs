//! The caller's request body as the transport hands it to the gateway:
//! read straight off the caller's HTTP/1 connection, or hyper's HTTP/2
//! stream.
//!
//! An HTTP/1 body is read from the [`Wire`]: the connection and its read
//! buffer, which the transport ([`crate::server`]) and the request's body
//! share, one request at a time. The body decodes its framing (a length or
//! the chunked coding) from the wire's buffer as the gateway asks for
//! more, so nothing is read ahead of the reader, and it sends `100
//! Continue` when it is first asked, if the caller waits for one. When the
//! answer is ready the transport asks the wire whether the body was read
//! to its end; if not, the answer says `Connection: close` (the rule and
//! why are in `server::conn`).
//!
//! Depends on `http1` (framing), tokio's I/O traits and hyper's body types;
//! the gateway, the form upload and the upstream stream see only
//! [`RequestBody`].

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::http1::{BodyFraming, Chunked, Decoded, take_length};

/// A caller's connection, as boxed I/O.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The most a body read asks of the connection at once.
const READ_MOST: usize = 64 * 1024;

/// A caller's HTTP/1 connection, shared by its transport and the body of
/// the request in progress.
pub struct Wire {
    pub io: Box<dyn Io>,
    /// Bytes read and not yet taken: the rest of a head, body bytes, the
    /// next request.
    pub buf: BytesMut,
    reading: Reading,
    /// Which request the body being read belongs to: a body kept past its
    /// request's answer must not read the next one's.
    request: u64,
    interim: Interim,
}

pub type SharedWire = Arc<Mutex<Wire>>;

/// Where the current request's body stands.
enum Reading {
    Length(u64),
    Chunked(Chunked),
    /// Read to its end (or there was none).
    Done,
    /// Broken or cut short: the connection is not reused.
    Failed,
}

/// `100 Continue`, for a caller that waits for it before sending a body.
enum Interim {
    None,
    /// To send when the body is first read; this much of it is sent.
    Wanted(usize),
    /// The answer has begun: too late for it, and for the body.
    Closed,
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl Wire {
    pub fn new(io: Box<dyn Io>, buf: BytesMut) -> Self {
        Self {
            io,
            buf,
            reading: Reading::Done,
            request: 0,
            interim: Interim::None,
        }
    }

    /// Begins a request whose body is framed as `framing`; its body.
    pub fn start(wire: &SharedWire, framing: BodyFraming, expect_continue: bool) -> RequestBody {
        let mut w = lock(wire);
        w.request += 1;
        w.reading = match framing {
            BodyFraming::Empty => Reading::Done,
            BodyFraming::Length(n) => Reading::Length(n),
            BodyFraming::Chunked => Reading::Chunked(Chunked::new()),
        };
        w.interim = if expect_continue {
            Interim::Wanted(0)
        } else {
            Interim::None
        };
        if framing == BodyFraming::Empty {
            return RequestBody::empty();
        }
        RequestBody(Inner::Http1 {
            wire: wire.clone(),
            request: w.request,
        })
    }

    /// The answer begins: no `100 Continue` from here on. Whether the body
    /// was read to its end, and the rest of a `100 Continue` that went out
    /// only in part (it must be finished before the answer's head).
    pub fn answering(&mut self) -> (bool, &'static [u8]) {
        let rest = match self.interim {
            Interim::Wanted(sent) if sent > 0 => CONTINUE.get(sent..).unwrap_or_default(),
            _ => &[],
        };
        self.interim = Interim::Closed;
        (matches!(self.reading, Reading::Done), rest)
    }

    /// Whether no body is being read (so the transport may read ahead).
    pub fn idle(&self) -> bool {
        matches!(self.reading, Reading::Done)
    }

    /// Reads what the connection has into the buffer, making room for
    /// `want` bytes. `Ok(0)`: the caller closed its side.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        fill(&mut self.io, &mut self.buf, cx, want)
    }
}

fn fill(
    io: &mut Box<dyn Io>,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
    want: usize,
) -> Poll<io::Result<usize>> {
    buf.reserve(want);
    tokio_util::io::poll_read_buf(Pin::new(io), cx, buf)
}

/// Locks the wire. Poisoning cannot leave it half-changed in a way that
/// matters: a panic mid-request ends the connection's task.
pub fn lock(wire: &SharedWire) -> MutexGuard<'_, Wire> {
    wire.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The caller's request body.
pub struct RequestBody(Inner);

enum Inner {
    Empty,
    Http1 { wire: SharedWire, request: u64 },
    Http2(Incoming),
}

impl RequestBody {
    /// A request without a body.
    pub fn empty() -> Self {
        Self(Inner::Empty)
    }

    /// An HTTP/2 stream's body.
    pub fn http2(body: Incoming) -> Self {
        Self(Inner::Http2(body))
    }
}

fn failed(kind: io::ErrorKind, why: &'static str) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
    Poll::Ready(Some(Err(io::Error::new(kind, why))))
}

fn poll_http1(
    wire: &SharedWire,
    request: u64,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
    let mut guard = lock(wire);
    let w = &mut *guard;
    if w.request != request {
        return failed(io::ErrorKind::Other, "the request is over");
    }
    match w.interim {
        Interim::None => {}
        Interim::Closed => {
            if !matches!(w.reading, Reading::Done) {
                // The answer went out first; the connection closes after it.
                w.reading = Reading::Failed;
            }
        }
        Interim::Wanted(mut sent) => {
            while sent < CONTINUE.len() {
                match ready!(Pin::new(&mut w.io).poll_write(cx, &CONTINUE[sent..])) {
                    Ok(0) => {
                        w.reading = Reading::Failed;
                        return failed(io::ErrorKind::WriteZero, "the caller's connection closed");
                    }
                    Ok(n) => {
                        sent += n;
                        w.interim = Interim::Wanted(sent);
                    }
                    Err(e) => {
                        w.reading = Reading::Failed;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
            if let Err(e) = ready!(Pin::new(&mut w.io).poll_flush(cx)) {
                w.reading = Reading::Failed;
                return Poll::Ready(Some(Err(e)));
            }
            w.interim = Interim::None;
        }
    }
    loop {
        match &mut w.reading {
            Reading::Done => return Poll::Ready(None),
            Reading::Failed => {
                return failed(io::ErrorKind::Other, "the request body was cut short");
            }
            Reading::Length(left) => {
                if let Some(data) = take_length(&mut w.buf, left) {
                    if *left == 0 {
                        w.reading = Reading::Done;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                let want = usize::try_from(*left).unwrap_or(usize::MAX).min(READ_MOST);
                match ready!(fill(&mut w.io, &mut w.buf, cx, want)) {
                    Ok(0) => {
                        w.reading = Reading::Failed;
                        return failed(
                            io::ErrorKind::UnexpectedEof,
                            "the caller closed before sending its Content-Length",
                        );
                    }
                    Ok(_) => {}
                    Err(e) => {
                        w.reading = Reading::Failed;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
            Reading::Chunked(chunked) => match chunked.decode(&mut w.buf) {
                Ok(Decoded::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(Decoded::End) => {
                    w.reading = Reading::Done;
                    return Poll::Ready(None);
                }
                Ok(Decoded::More) => match ready!(fill(&mut w.io, &mut w.buf, cx, READ_MOST)) {
                    Ok(0) => {
                        w.reading = Reading::Failed;
                        return failed(
                            io::ErrorKind::UnexpectedEof,
                            "the caller closed before its last chunk",
                        );
                    }
                    Ok(_) => {}
                    Err(e) => {
                        w.reading = Reading::Failed;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
                Err(e) => {
                    w.reading = Reading::Failed;
                    return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::InvalidData, e))));
                }
            },
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.get_mut().0 {
            Inner::Empty => Poll::Ready(None),
            Inner::Http1 { wire, request } => poll_http1(wire, *request, cx),
            Inner::Http2(body) => Pin::new(body).poll_frame(cx).map_err(io::Error::other),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::Empty => true,
            Inner::Http1 { wire, request } => {
                let w = lock(wire);
                w.request == *request && matches!(w.reading, Reading::Done)
            }
            Inner::Http2(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Empty => SizeHint::with_exact(0),
            Inner::Http1 { wire, request } => {
                let w = lock(wire);
                match w.reading {
                    _ if w.request != *request => SizeHint::default(),
                    Reading::Length(n) => SizeHint::with_exact(n),
                    Reading::Done => SizeHint::with_exact(0),
                    Reading::Chunked(_) | Reading::Failed => SizeHint::default(),
                }
            }
            Inner::Http2(body) => body.size_hint(),
        }
    }
}
