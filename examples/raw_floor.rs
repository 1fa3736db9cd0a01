//! The load bench's "raw floor": a reverse proxy that does nothing but
//! forward, like `hyper_floor`, but with a hand-written HTTP/1 layer
//! instead of hyper: `httparse` for the heads, one store connection per
//! caller connection (as nginx's keep-alive upstream cache ends up
//! using them), the request driven from the caller's own task, and every
//! head written in one `writev` with whatever body bytes came with it.
//!
//! It answers one question for issue 12: how much of the CPU a small
//! request costs through s3gate is the HTTP stack it chose, and what an
//! HTTP/1 layer of its own could save. `benches/load/run` runs it in the
//! floor's slot (`FLOOR_BIN`). It is a measuring stick, not a product:
//! bodies must have a `Content-Length` (a chunked one gets a 502 and the
//! connection closes), nothing is checked beyond what `httparse` checks,
//! no TLS, no limits, no graceful shutdown (it is killed by PID).
//!
//! usage: raw_floor LISTEN_ADDR UPSTREAM_URL   (e.g. 127.0.0.1:18083 http://127.0.0.1:18080)

use std::io::{self, IoSlice};
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// As in s3gate's binary: the allocator is part of the stack measured.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// hyper's first read buffer; heads larger than `MAX_HEAD` are refused.
const BUF: usize = 8192;
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;

struct Upstream {
    addr: SocketAddr,
    /// `host: …\r\n`, written into every forwarded head.
    host_line: Vec<u8>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: raw_floor LISTEN_ADDR UPSTREAM_URL");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse()?;
    let authority = upstream
        .strip_prefix("http://")
        .ok_or("UPSTREAM_URL must be http://HOST:PORT")?
        .trim_end_matches('/');
    let addr: SocketAddr = authority.parse()?;
    let upstream: &'static Upstream = Box::leak(Box::new(Upstream {
        addr,
        host_line: format!("host: {authority}\r\n").into_bytes(),
    }));

    // The same runtime choice as s3gate's: one CPU, one current thread.
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = connection(stream, upstream).await;
            });
        }
    })
}

/// A buffer that reads at its end and consumes from its front.
struct Buf {
    data: Vec<u8>,
    start: usize,
}

