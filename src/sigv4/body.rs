//! [`VerifiedBody`]: the request body as the upstream must receive it,
//! verified while it streams and never buffered whole.
//!
//! The trick that keeps half-verified data out of the store: the proxy
//! forwards with a Content-Length, and this body always holds back the last
//! piece it has until the whole payload verified. A failure therefore comes
//! out *before* the final bytes, the upstream request is aborted short of its
//! length, and S3 stores nothing.
//!
//! - hex `x-amz-content-sha256`: hash while streaming, hold back the last
//!   frame, compare at the end (`XAmzContentSHA256Mismatch`);
//! - `UNSIGNED-PAYLOAD`: pass through;
//! - `aws-chunked` (signed, or unsigned with a trailer): decoded by
//!   [`ChunkDecoder`], which holds back one verified chunk.
//!
//! Whatever the form, `Content-MD5` and an `x-amz-checksum-*` header
//! ([`BodyChecks`]) are verified here too, over the decoded payload, with the
//! same hold-back: the last piece leaves only once every digest matched. The
//! store may check them as well, but s3gate does not rely on it (a store
//! that writes first and checks after would keep a corrupt object).
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html>

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::request::Parts;
use http_body::{Body, Frame, SizeHint};
use sha2::{Digest, Sha256};

use super::authorization::PayloadMode;
use super::chunked::ChunkDecoder;
use super::error::SigV4Error;
use super::integrity::BodyChecks;
use super::verify::Verified;
use crate::constant_time::same_bytes;

enum Mode {
    Passthrough,
    Sha256 {
        expected: [u8; 32],
        hasher: Sha256,
        /// The latest frame: released only when another arrives or the
        /// hash matched at the end.
        held: Option<Bytes>,
    },
    Chunked(Box<ChunkDecoder>),
}

/// The body as the upstream must see it.
pub struct VerifiedBody<B> {
    inner: B,
    mode: Mode,
    inner_done: bool,
    /// The payload stage (signature, hash, framing) has nothing more.
    payload_done: bool,
    /// `Content-MD5` / `x-amz-checksum-*`, fed every verified piece.
    checks: BodyChecks,
    /// With checks: the latest verified piece, released only when another
    /// arrives or every digest matched at the end.
    held: Option<Bytes>,
    /// `None` (or an error) was returned: nothing more is ever yielded.
    finished: bool,
    /// The payload's exact length when known.
    exact_len: Option<u64>,
    emitted: u64,
}

impl<B> std::fmt::Debug for VerifiedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match &self.mode {
            Mode::Passthrough => "passthrough",
            Mode::Sha256 { .. } => "sha256",
            Mode::Chunked(_) => "aws-chunked",
        };
        f.debug_struct("VerifiedBody")
            .field("mode", &mode)
            .field("exact_len", &self.exact_len)
            .field("emitted", &self.emitted)
            .field("checks", &self.checks)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// Wraps the incoming body so it yields only verified payload, checked
/// against `checks` as well.
pub fn verified_body<B>(
    body: B,
    verified: &Verified,
    parts: &Parts,
    checks: BodyChecks,
) -> VerifiedBody<B> {
    let content_length = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (mode, exact_len) = match &verified.payload {
        PayloadMode::Sha256(expected) => (
            Mode::Sha256 {
                expected: *expected,
                hasher: Sha256::new(),
                held: None,
            },
            content_length,
        ),
        // `Undeclared` never reaches here from `verify` (it refuses it), and
        // `verify_with_body_sha256` turns it into `Sha256`.
        PayloadMode::Unsigned | PayloadMode::Undeclared => (Mode::Passthrough, content_length),
        PayloadMode::StreamingSigned { trailer } => {
            // `verify` guarantees the decoded length for streaming payloads;
            // zero would make any data a length mismatch, failing closed.
            let len = verified.decoded_content_length.unwrap_or(0);
            let decoder = ChunkDecoder::new(
                Some(verified.stream.clone()),
                *trailer,
                verified.trailer_checksum,
                len,
            );
            (Mode::Chunked(Box::new(decoder)), Some(len))
        }
        PayloadMode::StreamingUnsignedTrailer => {
            let len = verified.decoded_content_length.unwrap_or(0);
            let decoder = ChunkDecoder::new(None, true, verified.trailer_checksum, len);
            (Mode::Chunked(Box::new(decoder)), Some(len))
        }
    };
    VerifiedBody {
        inner: body,
        mode,
        inner_done: false,
        payload_done: false,
        checks,
        held: None,
        finished: false,
        exact_len,
        emitted: 0,
    }
}

