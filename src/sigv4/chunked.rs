//! The `aws-chunked` decoder: a pure state machine (feed bytes, pull
//! verified payload) for the signed form (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`,
//! optionally `-TRAILER`) and the unsigned-with-trailer form
//! (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`). No I/O, no hyper: `body.rs` wraps it.
//!
//! Wire format, signed:
//! `<hex size>;chunk-signature=<sig>\r\n<data>\r\n` … `0;chunk-signature=<sig>\r\n`
//! then `\r\n` (no trailer) or trailer lines `name:value\r\n`,
//! `x-amz-trailer-signature:<sig>\r\n` and a final `\r\n`.
//! Unsigned: `<hex size>\r\n<data>\r\n` … `0\r\n`, trailer lines, `\r\n`.
//!
//! Release rule (this is how nothing half-verified reaches the store): a
//! chunk's data is released only once its signature verified AND the next
//! chunk verified too; the last data chunk is released only after the final
//! chunk, the trailer signature, the trailing checksum and the decoded length
//! all check out. So at most two chunks are held, each bounded by
//! [`MAX_CHUNK_SIZE`].
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html>

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};
use sha2::{Digest, Sha256};

use super::canonical::{chunk_signature, parse_hex32, trailer_signature};
use super::checksum::{ChecksumAlgorithm, Checksummer};
use super::error::SigV4Error;
use super::verify::StreamSigning;
use crate::constant_time::same_bytes;

/// The largest chunk s3gate holds in memory while its signature is checked.
/// SDKs send 64 KiB–8 MiB chunks; anything larger is hostile or broken.
pub const MAX_CHUNK_SIZE: u64 = 16 * 1024 * 1024;
/// The longest chunk-header or trailer line. A signed chunk header is about
/// 90 bytes and a trailer line under 100; this leaves room without letting a
/// client make us buffer an endless line.
pub const MAX_LINE_LEN: usize = 1024;
/// How many trailer lines are accepted (S3 sends one checksum and a signature).
pub const MAX_TRAILER_LINES: usize = 16;

const CHUNK_SIGNATURE_EXT: &str = "chunk-signature=";
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting `<hex size>[;ext]\r\n`.
    Header,
    /// Reading chunk data.
    Data {
        remaining: u64,
    },
    /// Expecting the `\r\n` after a chunk's data (`last`: after the final,
    /// empty chunk of the no-trailer form).
    DataEnd {
        last: bool,
    },
    /// Reading trailer lines after the final chunk.
    Trailer,
    /// After `x-amz-trailer-signature`: only the closing `\r\n` may follow.
    TrailerEnd,
    Done,
    Failed,
}

/// The signed form's running state: the previous signature in the chain.
struct Chain {
    signing: StreamSigning,
    previous: [u8; 32],
    /// The signature announced in the current chunk's header.
    announced: [u8; 32],
    hasher: Sha256,
}

/// Decodes one `aws-chunked` body.
pub struct ChunkDecoder {
    input: BytesMut,
    state: State,
    chain: Option<Chain>,
    trailer: bool,
    checksum: Option<Checksummer>,
    expected_len: u64,
    decoded_len: u64,
    /// The chunk being read (signed form: not yet verified).
    current: Vec<Bytes>,
    /// The last verified chunk: released when the next one verifies, or at
    /// the verified end.
    held: Vec<Bytes>,
    ready: VecDeque<Bytes>,
    trailer_lines: usize,
    /// Signed form: `name:value\n` for every trailer, hashed for its signature.
    trailer_canonical: Vec<u8>,
    checksum_value: Option<String>,
}

impl std::fmt::Debug for ChunkDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkDecoder")
            .field("state", &self.state)
            .field("signed", &self.chain.is_some())
            .field("trailer", &self.trailer)
            .field("expected_len", &self.expected_len)
            .field("decoded_len", &self.decoded_len)
            .finish_non_exhaustive()
    }
}

impl ChunkDecoder {
    /// `signing`: `Some` for the signed form (chunk signatures chained from
    /// the seed), `None` for `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    /// `checksum`: the algorithm `x-amz-trailer` announced, if any.
    pub(super) fn new(
        signing: Option<StreamSigning>,
        trailer: bool,
        checksum: Option<ChecksumAlgorithm>,
        expected_len: u64,
    ) -> Self {
        Self {
            input: BytesMut::new(),
            state: State::Header,
            chain: signing.map(|signing| Chain {
                previous: signing.seed,
                signing,
                announced: [0; 32],
                hasher: Sha256::new(),
            }),
            trailer,
            checksum: checksum.map(ChecksumAlgorithm::hasher),
            expected_len,
            decoded_len: 0,
            current: Vec::new(),
            held: Vec::new(),
            ready: VecDeque::new(),
            trailer_lines: 0,
            trailer_canonical: Vec::new(),
            checksum_value: None,
        }
    }

