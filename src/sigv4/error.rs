//! `SigV4Error`: every way an incoming signature or a signed body can fail,
//! one variant per distinct failure, with no HTTP in it. `to_s3_error` is the
//! one place that turns a failure into S3's code and a caller-facing message.
//!
//! Messages never carry a secret, a signature, a session token or a signing
//! key. The canonical request kept for `SignatureDoesNotMatch` is for
//! operators (it has the token redacted) and is never rendered to the caller.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>

use std::borrow::Cow;
use std::fmt;

use crate::s3::{S3Error, S3ErrorCode};

/// What the verifier computed when a signature did not match: enough for an
/// operator to compare with the client's own canonical request. Never the
/// expected signature, never the secret; the session token is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct MismatchDetail {
    pub canonical_request: String,
    pub string_to_sign: String,
}

impl fmt::Debug for MismatchDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MismatchDetail")
            .field("canonical_request", &self.canonical_request)
            .field("string_to_sign", &self.string_to_sign)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigV4Error {
    /// No `Authorization` header and no presigned query: an anonymous request.
    Missing,
    /// Signature Version 2 (`Authorization: AWS AKID:sig` or `AWSAccessKeyId`
    /// in the query). S3 itself is retiring it; s3gate never accepted it.
    SignatureV2,
    /// Both an `Authorization` header and a presigned query.
    MultipleAuthMechanisms,
    /// An algorithm other than `AWS4-HMAC-SHA256` (e.g. SigV4a).
    UnsupportedAlgorithm { presigned: bool },
    /// The `Authorization` header does not parse; the reason is static text.
    HeaderMalformed(&'static str),
    /// The presigned query does not parse; the reason is static text.
    QueryMalformed(&'static str),
    /// `SignedHeaders` does not include `host`.
    HostNotSigned { presigned: bool },
    /// The credential scope names another service than the one called.
    WrongService { presigned: bool, expected: String },
    /// The credential scope names a region the gateway does not serve.
    WrongRegion {
        presigned: bool,
        region: String,
        expected: String,
    },
    /// The credential scope's date is not the date of `X-Amz-Date`.
    CredentialDateMismatch { presigned: bool },
    /// Header auth without `x-amz-content-sha256` (S3 requires it).
    MissingContentSha256,
    /// `x-amz-content-sha256` is neither a hex SHA-256 nor a known literal.
    InvalidContentSha256,
    /// Neither `x-amz-date` nor `date`.
    MissingDate,
    /// `x-amz-date` / `date` / `X-Amz-Date` does not parse.
    InvalidDate,
    /// `X-Amz-Expires` outside 1..=604800.
    InvalidExpires,
    /// The presigned URL is past `X-Amz-Date + X-Amz-Expires`.
    Expired,
    /// More than 15 minutes between the signature's time and ours.
    RequestTimeTooSkewed,
    /// An `x-amz-*` header the client sent but did not sign: someone on the
    /// path could have added or changed it.
    UnsignedAmzHeader(String),
    /// The request signature does not match.
    SignatureDoesNotMatch(Option<Box<MismatchDetail>>),
    /// A signed body (hex `x-amz-content-sha256`) hashed to something else.
    ContentSha256Mismatch,
    /// An `aws-chunked` chunk signature does not match its data.
    ChunkSignatureDoesNotMatch,
    /// The `x-amz-trailer-signature` does not match the trailers.
    TrailerSignatureDoesNotMatch,
    /// The `aws-chunked` framing is broken; the reason is static text.
    ChunkMalformed(&'static str),
    /// A chunk declared larger than s3gate is willing to hold in memory.
    ChunkTooLarge,
    /// The body ended before the encoding said it would.
    IncompleteBody,
    /// Streaming upload without `x-amz-decoded-content-length`.
    MissingDecodedContentLength,
    /// The decoded payload length differs from `x-amz-decoded-content-length`.
    DecodedLengthMismatch,
    /// `x-amz-trailer` names something s3gate cannot verify.
    UnsupportedTrailer,
    /// The trailer announced in `x-amz-trailer` never came.
    MissingTrailerChecksum,
    /// The trailing checksum does not match the data.
    ChecksumMismatch { algorithm: &'static str },
    /// `Content-MD5` is empty, not base64, or not 16 bytes.
    InvalidDigest,
    /// The payload's MD5 is not the `Content-MD5` the caller sent.
    ContentMd5Mismatch,
    /// An `x-amz-checksum-*` header is not base64 of a digest of its size.
    InvalidChecksumHeader(&'static str),
    /// More than one `x-amz-checksum-*` header.
    MultipleChecksumHeaders,
    /// Reading the body from the client failed (usually: it disconnected).
    Body(String),
    /// The body brought less than its minimum pace for a whole window of
    /// this many seconds (`[server] body_rate_window`).
    BodyStalled { window_secs: u64 },
    /// The signature does not cover the body (`UNSIGNED-PAYLOAD` or a
    /// streaming form) where the body holds what is asked for: the STS
    /// API, whose form carries the `Policy`, duration and quota.
    PayloadNotSigned,
}

impl SigV4Error {
    /// S3's code and a message for the caller. The message is safe to show:
    /// no secret, signature or token is ever part of it.
    pub fn to_s3_error(&self) -> S3Error {
        use S3ErrorCode as C;
        let (code, message): (S3ErrorCode, Cow<'static, str>) = match self {
            Self::Missing => (
                C::AccessDenied,
                "Anonymous access is not allowed; sign the request with AWS Signature Version 4"
                    .into(),
            ),
            Self::SignatureV2 => (
                C::InvalidRequest,
                "Signature Version 2 is not supported; use AWS Signature Version 4 \
                 (aws CLI: `aws configure set default.s3.signature_version s3v4`)"
                    .into(),
            ),
            Self::MultipleAuthMechanisms => (
                C::InvalidArgument,
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter \
                 or the Authorization header should be specified"
                    .into(),
            ),
            Self::UnsupportedAlgorithm { presigned } => (
                if *presigned {
                    C::AuthorizationQueryParametersError
                } else {
                    C::AuthorizationHeaderMalformed
                },
                "Unsupported signing algorithm; s3gate accepts AWS4-HMAC-SHA256".into(),
            ),
            Self::HeaderMalformed(reason) => (
                C::AuthorizationHeaderMalformed,
                format!("The authorization header is malformed: {reason}").into(),
            ),
            Self::QueryMalformed(reason) => (
                C::AuthorizationQueryParametersError,
                format!("The presigned query parameters are malformed: {reason}").into(),
            ),
            Self::HostNotSigned { presigned } => (
                if *presigned {
                    C::AuthorizationQueryParametersError
                } else {
                    C::AuthorizationHeaderMalformed
                },
                "The host header must be part of the signed headers".into(),
            ),
            Self::WrongService {
                presigned,
                expected,
            } => (
                if *presigned {
                    C::AuthorizationQueryParametersError
                } else {
                    C::AuthorizationHeaderMalformed
                },
                format!("The credential scope must name the service '{expected}'").into(),
            ),
            Self::WrongRegion {
                presigned,
                region,
                expected,
            } => {
                let what = if *presigned {
                    "X-Amz-Credential"
                } else {
                    "authorization header"
                };
                // S3's own wording, which SDKs recognise.
                let message = format!(
                    "The {what} is malformed; the region '{region}' is wrong; expecting \
                     '{expected}'"
                );
                let code = if *presigned {
                    C::AuthorizationQueryParametersError
                } else {
                    C::AuthorizationHeaderMalformed
                };
                return S3Error::new(code, message).with_region(expected.clone());
            }
            Self::CredentialDateMismatch { presigned } => (
                if *presigned {
                    C::AuthorizationQueryParametersError
                } else {
                    C::AuthorizationHeaderMalformed
                },
                "Invalid credential date: it is not the same as the date of X-Amz-Date".into(),
            ),
            Self::MissingContentSha256 => (
                C::InvalidRequest,
                "Missing required header for this request: x-amz-content-sha256".into(),
            ),
            Self::InvalidContentSha256 => (
                C::InvalidArgument,
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* value or a valid \
                 hex-encoded SHA-256"
                    .into(),
            ),
            Self::MissingDate => (
                C::AccessDenied,
                "AWS authentication requires a valid Date or x-amz-date header".into(),
            ),
            Self::InvalidDate => (
                C::AccessDenied,
                "The request date is not in the format YYYYMMDD'T'HHMMSS'Z'".into(),
            ),
            Self::Expired => (C::AccessDenied, "Request has expired".into()),
            // S3 answers this one 403 rather than its code's usual 400.
            Self::InvalidExpires => {
                return S3Error::new(
                    C::AuthorizationQueryParametersError,
                    "X-Amz-Expires must be a number of seconds between 1 and 604800 (7 days)",
                )
                .with_status(http::StatusCode::FORBIDDEN);
            }
            Self::RequestTimeTooSkewed => (
                C::RequestTimeTooSkewed,
                "The difference between the request time and the current time is too large \
                 (more than 15 minutes); check the client's clock"
                    .into(),
            ),
            Self::UnsignedAmzHeader(name) => (
                C::AccessDenied,
                format!("There were headers present in the request which were not signed: {name}")
                    .into(),
            ),
            Self::SignatureDoesNotMatch(_) => (
                C::SignatureDoesNotMatch,
                "The request signature we calculated does not match the signature you provided. \
                 Check your key and signing method."
                    .into(),
            ),
            Self::ContentSha256Mismatch => (
                C::XAmzContentSHA256Mismatch,
                "The provided 'x-amz-content-sha256' header does not match what was computed"
                    .into(),
            ),
            Self::ChunkSignatureDoesNotMatch => (
                C::SignatureDoesNotMatch,
                "The chunk signature we calculated does not match the signature you provided"
                    .into(),
            ),
            Self::TrailerSignatureDoesNotMatch => (
                C::SignatureDoesNotMatch,
                "The trailer signature we calculated does not match the signature you provided"
                    .into(),
            ),
            // S3's codes for framing: the bytes are not what the encoding
            // says (InvalidArgument), or they stop short (IncompleteBody).
            Self::ChunkMalformed(reason) => (
                C::InvalidArgument,
                format!("The aws-chunked body is malformed: {reason}").into(),
            ),
            Self::ChunkTooLarge => (
                C::InvalidArgument,
                "An aws-chunked chunk is larger than this gateway accepts (16 MiB)".into(),
            ),
            Self::BodyStalled { .. } => (
                C::RequestTimeout,
                "Your socket connection to the server was not read from or written to within \
                 the timeout period. Idle connections will be closed."
                    .into(),
            ),
            Self::IncompleteBody => (
                C::IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP \
                 header"
                    .into(),
            ),
            Self::MissingDecodedContentLength => (
                C::MissingContentLength,
                "Streaming uploads must carry x-amz-decoded-content-length".into(),
            ),
            Self::DecodedLengthMismatch => (
                C::IncompleteBody,
                "The decoded body length does not match x-amz-decoded-content-length".into(),
            ),
            Self::UnsupportedTrailer => (
                C::InvalidArgument,
                "x-amz-trailer must name one of x-amz-checksum-crc32, -crc32c, -crc64nvme, \
                 -sha1 or -sha256"
                    .into(),
            ),
            Self::MissingTrailerChecksum => (
                C::IncompleteBody,
                "The trailing checksum announced in x-amz-trailer was not sent".into(),
            ),
            Self::ChecksumMismatch { algorithm } => (
                C::BadDigest,
                format!("The {algorithm} you specified did not match the calculated checksum")
                    .into(),
            ),
            Self::InvalidDigest => (
                C::InvalidDigest,
                "The Content-MD5 you specified is not valid".into(),
            ),
            Self::ContentMd5Mismatch => (
                C::BadDigest,
                "The Content-MD5 you specified did not match what we received".into(),
            ),
            Self::InvalidChecksumHeader(name) => (
                C::InvalidRequest,
                format!("Value for {name} header is invalid").into(),
            ),
            Self::MultipleChecksumHeaders => (
                C::InvalidRequest,
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not \
                 allowed"
                    .into(),
            ),
            Self::Body(_) => (
                C::IncompleteBody,
                "The request body ended before it was complete".into(),
            ),
            Self::PayloadNotSigned => (
                C::AccessDenied,
                "The signature must cover the request body: sign its SHA-256, not \
                 UNSIGNED-PAYLOAD or a streaming form (as AWS STS requires)"
                    .into(),
            ),
        };
        S3Error::new(code, message)
    }
}

impl fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The caller-facing message plus, for body read failures, the cause:
        // both are free of secrets, so this is safe in logs.
        let err = self.to_s3_error();
        match self {
            Self::Body(cause) => write!(f, "{}: {} ({cause})", err.code, err.message),
            Self::BodyStalled { window_secs } => write!(
                f,
                "{}: the request body stalled (under its minimum pace for {window_secs} s)",
                err.code
            ),
            _ => write!(f, "{}: {}", err.code, err.message),
        }
    }
}

impl std::error::Error for SigV4Error {}

impl SigV4Error {
    /// A body stage's failure: one of ours from a stage beneath (the pace
    /// floor's [`SigV4Error::BodyStalled`]) as it is; anything else (the
    /// connection's) as [`SigV4Error::Body`].
    pub fn from_body<E: std::error::Error + Send + Sync + 'static>(err: E) -> SigV4Error {
        let err: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
        match err.downcast::<SigV4Error>() {
            Ok(ours) => *ours,
            Err(other) => SigV4Error::Body(other.to_string()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn each_failure_maps_to_the_s3_code_s3_uses() {
        let cases = [
            (SigV4Error::Missing, S3ErrorCode::AccessDenied),
            (
                SigV4Error::BodyStalled { window_secs: 20 },
                S3ErrorCode::RequestTimeout,
            ),
            (SigV4Error::SignatureV2, S3ErrorCode::InvalidRequest),
            (
                SigV4Error::HeaderMalformed("x"),
                S3ErrorCode::AuthorizationHeaderMalformed,
            ),
            (
                SigV4Error::QueryMalformed("x"),
                S3ErrorCode::AuthorizationQueryParametersError,
            ),
            (
                SigV4Error::HostNotSigned { presigned: true },
                S3ErrorCode::AuthorizationQueryParametersError,
            ),
            (SigV4Error::Expired, S3ErrorCode::AccessDenied),
            (
                SigV4Error::RequestTimeTooSkewed,
                S3ErrorCode::RequestTimeTooSkewed,
            ),
            (
                SigV4Error::SignatureDoesNotMatch(None),
                S3ErrorCode::SignatureDoesNotMatch,
            ),
            (
                SigV4Error::ContentSha256Mismatch,
                S3ErrorCode::XAmzContentSHA256Mismatch,
            ),
            (
                SigV4Error::ChecksumMismatch { algorithm: "CRC32" },
                S3ErrorCode::BadDigest,
            ),
            (
                SigV4Error::Body("reset".into()),
                S3ErrorCode::IncompleteBody,
            ),
            (
                SigV4Error::MissingContentSha256,
                S3ErrorCode::InvalidRequest,
            ),
            (
                SigV4Error::InvalidContentSha256,
                S3ErrorCode::InvalidArgument,
            ),
            (
                SigV4Error::ChunkMalformed("x"),
                S3ErrorCode::InvalidArgument,
            ),
            (SigV4Error::ChunkTooLarge, S3ErrorCode::InvalidArgument),
            (
                SigV4Error::MissingTrailerChecksum,
                S3ErrorCode::IncompleteBody,
            ),
            (SigV4Error::InvalidDigest, S3ErrorCode::InvalidDigest),
            (SigV4Error::ContentMd5Mismatch, S3ErrorCode::BadDigest),
        ];
        for (err, code) in cases {
            assert_eq!(err.to_s3_error().code, code, "{err:?}");
        }
        assert_eq!(
            SigV4Error::Missing.to_s3_error().status(),
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn signature_v2_message_says_how_to_switch() {
        let msg = SigV4Error::SignatureV2.to_s3_error().message;
        assert!(msg.contains("Signature Version 4"));
        assert!(msg.contains("s3v4"));
    }

    #[test]
    fn mismatch_message_does_not_render_the_debug_detail() {
        let err = SigV4Error::SignatureDoesNotMatch(Some(Box::new(MismatchDetail {
            canonical_request: "GET\n/secret-path".into(),
            string_to_sign: "AWS4-HMAC-SHA256\nX".into(),
        })));
        let s3 = err.to_s3_error();
        assert!(!s3.message.contains("secret-path"));
        assert!(!err.to_string().contains("secret-path"));
    }
}
