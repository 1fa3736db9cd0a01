//! The SigV4 arithmetic: canonical request, string to sign, signing key,
//! chunk and trailer signatures, and the AWS URI encoding they rely on.
//!
//! Must not read the clock or know where secrets come from. Reads the
//! query as [`crate::raw_query`] split it. Everything here
//! is on the hot path (every request), so the canonical request is built into
//! a buffer the thread keeps ([`with_scratch`]) and hex is written into stack
//! arrays.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>

use std::cell::RefCell;
use std::fmt;
use std::ops::Range;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac as _};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::mac_key::{Mac, MacKey};
use crate::byte_run;
use crate::hex_digits::{self, Case};
use crate::raw_query::RawQuery;
use crate::split_ascii;

type HmacSha256 = Hmac<Sha256>;

/// The algorithm name on the first line of the request's string to sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// `hex(sha256(""))`: the "empty headers" line of every chunk string to sign.
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// `sha256("")`: the payload hash a client signs for a request without a
/// body. [`EMPTY_SHA256_HEX`] spelled out.
pub const EMPTY_SHA256: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];
/// What a redacted session token looks like in a debug canonical request.
const REDACTED: &[u8] = b"<redacted>";

/// The derived SigV4 signing key (`kSigning`): good for one day, one region,
/// one service. Kept as its HMAC pads' states (see [`MacKey`]), so a
/// signature under it hashes the message only. Zeroized on drop; `Debug`
/// never shows it.
#[derive(Clone)]
pub struct SigningKey(MacKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
    pub fn derive(secret: &[u8], date: &str, region: &str, service: &str) -> Self {
        let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret.len()));
        k_secret.extend_from_slice(b"AWS4");
        k_secret.extend_from_slice(secret);
        let k_date = Zeroizing::new(hmac(&k_secret, &[date.as_bytes()]));
        let k_region = Zeroizing::new(hmac(k_date.as_slice(), &[region.as_bytes()]));
        let k_service = Zeroizing::new(hmac(k_region.as_slice(), &[service.as_bytes()]));
        let k_signing = Zeroizing::new(hmac(k_service.as_slice(), &[b"aws4_request"]));
        Self(MacKey::new(&k_signing))
    }

    fn mac(&self) -> Mac {
        self.0.begin()
    }
}

/// An HMAC-SHA256 keyed with any key length, without a fallible constructor:
/// RFC 2104 zero-pads keys up to the block size and hashes longer ones first,
/// which is exactly what we do before handing over a block-sized key.
fn new_mac(key: &[u8]) -> HmacSha256 {
    let mut block = Zeroizing::new([0u8; 64]);
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        block[..32].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <HmacSha256 as KeyInit>::new(&(*block).into())
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = new_mac(key);
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Lowercase hex into a stack buffer (no allocation: it is on every
/// request's path).
pub fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    hex_digits::encode32(bytes)
}

/// Parses exactly 64 hex digits (either case).
pub fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    hex_digits::decode32(s.as_bytes(), Case::Either)
}

/// Parses a request signature: exactly 64 *lowercase* hex digits, the only
/// form SigV4 produces. AWS refuses any other spelling, and so do we: a
/// second spelling of the same signature is a second request to dedupe.
pub fn parse_signature(s: &str) -> Option<[u8; 32]> {
    hex_digits::decode32(s.as_bytes(), Case::Lower)
}

/// AWS's unreserved set: the only bytes SigV4 leaves unencoded.
fn is_unreserved(c: u8) -> bool {
    UNRESERVED[usize::from(c)]
}

/// RFC 3986's unreserved bytes, by table: the canonical query scans every
/// byte of a presigned URL (its session token is hundreds of bytes), and
/// one load a byte is cheaper than the range and set tests it spells.
static UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        table[c] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        c += 1;
    }
    table
};

fn push_encoded(out: &mut Vec<u8>, c: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 0x0f)]]);
}