    /// Feeds encoded bytes and decodes as far as they go.
    pub fn push(&mut self, data: Bytes) -> Result<(), SigV4Error> {
        if self.state == State::Failed {
            return Err(SigV4Error::IncompleteBody);
        }
        if self.input.is_empty() {
            // Zero-copy when nobody else holds the buffer.
            self.input = BytesMut::from(data);
        } else {
            self.input.extend_from_slice(&data);
        }
        self.run().inspect_err(|_| self.fail())
    }

    /// The next released (fully verified) piece of payload.
    pub fn pop(&mut self) -> Option<Bytes> {
        self.ready.pop_front()
    }

    /// The encoded body ended: succeeds only if the encoding ended properly
    /// and everything verified (then the last held chunk becomes poppable).
    pub fn finish(&mut self) -> Result<(), SigV4Error> {
        let result = match self.state {
            State::Done => Ok(()),
            // An unsigned trailer section may end at EOF without its blank
            // line; so may the signed one after its signature.
            State::Trailer if self.chain.is_none() && self.input.is_empty() => self.end(),
            State::TrailerEnd if self.input.is_empty() => self.end(),
            // The final chunk's closing CRLF is missing: everything it could
            // have protected has been verified already.
            State::DataEnd { last: true } if self.input.is_empty() => self.end(),
            _ => Err(SigV4Error::IncompleteBody),
        };
        result.inspect_err(|_| self.fail())
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Drops everything unreleased: after a failure nothing more is yielded.
    fn fail(&mut self) {
        self.state = State::Failed;
        self.current.clear();
        self.held.clear();
        self.ready.clear();
        self.input.clear();
    }

    fn run(&mut self) -> Result<(), SigV4Error> {
        loop {
            match self.state {
                State::Header => {
                    let Some(line) = self.take_line()? else {
                        return Ok(());
                    };
                    self.on_header(&line)?;
                }
                State::Data { remaining } => {
                    if self.input.is_empty() {
                        return Ok(());
                    }
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(self.input.len());
                    let piece = self.input.split_to(n).freeze();
                    if let Some(chain) = &mut self.chain {
                        chain.hasher.update(&piece);
                    }
                    if let Some(checksum) = &mut self.checksum {
                        checksum.update(&piece);
                    }
                    self.current.push(piece);
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::DataEnd { last: false }
                    } else {
                        State::Data { remaining }
                    };
                }
                State::DataEnd { last } => {
                    if self.input.len() < 2 {
                        return Ok(());
                    }
                    if &self.input[..2] != b"\r\n" {
                        return Err(SigV4Error::ChunkMalformed(
                            "chunk data is not followed by CRLF",
                        ));
                    }
                    self.input.advance(2);
                    if last {
                        self.end()?;
                    } else {
                        self.on_chunk_complete()?;
                        self.state = State::Header;
                    }
                }
                State::Trailer => {
                    let Some(line) = self.take_line()? else {
                        return Ok(());
                    };
                    self.on_trailer_line(&line)?;
                }
                State::TrailerEnd => {
                    if self.input.is_empty() || &self.input[..] == b"\r" {
                        return Ok(());
                    }
                    if !self.input.starts_with(b"\r\n") {
                        return Err(SigV4Error::ChunkMalformed(
                            "unexpected bytes after the trailer signature",
                        ));
                    }
                    self.input.advance(2);
                    self.end()?;
                }
                State::Done => {
                    if !self.input.is_empty() {
                        return Err(SigV4Error::ChunkMalformed(
                            "unexpected bytes after the final chunk",
                        ));
                    }
                    return Ok(());
                }
                State::Failed => return Err(SigV4Error::IncompleteBody),
            }
        }
    }

    /// Takes one CRLF-terminated line (without the CRLF), bounded in length.
    fn take_line(&mut self) -> Result<Option<BytesMut>, SigV4Error> {
        let window = &self.input[..self.input.len().min(MAX_LINE_LEN + 2)];
        match window.windows(2).position(|w| w == b"\r\n") {
            Some(pos) => {
                let line = self.input.split_to(pos);
                self.input.advance(2);
                Ok(Some(line))
            }
            None if self.input.len() > MAX_LINE_LEN => {
                Err(SigV4Error::ChunkMalformed("line too long"))
            }
            None => Ok(None),
        }
    }