impl Buf {
    fn new() -> Self {
        Buf {
            data: Vec::with_capacity(BUF),
            start: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.data[self.start..]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }

    /// One read; `Ok(0)` is the peer's end.
    async fn fill(&mut self, from: &mut TcpStream) -> io::Result<usize> {
        if self.start > 0 && self.data.capacity() - self.data.len() < BUF / 2 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        if self.data.capacity() - self.data.len() < BUF / 2 {
            self.data.reserve(BUF);
        }
        from.read_buf(&mut self.data).await
    }
}

async fn connection(mut caller: TcpStream, upstream: &Upstream) -> io::Result<()> {
    let mut from_caller = Buf::new();
    let mut from_store = Buf::new();
    let mut head = Vec::with_capacity(1024);
    let mut store: Option<TcpStream> = None;
    loop {
        // The caller's head.
        let (head_len, body_len, close) = loop {
            if let Some(parsed) = request_head(from_caller.bytes(), upstream, &mut head)? {
                break parsed;
            }
            if from_caller.bytes().len() > MAX_HEAD {
                return Err(io::ErrorKind::InvalidData.into());
            }
            if from_caller.fill(&mut caller).await? == 0 {
                return Ok(());
            }
        };
        from_caller.consume(head_len);

        let store_conn = match &mut store {
            Some(s) => s,
            None => {
                let s = TcpStream::connect(upstream.addr).await?;
                s.set_nodelay(true)?;
                store.insert(s)
            }
        };

        // The head and whatever of the body came with it, in one write.
        let have = from_caller.bytes().len().min(body_len);
        write_two(store_conn, &head, &from_caller.bytes()[..have]).await?;
        from_caller.consume(have);
        relay(&mut from_caller, &mut caller, store_conn, body_len - have).await?;

        // The store's head.
        let (head_len, body_len, store_close) = loop {
            match response_head(from_store.bytes(), &mut head)? {
                Some(parsed) => break parsed,
                None if from_store.bytes().len() > MAX_HEAD => {
                    return Err(io::ErrorKind::InvalidData.into());
                }
                None => {
                    if from_store.fill(store_conn).await? == 0 {
                        caller
                            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                            .await?;
                        return Ok(());
                    }
                }
            }
        };
        from_store.consume(head_len);
        let have = from_store.bytes().len().min(body_len);
        write_two(&mut caller, &head, &from_store.bytes()[..have]).await?;
        from_store.consume(have);
        relay(&mut from_store, store_conn, &mut caller, body_len - have).await?;
        if store_close {
            store = None;
            from_store = Buf::new();
        }
        if close {
            return Ok(());
        }
    }
}

/// Parses the caller's head; on success writes the store's head into
/// `out` and gives (head length, body length, close after).
fn request_head(
    buf: &[u8],
    upstream: &Upstream,
    out: &mut Vec<u8>,
) -> io::Result<Option<(usize, usize, bool)>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(io::ErrorKind::InvalidData.into()),
    };
    let (Some(method), Some(path)) = (req.method, req.path) else {
        return Err(io::ErrorKind::InvalidData.into());
    };
    let mut close = req.version == Some(0);
    let mut body_len = 0;
    out.clear();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("host") {
            continue;
        }
        if h.name.eq_ignore_ascii_case("connection") {
            close |= h.value.eq_ignore_ascii_case(b"close");
            continue;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            body_len = length(h.value)?;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(io::ErrorKind::Unsupported.into());
        }
        header(out, h);
    }
    out.extend_from_slice(&upstream.host_line);
    out.extend_from_slice(b"\r\n");
    Ok(Some((n, body_len, close)))
}

/// Parses the store's head; on success writes the caller's head into
/// `out` and gives (head length, body length, store closes after).
fn response_head(buf: &[u8], out: &mut Vec<u8>) -> io::Result<Option<(usize, usize, bool)>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    let n = match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(io::ErrorKind::InvalidData.into()),
    };
    let code = res.code.unwrap_or(502);
    let mut body_len = None;
    let mut close = res.version == Some(0);
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(code).as_bytes());
    out.push(b' ');
    out.extend_from_slice(res.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in res.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            close |= h.value.eq_ignore_ascii_case(b"close");
            continue;
        }
        if h.name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            body_len = Some(length(h.value)?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(io::ErrorKind::Unsupported.into());
        }
        header(out, h);
    }
    out.extend_from_slice(b"\r\n");
    let body_len = match code {
        100..=199 | 204 | 304 => 0,
        _ => body_len.ok_or(io::ErrorKind::Unsupported)?,
    };
    Ok(Some((n, body_len, close)))
}

fn header(out: &mut Vec<u8>, h: &httparse::Header<'_>) {
    out.extend_from_slice(h.name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(h.value);
    out.extend_from_slice(b"\r\n");
}

fn length(value: &[u8]) -> io::Result<usize> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::ErrorKind::InvalidData.into())
}

/// Writes `a` then `b`, as one `writev` when the socket takes it all.
async fn write_two(to: &mut TcpStream, a: &[u8], b: &[u8]) -> io::Result<()> {
    let n = to
        .write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
        .await?;
    if n < a.len() {
        to.write_all(&a[n..]).await?;
        to.write_all(b).await
    } else {
        to.write_all(&b[n - a.len()..]).await
    }
}

/// Copies `left` more body bytes from `from` to `to`, through `buf`.
async fn relay(
    buf: &mut Buf,
    from: &mut TcpStream,
    to: &mut TcpStream,
    mut left: usize,
) -> io::Result<()> {
    while left > 0 {
        if buf.fill(from).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let n = buf.bytes().len().min(left);
        to.write_all(&buf.bytes()[..n]).await?;
        buf.consume(n);
        left -= n;
    }
    Ok(())
}