/// How many bytes `bytes` starts with that are unreserved
/// ([`crate::byte_run`]): whole blocks by arithmetic compares, the block
/// that ends the run by the table.
fn unreserved_run(bytes: &[u8]) -> usize {
    byte_run::kept(bytes, unreserved_by_compares, is_unreserved)
}

/// [`is_unreserved`] spelled as compares, with no table: what a block
/// test of [`crate::byte_run::kept`] needs to vectorize.
pub(crate) fn unreserved_by_compares(c: u8) -> bool {
    let lower = c | 0x20;
    (lower.wrapping_sub(b'a') < 26)
        | (c.wrapping_sub(b'0') < 10)
        | (c == b'-')
        | (c == b'.')
        | (c == b'_')
        | (c == b'~')
}

/// Percent-decodes `raw` (`+` is a space, as form decoding and the SDK
/// signers treat it) and re-encodes it with AWS's rules. A `%` that does not
/// start a valid escape is taken literally (and so becomes `%25`).
fn reencode_query_component(out: &mut Vec<u8>, raw: &[u8]) {
    out.reserve(raw.len());
    let mut i = 0;
    while i < raw.len() {
        // A run that needs no rewriting is copied whole: a session token
        // is hundreds of unreserved bytes, and byte-wise pushes showed in
        // the load bench's profile.
        let run = unreserved_run(&raw[i..]);
        out.extend_from_slice(&raw[i..i + run]);
        i += run;
        let Some(&c) = raw.get(i) else {
            break;
        };
        let byte = match c {
            b'%' => match (
                raw.get(i + 1).copied().and_then(hex_digits::digit),
                raw.get(i + 2).copied().and_then(hex_digits::digit),
            ) {
                (Some(high), Some(low)) => {
                    i += 2;
                    (high << 4) | low
                }
                _ => c,
            },
            b'+' => b' ',
            _ => c,
        };
        if is_unreserved(byte) {
            out.push(byte);
        } else {
            push_encoded(out, byte);
        }
        i += 1;
    }
}

/// The canonical URI for S3: the path exactly as sent. S3 neither normalises
/// (`..`, `//`) nor double-encodes, and SDKs send each segment encoded once,
/// so the raw path *is* the canonical form. The only rewrite: bytes AWS
/// would have encoded but some clients send raw (`$`, `!`, `*`, `'`, `(`,
/// `)`, `@`, `,`, `;`, `:`, `=`, `+`…) are encoded, which cannot change a path
/// an SDK sent. Existing `%XX` escapes (including `%2F`) are kept verbatim.
fn push_canonical_uri(out: &mut Vec<u8>, path: &str) {
    if path.is_empty() {
        out.push(b'/');
        return;
    }
    // Runs that need no encoding, nearly every path whole, are copied in
    // one piece rather than pushed a byte at a time.
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let run = byte_run::kept(
            &bytes[i..],
            |c| unreserved_by_compares(c) | (c == b'/') | (c == b'%'),
            |c| is_unreserved(c) | (c == b'/') | (c == b'%'),
        );
        out.extend_from_slice(&bytes[i..i + run]);
        i += run;
        if let Some(&c) = bytes.get(i) {
            push_encoded(out, c);
            i += 1;
        }
    }
}