    fn on_header(&mut self, line: &[u8]) -> Result<(), SigV4Error> {
        let line = std::str::from_utf8(line)
            .map_err(|_| SigV4Error::ChunkMalformed("chunk header is not ASCII"))?;
        let (size, ext) = match line.split_once(';') {
            Some((size, ext)) => (size, Some(ext)),
            None => (line, None),
        };
        if size.is_empty() || size.len() > 16 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SigV4Error::ChunkMalformed("chunk size is not hexadecimal"));
        }
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| SigV4Error::ChunkMalformed("chunk size is not hexadecimal"))?;
        if size > MAX_CHUNK_SIZE {
            return Err(SigV4Error::ChunkTooLarge);
        }
        if self.decoded_len.saturating_add(size) > self.expected_len {
            return Err(SigV4Error::DecodedLengthMismatch);
        }
        if let Some(chain) = &mut self.chain {
            let signature = ext
                .and_then(|e| e.strip_prefix(CHUNK_SIGNATURE_EXT))
                .and_then(parse_hex32)
                .ok_or(SigV4Error::ChunkMalformed(
                    "chunk header lacks a valid chunk-signature",
                ))?;
            chain.announced = signature;
            chain.hasher = Sha256::new();
        }
        if size > 0 {
            self.state = State::Data { remaining: size };
            return Ok(());
        }
        // The final, empty chunk: signed like any other (over no data).
        self.on_chunk_complete()?;
        self.state = if self.trailer {
            State::Trailer
        } else {
            State::DataEnd { last: true }
        };
        Ok(())
    }

    /// A chunk's data is all in: verify it (signed form), then release the
    /// previously held chunk and hold this one.
    fn on_chunk_complete(&mut self) -> Result<(), SigV4Error> {
        if let Some(chain) = &mut self.chain {
            let hasher = std::mem::replace(&mut chain.hasher, Sha256::new());
            let data_sha256: [u8; 32] = hasher.finalize().into();
            let expected = chunk_signature(
                &chain.signing.key,
                chain.signing.amz_date.as_str(),
                &chain.signing.scope,
                &chain.previous,
                &data_sha256,
            );
            if !same_bytes(&expected, &chain.announced) {
                return Err(SigV4Error::ChunkSignatureDoesNotMatch);
            }
            chain.previous = chain.announced;
        }
        for piece in self.current.iter() {
            self.decoded_len += piece.len() as u64;
        }
        if !self.current.is_empty() {
            self.ready.extend(self.held.drain(..));
            std::mem::swap(&mut self.held, &mut self.current);
        }
        Ok(())
    }

    fn on_trailer_line(&mut self, line: &[u8]) -> Result<(), SigV4Error> {
        if line.is_empty() {
            if self.trailer_lines == 0 {
                // Some encoders put a blank line between the final chunk and
                // the trailers; tolerate it.
                self.trailer_lines += 1;
                return Ok(());
            }
            return match self.chain {
                // Signed trailers end with their signature, not a blank line.
                Some(_) => Err(SigV4Error::ChunkMalformed(
                    "trailer section ended without x-amz-trailer-signature",
                )),
                None => self.end(),
            };
        }
        self.trailer_lines += 1;
        if self.trailer_lines > MAX_TRAILER_LINES {
            return Err(SigV4Error::ChunkMalformed("too many trailer lines"));
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| SigV4Error::ChunkMalformed("trailer is not ASCII"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or(SigV4Error::ChunkMalformed("trailer line lacks ':'"))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();

        if name == TRAILER_SIGNATURE {
            let Some(chain) = &mut self.chain else {
                return Err(SigV4Error::ChunkMalformed(
                    "unsigned payload carries a trailer signature",
                ));
            };
            let announced = parse_hex32(value).ok_or(SigV4Error::ChunkMalformed(
                "malformed x-amz-trailer-signature",
            ))?;
            let trailers_sha256: [u8; 32] = Sha256::digest(&self.trailer_canonical).into();
            let expected = trailer_signature(
                &chain.signing.key,
                chain.signing.amz_date.as_str(),
                &chain.signing.scope,
                &chain.previous,
                &trailers_sha256,
            );
            if !same_bytes(&expected, &announced) {
                return Err(SigV4Error::TrailerSignatureDoesNotMatch);
            }
            self.state = State::TrailerEnd;
            return Ok(());
        }

        if self.chain.is_some() {
            // The trailer's canonical form: `name:value\n`, in the order sent.
            self.trailer_canonical.extend_from_slice(name.as_bytes());
            self.trailer_canonical.push(b':');
            self.trailer_canonical.extend_from_slice(value.as_bytes());
            self.trailer_canonical.push(b'\n');
        }
        if let Some(checksum) = &self.checksum
            && name == checksum.algorithm().header_name()
            && self.checksum_value.replace(value.to_owned()).is_some()
        {
            return Err(SigV4Error::ChunkMalformed("repeated trailing checksum"));
        }
        Ok(())
    }

    /// Everything arrived: check length and checksum, then release the held
    /// chunk.
    fn end(&mut self) -> Result<(), SigV4Error> {
        if !self.input.is_empty() {
            return Err(SigV4Error::ChunkMalformed(
                "unexpected bytes after the final chunk",
            ));
        }
        if self.decoded_len != self.expected_len {
            return Err(SigV4Error::DecodedLengthMismatch);
        }
        if let Some(checksum) = &self.checksum {
            let value = self
                .checksum_value
                .as_deref()
                .ok_or(SigV4Error::MissingTrailerChecksum)?;
            if !checksum.matches(value) {
                return Err(SigV4Error::ChecksumMismatch {
                    algorithm: checksum.algorithm().display_name(),
                });
            }
        }
        self.ready.extend(self.held.drain(..));
        self.state = State::Done;
        Ok(())
    }
}
