//! HTTP/1.1 as s3gate reads it from a caller: the request head parsed with
//! `httparse` into `http`'s types, the request body's framing decided
//! (RFC 9112 §6.3), and the response head written. Pure: bytes in, bytes
//! out, no I/O, so every rule is unit-tested and fuzzed on its own;
//! `server::conn` drives it over the connection.
//!
//! The caller may be hostile, so nothing here guesses. Where a request
//! could be framed two ways (a length beside a transfer coding, two
//! lengths, a coding other than `chunked`, a coding in HTTP/1.0) it is
//! refused and the connection closes, since a front end that framed it the
//! other way would take the rest for a request of its own (smuggling).
//! Every size is bounded. The response's framing is decided here too, from
//! what the body says of itself, never from what the caller asked.
//!
//! Depends on `http`, `bytes`, `httparse` and the wire pieces both sides
//! share (`crate::http1`); knows nothing of S3.

use bytes::BytesMut;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version};

pub use crate::http1::BodyFraming;
use crate::http1::content_length;

/// What the transport holds a request head to.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// The most bytes a head (request line and headers) may take.
    pub max_bytes: usize,
    /// The most header lines it may carry.
    pub max_headers: usize,
}

/// The most header lines the parser makes room for, whatever the settings
/// say: past it a head is refused as too large.
const HEADER_ROOM: usize = 512;

/// A parsed request head.
#[derive(Debug)]
pub struct RequestHead {
    /// Method, target, version and headers; the body comes after.
    pub request: Request<()>,
    pub body: BodyFraming,
    /// Whether the caller will send another request on this connection
    /// (HTTP/1.1 unless it said `close`; HTTP/1.0 only if it said
    /// `keep-alive`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` with a body: the caller waits for `100
    /// Continue` before it sends the body.
    pub expect_continue: bool,
}

/// Why a request head is refused. The connection closes after the answer:
/// where the next request begins is not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not an HTTP/1.x request head.
    Malformed(&'static str),
    /// The head is larger than the limits allow.
    TooLarge,
    /// The head has more header lines than the limits allow.
    TooManyHeaders,
    /// The body's framing is ambiguous or invalid.
    Framing(&'static str),
    /// A transfer coding other than `chunked`.
    Coding,
    /// The head did not arrive within the header read timeout (the
    /// transport's verdict; the parser never returns it).
    Timeout,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed request: {why}"),
            Self::TooLarge => f.write_str("request head too large"),
            Self::TooManyHeaders => f.write_str("too many header lines"),
            Self::Framing(why) => write!(f, "request body framing refused: {why}"),
            Self::Coding => f.write_str("unsupported transfer coding"),
            Self::Timeout => f.write_str("request head not received in time"),
        }
    }
}

