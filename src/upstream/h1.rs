//! HTTP/1.1 as s3gate speaks it to a store: the request head written
//! straight from the signed head's parts, the response head parsed with
//! `httparse` into `http`'s types, and the response body's framing
//! (RFC 9112 §6) decoded. Pure: bytes in, bytes out, no I/O, so every
//! part is unit-tested and fuzzed on its own; `pool` drives it over the
//! connection.
//!
//! Only the store speaks to this parser, but a store (or whatever sits in
//! front of one) can be wrong, so every length is bounded and anything
//! ambiguous — two lengths, a length beside a transfer coding, a chunk
//! size that overflows — is an error or ends the connection's reuse,
//! never a guess.
//!
//! Depends on `http`, `bytes`, `httparse` and the wire pieces both sides
//! share (`crate::http1`); knows nothing of S3.

use bytes::{Buf as _, BytesMut};

pub use crate::http1::{Chunked, Decoded, chunk_header};
use crate::http1::{FramingError, content_length};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};

/// The most a response head may take. S3's heads are a few hundred bytes
/// (user metadata is capped at 2 KB); hyper's client allowed ~400 KB.
pub const MAX_HEAD: usize = 64 * 1024;

/// The most headers a response head may carry (hyper's client default).
const MAX_HEADERS: usize = 100;

/// What the store sent that is not HTTP/1.1 as this client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum H1Error {
    /// The head did not parse.
    Parse(httparse::Error),
    /// A status or header httparse let through that `http` refuses.
    Head(&'static str),
    /// The head is larger than [`MAX_HEAD`] or has too many headers.
    HeadTooLarge,
    /// A `Content-Length` that is not a number, or two that differ.
    Length,
    /// `101 Switching Protocols`: nothing s3gate asks for upgrades.
    Upgrade,
    /// A chunked body's framing is broken.
    Chunk(&'static str),
    /// s3gate's own request: its headers frame the body otherwise than the
    /// body that is sent.
    RequestFraming,
    /// s3gate's own request: the body sent is longer or shorter than the
    /// length its head announced.
    BodyLength,
}

impl std::fmt::Display for H1Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Parse(e) => write!(f, "the store's response head is malformed: {e}"),
            Self::Head(why) => write!(f, "the store's response head is malformed: {why}"),
            Self::HeadTooLarge => write!(f, "the store's response head is too large"),
            Self::Length => write!(f, "the store's response has an invalid Content-Length"),
            Self::Upgrade => write!(f, "the store switched protocols unasked"),
            Self::Chunk(why) => write!(f, "the store's chunked body is malformed: {why}"),
            Self::RequestFraming => {
                write!(
                    f,
                    "the request's headers frame its body otherwise than it is sent"
                )
            }
            Self::BodyLength => write!(f, "the request's body does not match its Content-Length"),
        }
    }
}

impl std::error::Error for H1Error {}

impl From<FramingError> for H1Error {
    fn from(e: FramingError) -> Self {
        Self::Chunk(e.0)
    }
}

/// How the request's body is framed on the wire: decided by the body
/// that is sent, never by the headers alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFraming {
    /// A body of this many bytes (0: none).
    Length(u64),
    /// A body of unknown length: `Transfer-Encoding: chunked`.
    Chunked,
}

