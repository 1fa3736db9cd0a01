//! Request classification: addressing style, operation, and every
//! (action, resource) pair the request needs allowed.
//!
//! Owns the reading of the request line and of the few headers that change
//! what a request touches (`Host`, `x-amz-copy-source`). Depends on the
//! rest of [`super`] and on the request's query as [`crate::raw_query`]
//! split it (once, for every stage: [`classify_with_query`]); never reads a
//! body (DeleteObjects keys come later through
//! [`S3Request::set_delete_keys`]).
//!
//! # Resource grammar
//!
//! Every resource is a string compared byte-exact against scope patterns:
//!
//! ```text
//! s3://                     the account: ListAllMyBuckets (ListBuckets)
//! s3://BUCKET               the bucket itself: CreateBucket, DeleteBucket,
//!                           GetBucketLocation, versioning, tagging, acl,
//!                           policy, cors, lifecycle, encryption of the bucket
//! s3://BUCKET/PREFIX        a listing: ListBucket (ListObjects, ListObjectsV2,
//!                           HeadBucket), ListBucketVersions,
//!                           ListBucketMultipartUploads; PREFIX is the decoded
//!                           `prefix` parameter, empty when absent
//! s3://BUCKET/KEY           an object: every object action, including the
//!                           copy source of CopyObject / UploadPartCopy and
//!                           each key of a DeleteObjects body
//! ```
//!
//! KEY is the percent-decoded key, otherwise exactly as sent: `//` and
//! a decoded `%2F` are kept, never normalised, because the upstream stores
//! them that way. So the scope pattern `s3://dev/home/alice/*` allows
//! listing `s3://dev/home/alice/` but not `s3://dev/home/`, and does not
//! allow bucket-level operations on `s3://dev`.
//!
//! # Refusals and fail-closed choices
//!
//! - A bucket name starting with `_` is never valid (`/_s3gate/` is
//!   s3gate's own namespace): `InvalidBucketName`.
//! - Malformed percent-encoding or a key that is not UTF-8: `InvalidURI`.
//! - A query parameter classify does not know, or two operation-selecting
//!   subresources at once (`?acl&tagging`), make the request
//!   [`Operation::Other`] needing [`Action::Unclassified`], which only `*`
//!   grants: a subresource s3gate misreads must never be authorised as a
//!   different, weaker operation.
//! - A key, copy source or DeleteObjects key with a `.` or `..` path
//!   segment (after percent-decoding), or a listing prefix with one before
//!   its last `/`: `InvalidArgument`. S3 reads such keys literally, but
//!   a store that maps keys to paths may resolve them (`dst/../other`),
//!   so the key authorised would not be the key touched.
//! - Headers and `x-amz-*` query parameters: see [`super::headers`]. An
//!   implied action is needed on the operation's own resources (the
//!   destination of a copy); an unknown `x-amz-*` field is refused.
//!   [`Operation::Other`] skips the table: it needs `Unclassified`, which
//!   only `*` grants, and `*` holds every implied action too.
//! - A literal `+` in a key or prefix is ambiguous (form decoding reads it as
//!   a space; S3 has done both over time). SDKs always send `%2B`; when a raw
//!   `+` does appear, the request needs both readings allowed.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html>

use std::sync::Arc;

use http::{HeaderMap, Method, Uri};
use smallvec::SmallVec;

use super::action::{Action, Operation};
use super::error::{S3Error, S3ErrorCode};
use super::headers::{Encryption, implied_actions};
use super::name::{
    CopySource, decode, decoded, host, invalid_argument_prefix, invalid_copy_source,
    parse_copy_source, refuse_dot_segments, validate_bucket, virtual_host_bucket,
};
use super::query::{Query, Sub};
use crate::amz_header::X_AMZ_COPY_SOURCE;
use crate::raw_query::RawQuery;
use crate::split_ascii;

/// S3's limit on a key's UTF-8 bytes; longer keys are `KeyTooLongError`.
/// Checked here so s3gate never forwards (or audits) a key S3 would refuse.
pub const MAX_KEY_BYTES: usize = 1024;

