//! Checking a parsed [`Authorization`] against the request and the secret:
//! the clock (skew, presigned expiry), unsigned `x-amz-*` headers, the
//! canonical request and the constant-time signature comparison. Success is a
//! [`Verified`]: what body verification needs (payload mode, signing key,
//! seed signature, scope, date).
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>

use std::fmt;
use std::time::{Duration, SystemTime};

use http::request::Parts;
use http::{HeaderMap, HeaderName};
use smallvec::SmallVec;

use super::amz_date::AmzDate;
use super::authorization::{AuthForm, Authorization, PayloadMode};
use super::canonical::{
    CanonicalInput, SigningKey, hex32, request_signature, string_to_sign, with_scratch,
};
use super::checksum::ChecksumAlgorithm;
use super::error::{MismatchDetail, SigV4Error};
use super::key_cache::SigningKeyCache;
use crate::constant_time::same_bytes;
use crate::raw_query::RawQuery;
use crate::split_ascii;

/// How far a signature's time may be from ours, either way.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// A verified signature: what body verification needs.
pub struct Verified {
    pub payload: PayloadMode,
    /// Presigned URLs: when the URL stops being valid.
    pub expires_at: Option<SystemTime>,
    /// Streaming uploads: `x-amz-decoded-content-length`, the payload size.
    pub decoded_content_length: Option<u64>,
    /// Streaming uploads with a trailer: the checksum `x-amz-trailer` names.
    pub trailer_checksum: Option<ChecksumAlgorithm>,
    pub(super) stream: StreamSigning,
}

/// What chunk and trailer signatures are computed from. The key is private,
/// zeroized on drop, and never printed.
#[derive(Clone)]
pub(super) struct StreamSigning {
    pub key: SigningKey,
    /// The request's own signature: the "previous signature" of chunk one.
    pub seed: [u8; 32],
    /// `<date>/<region>/<service>/aws4_request`; empty unless the body
    /// is `aws-chunked`.
    pub scope: String,
    pub amz_date: AmzDate,
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("payload", &self.payload)
            .field("expires_at", &self.expires_at)
            .field("decoded_content_length", &self.decoded_content_length)
            .field("trailer_checksum", &self.trailer_checksum)
            .field("scope", &self.stream.scope)
            .field("amz_date", &self.stream.amz_date)
            .finish_non_exhaustive()
    }
}