/// Parses a request head at the front of `buf`, consuming it.
/// `Ok(None)`: not all of it is there yet (and what is there is within the
/// limits).
pub fn parse_request_head(
    buf: &mut BytesMut,
    limits: HeadLimits,
) -> Result<Option<RequestHead>, Refusal> {
    #[cfg(test)]
    PARSES.with(|n| n.set(n.get() + 1));
    let room = limits.max_headers.min(HEADER_ROOM);
    // Offsets into the head are kept as u32.
    let max_bytes = limits.max_bytes.min(u32::MAX as usize);
    // Left uninitialised for httparse to fill: a head has a handful of
    // headers, and writing hundreds of empty ones first costs.
    let mut headers = [const { std::mem::MaybeUninit::uninit() }; HEADER_ROOM];
    let mut request = httparse::Request::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut request,
        buf,
        &mut headers[..room],
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > max_bytes => {
            return Err(Refusal::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::TooManyHeaders),
        Err(httparse::Error::Version) => return Err(Refusal::Malformed("not HTTP/1.x")),
        Err(_) => return Err(Refusal::Malformed("the request head does not parse")),
    };
    if len > max_bytes {
        return Err(Refusal::TooLarge);
    }
    // httparse takes a bare LF for a line's end, as RFC 9112 §2.2 allows;
    // a front end that does not would read the line after it as part of
    // this one's value (a `Transfer-Encoding` it never saw).
    if bare_lf(&buf[..len]) {
        return Err(Refusal::Malformed("a line ends in LF without CR"));
    }
    let http10 = request.version == Some(0);
    let method = Method::from_bytes(request.method.unwrap_or("").as_bytes())
        .map_err(|_| Refusal::Malformed("method"))?;
    // Where the target and each header lie in the head, so that the head
    // can be taken out of `buf` and the values share its bytes: one copy
    // of the head, not one per header. (Within the head, so u32 holds
    // them.)
    let base = buf.as_ptr() as usize;
    let span = |s: &[u8]| ((s.as_ptr() as usize - base) as u32, s.len() as u32);
    let target = span(request.path.unwrap_or("").as_bytes());
    let count = request.headers.len();
    let mut spans = Vec::with_capacity(count);
    for h in request.headers.iter() {
        let (name_at, name_len) = span(h.name.as_bytes());
        let (value_at, value_len) = span(h.value);
        spans.push([name_at, name_len, value_at, value_len]);
    }
    let head = buf.split_to(len).freeze();
    let slice = |at: u32, len: u32| {
        let (at, len) = (at as usize, len as usize);
        head.slice(at..at + len)
    };
    let uri = http::Uri::from_maybe_shared(slice(target.0, target.1))
        .map_err(|_| Refusal::Malformed("request target"))?;

    let mut keep_alive = !http10;
    let mut asked_keep_alive = false;
    let mut expect_continue = false;
    let mut length: Option<u64> = None;
    let mut coding: Option<bool> = None; // Some(exactly "chunked")
    let mut map = HeaderMap::with_capacity(count);
    for [name_at, name_len, value_at, value_len] in spans {
        let name = HeaderName::from_bytes(&slice(name_at, name_len))
            .map_err(|_| Refusal::Malformed("header name"))?;
        let value = slice(value_at, value_len);
        if name == http::header::CONTENT_LENGTH {
            // Two lengths, even equal ones, are refused: a front end that
            // kept the other one frames the body otherwise.
            if length.is_some() {
                return Err(Refusal::Framing("more than one Content-Length"));
            }
            length = Some(
                content_length(&value).map_err(|_| Refusal::Framing("invalid Content-Length"))?,
            );
        } else if name == http::header::TRANSFER_ENCODING {
            // Only `Transfer-Encoding: chunked`, once: a list, a second
            // header or another coding is read differently by different
            // parsers.
            if coding.is_some() {
                return Err(Refusal::Framing("more than one Transfer-Encoding"));
            }
            coding = Some(value.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name == http::header::CONNECTION {
            for token in value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    asked_keep_alive = true;
                }
            }
        } else if name == http::header::EXPECT {
            expect_continue = value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
        let value = HeaderValue::from_maybe_shared(value)
            .map_err(|_| Refusal::Malformed("header value"))?;
        map.append(name, value);
    }
    if http10 && asked_keep_alive && !map.get_all(http::header::CONNECTION).iter().any(closes) {
        keep_alive = true;
    }
    let body = match (coding, length) {
        (Some(_), Some(_)) => {
            return Err(Refusal::Framing(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        (Some(_), None) if http10 => {
            return Err(Refusal::Framing("Transfer-Encoding in HTTP/1.0"));
        }
        (Some(false), None) => return Err(Refusal::Coding),
        (Some(true), None) => BodyFraming::Chunked,
        (None, Some(0) | None) => BodyFraming::Empty,
        (None, Some(n)) => BodyFraming::Length(n),
    };
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = if http10 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    *request.headers_mut() = map;
    Ok(Some(RequestHead {
        request,
        body,
        keep_alive,
        expect_continue: expect_continue && !http10 && body != BodyFraming::Empty,
    }))
}

/// Whether `buf` may hold a whole head: a blank line (`\n\n` or
/// `\n\r\n`) ends in it after `from`, the length already searched. A head
/// trickled in a byte at a time is then parsed once, when it can be
/// whole, not once a byte (which made each byte cost a parse of all
/// before it: a slow caller's CPU multiplied by the head's size).
pub fn may_be_whole(buf: &[u8], from: usize) -> bool {
    let from = from.saturating_sub(2).min(buf.len());
    memchr::memchr_iter(b'\n', &buf[from..]).any(|lf| {
        let rest = &buf[from + lf + 1..];
        rest.starts_with(b"\n") || rest.starts_with(b"\r\n")
    })
}

#[cfg(test)]
thread_local! {
    /// How many times this thread ran the parser (tests count them).
    pub static PARSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether some LF in `head` has no CR before it. (memchr: a head is
/// hundreds of bytes and a handful of lines; a byte loop showed as 3,400
/// instructions a request.)
fn bare_lf(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|lf| lf == 0 || head[lf - 1] != b'\r')
}

fn closes(value: &HeaderValue) -> bool {
    value
        .as_bytes()
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
}

/// Whether a response with `status`, to a request with `method`, carries a
/// body on the wire.
pub fn has_body(method: &Method, status: StatusCode) -> bool {
    !(*method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

/// How a response's body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body on the wire (HEAD, 204, 304): the headers are written as
    /// given, since they describe the resource.
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes: an HTTP/1.0 caller and a body of
    /// unknown length.
    UntilClose,
}

/// Decides a response's framing: a `Content-Length` the handler set (its
/// body is then held to it), else the body's exact length, else chunked
/// (or, for HTTP/1.0, until the close).
pub fn response_framing(
    has_body: bool,
    headers: &HeaderMap,
    exact: Option<u64>,
    version: Version,
) -> ResponseFraming {
    if !has_body {
        return ResponseFraming::None;
    }
    let given = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| content_length(v.as_bytes()).ok());
    match given.or(exact) {
        Some(n) => ResponseFraming::Length(n),
        None if version == Version::HTTP_10 => ResponseFraming::UntilClose,
        None => ResponseFraming::Chunked,
    }
}

/// Writes a response head into `out`: the status line, the handler's
/// headers except the ones that frame the message or manage the
/// connection (this side decides those), then the framing, the
/// connection's fate and `date` (unless the handler gave one).
pub fn write_response_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    framing: ResponseFraming,
    connection: Connection,
    date: &[u8],
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut dated = false;
    // Without a body on the wire the handler's length describes the
    // resource (HEAD, 304) and goes out once; a 204 or 1xx has none.
    let mut length_written = framing != ResponseFraming::None
        || status == StatusCode::NO_CONTENT
        || status.is_informational();
    for (name, value) in headers {
        if *name == http::header::TRANSFER_ENCODING || *name == http::header::CONNECTION {
            continue;
        }
        if *name == http::header::CONTENT_LENGTH {
            if length_written {
                continue;
            }
            length_written = true;
        }
        dated |= *name == http::header::DATE;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        ResponseFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        ResponseFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        ResponseFraming::None | ResponseFraming::UntilClose => {}
    }
    match connection {
        Connection::Close => out.extend_from_slice(b"connection: close\r\n"),
        Connection::KeepAlive10 => out.extend_from_slice(b"connection: keep-alive\r\n"),
        Connection::KeepAlive => {}
    }
    if !dated {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// What the response says of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// HTTP/1.1's default: nothing to say.
    KeepAlive,
    /// An HTTP/1.0 caller that asked to keep it: say it is kept.
    KeepAlive10,
    Close,
}

/// Whether the handler's response asks for the connection to close.
pub fn response_closes(headers: &HeaderMap) -> bool {
    headers.get_all(http::header::CONNECTION).iter().any(closes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_bytes: 4096,
        max_headers: 20,
    };

    fn parse(raw: &str) -> Result<Option<RequestHead>, Refusal> {
        parse_request_head(&mut BytesMut::from(raw), LIMITS)
    }

    fn parsed(raw: &str) -> RequestHead {
        parse(raw).unwrap().unwrap()
    }

    #[test]
    fn a_request_head_is_parsed_and_consumed_leaving_what_follows() {
        let mut buf = BytesMut::from(
            "PUT /b/k?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhelloGET",
        );
        let head = parse_request_head(&mut buf, LIMITS).unwrap().unwrap();
        assert_eq!(&buf[..], b"helloGET");
        assert_eq!(head.request.method(), Method::PUT);
        assert_eq!(head.request.uri().path(), "/b/k");
        assert_eq!(head.request.uri().query(), Some("x=1"));
        assert_eq!(head.request.version(), Version::HTTP_11);
        assert_eq!(head.body, BodyFraming::Length(5));
        assert!(head.keep_alive);
        let a: Vec<_> = head.request.headers().get_all("x-a").iter().collect();
        assert_eq!(a, ["1", "2"]);
    }

    #[test]
    fn a_partial_head_consumes_nothing() {
        let raw = "GET / HTTP/1.1\r\nHost: h\r\n";
        let mut buf = BytesMut::from(raw);
        assert!(parse_request_head(&mut buf, LIMITS).unwrap().is_none());
        assert_eq!(&buf[..], raw.as_bytes());
    }

    #[test]
    fn framing_follows_the_headers_and_nothing_ambiguous_passes() {
        assert_eq!(parsed("GET / HTTP/1.1\r\n\r\n").body, BodyFraming::Empty);
        assert_eq!(
            parsed("PUT / HTTP/1.1\r\ncontent-length: 0\r\n\r\n").body,
            BodyFraming::Empty
        );
        assert_eq!(
            parsed("PUT / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n").body,
            BodyFraming::Chunked
        );
        for raw in [
            "PUT / HTTP/1.1\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n",
            "PUT / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n",
            "PUT / HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\n",
            "PUT / HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n",
            "PUT / HTTP/1.1\r\ncontent-length: 5, 5\r\n\r\n",
            "PUT / HTTP/1.1\r\ncontent-length: -1\r\n\r\n",
            "PUT / HTTP/1.1\r\ncontent-length: 0x10\r\n\r\n",
            "PUT / HTTP/1.1\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n",
            "PUT / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n",
        ] {
            assert!(
                matches!(parse(raw), Err(Refusal::Framing(_))),
                "{raw:?}: {:?}",
                parse(raw)
            );
        }
        for raw in [
            "PUT / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
            "PUT / HTTP/1.1\r\ntransfer-encoding: chunked, identity\r\n\r\n",
            "PUT / HTTP/1.1\r\ntransfer-encoding: identity\r\n\r\n",
            "PUT / HTTP/1.1\r\ntransfer-encoding: xchunked\r\n\r\n",
        ] {
            assert_eq!(parse(raw).unwrap_err(), Refusal::Coding, "{raw:?}");
        }
    }

    #[test]
    fn keep_alive_follows_the_version_and_the_connection_header() {
        assert!(parsed("GET / HTTP/1.1\r\n\r\n").keep_alive);
        assert!(!parsed("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive);
        assert!(!parsed("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
        assert!(!parsed("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(parsed("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(
            !parsed("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n")
                .keep_alive
        );
    }

    #[test]
    fn expect_continue_counts_only_with_a_body_in_http11() {
        let with = "PUT / HTTP/1.1\r\nExpect: 100-Continue\r\ncontent-length: 3\r\n\r\n";
        assert!(parsed(with).expect_continue);
        assert!(!parsed("GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").expect_continue);
        let old = "PUT / HTTP/1.0\r\nExpect: 100-continue\r\ncontent-length: 3\r\n\r\n";
        assert!(!parsed(old).expect_continue);
    }

    #[test]
    fn heads_past_the_limits_or_not_http1_are_refused() {
        let many: String = (0..21).map(|i| format!("x-{i}: v\r\n")).collect();
        assert_eq!(
            parse(&format!("GET / HTTP/1.1\r\n{many}\r\n")).unwrap_err(),
            Refusal::TooManyHeaders
        );
        let long = format!("GET / HTTP/1.1\r\nx: {}\r\n\r\n", "v".repeat(5000));
        assert_eq!(parse(&long).unwrap_err(), Refusal::TooLarge);
        // Too large before it is even complete.
        let partial = format!("GET / HTTP/1.1\r\nx: {}", "v".repeat(5000));
        assert_eq!(parse(&partial).unwrap_err(), Refusal::TooLarge);
        for raw in [
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET / HTTP/1.1\r\nbad header\r\n\r\n",
            "GET / HTTP/1.1\r\nx : y\r\n\r\n",
            "GET / HTTP/1.1\r\nx: a\r\n b\r\n\r\n",
            "GET\x01 / HTTP/1.1\r\n\r\n",
            "GET /a b HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nx: a\x00b\r\n\r\n",
            "\x16\x03\x01\x02\x00\x01\x00\x01\x7c\x03\x03",
            "GET / HTTP/1.1\nhost: x\r\n\r\n",
            "GET / HTTP/1.1\r\nx: a\ntransfer-encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nhost: x\r\n\n",
            // A bare CR is no line end either, in a value or the target.
            "GET / HTTP/1.1\r\nx: a\rtransfer-encoding: chunked\r\n\r\n",
            "GET /a\rb HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\rhost: x\r\n\r\n",
        ] {
            assert!(
                matches!(parse(raw), Err(Refusal::Malformed(_))),
                "{raw:?}: {:?}",
                parse(raw)
            );
        }
    }

    #[test]
    fn a_head_may_be_whole_only_once_a_blank_line_ends() {
        let whole = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
        for cut in 0..whole.len() {
            assert!(!may_be_whole(&whole[..cut], 0), "{cut}");
        }
        // Whatever was searched before, the last byte's arrival finds it.
        for from in 0..whole.len() {
            assert!(may_be_whole(whole, from), "{from}");
        }
        assert!(may_be_whole(b"GET / HTTP/1.1\nhost: x\n\n", 0));
        assert!(may_be_whole(b"GET / HTTP/1.1\r\nhost: x\n\r\n", 0));
    }

    fn head(
        status: StatusCode,
        headers: &[(&str, &str)],
        framing: ResponseFraming,
        c: Connection,
    ) -> String {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let mut out = Vec::new();
        write_response_head(&mut out, status, &map, framing, c, b"D");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_response_head_frames_itself_and_drops_the_handlers_framing() {
        let h = head(
            StatusCode::OK,
            &[
                ("x-amz-request-id", "r"),
                ("transfer-encoding", "chunked"),
                ("connection", "close"),
                ("content-length", "7"),
            ],
            ResponseFraming::Length(7),
            Connection::KeepAlive,
        );
        assert_eq!(
            h,
            "HTTP/1.1 200 OK\r\nx-amz-request-id: r\r\ncontent-length: 7\r\ndate: D\r\n\r\n"
        );
        let h = head(
            StatusCode::NOT_FOUND,
            &[("date", "X")],
            ResponseFraming::Chunked,
            Connection::Close,
        );
        assert_eq!(
            h,
            "HTTP/1.1 404 Not Found\r\ndate: X\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        );
        // A HEAD answer keeps the length that describes the object.
        let h = head(
            StatusCode::OK,
            &[("content-length", "99")],
            ResponseFraming::None,
            Connection::KeepAlive10,
        );
        assert_eq!(
            h,
            "HTTP/1.1 200 OK\r\ncontent-length: 99\r\nconnection: keep-alive\r\ndate: D\r\n\r\n"
        );
        // Once only; and never on a 204.
        let h = head(
            StatusCode::NOT_MODIFIED,
            &[("content-length", "99"), ("content-length", "99")],
            ResponseFraming::None,
            Connection::KeepAlive,
        );
        assert_eq!(h.matches("content-length").count(), 1, "{h}");
        let h = head(
            StatusCode::NO_CONTENT,
            &[("content-length", "0")],
            ResponseFraming::None,
            Connection::KeepAlive,
        );
        assert!(!h.contains("content-length"), "{h}");
    }

    #[test]
    fn response_framing_prefers_the_given_length_then_the_bodys() {
        let mut given = HeaderMap::new();
        given.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("10"));
        let none = HeaderMap::new();
        let v11 = Version::HTTP_11;
        assert_eq!(
            response_framing(true, &given, Some(3), v11),
            ResponseFraming::Length(10)
        );
        assert_eq!(
            response_framing(true, &none, Some(3), v11),
            ResponseFraming::Length(3)
        );
        assert_eq!(
            response_framing(true, &none, None, v11),
            ResponseFraming::Chunked
        );
        assert_eq!(
            response_framing(true, &none, None, Version::HTTP_10),
            ResponseFraming::UntilClose
        );
        assert_eq!(
            response_framing(false, &given, None, v11),
            ResponseFraming::None
        );
        assert!(!has_body(&Method::HEAD, StatusCode::OK));
        assert!(!has_body(&Method::GET, StatusCode::NOT_MODIFIED));
        assert!(has_body(&Method::GET, StatusCode::OK));
    }
}
