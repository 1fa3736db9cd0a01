//! The `x-amz-*` header names s3gate reads or writes on every request, as
//! constants. `HeaderMap::get("x-amz-date")` parses and checks the name
//! before it hashes it (~150 instructions), and an insert by `&str`
//! allocates it; a `HeaderName` constant does neither. One list, so that
//! s3, sigv4, upstream and the gateway spell each name once.
//!
//! A leaf: depends on `http` only.

use http::HeaderName;

pub const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");
pub const X_AMZ_COPY_SOURCE: HeaderName = HeaderName::from_static("x-amz-copy-source");
pub const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
pub const X_AMZ_DECODED_CONTENT_LENGTH: HeaderName =
    HeaderName::from_static("x-amz-decoded-content-length");
pub const X_AMZ_METADATA_DIRECTIVE: HeaderName =
    HeaderName::from_static("x-amz-metadata-directive");
pub const X_AMZ_REQUEST_ID: HeaderName = HeaderName::from_static("x-amz-request-id");
pub const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
pub const X_AMZ_TRAILER: HeaderName = HeaderName::from_static("x-amz-trailer");