/// How the caller named the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// `/bucket/key`
    Path,
    /// `bucket.<configured domain>/key`
    VirtualHost,
}

/// A classified S3 request.
#[derive(Debug, Clone)]
pub struct S3Request {
    pub operation: Operation,
    pub addressing: Addressing,
    /// Shared: the audit record names it too, without a copy.
    pub bucket: Option<Arc<str>>,
    /// Decoded key. The store's path is encoded from it afresh
    /// (`upstream`), never copied from the caller's. Shared, as `bucket`.
    pub key: Option<Arc<str>>,
    /// The `versionId` query parameter, when present.
    pub version_id: Option<String>,
    /// The decoded `prefix` of a listing, when present.
    pub prefix: Option<String>,
    pub copy_source: Option<CopySource>,
    /// Every (action, resource) the request needs allowed; see the module
    /// doc for the resource grammar. Authorise only when
    /// [`S3Request::needs_body_keys`] is false. Inline up to two: nearly
    /// every request names one resource (two when a `+` in its key reads
    /// both ways), and a `Vec` was an allocation of every request.
    pub resources: Resources,
    /// The actions the request's headers and `x-amz-*` parameters imply
    /// (already in `resources`, on the operation's own resources), for the
    /// audit line.
    pub implied: Vec<Action>,
    /// The server-side encryption the request asks for, which the policy
    /// decides on (a caller-chosen key, or a grant requiring encryption).
    pub encryption: Encryption,
    /// DeleteObjects only: whether the body's keys have been set.
    delete_keys_set: bool,
}

/// A request's (action, resource) pairs.
pub type Resources = SmallVec<[(Action, String); 2]>;

impl S3Request {
    /// True for DeleteObjects until the server has read the body and called
    /// [`S3Request::set_delete_keys`].
    ///
    /// Until then `resources` holds a fail-closed placeholder
    /// (`Unclassified` on `s3://BUCKET`), so a server that forgets the body
    /// denies rather than authorising an empty list.
    pub fn needs_body_keys(&self) -> bool {
        self.operation == Operation::DeleteObjects && !self.delete_keys_set
    }

    /// Replaces the DeleteObjects placeholder with one resource per key of the
    /// body (from [`super::delete_objects_keys`]): `DeleteObject`, or
    /// `DeleteObjectVersion` when the entry names a version. A no-op for any
    /// other operation.
    pub fn set_delete_keys(&mut self, keys: &[(String, Option<String>)]) {
        if self.operation != Operation::DeleteObjects {
            return;
        }
        // An empty list would authorise vacuously: keep the placeholder.
        // (delete_objects_keys never returns one.)
        let Some(bucket) = self.bucket.as_ref().filter(|_| !keys.is_empty()) else {
            return;
        };
        self.resources.clear();
        for (key, version) in keys {
            let action = if version.is_some() {
                Action::DeleteObjectVersion
            } else {
                Action::DeleteObject
            };
            let resource = object_resource(bucket, key);
            for implied in &self.implied {
                self.resources.push((*implied, resource.clone()));
            }
            self.resources.push((action, resource));
        }
        self.delete_keys_set = true;
    }
}

/// Classifies a request: who it addresses, what it does, what it touches.
///
/// `virtual_host_domains` are the domains under which `bucket.<domain>` is
/// virtual-hosted addressing; a `Host` equal to one of them is path-style.
pub fn classify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    virtual_host_domains: &[String],
) -> Result<S3Request, S3Error> {
    classify_with_query(
        method,
        uri,
        &RawQuery::of(uri),
        headers,
        virtual_host_domains,
    )
}