impl Authorization<'_> {
    /// Verifies the signature of an S3 request (whose body is described by
    /// `x-amz-content-sha256`). Does not check the credential's service: the
    /// caller does (`s3` for S3, `sts` for the STS API).
    pub fn verify(
        &self,
        parts: &Parts,
        secret: &[u8],
        now: SystemTime,
    ) -> Result<Verified, SigV4Error> {
        self.verify_keyed(parts, &RawQuery::of(&parts.uri), secret, None, now)
    }

    /// [`Authorization::verify`] with the signing key taken from `keys`,
    /// the cache of `secret`'s derived key (and no other secret's).
    pub fn verify_cached(
        &self,
        parts: &Parts,
        secret: &[u8],
        keys: &SigningKeyCache,
        now: SystemTime,
    ) -> Result<Verified, SigV4Error> {
        self.verify_cached_with_query(parts, &RawQuery::of(&parts.uri), secret, keys, now)
    }

    /// [`Authorization::verify_cached`] with `parts.uri`'s query already
    /// split (once a request, for every stage that reads it).
    pub fn verify_cached_with_query(
        &self,
        parts: &Parts,
        query: &RawQuery<'_>,
        secret: &[u8],
        keys: &SigningKeyCache,
        now: SystemTime,
    ) -> Result<Verified, SigV4Error> {
        self.verify_keyed(parts, query, secret, Some(keys), now)
    }

    fn verify_keyed(
        &self,
        parts: &Parts,
        query: &RawQuery<'_>,
        secret: &[u8],
        keys: Option<&SigningKeyCache>,
        now: SystemTime,
    ) -> Result<Verified, SigV4Error> {
        let payload_line = match (&self.form, &self.payload) {
            (_, PayloadMode::Undeclared) => return Err(SigV4Error::MissingContentSha256),
            (AuthForm::Presigned, PayloadMode::Unsigned) => "UNSIGNED-PAYLOAD",
            // Header auth, or a presigned URL that signed the header: the
            // literal value as sent (parse already validated it).
            _ => self.content_sha256.unwrap_or("UNSIGNED-PAYLOAD"),
        };
        self.verify_with(
            parts,
            query,
            secret,
            keys,
            now,
            payload_line,
            self.payload.clone(),
        )
    }

    /// Verifies a request whose client does not send `x-amz-content-sha256`
    /// (the STS query API): the caller buffered the small body and hashed it.
    /// If the header was sent anyway, it must match the body; a body the
    /// signature does not cover (`UNSIGNED-PAYLOAD`, streaming) is refused,
    /// since the form is what the request asks for.
    pub fn verify_with_body_sha256(
        &self,
        parts: &Parts,
        secret: &[u8],
        now: SystemTime,
        body_sha256: &[u8; 32],
    ) -> Result<Verified, SigV4Error> {
        match &self.payload {
            PayloadMode::Undeclared => {
                let hex = hex32(body_sha256);
                let line = std::str::from_utf8(&hex).unwrap_or_default();
                self.verify_with(
                    parts,
                    &RawQuery::of(&parts.uri),
                    secret,
                    None,
                    now,
                    line,
                    PayloadMode::Sha256(*body_sha256),
                )
            }
            PayloadMode::Sha256(declared) if declared != body_sha256 => {
                Err(SigV4Error::ContentSha256Mismatch)
            }
            PayloadMode::Sha256(_) => self.verify(parts, secret, now),
            _ => Err(SigV4Error::PayloadNotSigned),
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "private, three call sites, each input distinct"
    )]
    fn verify_with(
        &self,
        parts: &Parts,
        query: &RawQuery<'_>,
        secret: &[u8],
        keys: Option<&SigningKeyCache>,
        now: SystemTime,
        payload_line: &str,
        payload: PayloadMode,
    ) -> Result<Verified, SigV4Error> {
        let expires_at = self.check_clock(now)?;
        self.check_amz_headers_signed(parts)?;

        let input = CanonicalInput {
            parts,
            query,
            signed_headers: &self.signed_headers,
            payload: payload_line,
            presigned: self.form == AuthForm::Presigned,
        };
        let scope = self.credential.as_str();
        let (date, region, service) = (
            self.credential.date(),
            self.credential.region(),
            self.credential.service(),
        );
        let key = match keys {
            Some(keys) => keys.key(secret, date, region, service),
            None => SigningKey::derive(secret, date, region, service),
        };
        let mismatch = with_scratch(|canonical_request| {
            input.build_into(canonical_request, false);
            let expected =
                request_signature(&key, self.amz_date.as_str(), scope, canonical_request);
            if same_bytes(&expected, &self.signature) {
                return None;
            }
            // For operators only: what we signed, token redacted. Never the
            // expected signature.
            Some(MismatchDetail {
                string_to_sign: string_to_sign(self.amz_date.as_str(), scope, canonical_request),
                canonical_request: String::from_utf8_lossy(&input.build(true)).into_owned(),
            })
        });
        if let Some(detail) = mismatch {
            return Err(SigV4Error::SignatureDoesNotMatch(Some(Box::new(detail))));
        }

        let (decoded_content_length, trailer_checksum) = streaming_headers(parts, &payload)?;
        // Only chunk and trailer signatures need the scope again.
        let scope = if payload.is_streaming() {
            scope.to_owned()
        } else {
            String::new()
        };
        Ok(Verified {
            payload,
            expires_at,
            decoded_content_length,
            trailer_checksum,
            stream: StreamSigning {
                key,
                seed: self.signature,
                scope,
                amz_date: self.amz_date,
            },
        })
    }

    /// Header auth: within 15 minutes either way. Presigned: not from more
    /// than 15 minutes in the future, and not past its expiry.
    fn check_clock(&self, now: SystemTime) -> Result<Option<SystemTime>, SigV4Error> {
        let signed = self.signed_at;
        if signed > now + MAX_SKEW {
            return Err(SigV4Error::RequestTimeTooSkewed);
        }
        match self.expires_in {
            None => {
                if now > signed + MAX_SKEW {
                    return Err(SigV4Error::RequestTimeTooSkewed);
                }
                Ok(None)
            }
            Some(expires_in) => {
                let expires_at = signed + expires_in;
                if now > expires_at {
                    return Err(SigV4Error::Expired);
                }
                Ok(Some(expires_at))
            }
        }
    }

    /// S3 refuses `x-amz-*` headers that are present but not signed: they
    /// change what the request does (`x-amz-copy-source`, `x-amz-acl`…), and
    /// s3gate forwards them, so an unsigned one could have been added on the
    /// way.
    fn check_amz_headers_signed(&self, parts: &Parts) -> Result<(), SigV4Error> {
        match first_unsigned_amz(&parts.headers, &self.signed_headers) {
            Some(name) => Err(SigV4Error::UnsignedAmzHeader(name.to_owned())),
            None => Ok(()),
        }
    }
}