/// Appends the canonical query string: every parameter decoded and
/// re-encoded, sorted by encoded name then value, `name=value` joined by `&`
/// (a valueless `?lifecycle` becomes `lifecycle=`). For presigned URLs the
/// signature itself is left out; with `redact` the session token's value is
/// replaced (debug output only).
fn push_canonical_query(out: &mut Vec<u8>, query: &RawQuery<'_>, presigned: bool, redact: bool) {
    if query.is_empty() {
        return;
    }
    // Every encoded name and value is written past the end of `out`, the
    // pairs are sorted as ranges of it, copied into place in order, and the
    // scratch is cut out again: one allocation (the ranges), not one per
    // parameter, and no second buffer.
    let scratch = out.len();
    let mut pairs: Vec<(Range<usize>, Range<usize>)> = Vec::with_capacity(8);
    for pair in query.pairs() {
        let name_start = out.len();
        reencode_query_component(out, pair.name.as_bytes());
        let name_range = name_start..out.len();
        let enc_name = &out[name_range.clone()];
        if presigned && enc_name == b"X-Amz-Signature" {
            out.truncate(name_start);
            continue;
        }
        let redacted = redact && enc_name == b"X-Amz-Security-Token";
        let value_start = out.len();
        if redacted {
            out.extend_from_slice(REDACTED);
        } else {
            reencode_query_component(out, pair.value_or_empty().as_bytes());
        }
        pairs.push((name_range, value_start..out.len()));
    }
    pairs.sort_unstable_by(|(a_name, a_value), (b_name, b_value)| {
        (&out[a_name.clone()], &out[a_value.clone()])
            .cmp(&(&out[b_name.clone()], &out[b_value.clone()]))
    });
    let sorted = out.len();
    for (i, (name, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_within(name);
        out.push(b'=');
        out.extend_from_within(value);
    }
    out.drain(scratch..sorted);
}

/// Appends a header value trimmed, with inner runs of spaces collapsed.
///
/// Copied a run at a time, not a byte at a time: the signed values a
/// request carries are mostly without spaces (the ~800-byte session
/// token, dates, hashes), and pushing the token byte by byte was ~5,000
/// instructions of every header-signed request's verification.
fn push_header_value(out: &mut Vec<u8>, value: &[u8]) {
    let mut rest = value.trim_ascii();
    // Without a space, `rest` goes out whole: the common case.
    if !has_space(rest) {
        out.extend_from_slice(rest);
        return;
    }
    while let Some(space) = rest.iter().position(|&c| c == b' ') {
        out.extend_from_slice(&rest[..=space]);
        let after = &rest[space + 1..];
        let more = after.iter().take_while(|&&c| c == b' ').count();
        rest = &after[more..];
    }
    out.extend_from_slice(rest);
}

/// Whether `bytes` holds a space. By [`byte_run::all`]'s vector loop:
/// `contains` is core's word-at-a-time `memchr`, ~2 instructions a byte,
/// ~800 a header-signed request over the token and the other signed
/// values, none of which holds a space.
fn has_space(bytes: &[u8]) -> bool {
    !byte_run::all(bytes, |b| b != b' ')
}

/// Up to this many header values, a signed header's values are found by
/// comparing names along the map, not by `HeaderMap::get_all(&str)`, which
/// parses and hashes the name first (~350 instructions a lookup, five
/// lookups a request). A compare is ~10, so at this size a scan costs no
/// more than the lookup it replaces, however many names a client lists.
pub(super) const SCAN_LIMIT: usize = 16;

/// The values of the header `name`, in the order `get_all` gives them: by
/// a scan of the map's entries when `scan`, else by `get_all`. The map's
/// iterator yields each name's values together and in `get_all`'s order,
/// so the two agree (the proptest holds them to it).
fn signed_values<'h>(headers: &'h HeaderMap, name: &'h str, scan: bool) -> SignedValues<'h> {
    if scan {
        SignedValues::Scan(headers.iter(), name)
    } else {
        SignedValues::Lookup(headers.get_all(name).into_iter())
    }
}

enum SignedValues<'h> {
    Scan(header::Iter<'h, HeaderValue>, &'h str),
    Lookup(header::ValueIter<'h, HeaderValue>),
}

impl<'h> Iterator for SignedValues<'h> {
    type Item = &'h HeaderValue;

    fn next(&mut self) -> Option<&'h HeaderValue> {
        match self {
            SignedValues::Scan(entries, name) => entries
                .find(|(n, _)| n.as_str() == *name)
                .map(|(_, value)| value),
            SignedValues::Lookup(values) => values.next(),
        }
    }
}

/// Everything the canonical request is built from, borrowed from the request
/// and the parsed signature.
pub struct CanonicalInput<'a, 'q> {
    pub parts: &'a Parts,
    /// `parts.uri`'s query, split ([`RawQuery::of`]).
    pub query: &'a RawQuery<'q>,
    /// `;`-separated, lowercase, as the client listed them.
    pub signed_headers: &'a str,
    /// The last line: the literal `x-amz-content-sha256` value or
    /// `UNSIGNED-PAYLOAD`.
    pub payload: &'a str,
    pub presigned: bool,
}