/// [`classify`] with `uri`'s query already split (once a request, for
/// every stage that reads it).
pub fn classify_with_query(
    method: &Method,
    uri: &Uri,
    query: &RawQuery<'_>,
    headers: &HeaderMap,
    virtual_host_domains: &[String],
) -> Result<S3Request, S3Error> {
    let path = uri.path();
    let invalid_uri = || S3Error::new(S3ErrorCode::InvalidURI, "Couldn't parse the specified URI.");
    let Some(after_slash) = path.strip_prefix('/') else {
        return Err(invalid_uri().with_resource(path));
    };

    // Host names are case-insensitive (DNS), so a virtual-hosted bucket is
    // the lowercase label, as S3 reads it.
    let host_bucket = host(uri, headers)
        .and_then(|h| virtual_host_bucket(h, virtual_host_domains))
        .map(str::to_ascii_lowercase);
    let (addressing, bucket, raw_key) = match host_bucket.as_deref() {
        Some(bucket) => (Addressing::VirtualHost, Some(bucket), Some(after_slash)),
        None => match split_ascii::split_once(after_slash, b'/') {
            Some((bucket, rest)) => (Addressing::Path, Some(bucket), Some(rest)),
            None if after_slash.is_empty() => (Addressing::Path, None, None),
            None => (Addressing::Path, Some(after_slash), None),
        },
    };
    if let Some(bucket) = bucket {
        validate_bucket(bucket).map_err(|e| e.with_resource(path))?;
    }
    let raw_key = raw_key.filter(|k| !k.is_empty());
    let key = match raw_key {
        Some(raw) => Some(Arc::<str>::from(
            &*decoded(raw, false).ok_or_else(|| invalid_uri().with_resource(path))?,
        )),
        None => None,
    };
    if let Some(k) = &key {
        refuse_dot_segments(k).map_err(|e| e.with_resource(path))?;
    }
    if key.as_ref().is_some_and(|k| k.len() > MAX_KEY_BYTES) {
        return Err(S3Error::new(
            S3ErrorCode::KeyTooLongError,
            "Your key is too long: S3 keys are at most 1024 bytes.",
        )
        .with_resource(path));
    }
    let query = Query::parse(query).map_err(|e| e.with_resource(path))?;

    let mut req = S3Request {
        operation: Operation::Other,
        addressing,
        bucket: bucket.map(Arc::from),
        key,
        version_id: query.version_id.clone(),
        prefix: None,
        copy_source: None,
        resources: Resources::new(),
        implied: Vec::new(),
        encryption: Encryption::of(headers, &query.amz),
        delete_keys_set: false,
    };
    match (bucket, raw_key) {
        (None, _) => classify_service(method, &query, &mut req),
        (Some(bucket), None) => classify_bucket(method, &query, headers, bucket, &mut req)?,
        (Some(bucket), Some(raw_key)) => {
            classify_object(method, &query, headers, bucket, raw_key, &mut req)
                .map_err(|e| e.with_resource(path))?;
        }
    }
    Ok(req)
}

/// The implied actions of `req`'s fields (see [`super::headers`]), pushed
/// for each of the first `own` resources (counted, not copied: a copy of
/// them would cost allocations per request); [`Operation::Other`] skips
/// the table.
fn push_implied(
    req: &mut S3Request,
    headers: &HeaderMap,
    query: &Query,
    own: usize,
) -> Result<(), S3Error> {
    if req.operation == Operation::Other {
        return Ok(());
    }
    req.implied = implied_actions(req.operation, headers, &query.amz)?;
    for action in &req.implied {
        for i in 0..own {
            if let Some((_, resource)) = req.resources.get(i) {
                let resource = resource.clone();
                req.resources.push((*action, resource));
            }
        }
    }
    Ok(())
}

/// `GET /`: the only service-level operation.
fn classify_service(method: &Method, query: &Query, req: &mut S3Request) {
    let op = if *method == Method::GET && query.selector() == Some(None) {
        Operation::ListBuckets
    } else {
        Operation::Other
    };
    let action = if op == Operation::Other {
        Action::Unclassified
    } else {
        Action::ListAllMyBuckets
    };
    req.operation = op;
    req.resources.push((action, "s3://".to_owned()));
}

