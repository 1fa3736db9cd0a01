//! Incoming AWS Signature Version 4: the `Authorization` header, presigned
//! query strings, and the payload forms (hex hash, `UNSIGNED-PAYLOAD`, signed
//! and unsigned `aws-chunked` streaming with trailers).
//!
//! Pure: no I/O and no clock reads (the caller passes `now`). The secret is
//! passed in by the caller; this module never learns where it came from.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html>

use std::time::SystemTime;

use bytes::Bytes;
use http::request::Parts;

use crate::s3::S3Error;

/// How the request carried its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthForm {
    Header,
    Presigned,
}

/// What `x-amz-content-sha256` promised about the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadMode {
    Sha256([u8; 32]),
    Unsigned,
    StreamingSigned { trailer: bool },
    StreamingUnsignedTrailer,
}

#[derive(Debug, Clone)]
pub enum SigV4Error {
    Missing,
}

impl SigV4Error {
    pub fn to_s3_error(&self) -> S3Error {
        unimplemented!()
    }
}

impl std::fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
impl std::error::Error for SigV4Error {}

/// A parsed, not yet verified, signature.
#[derive(Debug)]
pub struct Authorization {
    pub form: AuthForm,
    pub access_key_id: String,
    pub security_token: Option<String>,
    pub payload: PayloadMode,
}

pub fn parse(_parts: &Parts) -> Result<Authorization, SigV4Error> {
    unimplemented!()
}

/// A verified signature: what body verification needs.
#[derive(Debug)]
pub struct Verified {
    pub payload: PayloadMode,
    /// Presigned URLs: when the URL stops being valid.
    pub expires_at: Option<SystemTime>,
}

impl Authorization {
    pub fn verify(
        &self,
        _parts: &Parts,
        _secret: &[u8],
        _now: SystemTime,
    ) -> Result<Verified, SigV4Error> {
        unimplemented!()
    }
}

/// The body as the upstream must see it.
pub struct VerifiedBody<B> {
    _inner: B,
}

pub fn verified_body<B>(_body: B, _verified: &Verified, _parts: &Parts) -> VerifiedBody<B> {
    unimplemented!()
}

impl<B> http_body::Body for VerifiedBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    type Data = Bytes;
    type Error = SigV4Error;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, SigV4Error>>> {
        unimplemented!()
    }
}