impl CanonicalInput<'_, '_> {
    /// The canonical request, as bytes (header values need not be UTF-8).
    /// `redact` replaces the session token's value, for debug output only.
    pub fn build(&self, redact: bool) -> Vec<u8> {
        let parts = self.parts;
        let query_len = self.query.raw().map_or(0, str::len);
        let header_bytes: usize = parts
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 2)
            .sum();
        let mut out = Vec::with_capacity(
            64 + parts.uri.path().len()
                + 2 * query_len
                + header_bytes
                + 2 * self.signed_headers.len(),
        );
        self.build_into(&mut out, redact);
        out
    }

    /// [`CanonicalInput::build`], appended to `out` (a buffer kept from
    /// request to request: see [`with_scratch`]).
    pub fn build_into(&self, out: &mut Vec<u8>, redact: bool) {
        let parts = self.parts;
        let path = parts.uri.path();
        out.extend_from_slice(parts.method.as_str().as_bytes());
        out.push(b'\n');
        push_canonical_uri(out, path);
        out.push(b'\n');
        push_canonical_query(out, self.query, self.presigned, redact);
        out.push(b'\n');
        let scan = parts.headers.len() <= SCAN_LIMIT;
        for name in split_ascii::split(self.signed_headers, b';') {
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            let mut first = true;
            for value in signed_values(&parts.headers, name, scan) {
                if !first {
                    out.push(b',');
                }
                first = false;
                if redact && name == "x-amz-security-token" {
                    out.extend_from_slice(REDACTED);
                } else {
                    push_header_value(out, value.as_bytes());
                }
            }
            // HTTP/2 carries the host in `:authority`, which hyper puts in the
            // URI rather than in a `host` header.
            if first
                && name == "host"
                && let Some(authority) = parts.uri.authority()
            {
                out.extend_from_slice(authority.as_str().as_bytes());
            }
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(self.signed_headers.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(self.payload.as_bytes());
    }
}

/// A buffer kept per thread beyond this size is let go after its request:
/// room for any ordinary canonical request (a presigned URL's is ~1.5 KiB),
/// not for the rare one with many large headers.
const SCRATCH_KEPT: usize = 16 * 1024;

/// Runs `f` with an empty byte buffer that this thread keeps from call to
/// call: a canonical request written into it reuses the room the last one
/// grew, where a new `Vec` was a ~1 KiB allocation and its free, every
/// request (~270 instructions, more than the rest of the buffer's work).
/// If the thread's buffer is in use (a nested call), `f` gets a new one.
pub fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            buffer.clear();
            let result = f(&mut buffer);
            if buffer.capacity() > SCRATCH_KEPT {
                *buffer = Vec::new();
            } else {
                buffer.clear();
            }
            result
        }
        Err(_) => f(&mut Vec::new()),
    })
}

/// `AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex(sha256(canonical request))>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    let hash: [u8; 32] = Sha256::digest(canonical_request).into();
    let hex = hex32(&hash);
    let mut s = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 67);
    s.push_str(ALGORITHM);
    s.push('\n');
    s.push_str(amz_date);
    s.push('\n');
    s.push_str(scope);
    s.push('\n');
    s.push_str(std::str::from_utf8(&hex).unwrap_or_default());
    s
}

/// HMAC of a string to sign made of `algorithm`, the date, the scope and
/// `lines`, joined by newlines: fed piece by piece so no string is built.
fn sign_lines(
    key: &SigningKey,
    algorithm: &[u8],
    amz_date: &str,
    scope: &str,
    lines: &[&[u8]],
) -> [u8; 32] {
    let mut mac = key.mac();
    mac.update(algorithm);
    mac.update(b"\n");
    mac.update(amz_date.as_bytes());
    mac.update(b"\n");
    mac.update(scope.as_bytes());
    for line in lines {
        mac.update(b"\n");
        mac.update(line);
    }
    mac.finalize()
}