fn classify_bucket(
    method: &Method,
    query: &Query,
    headers: &HeaderMap,
    bucket: &str,
    req: &mut S3Request,
) -> Result<(), S3Error> {
    use Operation as O;
    use Sub as S;
    let Some(sub) = query.selector() else {
        other(req, bucket_resource(bucket));
        return Ok(());
    };
    let op = match (method.as_str(), sub) {
        ("GET", None) => match query.list_type.as_deref() {
            None => O::ListObjects,
            Some("2") => O::ListObjectsV2,
            Some(_) => O::Other,
        },
        ("GET", Some(S::Versions)) => O::ListObjectVersions,
        ("GET", Some(S::Uploads)) => O::ListMultipartUploads,
        ("GET", Some(S::Location)) => O::GetBucketLocation,
        ("GET", Some(S::Versioning)) => O::GetBucketVersioning,
        ("GET", Some(S::Tagging)) => O::GetBucketTagging,
        ("GET", Some(S::Acl)) => O::GetBucketAcl,
        ("GET", Some(S::Policy)) => O::GetBucketPolicy,
        ("GET", Some(S::Cors)) => O::GetBucketCors,
        ("GET", Some(S::Lifecycle)) => O::GetBucketLifecycleConfiguration,
        ("GET", Some(S::Encryption)) => O::GetBucketEncryption,
        ("HEAD", None) => O::HeadBucket,
        ("PUT", None) => O::CreateBucket,
        ("PUT", Some(S::Versioning)) => O::PutBucketVersioning,
        ("PUT", Some(S::Tagging)) => O::PutBucketTagging,
        ("PUT", Some(S::Acl)) => O::PutBucketAcl,
        ("PUT", Some(S::Policy)) => O::PutBucketPolicy,
        ("PUT", Some(S::Cors)) => O::PutBucketCors,
        ("PUT", Some(S::Lifecycle)) => O::PutBucketLifecycleConfiguration,
        ("PUT", Some(S::Encryption)) => O::PutBucketEncryption,
        ("DELETE", None) => O::DeleteBucket,
        ("DELETE", Some(S::Tagging)) => O::DeleteBucketTagging,
        ("DELETE", Some(S::Policy)) => O::DeleteBucketPolicy,
        ("DELETE", Some(S::Cors)) => O::DeleteBucketCors,
        ("DELETE", Some(S::Lifecycle)) => O::DeleteBucketLifecycle,
        ("DELETE", Some(S::Encryption)) => O::DeleteBucketEncryption,
        ("POST", Some(S::Delete)) => O::DeleteObjects,
        // A browser form upload: the key is in the body, so what it needs
        // is decided by the gateway from the form (as a PutObject of the
        // final key), never from this placeholder.
        ("POST", None) => O::PostObject,
        _ => O::Other,
    };
    req.operation = op;

    let listing = |action: Action, req: &mut S3Request| -> Result<(), S3Error> {
        let raw = query.prefix.as_deref().unwrap_or("");
        let prefix = decode(raw, true).ok_or_else(invalid_argument_prefix)?;
        // The last segment of a prefix is a partial name (`a/.` lists
        // `a/.hidden`); the ones before it are whole.
        if let Some((whole, _)) = prefix.rsplit_once('/') {
            refuse_dot_segments(whole)?;
        }
        push_with_plus_reading(&mut req.resources, action, bucket, raw, &prefix, true);
        req.prefix = query.prefix.as_ref().map(|_| prefix);
        Ok(())
    };
    let bucket_level = |action: Action, req: &mut S3Request| {
        req.resources.push((action, bucket_resource(bucket)));
    };
    match op {
        O::ListObjects | O::ListObjectsV2 => listing(Action::ListBucket, req)?,
        O::ListObjectVersions => listing(Action::ListBucketVersions, req)?,
        O::ListMultipartUploads => listing(Action::ListBucketMultipartUploads, req)?,
        // HeadBucket needs s3:ListBucket; it lists nothing, so it is the
        // listing of the whole bucket: `s3://BUCKET/`.
        O::HeadBucket => req
            .resources
            .push((Action::ListBucket, object_resource(bucket, ""))),
        O::GetBucketLocation => bucket_level(Action::GetBucketLocation, req),
        O::GetBucketVersioning => bucket_level(Action::GetBucketVersioning, req),
        O::PutBucketVersioning => bucket_level(Action::PutBucketVersioning, req),
        O::GetBucketTagging => bucket_level(Action::GetBucketTagging, req),
        O::PutBucketTagging | O::DeleteBucketTagging => {
            bucket_level(Action::PutBucketTagging, req);
        }
        O::GetBucketAcl => bucket_level(Action::GetBucketAcl, req),
        O::PutBucketAcl => bucket_level(Action::PutBucketAcl, req),
        O::GetBucketPolicy => bucket_level(Action::GetBucketPolicy, req),
        O::PutBucketPolicy => bucket_level(Action::PutBucketPolicy, req),
        O::DeleteBucketPolicy => bucket_level(Action::DeleteBucketPolicy, req),
        O::GetBucketCors => bucket_level(Action::GetBucketCors, req),
        O::PutBucketCors | O::DeleteBucketCors => bucket_level(Action::PutBucketCors, req),
        O::GetBucketLifecycleConfiguration => {
            bucket_level(Action::GetLifecycleConfiguration, req);
        }
        O::PutBucketLifecycleConfiguration | O::DeleteBucketLifecycle => {
            bucket_level(Action::PutLifecycleConfiguration, req);
        }
        O::GetBucketEncryption => bucket_level(Action::GetEncryptionConfiguration, req),
        O::PutBucketEncryption | O::DeleteBucketEncryption => {
            bucket_level(Action::PutEncryptionConfiguration, req);
        }
        O::CreateBucket => bucket_level(Action::CreateBucket, req),
        O::DeleteBucket => bucket_level(Action::DeleteBucket, req),
        // Fail-closed placeholders until the body is read.
        O::DeleteObjects | O::PostObject => bucket_level(Action::Unclassified, req),
        _ => other(req, bucket_resource(bucket)),
    }
    // Bucket operations' implied actions are on the bucket; DeleteObjects'
    // go on each key once the body is read (`set_delete_keys`).
    let own = if matches!(op, O::DeleteObjects | O::PostObject) {
        0
    } else {
        req.resources.len()
    };
    push_implied(req, headers, query, own)
}

