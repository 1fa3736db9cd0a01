//! HTTP/1.1 wire pieces both of s3gate's sides share: a `Content-Length`
//! value, and the chunked transfer coding (RFC 9112 §7.1), decoded
//! incrementally and bounded. The caller's side (`server::h1`) reads
//! request bodies with it; the store's side (`upstream::h1`) reads response
//! bodies. Pure: bytes in, bytes out.
//!
//! Depends on `bytes` only (and `hex_digits`); knows nothing of S3.

use bytes::{Buf as _, Bytes, BytesMut};

/// The most a chunk-size line (with extensions) or the trailer section
/// may take.
const MAX_CHUNK_LINE: usize = 4 * 1024;
const MAX_TRAILERS: usize = 16 * 1024;

/// Framing that is not HTTP/1.1: what is wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramingError(pub &'static str);

impl std::fmt::Display for FramingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for FramingError {}

/// A `Content-Length` value: decimal digits only (no sign, no list), at
/// most 19 of them so that it fits a `u64`.
pub fn content_length(value: &[u8]) -> Result<u64, FramingError> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(FramingError("invalid Content-Length"));
    }
    Ok(value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Writes a chunk-size line for `len` bytes of data.
pub fn chunk_header(len: usize) -> Bytes {
    Bytes::copy_from_slice(ChunkLine::new(len).as_bytes())
}

/// A chunk-size line (`<hex>\r\n`) on the stack.
pub struct ChunkLine {
    buf: [u8; 18],
    start: usize,
}

impl ChunkLine {
    pub fn new(len: usize) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 18];
        buf[16] = b'\r';
        buf[17] = b'\n';
        let mut start = 16;
        let mut n = len as u64;
        loop {
            start -= 1;
            buf[start] = HEX[(n & 0xf) as usize];
            n >>= 4;
            if n == 0 {
                break;
            }
        }
        Self { buf, start }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// Takes the next piece of a body of known length from `buf`: what is
/// there, up to the `left` bytes still owed (which it counts down).
/// `None` when `buf` is empty: read more first.
pub fn take_length(buf: &mut BytesMut, left: &mut u64) -> Option<Bytes> {
    if buf.is_empty() {
        return None;
    }
    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
    *left -= take as u64;
    Some(buf.split_to(take).freeze())
}

/// How a request's body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: no length and no transfer coding, or a length of 0.
    Empty,
    Length(u64),
    Chunked,
}

/// A chunked body's decoder (RFC 9112 §7.1). Chunk extensions and
/// trailers are read past and dropped, as hyper did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunked {
    state: ChunkState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailers { seen: usize },
    Done,
}

/// What [`Chunked::decode`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Data(Bytes),
    /// Needs more bytes than `buf` holds.
    More,
    /// The body has ended; `buf` holds what came after it.
    End,
}

impl Default for Chunked {
    fn default() -> Self {
        Self::new()
    }
}

impl Chunked {
    pub fn new() -> Self {
        Self {
            state: ChunkState::Size,
        }
    }

    /// Takes the next piece of data (or framing) from the front of `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, FramingError> {
        loop {
            match self.state {
                ChunkState::Done => return Ok(Decoded::End),
                ChunkState::Size => {
                    let Some(line) = line(buf, MAX_CHUNK_LINE)? else {
                        return Ok(Decoded::More);
                    };
                    let size = chunk_size(&buf[..line])?;
                    buf.advance(line + 2);
                    self.state = if size == 0 {
                        ChunkState::Trailers { seen: 0 }
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let data = buf.split_to(take).freeze();
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                    return Ok(Decoded::Data(data));
                }
                ChunkState::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Decoded::More);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(FramingError("no CRLF after the chunk's data"));
                    }
                    buf.advance(2);
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers { seen } => {
                    // `seen` counts every trailer byte with its CRLF, and
                    // stays within the allowance: the last line's length
                    // is checked before it is counted.
                    let Some(line) = line(buf, MAX_TRAILERS.saturating_sub(seen))? else {
                        return Ok(Decoded::More);
                    };
                    if line == 0 {
                        buf.advance(2);
                        self.state = ChunkState::Done;
                        continue;
                    }
                    let seen = seen + line + 2;
                    if seen > MAX_TRAILERS {
                        return Err(FramingError("trailers too large"));
                    }
                    buf.advance(line + 2);
                    self.state = ChunkState::Trailers { seen };
                }
            }
        }
    }
}

/// The length of the CRLF-ended line at the front of `buf` (without its
/// CRLF), if it is all there; an error past `limit` bytes or on a bare LF.
fn line(buf: &[u8], limit: usize) -> Result<Option<usize>, FramingError> {
    match buf
        .iter()
        .take(limit.saturating_add(2))
        .position(|b| *b == b'\n')
    {
        Some(0) => Err(FramingError("bare LF")),
        Some(lf) if buf[lf - 1] == b'\r' => Ok(Some(lf - 1)),
        Some(_) => Err(FramingError("bare LF")),
        None if buf.len() >= limit.saturating_add(2) => Err(FramingError("line too long")),
        None => Ok(None),
    }
}