/// A browser form upload's signature: the HMAC of the base64 policy
/// itself, which is the string to sign of a POST policy.
pub fn policy_signature(key: &SigningKey, policy: &str) -> [u8; 32] {
    let mut mac = key.mac();
    mac.update(policy.as_bytes());
    mac.finalize()
}

/// The request signature over the string to sign.
pub fn request_signature(
    key: &SigningKey,
    amz_date: &str,
    scope: &str,
    canonical_request: &[u8],
) -> [u8; 32] {
    let hash: [u8; 32] = Sha256::digest(canonical_request).into();
    signature_of_hash(key, amz_date, scope, &hash)
}

/// The request signature, from the SHA-256 of the canonical request (for
/// a signer that hashes the canonical request as it writes it).
pub fn signature_of_hash(
    key: &SigningKey,
    amz_date: &str,
    scope: &str,
    canonical_request_sha256: &[u8; 32],
) -> [u8; 32] {
    sign_lines(
        key,
        ALGORITHM.as_bytes(),
        amz_date,
        scope,
        &[&hex32(canonical_request_sha256)],
    )
}

/// Appends the canonical query of a request s3gate signs itself (for the
/// store): every parameter decoded, re-encoded with the AWS set and sorted,
/// none left out.
pub fn push_query(out: &mut Vec<u8>, query: &str) {
    push_canonical_query(out, &RawQuery::new(Some(query)), false, false);
}

/// One `aws-chunked` chunk's signature:
/// `AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous>\n<sha256("")>\n<sha256(data)>`.
pub fn chunk_signature(
    key: &SigningKey,
    amz_date: &str,
    scope: &str,
    previous: &[u8; 32],
    data_sha256: &[u8; 32],
) -> [u8; 32] {
    sign_lines(
        key,
        b"AWS4-HMAC-SHA256-PAYLOAD",
        amz_date,
        scope,
        &[
            &hex32(previous),
            EMPTY_SHA256_HEX.as_bytes(),
            &hex32(data_sha256),
        ],
    )
}