fn classify_object(
    method: &Method,
    query: &Query,
    headers: &HeaderMap,
    bucket: &str,
    raw_key: &str,
    req: &mut S3Request,
) -> Result<(), S3Error> {
    use Operation as O;
    use Sub as S;
    let copy = headers.contains_key(X_AMZ_COPY_SOURCE);
    let Some(sub) = query.selector() else {
        req.operation = O::Other;
        push_with_plus_reading(
            &mut req.resources,
            Action::Unclassified,
            bucket,
            raw_key,
            req.key.as_deref().unwrap_or_default(),
            false,
        );
        return Ok(());
    };
    let op = match (method.as_str(), sub) {
        ("GET", None) => O::GetObject,
        ("GET", Some(S::Tagging)) => O::GetObjectTagging,
        ("GET", Some(S::Acl)) => O::GetObjectAcl,
        ("GET", Some(S::Attributes)) => O::GetObjectAttributes,
        ("GET", Some(S::UploadId)) => O::ListParts,
        ("HEAD", None) => O::HeadObject,
        ("PUT", None) if query.part_number => O::Other,
        ("PUT", None) if copy => O::CopyObject,
        ("PUT", None) => O::PutObject,
        ("PUT", Some(S::Tagging)) => O::PutObjectTagging,
        ("PUT", Some(S::Acl)) => O::PutObjectAcl,
        ("PUT", Some(S::UploadId)) if query.part_number && copy => O::UploadPartCopy,
        ("PUT", Some(S::UploadId)) if query.part_number => O::UploadPart,
        ("DELETE", None) => O::DeleteObject,
        ("DELETE", Some(S::Tagging)) => O::DeleteObjectTagging,
        ("DELETE", Some(S::UploadId)) => O::AbortMultipartUpload,
        ("POST", Some(S::Uploads)) => O::CreateMultipartUpload,
        ("POST", Some(S::UploadId)) => O::CompleteMultipartUpload,
        _ => O::Other,
    };
    req.operation = op;
    let versioned = query.version_id.is_some();
    let action = match op {
        O::GetObject | O::HeadObject if versioned => Action::GetObjectVersion,
        O::GetObject | O::HeadObject => Action::GetObject,
        O::DeleteObject if versioned => Action::DeleteObjectVersion,
        O::DeleteObject => Action::DeleteObject,
        O::PutObject
        | O::CopyObject
        | O::CreateMultipartUpload
        | O::UploadPart
        | O::UploadPartCopy
        | O::CompleteMultipartUpload => Action::PutObject,
        O::AbortMultipartUpload => Action::AbortMultipartUpload,
        O::ListParts => Action::ListMultipartUploadParts,
        // On a version, IAM asks for the `*Version*` action.
        O::GetObjectTagging if versioned => Action::GetObjectVersionTagging,
        O::GetObjectTagging => Action::GetObjectTagging,
        O::PutObjectTagging if versioned => Action::PutObjectVersionTagging,
        O::PutObjectTagging => Action::PutObjectTagging,
        O::DeleteObjectTagging if versioned => Action::DeleteObjectVersionTagging,
        O::DeleteObjectTagging => Action::DeleteObjectTagging,
        O::GetObjectAcl if versioned => Action::GetObjectVersionAcl,
        O::GetObjectAcl => Action::GetObjectAcl,
        O::PutObjectAcl if versioned => Action::PutObjectVersionAcl,
        O::PutObjectAcl => Action::PutObjectAcl,
        O::GetObjectAttributes if versioned => Action::GetObjectVersionAttributes,
        O::GetObjectAttributes => Action::GetObjectAttributes,
        _ => Action::Unclassified,
    };
    push_with_plus_reading(
        &mut req.resources,
        action,
        bucket,
        raw_key,
        req.key.as_deref().unwrap_or_default(),
        false,
    );
    let own = req.resources.len();
    push_implied(req, headers, query, own)?;

    if matches!(op, O::CopyObject | O::UploadPartCopy) {
        let source = headers
            .get(X_AMZ_COPY_SOURCE)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(invalid_copy_source)?;
        let (source, raw_source_key) = parse_copy_source(source)?;
        let action = if source.version_id.is_some() {
            Action::GetObjectVersion
        } else {
            Action::GetObject
        };
        push_with_plus_reading(
            &mut req.resources,
            action,
            &source.bucket,
            raw_source_key,
            &source.key,
            false,
        );
        req.copy_source = Some(source);
    }
    Ok(())
}

/// Marks `req` as [`Operation::Other`] needing `Unclassified` on `resource`.
fn other(req: &mut S3Request, resource: String) {
    req.operation = Operation::Other;
    req.resources.clear();
    req.resources.push((Action::Unclassified, resource));
}

fn bucket_resource(bucket: &str) -> String {
    let mut out = String::with_capacity(5 + bucket.len());
    out.push_str("s3://");
    out.push_str(bucket);
    out
}

fn object_resource(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(6 + bucket.len() + key.len());
    out.push_str("s3://");
    out.push_str(bucket);
    out.push('/');
    out.push_str(key);
    out
}

/// Pushes `(action, s3://bucket/decoded)`, and when `raw` has a literal `+`
/// the other reading of it too (see the module doc). `plus_is_space` says
/// which reading `decoded` already is.
fn push_with_plus_reading(
    resources: &mut Resources,
    action: Action,
    bucket: &str,
    raw: &str,
    decoded: &str,
    plus_is_space: bool,
) {
    resources.push((action, object_resource(bucket, decoded)));
    if raw.contains('+')
        && let Some(other) = decode(raw, !plus_is_space)
        && other != decoded
    {
        resources.push((action, object_resource(bucket, &other)));
    }
}

#[cfg(test)]
mod tests;
