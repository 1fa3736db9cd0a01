//! Request classification: addressing style, operation, and every
//! (action, resource) pair the request needs allowed.

use http::{HeaderMap, Method, Uri};

use super::error::S3Error;

/// How the caller named the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// `/bucket/key`
    Path,
    /// `bucket.<configured domain>/key`
    VirtualHost,
}

/// The S3 API operation, for audit and routing (e.g. `ListObjectsV2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    ListBuckets,
    DeleteObjects,
    Other,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        unimplemented!()
    }
}

/// A permission, spelled as IAM spells it without the `s3:` prefix
/// (e.g. `GetObject`, `ListBucket`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    GetObject,
    DeleteObject,
    DeleteObjectVersion,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        unimplemented!()
    }
}

/// A classified S3 request.
#[derive(Debug, Clone)]
pub struct S3Request {
    pub operation: Operation,
    pub addressing: Addressing,
    pub bucket: Option<String>,
    /// Decoded key.
    pub key: Option<String>,
    /// The path after `/bucket/` exactly as the caller sent it (still
    /// percent-encoded), used to build the upstream path byte-exact.
    pub raw_key: Option<String>,
    /// Every (action, `s3://bucket/key`) the request needs allowed.
    pub resources: Vec<(Action, String)>,
}

pub fn classify(
    _method: &Method,
    _uri: &Uri,
    _headers: &HeaderMap,
    _virtual_host_domains: &[String],
) -> Result<S3Request, S3Error> {
    unimplemented!()
}

pub fn delete_objects_keys(_body: &[u8]) -> Result<Vec<(String, Option<String>)>, S3Error> {
    unimplemented!()
}
