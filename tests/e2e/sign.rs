//! Hand-crafted S3 requests: the forms no stock client sends here (or not
//! on demand), and the broken ones a refusal test needs.
//!
//! Header and presigned signatures come from the `aws-sigv4` crate; the
//! `aws-chunked` bodies (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`,
//! `STREAMING-UNSIGNED-PAYLOAD-TRAILER`) and their chunk signatures are built
//! here, following
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html> and
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html>.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use crate::common::client::{Request, Response, send, xml_tag};
use crate::harness::{Creds, REGION, sha256_hex};

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// How the payload is declared in `x-amz-content-sha256`.
pub enum Payload<'a> {
    /// The hex SHA-256 of these bytes (which need not be the bytes sent).
    Hash(&'a [u8]),
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// Any literal value (the streaming forms).
    Literal(&'a str),
}

/// Signing knobs for [`signed`].
pub struct Signing<'a> {
    pub creds: &'a Creds,
    pub time: SystemTime,
    /// `Some` presigns into the query string, valid this long.
    pub presign: Option<Duration>,
}

impl<'a> Signing<'a> {
    pub fn now(creds: &'a Creds) -> Self {
        Signing {
            creds,
            time: SystemTime::now(),
            presign: None,
        }
    }
}

/// Signs a request the way an S3 SDK does (no path normalisation, single
/// percent-encoding, `x-amz-content-sha256` header) and returns it with the
/// signature.
pub fn signed(
    s: &Signing<'_>,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    payload: Payload<'_>,
    body: Vec<u8>,
) -> (Request, String) {
    signed_in(s, REGION, method, url, headers, payload, body)
}

/// A GET of `url`, header-signed, with an empty signed payload.
pub fn signed_get(creds: &Creds, url: &str) -> Request {
    signed(
        &Signing::now(creds),
        "GET",
        url,
        &[],
        Payload::Hash(b""),
        Vec::new(),
    )
    .0
}

/// [`signed`], with the credential scope naming `region`.
pub fn signed_in(
    s: &Signing<'_>,
    region: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    payload: Payload<'_>,
    body: Vec<u8>,
) -> (Request, String) {
    let identity = aws_credential_types::Credentials::new(
        &s.creds.access_key_id,
        &s.creds.secret_access_key,
        s.creds.session_token.clone(),
        None,
        "e2e",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    if let Some(expires) = s.presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
    } else {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(s.time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable_body = match payload {
        Payload::Hash(bytes) => SignableBody::Precomputed(sha256_hex(bytes)),
        Payload::Unsigned => SignableBody::UnsignedPayload,
        Payload::Literal(v) => SignableBody::Precomputed(v.to_owned()),
    };
    let signable =
        SignableRequest::new(method, url, headers.iter().copied(), signable_body).unwrap();
    let (instructions, signature) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    (
        Request {
            method: method.to_owned(),
            url: req.uri().to_string(),
            headers,
            body,
        },
        signature,
    )
}

/// Sends on the harness runtime.
pub fn send_blocking(req: Request) -> Response {
    crate::harness::harness().block_on(send(req))
}

// ---------------------------------------------------------------------------
// aws-chunked bodies.

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The SigV4 signing key for `date` (`YYYYMMDD`).
fn signing_key(secret: &str, date: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, REGION.as_bytes());
    let k = hmac(&k, b"s3");
    hmac(&k, b"aws4_request")
}

fn amz_date(time: SystemTime) -> String {
    let t = time::OffsetDateTime::from(time);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The CRC-32 (ISO-HDLC) of `data`, base64 as in `x-amz-checksum-crc32`.
pub fn crc32_base64(data: &[u8]) -> String {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    base64::engine::general_purpose::STANDARD.encode((!c).to_be_bytes())
}

/// The streaming upload forms.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Streaming {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: every chunk signed.
    Signed,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a
    /// signed CRC-32 trailer.
    SignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: plain chunks, CRC-32 trailer.
    UnsignedTrailer,
}

impl Streaming {
    fn content_sha256(self) -> &'static str {
        match self {
            Streaming::Signed => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            Streaming::SignedTrailer => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            Streaming::UnsignedTrailer => "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        }
    }
}

/// A PUT of `data` as an `aws-chunked` body in `chunk`-sized chunks.
/// `tamper` flips one byte of the data (by offset) *after* signing, as a
/// corrupting network or a forging middlebox would.
pub fn streaming_put(
    creds: &Creds,
    url: &str,
    data: &[u8],
    chunk: usize,
    form: Streaming,
    tamper: Option<usize>,
) -> Request {
    let time = SystemTime::now();
    let decoded_len = data.len().to_string();
    let mut headers = vec![
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", decoded_len.as_str()),
    ];
    if form != Streaming::Signed {
        headers.push(("x-amz-trailer", "x-amz-checksum-crc32"));
    }
    let (mut req, seed) = signed(
        &Signing {
            creds,
            time,
            presign: None,
        },
        "PUT",
        url,
        &headers,
        Payload::Literal(form.content_sha256()),
        Vec::new(),
    );
    let date_time = amz_date(time);
    let date = &date_time[..8];
    let scope = format!("{date}/{REGION}/s3/aws4_request");
    let key = signing_key(&creds.secret_access_key, date);
    let chunk_sig = |prev: &str, piece: &[u8]| {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{date_time}\n{scope}\n{prev}\n{EMPTY_SHA256}\n{}",
            sha256_hex(piece)
        );
        hex::encode(hmac(&key, sts.as_bytes()))
    };

    let mut body = Vec::with_capacity(data.len() + 4096);
    let mut prev = seed;
    let pieces: Vec<&[u8]> = data.chunks(chunk.max(1)).chain([&[][..]]).collect();
    for piece in pieces {
        match form {
            Streaming::Signed | Streaming::SignedTrailer => {
                let sig = chunk_sig(&prev, piece);
                body.extend_from_slice(
                    format!("{:x};chunk-signature={sig}\r\n", piece.len()).as_bytes(),
                );
                prev = sig;
            }
            Streaming::UnsignedTrailer => {
                body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            }
        }
        body.extend_from_slice(piece);
        if !piece.is_empty() || form == Streaming::Signed {
            body.extend_from_slice(b"\r\n");
        }
    }
    match form {
        Streaming::Signed => {}
        Streaming::UnsignedTrailer => {
            body.extend_from_slice(
                format!("x-amz-checksum-crc32:{}\r\n\r\n", crc32_base64(data)).as_bytes(),
            );
        }
        Streaming::SignedTrailer => {
            let trailer = format!("x-amz-checksum-crc32:{}\n", crc32_base64(data));
            let sts = format!(
                "AWS4-HMAC-SHA256-TRAILER\n{date_time}\n{scope}\n{prev}\n{}",
                sha256_hex(trailer.as_bytes())
            );
            let sig = hex::encode(hmac(&key, sts.as_bytes()));
            body.extend_from_slice(trailer.trim_end().as_bytes());
            body.extend_from_slice(format!("\r\nx-amz-trailer-signature:{sig}\r\n\r\n").as_bytes());
        }
    }
    if let Some(offset) = tamper {
        // Find the data byte at `offset` in the framed body: walk the frames.
        let pos = framed_offset(&body, offset);
        body[pos] ^= 0x01;
    }
    req.body = body;
    req
}