/// A chunk-size line: hex digits, then optional whitespace and
/// extensions (`;name=value`), which are dropped.
fn chunk_size(line: &[u8]) -> Result<u64, FramingError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(FramingError("no chunk size"));
    }
    if digits > 15 {
        return Err(FramingError("chunk size too large"));
    }
    // Only spaces and tabs may stand before an extension (RFC 9112 §7.1.1,
    // BWS): a bare CR or a form feed there is read as a line's end, or as
    // junk, by other parsers, and the two would frame the body apart.
    let rest = &line[digits..];
    let rest = &rest[rest
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count()..];
    if !rest.is_empty() && rest[0] != b';' {
        return Err(FramingError("junk after the chunk size"));
    }
    if rest.iter().any(|b| b.is_ascii_control() && *b != b'\t') {
        return Err(FramingError("control byte in a chunk extension"));
    }
    Ok(line[..digits].iter().fold(0u64, |n, d| {
        n * 16 + u64::from(crate::hex_digits::digit(*d).unwrap_or(0))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(wire: &[u8], step: usize) -> Result<(Vec<u8>, Vec<u8>), FramingError> {
        let mut dec = Chunked::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            match dec.decode(&mut buf)? {
                Decoded::Data(d) => out.extend_from_slice(&d),
                Decoded::End => return Ok((out, buf.to_vec())),
                Decoded::More if fed >= wire.len() => return Err(FramingError("eof")),
                Decoded::More => {
                    let end = (fed + step).min(wire.len());
                    buf.extend_from_slice(&wire[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_read_sizes() {
        let wire =
            b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nx-t: 1\r\n\r\nNEXT";
        for step in 1..wire.len() {
            let (body, rest) = decode_all(wire, step).unwrap();
            assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.", "step {step}");
            assert!(rest.is_empty() || b"NEXT".starts_with(&rest), "step {step}");
        }
    }

    #[test]
    fn broken_chunk_framing_is_an_error() {
        for wire in [
            &b"zz\r\n"[..],
            b"4\r\nWikiXX",
            b"4\nWiki\r\n0\r\n\r\n",
            b"4 junk\r\nWiki\r\n0\r\n\r\n",
            b"10000000000000000\r\n",
            b"4\r\r\nWiki\r\n0\r\n\r\n",
            b"4\x0c\r\nWiki\r\n0\r\n\r\n",
            b"4;a=\x01\r\nWiki\r\n0\r\n\r\n",
        ] {
            assert!(
                decode_all(wire, 64).is_err(),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
        let long = format!("1;{}\r\n", "e".repeat(MAX_CHUNK_LINE + 10));
        assert!(decode_all(long.as_bytes(), 64).is_err());
    }

    #[test]
    fn trailers_are_bounded_in_all_however_they_are_split() {
        // One trailer line as long as the whole allowance, then a line
        // that never ends: refused once the allowance is passed, not read
        // (and buffered) forever.
        let mut wire = format!("0\r\n{}\r\n", "a".repeat(MAX_TRAILERS)).into_bytes();
        wire.extend(std::iter::repeat_n(b'b', 4 * MAX_TRAILERS));
        assert!(decode_all(&wire, 4096).is_err());
        // Many short lines add up the same way.
        let mut wire = b"0\r\n".to_vec();
        for _ in 0..=MAX_TRAILERS / 8 {
            wire.extend_from_slice(b"x: 1234\r\n");
        }
        wire.extend_from_slice(b"\r\n");
        assert!(decode_all(&wire, 4096).is_err());
        // Within the allowance, trailers are read past.
        let (body, rest) = decode_all(b"0\r\nx: 1\r\ny: 2\r\n\r\nNEXT", 3).unwrap();
        assert!(body.is_empty());
        assert!(b"NEXT".starts_with(&rest), "{rest:?}");
    }

    #[test]
    fn chunk_lines_are_lowercase_hex() {
        for (n, line) in [
            (0, "0\r\n"),
            (10, "a\r\n"),
            (4096, "1000\r\n"),
            (usize::MAX, "ffffffffffffffff\r\n"),
        ] {
            assert_eq!(ChunkLine::new(n).as_bytes(), line.as_bytes());
        }
    }

    #[test]
    fn content_lengths_are_plain_decimal() {
        assert_eq!(content_length(b"0"), Ok(0));
        assert_eq!(content_length(b"1234"), Ok(1234));
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b"1,1",
            b"0x10",
            b"1 2",
            b"99999999999999999999",
        ] {
            assert!(
                content_length(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