/// Writes a request head into `out`: `path_and_query` in origin form and
/// the headers as they are (`http`'s types have already refused CR, LF
/// and anything else that could end a line early), framed as `framing`
/// says. The headers' own framing must agree with it: a `Content-Length`
/// other than the body's (it may be signed, so it is checked, not
/// rewritten), a length beside a chunked body, or any
/// `Transfer-Encoding` is an error, since the store would read the body
/// by it and take what is left for the next request on the connection.
/// A body's length the headers do not give is written here.
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    framing: RequestFraming,
) -> Result<(), H1Error> {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut length_given = false;
    for (name, value) in headers {
        if *name == http::header::CONTENT_LENGTH {
            match framing {
                RequestFraming::Length(n) if content_length(value.as_bytes()) == Ok(n) => {}
                _ => return Err(H1Error::RequestFraming),
            }
            length_given = true;
        } else if *name == http::header::TRANSFER_ENCODING {
            return Err(H1Error::RequestFraming);
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        RequestFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        RequestFraming::Length(n) if n > 0 && !length_given => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        RequestFraming::Length(_) => {}
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// How the response's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (a HEAD's answer, 1xx, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Read until the store closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// Whether the connection may carry another request once this
    /// response's body has been read to its end.
    pub keep_alive: bool,
}

/// Parses a response head at the front of `buf`, consuming it (and any
/// interim 1xx heads before it). `Ok(None)`: not all of it is there yet.
pub fn parse_response_head(
    buf: &mut BytesMut,
    method: &Method,
) -> Result<Option<ResponseHead>, H1Error> {
    loop {
        // Left uninitialised for httparse to fill: a head has a handful
        // of headers, and writing all 100 empty ones first showed in the
        // profile.
        let mut headers = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            buf,
            &mut headers,
        );
        let len = match parsed {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(H1Error::HeadTooLarge);
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(H1Error::HeadTooLarge),
            Err(e) => return Err(H1Error::Parse(e)),
        };
        if len > MAX_HEAD {
            return Err(H1Error::HeadTooLarge);
        }
        let code = response.code.unwrap_or(0);
        let status = StatusCode::from_u16(code).map_err(|_| H1Error::Head("status code"))?;
        if code == 101 {
            return Err(H1Error::Upgrade);
        }
        if status.is_informational() {
            // 100 Continue and the like: the answer comes after.
            buf.advance(len);
            continue;
        }
        let http10 = response.version == Some(0);
        let version = if http10 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        // Where each header lies in the head, so that the head can be
        // taken out of `buf` and its values share its bytes, as hyper's
        // did: one copy of the head, not one per header.
        let base = buf.as_ptr() as usize;
        // (Within the head, so within MAX_HEAD: u32 holds them.)
        let mut spans = [[0u32; 4]; MAX_HEADERS];
        let count = response.headers.len();
        for (span, h) in spans.iter_mut().zip(response.headers.iter()) {
            *span = [
                (h.name.as_ptr() as usize - base) as u32,
                h.name.len() as u32,
                (h.value.as_ptr() as usize - base) as u32,
                h.value.len() as u32,
            ];
        }
        let head = buf.split_to(len).freeze();
        let mut keep_alive = !http10;
        let mut length: Option<u64> = None;
        let mut transfer: Option<bool> = None; // Some(chunked last)
        let mut map = HeaderMap::with_capacity(count);
        for &[name_at, name_len, value_at, value_len] in &spans[..count] {
            let (name_at, name_len) = (name_at as usize, name_len as usize);
            let (value_at, value_len) = (value_at as usize, value_len as usize);
            let name = head
                .get(name_at..name_at + name_len)
                .ok_or(H1Error::Head("header name"))?;
            let value = head
                .get(value_at..value_at + value_len)
                .ok_or(H1Error::Head("header value"))?;
            let name = HeaderName::from_bytes(name).map_err(|_| H1Error::Head("header name"))?;
            if name == http::header::CONTENT_LENGTH {
                let n = content_length(value).map_err(|_| H1Error::Length)?;
                if length.is_some_and(|l| l != n) {
                    return Err(H1Error::Length);
                }
                length = Some(n);
            } else if name == http::header::TRANSFER_ENCODING {
                // Only the last coding says how the body ends.
                let last = value.rsplit(|b| *b == b',').next().unwrap_or(b"");
                transfer = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if name == http::header::CONNECTION {
                for token in value.split(|b| *b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        keep_alive = false;
                    } else if http10 && token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive = true;
                    }
                }
            }
            let value = HeaderValue::from_maybe_shared(head.slice(value_at..value_at + value_len))
                .map_err(|_| H1Error::Head("header value"))?;
            map.append(name, value);
        }
        let no_body = *method == Method::HEAD
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let framing = if no_body {
            Framing::Empty
        } else {
            match (transfer, length) {
                (Some(true), None) => Framing::Chunked,
                // A length beside a transfer coding is how requests are
                // smuggled: read it as the coding says, and never reuse
                // the connection (RFC 9112 §6.3).
                (Some(true), Some(_)) => {
                    keep_alive = false;
                    Framing::Chunked
                }
                (Some(false), _) | (None, None) => {
                    keep_alive = false;
                    Framing::UntilClose
                }
                (None, Some(0)) => Framing::Empty,
                (None, Some(n)) => Framing::Length(n),
            }
        };
        return Ok(Some(ResponseHead {
            status,
            version,
            headers: map,
            framing,
            keep_alive,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str, method: Method) -> Result<Option<ResponseHead>, H1Error> {
        parse_response_head(&mut BytesMut::from(raw), &method)
    }

    fn parsed(raw: &str, method: Method) -> ResponseHead {
        head(raw, method).unwrap().expect("a whole head")
    }

    #[test]
    fn request_head_is_written_in_origin_form() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("s3.example"));
        headers.insert("x-amz-date", HeaderValue::from_static("20261206T000000Z"));
        let mut out = Vec::new();
        write_request_head(
            &mut out,
            &Method::PUT,
            "/b/k?uploads",
            &headers,
            RequestFraming::Chunked,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "PUT /b/k?uploads HTTP/1.1\r\nhost: s3.example\r\nx-amz-date: 20261206T000000Z\r\n\
             transfer-encoding: chunked\r\n\r\n"
        );
    }

    fn head_for(headers: &[(&str, &str)], framing: RequestFraming) -> Result<String, H1Error> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let mut out = Vec::new();
        write_request_head(&mut out, &Method::PUT, "/b/k", &map, framing)?;
        Ok(String::from_utf8(out).unwrap())
    }

    /// The body sent decides the framing: a length the headers leave out
    /// is written, one they give must be the body's, and no header may
    /// frame it otherwise (the store would take the rest of the body for
    /// the next request on the connection).
    #[test]
    fn the_request_head_frames_the_body_that_is_sent() {
        assert_eq!(
            head_for(&[("host", "s")], RequestFraming::Length(5)).unwrap(),
            "PUT /b/k HTTP/1.1\r\nhost: s\r\ncontent-length: 5\r\n\r\n"
        );
        assert_eq!(
            head_for(&[("content-length", "5")], RequestFraming::Length(5)).unwrap(),
            "PUT /b/k HTTP/1.1\r\ncontent-length: 5\r\n\r\n"
        );
        assert_eq!(
            head_for(&[("content-length", "0")], RequestFraming::Length(0)).unwrap(),
            "PUT /b/k HTTP/1.1\r\ncontent-length: 0\r\n\r\n"
        );
        assert_eq!(
            head_for(&[], RequestFraming::Length(0)).unwrap(),
            "PUT /b/k HTTP/1.1\r\n\r\n"
        );
        for (headers, framing) in [
            (&[("content-length", "4")][..], RequestFraming::Length(5)),
            (
                &[("content-length", "5"), ("content-length", "5")][..],
                RequestFraming::Length(0),
            ),
            (&[("content-length", "5")][..], RequestFraming::Chunked),
            (&[("content-length", "0")][..], RequestFraming::Chunked),
            (
                &[("transfer-encoding", "chunked")][..],
                RequestFraming::Chunked,
            ),
            (
                &[("transfer-encoding", "gzip")][..],
                RequestFraming::Length(5),
            ),
        ] {
            assert_eq!(
                head_for(headers, framing),
                Err(H1Error::RequestFraming),
                "{headers:?} {framing:?}"
            );
        }
    }

    #[test]
    fn a_length_delimited_response_keeps_the_connection() {
        let mut buf = BytesMut::from(
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Amz-Request-Id: r1\r\n\r\nbody",
        );
        let h = parse_response_head(&mut buf, &Method::GET)
            .unwrap()
            .unwrap();
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.framing, Framing::Length(4));
        assert!(h.keep_alive);
        assert_eq!(h.headers["x-amz-request-id"], "r1");
        assert_eq!(&buf[..], b"body");
    }

    #[test]
    fn a_partial_head_asks_for_more_and_consumes_nothing() {
        let partial = "HTTP/1.1 200 OK\r\nContent-Len";
        let mut buf = BytesMut::from(partial);
        assert!(
            parse_response_head(&mut buf, &Method::GET)
                .unwrap()
                .is_none()
        );
        assert_eq!(&buf[..], partial.as_bytes());
    }

    #[test]
    fn interim_responses_are_skipped() {
        let h = parsed(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            Method::PUT,
        );
        assert_eq!(h.status, StatusCode::NO_CONTENT);
        assert_eq!(h.framing, Framing::Empty);
    }

    #[test]
    fn a_head_request_has_no_body_whatever_its_length_says() {
        let h = parsed(
            "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
            Method::HEAD,
        );
        assert_eq!(h.framing, Framing::Empty);
        assert!(h.keep_alive);
    }

    #[test]
    fn a_length_beside_chunked_is_read_as_chunked_and_ends_reuse() {
        let h = parsed(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::GET,
        );
        assert_eq!(h.framing, Framing::Chunked);
        assert!(!h.keep_alive);
    }

    #[test]
    fn two_different_lengths_are_an_error() {
        assert_eq!(
            head(
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                Method::GET
            )
            .unwrap_err(),
            H1Error::Length
        );
        for bad in ["-1", "1e3", "", "0x10", "99999999999999999999"] {
            let raw = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n");
            assert!(head(&raw, Method::GET).is_err(), "{bad}");
        }
    }

    #[test]
    fn without_a_length_the_body_runs_to_the_close() {
        let h = parsed("HTTP/1.1 200 OK\r\n\r\n", Method::GET);
        assert_eq!(h.framing, Framing::UntilClose);
        assert!(!h.keep_alive);
        let h = parsed(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            Method::GET,
        );
        assert_eq!(h.framing, Framing::UntilClose);
    }

    #[test]
    fn connection_close_and_http10_end_reuse() {
        let h = parsed(
            "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n",
            Method::GET,
        );
        assert!(!h.keep_alive);
        let h = parsed("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", Method::GET);
        assert!(!h.keep_alive);
        let h = parsed(
            "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
            Method::GET,
        );
        assert!(h.keep_alive);
    }

    #[test]
    fn oversized_heads_and_upgrades_are_refused() {
        let mut raw = String::from("HTTP/1.1 200 OK\r\n");
        while raw.len() <= MAX_HEAD {
            raw.push_str("x-amz-meta-a: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n");
        }
        assert_eq!(head(&raw, Method::GET).unwrap_err(), H1Error::HeadTooLarge);
        assert_eq!(
            head(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
                Method::GET
            )
            .unwrap_err(),
            H1Error::Upgrade
        );
        assert!(matches!(
            head("HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", Method::GET),
            Err(H1Error::Parse(_))
        ));
    }
}