/// Where decoded byte `offset` sits in an aws-chunked body.
fn framed_offset(body: &[u8], offset: usize) -> usize {
    let mut pos = 0;
    let mut remaining = offset;
    loop {
        let line_end = pos + body[pos..].windows(2).position(|w| w == b"\r\n").unwrap();
        let line = std::str::from_utf8(&body[pos..line_end]).unwrap();
        let size = usize::from_str_radix(line.split(';').next().unwrap(), 16).unwrap();
        assert!(size > 0, "offset {offset} is past the data");
        let data_start = line_end + 2;
        if remaining < size {
            return data_start + remaining;
        }
        remaining -= size;
        pos = data_start + size + 2;
    }
}

// ---------------------------------------------------------------------------
// Raw HTTP/1.1: framing no HTTP client library would send.

/// `req`'s head as HTTP/1.1 text, without the blank line that ends it:
/// its headers less `drop` (case-insensitive), plus `add`, plus
/// `Connection: close`. No `Content-Length` is added: the test says
/// whether there is one.
pub fn raw_head(req: &Request, drop: &[&str], add: &[(&str, &str)]) -> String {
    let uri: http::Uri = req.url.parse().unwrap();
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut head = format!("{} {target} HTTP/1.1\r\n", req.method);
    let authority = uri.authority().unwrap().as_str();
    if !req
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("host"))
        && !drop.iter().any(|d| d.eq_ignore_ascii_case("host"))
    {
        head.push_str(&format!("host: {authority}\r\n"));
    }
    for (k, v) in &req.headers {
        if !drop.iter().any(|d| d.eq_ignore_ascii_case(k)) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    for (k, v) in add {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("connection: close\r\n");
    head
}

/// Sends `head`, the blank line and `body` verbatim to `endpoint`
/// (`http://host:port`) and reads the response until the server closes.
pub fn send_raw(endpoint: &str, head: &str, body: &[u8]) -> Response {
    send_raw_paced(endpoint, head, body, 1, Duration::ZERO)
}

/// [`send_raw`], with the body sent in `pieces` (about equal), `pause`
/// apart: a caller on a slow link.
pub fn send_raw_paced(
    endpoint: &str,
    head: &str,
    body: &[u8],
    pieces: usize,
    pause: Duration,
) -> Response {
    use std::io::{Read, Write};
    let addr = endpoint.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    // A guard against hanging the suite, not an assertion on timing.
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(b"\r\n").unwrap();
    let piece = body.len().div_ceil(pieces.max(1)).max(1);
    for (i, part) in body.chunks(piece).enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        s.write_all(part).unwrap();
    }
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        assert!(!raw.is_empty(), "no response from {endpoint}: {e}");
    }
    parse_raw_response(&raw)
}

fn parse_raw_response(raw: &[u8]) -> Response {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let mut headers = http::HeaderMap::new();
    for line in lines {
        let (k, v) = line.split_once(':').unwrap();
        headers.append(
            http::HeaderName::from_bytes(k.trim().as_bytes()).unwrap(),
            v.trim().parse().unwrap(),
        );
    }
    let mut body = raw[end + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v == "chunked")
    {
        let mut plain = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
            if size == 0 {
                break;
            }
            plain.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest = &rest[line_end + 2 + size + 2..];
        }
        body = plain;
    }
    Response {
        status,
        headers,
        body: bytes::Bytes::from(body),
    }
}