/// The first `x-amz-*` header name in `headers` that `signed_headers`
/// (`;`-separated) does not list.
///
/// The list's `x-amz-*` names are read out once, then each header is
/// looked for among them. Searching the whole list for each header split
/// it again every time: ~300 instructions a header, and a header-signed
/// request carries three (`x-amz-date`, `x-amz-content-sha256`,
/// `x-amz-security-token`).
pub(super) fn first_unsigned_amz<'h>(
    headers: &'h HeaderMap,
    signed_headers: &str,
) -> Option<&'h str> {
    let signed: SmallVec<[&str; 8]> = split_ascii::split(signed_headers, b';')
        .filter(|name| name.starts_with("x-amz-"))
        .collect();
    headers
        .keys()
        .map(HeaderName::as_str)
        .find(|name| name.starts_with("x-amz-") && !signed.contains(name))
}

/// Streaming uploads need the decoded length (the proxy forwards with a
/// Content-Length) and, with a trailer, a checksum s3gate can verify.
fn streaming_headers(
    parts: &Parts,
    payload: &PayloadMode,
) -> Result<(Option<u64>, Option<ChecksumAlgorithm>), SigV4Error> {
    if !payload.is_streaming() {
        return Ok((None, None));
    }
    let decoded = parts
        .headers
        .get(crate::amz_header::X_AMZ_DECODED_CONTENT_LENGTH)
        .ok_or(SigV4Error::MissingDecodedContentLength)?
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or(SigV4Error::MissingDecodedContentLength)?;

    let mut checksum = None;
    if let Some(value) = parts.headers.get(crate::amz_header::X_AMZ_TRAILER) {
        let value = value.to_str().map_err(|_| SigV4Error::UnsupportedTrailer)?;
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let algorithm =
                ChecksumAlgorithm::from_header_name(name).ok_or(SigV4Error::UnsupportedTrailer)?;
            if checksum.replace(algorithm).is_some() {
                return Err(SigV4Error::UnsupportedTrailer);
            }
        }
    }
    let has_trailer = matches!(
        payload,
        PayloadMode::StreamingSigned { trailer: true } | PayloadMode::StreamingUnsignedTrailer
    );
    if !has_trailer && checksum.is_some() {
        return Err(SigV4Error::UnsupportedTrailer);
    }
    // Unsigned chunks have nothing but the checksum to protect them.
    if *payload == PayloadMode::StreamingUnsignedTrailer && checksum.is_none() {
        return Err(SigV4Error::UnsupportedTrailer);
    }
    Ok((Some(decoded), checksum))
}
