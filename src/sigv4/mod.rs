//! Incoming AWS Signature Version 4: the `Authorization` header, presigned
//! query strings, browser form (POST policy) signatures, and the payload
//! forms (hex hash, `UNSIGNED-PAYLOAD`, signed and unsigned `aws-chunked`
//! streaming with trailers).
//!
//! Pure: no I/O and no clock reads (the caller passes `now`). The secret is
//! passed in by the caller; this module never learns where it came from.
//! The query is read as [`crate::raw_query`] split it: the caller's split
//! ([`parse_with_query`], [`Authorization::verify_cached_with_query`]), so
//! the parameters the signature is checked over are the ones classified
//! and forwarded.
//!
//! Flow: [`parse`] finds the signature → the caller looks up the secret for
//! `access_key_id` (and checks `credential.service`) →
//! [`Authorization::verify`] → [`verified_body`] wraps the body so only
//! verified payload reaches the upstream.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html>

mod amz_date;
mod authorization;
mod body;
mod canonical;
mod checksum;
mod chunked;
mod error;
mod find;
mod integrity;
mod key_cache;
mod mac_key;
mod post;
mod presigned;
mod verify;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
pub(crate) mod tests;

#[cfg(test)]
mod fuzz;

pub use amz_date::AmzDate;
pub use authorization::{AuthForm, Authorization, CredentialScope, PayloadMode};
pub use body::{VerifiedBody, verified_body};
pub(crate) use canonical::unreserved_by_compares;
pub use canonical::{
    ALGORITHM, EMPTY_SHA256, EMPTY_SHA256_HEX, SigningKey, hex32, push_query, signature_of_hash,
};
pub use checksum::ChecksumAlgorithm;
pub use chunked::{MAX_CHUNK_SIZE, MAX_LINE_LEN};
pub use error::{MismatchDetail, SigV4Error};
pub use find::{parse, parse_with_query};
pub use integrity::BodyChecks;
pub use key_cache::SigningKeyCache;
pub use post::{PostSignature, PostSignatureError, sign_policy};
pub use presigned::MAX_EXPIRES_SECS;
pub use verify::{MAX_SKEW, Verified};