type Polled = Poll<Option<Result<Frame<Bytes>, SigV4Error>>>;
type Payload = Poll<Option<Result<Bytes, SigV4Error>>>;

impl<B> VerifiedBody<B> {
    fn emit(&mut self, data: Bytes) -> Polled {
        self.emitted += data.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn fail(&mut self, err: SigV4Error) -> Polled {
        self.finished = true;
        self.held = None;
        if let Mode::Sha256 { held, .. } = &mut self.mode {
            *held = None;
        }
        Poll::Ready(Some(Err(err)))
    }

    fn end(&mut self) -> Polled {
        self.finished = true;
        Poll::Ready(None)
    }

    fn payload_end(&mut self) -> Payload {
        self.payload_done = true;
        Poll::Ready(None)
    }
}

impl<B> VerifiedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    /// The next piece of payload that passed the signature stage (hash,
    /// chunk signatures, trailer), or the failure.
    fn poll_payload(&mut self, cx: &mut Context<'_>) -> Payload {
        if self.payload_done {
            return Poll::Ready(None);
        }
        loop {
            // Release what is releasable before reading more.
            if let Mode::Chunked(decoder) = &mut self.mode {
                if let Some(data) = decoder.pop() {
                    return Poll::Ready(Some(Ok(data)));
                }
                if decoder.is_done() {
                    return self.payload_end();
                }
            }
            if self.inner_done {
                match &mut self.mode {
                    Mode::Passthrough => return self.payload_end(),
                    Mode::Sha256 {
                        expected,
                        hasher,
                        held,
                    } => {
                        let actual: [u8; 32] = std::mem::take(hasher).finalize().into();
                        if !same_bytes(&actual, expected) {
                            return Poll::Ready(Some(Err(SigV4Error::ContentSha256Mismatch)));
                        }
                        let held = held.take();
                        // Verified; the next poll ends the payload.
                        self.payload_done = true;
                        return Poll::Ready(held.map(Ok));
                    }
                    Mode::Chunked(decoder) => {
                        if let Err(err) = decoder.finish() {
                            return Poll::Ready(Some(Err(err)));
                        }
                        // Loop: pop the released chunk, then end.
                        continue;
                    }
                }
            }

            let frame = match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                None => {
                    self.inner_done = true;
                    continue;
                }
                Some(Err(err)) => return Poll::Ready(Some(Err(SigV4Error::from_body(err)))),
                Some(Ok(frame)) => frame,
            };
            // The client's own HTTP trailers are not part of the payload and
            // were never signed: dropped.
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if data.is_empty() {
                continue;
            }
            match &mut self.mode {
                Mode::Passthrough => return Poll::Ready(Some(Ok(data))),
                Mode::Sha256 { hasher, held, .. } => {
                    hasher.update(&data);
                    if let Some(previous) = held.replace(data) {
                        return Poll::Ready(Some(Ok(previous)));
                    }
                }
                Mode::Chunked(decoder) => {
                    if let Err(err) = decoder.push(data) {
                        return Poll::Ready(Some(Err(err)));
                    }
                }
            }
        }
    }
}

impl<B> Body for VerifiedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    type Data = Bytes;
    type Error = SigV4Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Polled {
        let this = self.get_mut();
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            match ready!(this.poll_payload(cx)) {
                Some(Ok(data)) => {
                    if this.checks.is_empty() && this.held.is_none() {
                        return this.emit(data);
                    }
                    this.checks.update(&data);
                    if let Some(previous) = this.held.replace(data) {
                        return this.emit(previous);
                    }
                }
                Some(Err(err)) => return this.fail(err),
                None => {
                    if let Err(err) = this.checks.finish() {
                        return this.fail(err);
                    }
                    return match this.held.take() {
                        Some(data) => this.emit(data),
                        None => this.end(),
                    };
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    fn size_hint(&self) -> SizeHint {
        if let Some(len) = self.exact_len {
            return SizeHint::with_exact(len.saturating_sub(self.emitted));
        }
        let held = match &self.mode {
            Mode::Sha256 { held: Some(h), .. } => h.len() as u64,
            _ => 0,
        } + self.held.as_ref().map_or(0, |h| h.len() as u64);
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(held));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(held));
        }
        hint
    }
}