/// The trailer signature:
/// `AWS4-HMAC-SHA256-TRAILER\n<date>\n<scope>\n<previous>\n<sha256(trailers)>`,
/// where the trailers are canonicalised as `name:value\n` lines.
pub fn trailer_signature(
    key: &SigningKey,
    amz_date: &str,
    scope: &str,
    previous: &[u8; 32],
    trailers_sha256: &[u8; 32],
) -> [u8; 32] {
    sign_lines(
        key,
        b"AWS4-HMAC-SHA256-TRAILER",
        amz_date,
        scope,
        &[&hex32(previous), &hex32(trailers_sha256)],
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    /// `push_canonical_query` as it was when it split the raw query itself:
    /// the oracle. Appends the canonical query string: every parameter decoded and
    /// re-encoded, sorted by encoded name then value, `name=value` joined by `&`
    /// (a valueless `?lifecycle` becomes `lifecycle=`). For presigned URLs the
    /// signature itself is left out; with `redact` the session token's value is
    /// replaced (debug output only).
    fn push_canonical_query_splitting(
        out: &mut Vec<u8>,
        query: &str,
        presigned: bool,
        redact: bool,
    ) {
        if query.is_empty() {
            return;
        }
        // Every encoded name and value is written past the end of `out`, the
        // pairs are sorted as ranges of it, copied into place in order, and the
        // scratch is cut out again: one allocation (the ranges), not one per
        // parameter, and no second buffer.
        let scratch = out.len();
        let mut pairs: Vec<(Range<usize>, Range<usize>)> = Vec::with_capacity(8);
        for piece in query.split('&') {
            if piece.is_empty() {
                continue;
            }
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let name_start = out.len();
            reencode_query_component(out, name.as_bytes());
            let name_range = name_start..out.len();
            let enc_name = &out[name_range.clone()];
            if presigned && enc_name == b"X-Amz-Signature" {
                out.truncate(name_start);
                continue;
            }
            let redacted = redact && enc_name == b"X-Amz-Security-Token";
            let value_start = out.len();
            if redacted {
                out.extend_from_slice(REDACTED);
            } else {
                reencode_query_component(out, value.as_bytes());
            }
            pairs.push((name_range, value_start..out.len()));
        }
        pairs.sort_unstable_by(|(a_name, a_value), (b_name, b_value)| {
            (&out[a_name.clone()], &out[a_value.clone()])
                .cmp(&(&out[b_name.clone()], &out[b_value.clone()]))
        });
        let sorted = out.len();
        for (i, (name, value)) in pairs.into_iter().enumerate() {
            if i > 0 {
                out.push(b'&');
            }
            out.extend_from_within(name);
            out.push(b'=');
            out.extend_from_within(value);
        }
        out.drain(scratch..sorted);
    }

    fn query(q: &str, presigned: bool) -> String {
        let mut out = Vec::new();
        push_canonical_query(&mut out, &RawQuery::new(Some(q)), presigned, false);
        String::from_utf8(out).unwrap()
    }

    fn uri(p: &str) -> String {
        let mut out = Vec::new();
        push_canonical_uri(&mut out, p);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn query_is_sorted_and_valueless_names_get_an_equals() {
        assert_eq!(query("prefix=J&max-keys=2", false), "max-keys=2&prefix=J");
        assert_eq!(query("lifecycle", false), "lifecycle=");
        assert_eq!(query("b=2&a=1&a=0", false), "a=0&a=1&b=2");
    }

    #[test]
    fn query_components_are_decoded_then_reencoded_with_the_aws_set() {
        assert_eq!(query("prefix=a%2fb", false), "prefix=a%2Fb");
        assert_eq!(query("prefix=a b", false), "prefix=a%20b");
        assert_eq!(query("prefix=a+b", false), "prefix=a%20b");
        assert_eq!(query("prefix=a%2Bb", false), "prefix=a%2Bb");
        assert_eq!(query("k=~-_.", false), "k=~-_.");
        assert_eq!(query("k=%7E", false), "k=~");
        assert_eq!(query("k=%zz", false), "k=%25zz");
        assert_eq!(query("k=%", false), "k=%25");
        assert_eq!(query("k=%4", false), "k=%254");
        assert_eq!(query("k=%C3%BC", false), "k=%C3%BC");
    }

    #[test]
    fn presigned_query_drops_only_the_signature() {
        assert_eq!(
            query("X-Amz-Signature=abc&X-Amz-Date=1&x=2", true),
            "X-Amz-Date=1&x=2"
        );
        assert_eq!(query("X-Amz-Signature=abc", false), "X-Amz-Signature=abc");
    }

    #[test]
    fn uri_is_the_raw_path_with_only_aws_reserved_bytes_encoded() {
        assert_eq!(uri("/test%24file.text"), "/test%24file.text");
        assert_eq!(uri("/test$file.text"), "/test%24file.text");
        assert_eq!(uri("/a%2Fb//c/../d"), "/a%2Fb//c/../d");
        assert_eq!(uri(""), "/");
    }

    #[test]
    fn header_values_are_trimmed_and_spaces_collapsed() {
        let mut out = Vec::new();
        push_header_value(&mut out, b"  a   b  c\t ");
        assert_eq!(out, b"a b c");
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0xabu8; 32];
        let hex = hex32(&bytes);
        assert_eq!(parse_hex32(std::str::from_utf8(&hex).unwrap()), Some(bytes));
        assert_eq!(parse_hex32("zz"), None);
    }

    #[test]
    fn long_hmac_keys_are_hashed_first_as_rfc_2104_says() {
        // RFC 4231 test case 6: a 131-byte key.
        let key = [0xaau8; 131];
        let out = hmac(
            &key,
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            std::str::from_utf8(&hex32(&out)).unwrap(),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn signing_key_debug_is_redacted() {
        let key = SigningKey::derive(b"secret", "20130524", "us-east-1", "s3");
        assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
    }

    proptest::proptest! {
        #[test]
        fn canonical_query_of_the_pairs_is_the_one_of_the_split_query(
            raw in crate::raw_query::arbitrary::query(),
            presigned: bool,
            redact: bool,
        ) {
            // Written after other bytes, as in a canonical request: the
            // scratch the pairs are sorted in must be cut out exactly.
            let mut new = b"GET\n/k\n".to_vec();
            let mut old = new.clone();
            push_canonical_query(&mut new, &RawQuery::new(Some(&raw)), presigned, redact);
            push_canonical_query_splitting(&mut old, &raw, presigned, redact);
            proptest::prop_assert_eq!(new, old);
        }
    }

    /// A header map of up to `SCAN_LIMIT * 2` values over a few names
    /// (standard and custom ones, in random order, some repeated), and
    /// names to look up in it: some present, some absent.
    fn header_map_and_names() -> impl proptest::strategy::Strategy<Value = (HeaderMap, Vec<String>)>
    {
        use proptest::prelude::*;
        const NAMES: [&str; 8] = [
            "host",
            "content-type",
            "x-amz-date",
            "x-amz-meta-a",
            "x-amz-meta-ab",
            "range",
            "x-amz-security-token",
            "x-custom",
        ];
        let entry = (proptest::sample::select(&NAMES[..]), "[a-z0-9 ]{0,6}");
        (
            proptest::collection::vec(entry, 0..=2 * SCAN_LIMIT),
            proptest::collection::vec(proptest::sample::select(&NAMES[..]), 0..6),
        )
            .prop_map(|(entries, names)| {
                let mut map = HeaderMap::new();
                for (name, value) in entries {
                    map.append(
                        header::HeaderName::from_static(name),
                        HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("")),
                    );
                }
                (map, names.into_iter().map(str::to_owned).collect())
            })
    }

    proptest::proptest! {
        #[test]
        fn a_signed_headers_values_by_scan_are_get_alls(
            (map, names) in header_map_and_names(),
        ) {
            for name in &names {
                let want: Vec<&HeaderValue> = map.get_all(name.as_str()).iter().collect();
                let scanned: Vec<&HeaderValue> = signed_values(&map, name, true).collect();
                let looked_up: Vec<&HeaderValue> = signed_values(&map, name, false).collect();
                proptest::prop_assert_eq!(&scanned, &want);
                proptest::prop_assert_eq!(&looked_up, &want);
            }
        }
    }

    proptest::proptest! {
        /// Runs of every length around the block size, ended by a
        /// reserved byte or by the end: the count is the first reserved
        /// byte's position by the table, and the arithmetic agrees with
        /// the table on every byte.
        #[test]
        fn an_unreserved_run_ends_where_the_table_says(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    30 => proptest::sample::select(
                        b"azAZ09-._~mM5".to_vec()
                    ),
                    1 => proptest::prelude::any::<u8>(),
                ],
                0..80,
            ),
        ) {
            let by_table = bytes.iter().position(|&c| !is_unreserved(c)).unwrap_or(bytes.len());
            proptest::prop_assert_eq!(unreserved_run(&bytes), by_table);
        }
    }

    #[test]
    fn the_run_arithmetic_is_the_unreserved_table() {
        for c in 0..=u8::MAX {
            let block = [c; 16];
            let expected = if is_unreserved(c) { 16 } else { 0 };
            assert_eq!(unreserved_run(&block), expected, "byte {c:#04x}");
        }
    }

    /// `push_canonical_uri` as it was, a byte at a time: the oracle.
    fn push_canonical_uri_bytewise(out: &mut Vec<u8>, path: &str) {
        if path.is_empty() {
            out.push(b'/');
            return;
        }
        for &c in path.as_bytes() {
            if is_unreserved(c) || c == b'/' || c == b'%' {
                out.push(c);
            } else {
                push_encoded(out, c);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn a_canonical_uri_is_the_bytewise_one(
            path in proptest::prop_oneof![
                proptest::prelude::any::<String>(),
                "[a-zA-Z0-9/._~ +%$!*é-]{0,40}",
            ],
        ) {
            let mut new = b"GET\n".to_vec();
            let mut old = new.clone();
            push_canonical_uri(&mut new, &path);
            push_canonical_uri_bytewise(&mut old, &path);
            proptest::prop_assert_eq!(new, old);
        }
    }

    /// The byte-at-a-time `push_header_value` this module had until the
    /// copy by runs: the oracle the proptest below holds it to.
    fn push_header_value_bytewise(out: &mut Vec<u8>, value: &[u8]) {
        let mut last_space = false;
        for &c in value.trim_ascii() {
            if c != b' ' || !last_space {
                out.push(c);
            }
            last_space = c == b' ';
        }
    }

    proptest::proptest! {
        #[test]
        fn header_values_are_pushed_as_byte_by_byte(
            value in proptest::collection::vec(
                proptest::prop_oneof![
                    4 => proptest::prelude::any::<u8>(),
                    3 => proptest::prelude::Just(b' '),
                    1 => proptest::sample::select(vec![b'\t', b'\r', b'\n', 0x0c]),
                ],
                0..64,
            ),
        ) {
            let mut new = b"x-amz-date:".to_vec();
            let mut old = new.clone();
            push_header_value(&mut new, &value);
            push_header_value_bytewise(&mut old, &value);
            proptest::prop_assert_eq!(new, old);
        }
    }

    #[test]
    fn header_values_lose_their_ends_and_keep_one_space_of_a_run() {
        let mut out = Vec::new();
        push_header_value(&mut out, b" \t a  b\t\tc   d \r\n");
        assert_eq!(out, b"a b\t\tc d");
    }

    #[test]
    fn the_unreserved_table_is_rfc_3986s_set() {
        for c in 0..=u8::MAX {
            let spelled = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~');
            assert_eq!(is_unreserved(c), spelled, "byte {c:#04x}");
        }
    }

    #[test]
    fn the_empty_payload_constants_are_sha256_of_nothing() {
        let hash: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(EMPTY_SHA256, hash);
        assert_eq!(&hex32(&hash)[..], EMPTY_SHA256_HEX.as_bytes());
    }

    #[test]
    fn the_scratch_buffer_starts_empty_and_a_nested_call_gets_its_own() {
        with_scratch(|b| b.extend_from_slice(b"left over"));
        with_scratch(|outer| {
            assert!(outer.is_empty(), "the last call's bytes are gone");
            outer.extend_from_slice(b"outer");
            with_scratch(|inner| {
                assert!(inner.is_empty());
                inner.extend_from_slice(b"inner");
            });
            assert_eq!(
                outer.as_slice(),
                b"outer",
                "the nested call wrote elsewhere"
            );
        });
    }

    #[test]
    fn the_scratch_buffer_lets_a_large_one_go_and_keeps_an_ordinary_one() {
        let kept = with_scratch(|b| {
            b.reserve(1024);
            b.capacity()
        });
        assert_eq!(with_scratch(|b| b.capacity()), kept);
        with_scratch(|b| b.reserve(4 * SCRATCH_KEPT));
        assert!(with_scratch(|b| b.capacity()) <= SCRATCH_KEPT);
    }

    #[test]
    fn build_into_a_used_buffer_appends_what_build_returns() {
        let request = http::Request::get("http://h/b/a%20b?list-type=2&prefix=x")
            .header("host", "h")
            .header("x-amz-date", "20240101T000000Z")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let query = RawQuery::of(&parts.uri);
        let input = CanonicalInput {
            parts: &parts,
            query: &query,
            signed_headers: "host;x-amz-date",
            payload: "UNSIGNED-PAYLOAD",
            presigned: false,
        };
        let mut out = b"before".to_vec();
        input.build_into(&mut out, false);
        assert_eq!(&out[..6], b"before");
        assert_eq!(&out[6..], input.build(false).as_slice());
    }
}
