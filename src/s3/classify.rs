//! Request classification: addressing style, operation, and every
//! (action, resource) pair the request needs allowed.
//!
//! Owns the reading of the request line and of the few headers that change
//! what a request touches (`Host`, `x-amz-copy-source`). Depends only on
//! [`super::action`] and [`super::error`]; never reads a body (DeleteObjects
//! keys come later through [`S3Request::set_delete_keys`]).
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

use http::{HeaderMap, Method, Uri};

use super::action::{Action, Operation};
use super::error::{S3Error, S3ErrorCode};
use super::headers::{Encryption, implied_actions};

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

/// The source object of CopyObject / UploadPartCopy, from `x-amz-copy-source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    pub bucket: String,
    /// Decoded key.
    pub key: String,
    pub version_id: Option<String>,
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
    /// The `versionId` query parameter, when present.
    pub version_id: Option<String>,
    /// The decoded `prefix` of a listing, when present.
    pub prefix: Option<String>,
    pub copy_source: Option<CopySource>,
    /// Every (action, resource) the request needs allowed; see the module
    /// doc for the resource grammar. Authorise only when
    /// [`S3Request::needs_body_keys`] is false.
    pub resources: Vec<(Action, String)>,
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
        None => match after_slash.split_once('/') {
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
        Some(raw) => Some(decode(raw, false).ok_or_else(|| invalid_uri().with_resource(path))?),
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
    let query = Query::parse(uri.query().unwrap_or("")).map_err(|e| e.with_resource(path))?;

    let mut req = S3Request {
        operation: Operation::Other,
        addressing,
        bucket: bucket.map(str::to_owned),
        key,
        raw_key: raw_key.map(str::to_owned),
        version_id: query.version_id.clone(),
        prefix: None,
        copy_source: None,
        resources: Vec::new(),
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
/// for each resource `own` holds; [`Operation::Other`] skips the table.
fn push_implied(
    req: &mut S3Request,
    headers: &HeaderMap,
    query: &Query,
    own: &[(Action, String)],
) -> Result<(), S3Error> {
    if req.operation == Operation::Other {
        return Ok(());
    }
    req.implied = implied_actions(req.operation, headers, &query.amz)?;
    for action in &req.implied {
        for (_, resource) in own {
            req.resources.push((*action, resource.clone()));
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
        // POST without a subresource is a browser form upload (the key is
        // in the body): not supported, and never authorised as PutObject.
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
        // Fail-closed placeholder until the body's keys are set.
        O::DeleteObjects => bucket_level(Action::Unclassified, req),
        _ => other(req, bucket_resource(bucket)),
    }
    // Bucket operations' implied actions are on the bucket; DeleteObjects'
    // go on each key once the body is read (`set_delete_keys`).
    let own = if op == O::DeleteObjects {
        Vec::new()
    } else {
        req.resources.clone()
    };
    push_implied(req, headers, query, &own)
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
    let key = req.key.clone().unwrap_or_default();
    let copy = headers.contains_key("x-amz-copy-source");
    let Some(sub) = query.selector() else {
        req.operation = O::Other;
        push_with_plus_reading(
            &mut req.resources,
            Action::Unclassified,
            bucket,
            raw_key,
            &key,
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
    push_with_plus_reading(&mut req.resources, action, bucket, raw_key, &key, false);
    let own = req.resources.clone();
    push_implied(req, headers, query, &own)?;

    if matches!(op, O::CopyObject | O::UploadPartCopy) {
        let source = headers
            .get("x-amz-copy-source")
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
    resources: &mut Vec<(Action, String)>,
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

/// The host the request was sent to, without port: the `Host` header, or the
/// URI authority (HTTP/2 `:authority`) when there is none.
fn host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    let raw = match headers.get(http::header::HOST) {
        Some(value) => value.to_str().ok()?,
        None => uri.authority()?.as_str(),
    };
    if raw.starts_with('[') {
        // IPv6 literal: never a virtual host.
        return None;
    }
    Some(raw.split_once(':').map_or(raw, |(h, _)| h))
}

/// `bucket` when `host` is `bucket.<domain>` for a configured domain (ASCII
/// case-insensitive, as DNS is); `None` for path-style (including a host
/// equal to a domain). The longest matching domain wins, so with
/// `example.com` and `s3.example.com`, `b.s3.example.com` is bucket `b`.
fn virtual_host_bucket<'h>(host: &'h str, domains: &[String]) -> Option<&'h str> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let mut best: Option<(usize, &'h str)> = None;
    for domain in domains {
        let domain = domain.trim_start_matches('.');
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        if domain.is_empty() {
            continue;
        }
        if host.eq_ignore_ascii_case(domain) {
            return None;
        }
        let Some(split) = host.len().checked_sub(domain.len() + 1) else {
            continue;
        };
        let (Some(bucket), Some(rest)) = (host.get(..split), host.get(split..)) else {
            continue;
        };
        if rest.starts_with('.')
            && rest[1..].eq_ignore_ascii_case(domain)
            && !bucket.is_empty()
            && best.is_none_or(|(len, _)| domain.len() > len)
        {
            best = Some((domain.len(), bucket));
        }
    }
    best.map(|(_, bucket)| bucket)
}

/// Loose bucket-name check, lenient like S3 for legacy (us-east-1) names:
/// 3–63 characters of ASCII letters, digits, `.`, `-` and `_`; never starting
/// with `_`, which is s3gate's own namespace (`/_s3gate/`).
fn validate_bucket(bucket: &str) -> Result<(), S3Error> {
    let ok = (3..=63).contains(&bucket.len())
        && !bucket.starts_with('_')
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(S3Error::new(
            S3ErrorCode::InvalidBucketName,
            "The specified bucket is not valid.",
        ))
    }
}

/// Strict percent-decoding: `%` must be followed by two hex digits and the
/// result must be UTF-8. `plus_is_space` applies form decoding (query
/// values).
fn decode(raw: &str, plus_is_space: bool) -> Option<String> {
    let bytes = raw.as_bytes();
    if !(bytes.contains(&b'%') || plus_is_space && bytes.contains(&b'+')) {
        return Some(raw.to_owned());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = hex_val(*bytes.get(i + 1)?)?;
                let lo = hex_val(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Refuses a key with a `.` or `..` segment (between `/`s, or at either
/// end): S3 reads it literally, a store that maps keys to paths may resolve
/// it, and s3gate authorises keys literally.
pub fn refuse_dot_segments(key: &str) -> Result<(), S3Error> {
    if key
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "s3gate refuses keys with `.` or `..` path segments: a store may resolve them \
             to another key than the one authorised.",
        ));
    }
    Ok(())
}

fn invalid_copy_source() -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidArgument,
        "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.",
    )
}

fn invalid_argument_prefix() -> S3Error {
    S3Error::new(S3ErrorCode::InvalidArgument, "Invalid prefix encoding.")
}

/// Parses `x-amz-copy-source`: `bucket/key` or `/bucket/key`, URL-encoded,
/// optionally followed by `?versionId=ID`. Returns the source and its raw
/// (still encoded) key. Anything else (access-point ARNs, other parameters)
/// is refused: a copy whose source s3gate cannot name cannot be authorised.
fn parse_copy_source(value: &str) -> Result<(CopySource, &str), S3Error> {
    let (path, query) = match value.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (value, None),
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    let (bucket, raw_key) = path.split_once('/').ok_or_else(invalid_copy_source)?;
    if raw_key.is_empty() {
        return Err(invalid_copy_source());
    }
    validate_bucket(bucket)?;
    let key = decode(raw_key, false).ok_or_else(invalid_copy_source)?;
    refuse_dot_segments(&key)?;
    let version_id = match query {
        None => None,
        Some(query) => {
            let raw = query
                .strip_prefix("versionId=")
                .filter(|v| !v.is_empty() && !v.contains('&'))
                .ok_or_else(invalid_copy_source)?;
            Some(decode(raw, true).ok_or_else(invalid_copy_source)?)
        }
    };
    Ok((
        CopySource {
            bucket: bucket.to_owned(),
            key,
            version_id,
        },
        raw_key,
    ))
}

/// Subresources that select the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sub {
    Acl,
    Attributes,
    Cors,
    Delete,
    Encryption,
    Lifecycle,
    Location,
    Policy,
    Tagging,
    UploadId,
    Uploads,
    Versioning,
    Versions,
}

/// What classification needs from the query string.
#[derive(Debug, Default)]
struct Query {
    /// The operation-selecting subresource; `None` when there is none.
    sub: Option<Sub>,
    /// More than one selecting subresource, or a parameter we do not know.
    unclassifiable: bool,
    part_number: bool,
    version_id: Option<String>,
    /// Raw (still encoded) `prefix` value.
    prefix: Option<String>,
    list_type: Option<String>,
    /// `x-amz-*` parameters other than presigned-URL authentication
    /// (decoded, name lowercase): S3 reads them as headers.
    amz: Vec<(String, String)>,
}

/// Query parameters of a presigned URL's own authentication (checked by
/// sigv4, never forwarded), lowercase.
pub const PRESIGN_PARAMS: [&str; 7] = [
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-signedheaders",
    "x-amz-signature",
    "x-amz-security-token",
];

impl Query {
    /// `None` when the request cannot be classified (unknown parameter or two
    /// selecting subresources); `Some(None)` when no subresource selects.
    fn selector(&self) -> Option<Option<Sub>> {
        if self.unclassifiable {
            None
        } else {
            Some(self.sub)
        }
    }

    fn parse(raw: &str) -> Result<Query, S3Error> {
        let bad = || S3Error::new(S3ErrorCode::InvalidURI, "Couldn't parse the specified URI.");
        let mut q = Query::default();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (raw_name, raw_value) = match pair.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (pair, None),
            };
            let name = decode(raw_name, true).ok_or_else(bad)?;
            let sub = match name.as_str() {
                "acl" => Some(Sub::Acl),
                "attributes" => Some(Sub::Attributes),
                "cors" => Some(Sub::Cors),
                "delete" => Some(Sub::Delete),
                "encryption" => Some(Sub::Encryption),
                "lifecycle" => Some(Sub::Lifecycle),
                "location" => Some(Sub::Location),
                "policy" => Some(Sub::Policy),
                "tagging" => Some(Sub::Tagging),
                "uploadId" => Some(Sub::UploadId),
                "uploads" => Some(Sub::Uploads),
                "versioning" => Some(Sub::Versioning),
                "versions" => Some(Sub::Versions),
                _ => None,
            };
            if let Some(sub) = sub {
                if q.sub.is_some() {
                    q.unclassifiable = true;
                }
                q.sub = Some(sub);
                continue;
            }
            let dup = |seen: bool| {
                if seen {
                    Err(S3Error::new(
                        S3ErrorCode::InvalidArgument,
                        "A query parameter was given more than once.",
                    ))
                } else {
                    Ok(())
                }
            };
            match name.as_str() {
                "prefix" => {
                    dup(q.prefix.is_some())?;
                    q.prefix = Some(raw_value.unwrap_or("").to_owned());
                }
                "versionId" => {
                    dup(q.version_id.is_some())?;
                    let value = decode(raw_value.unwrap_or(""), true).ok_or_else(bad)?;
                    q.version_id = Some(value);
                }
                "list-type" => {
                    dup(q.list_type.is_some())?;
                    let value = decode(raw_value.unwrap_or(""), true).ok_or_else(bad)?;
                    q.list_type = Some(value);
                }
                "partNumber" => {
                    dup(q.part_number)?;
                    q.part_number = true;
                }
                // Parameters that refine an operation without changing which
                // one it is or what it touches.
                "delimiter"
                | "marker"
                | "max-keys"
                | "encoding-type"
                | "continuation-token"
                | "fetch-owner"
                | "start-after"
                | "key-marker"
                | "version-id-marker"
                | "upload-id-marker"
                | "max-uploads"
                | "max-parts"
                | "part-number-marker"
                | "max-buckets"
                | "bucket-region"
                | "response-content-type"
                | "response-content-language"
                | "response-expires"
                | "response-cache-control"
                | "response-content-disposition"
                | "response-content-encoding"
                | "x-id" => {}
                // Presigned-URL authentication (checked by sigv4), or a
                // header hoisted into the URL, which the header table decides.
                n if n.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-amz-")) => {
                    let lower = n.to_ascii_lowercase();
                    if !PRESIGN_PARAMS.contains(&lower.as_str()) {
                        let value = decode(raw_value.unwrap_or(""), true).ok_or_else(bad)?;
                        q.amz.push((lower, value));
                    }
                }
                _ => q.unclassifiable = true,
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod tests {
    use http::HeaderValue;

    use super::*;

    const DOMAINS: &[&str] = &["s3gate.example.com", "example.com"];

    fn domains() -> Vec<String> {
        DOMAINS.iter().map(|d| (*d).to_owned()).collect()
    }

    fn req(method: &str, uri: &str) -> S3Request {
        req_with(method, uri, &[])
    }

    fn req_with(method: &str, uri: &str, headers: &[(&'static str, &str)]) -> S3Request {
        match try_req(method, uri, headers) {
            Ok(r) => r,
            Err(e) => panic!("{method} {uri}: {e}"),
        }
    }

    fn try_req(
        method: &str,
        uri: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<S3Request, S3Error> {
        let method: Method = method.parse().expect("method");
        let uri: Uri = uri.parse().expect("uri");
        let mut map = HeaderMap::new();
        map.insert("host", HeaderValue::from_static("s3gate.example.com"));
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).expect("header"));
        }
        classify(&method, &uri, &map, &domains())
    }

    fn res(pairs: &[(Action, &str)]) -> Vec<(Action, String)> {
        pairs.iter().map(|(a, r)| (*a, (*r).to_owned())).collect()
    }

    #[track_caller]
    fn check(r: &S3Request, op: Operation, resources: &[(Action, &str)]) {
        assert_eq!(r.operation, op);
        assert_eq!(r.resources, res(resources));
    }

    #[test]
    fn service_level() {
        check(
            &req("GET", "/"),
            Operation::ListBuckets,
            &[(Action::ListAllMyBuckets, "s3://")],
        );
        check(
            &req("GET", "/?max-buckets=10&x-id=ListBuckets"),
            Operation::ListBuckets,
            &[(Action::ListAllMyBuckets, "s3://")],
        );
        check(
            &req("PUT", "/"),
            Operation::Other,
            &[(Action::Unclassified, "s3://")],
        );
    }

    #[test]
    fn bucket_level_operations() {
        use Action as A;
        use Operation as O;
        let cases: &[(&str, &str, O, A)] = &[
            ("PUT", "/bkt", O::CreateBucket, A::CreateBucket),
            ("DELETE", "/bkt/", O::DeleteBucket, A::DeleteBucket),
            (
                "GET",
                "/bkt?location",
                O::GetBucketLocation,
                A::GetBucketLocation,
            ),
            (
                "GET",
                "/bkt?versioning",
                O::GetBucketVersioning,
                A::GetBucketVersioning,
            ),
            (
                "PUT",
                "/bkt?versioning",
                O::PutBucketVersioning,
                A::PutBucketVersioning,
            ),
            (
                "GET",
                "/bkt?tagging",
                O::GetBucketTagging,
                A::GetBucketTagging,
            ),
            (
                "PUT",
                "/bkt?tagging",
                O::PutBucketTagging,
                A::PutBucketTagging,
            ),
            (
                "DELETE",
                "/bkt?tagging",
                O::DeleteBucketTagging,
                A::PutBucketTagging,
            ),
            ("GET", "/bkt?acl", O::GetBucketAcl, A::GetBucketAcl),
            ("PUT", "/bkt?acl", O::PutBucketAcl, A::PutBucketAcl),
            ("GET", "/bkt?policy", O::GetBucketPolicy, A::GetBucketPolicy),
            ("PUT", "/bkt?policy", O::PutBucketPolicy, A::PutBucketPolicy),
            (
                "DELETE",
                "/bkt?policy",
                O::DeleteBucketPolicy,
                A::DeleteBucketPolicy,
            ),
            ("GET", "/bkt?cors", O::GetBucketCors, A::GetBucketCors),
            ("PUT", "/bkt?cors", O::PutBucketCors, A::PutBucketCors),
            ("DELETE", "/bkt?cors", O::DeleteBucketCors, A::PutBucketCors),
            (
                "GET",
                "/bkt?lifecycle",
                O::GetBucketLifecycleConfiguration,
                A::GetLifecycleConfiguration,
            ),
            (
                "PUT",
                "/bkt?lifecycle",
                O::PutBucketLifecycleConfiguration,
                A::PutLifecycleConfiguration,
            ),
            (
                "DELETE",
                "/bkt?lifecycle",
                O::DeleteBucketLifecycle,
                A::PutLifecycleConfiguration,
            ),
            (
                "GET",
                "/bkt?encryption",
                O::GetBucketEncryption,
                A::GetEncryptionConfiguration,
            ),
            (
                "PUT",
                "/bkt?encryption",
                O::PutBucketEncryption,
                A::PutEncryptionConfiguration,
            ),
            (
                "DELETE",
                "/bkt?encryption",
                O::DeleteBucketEncryption,
                A::PutEncryptionConfiguration,
            ),
        ];
        for (method, uri, op, action) in cases {
            let r = req(method, uri);
            check(&r, *op, &[(*action, "s3://bkt")]);
            assert_eq!(r.bucket.as_deref(), Some("bkt"));
            assert_eq!(r.key, None);
            assert_eq!(r.raw_key, None);
            assert_eq!(op.as_str(), format!("{op:?}"));
        }
    }

    #[test]
    fn listings_use_the_prefix() {
        check(
            &req("GET", "/bkt"),
            Operation::ListObjects,
            &[(Action::ListBucket, "s3://bkt/")],
        );
        check(
            &req(
                "GET",
                "/bkt/?list-type=2&prefix=home%2Falice%2F&delimiter=%2F",
            ),
            Operation::ListObjectsV2,
            &[(Action::ListBucket, "s3://bkt/home/alice/")],
        );
        check(
            &req("GET", "/bkt?versions&prefix=a"),
            Operation::ListObjectVersions,
            &[(Action::ListBucketVersions, "s3://bkt/a")],
        );
        check(
            &req("GET", "/bkt?uploads&prefix=a/b"),
            Operation::ListMultipartUploads,
            &[(Action::ListBucketMultipartUploads, "s3://bkt/a/b")],
        );
        check(
            &req("HEAD", "/bkt"),
            Operation::HeadBucket,
            &[(Action::ListBucket, "s3://bkt/")],
        );
        let r = req("GET", "/bkt?prefix=a%20b");
        assert_eq!(r.prefix.as_deref(), Some("a b"));
        // Unknown list-type is not guessed at.
        check(
            &req("GET", "/bkt?list-type=3"),
            Operation::Other,
            &[(Action::Unclassified, "s3://bkt")],
        );
    }

    #[test]
    fn literal_plus_in_prefix_needs_both_readings() {
        check(
            &req("GET", "/bkt?prefix=a+b"),
            Operation::ListObjects,
            &[
                (Action::ListBucket, "s3://bkt/a b"),
                (Action::ListBucket, "s3://bkt/a+b"),
            ],
        );
        check(
            &req("GET", "/bkt?prefix=a%2Bb"),
            Operation::ListObjects,
            &[(Action::ListBucket, "s3://bkt/a+b")],
        );
    }

    #[test]
    fn object_level_operations() {
        use Action as A;
        use Operation as O;
        let cases: &[(&str, &str, O, A)] = &[
            ("GET", "/bkt/k", O::GetObject, A::GetObject),
            (
                "GET",
                "/bkt/k?partNumber=1&response-content-type=x",
                O::GetObject,
                A::GetObject,
            ),
            (
                "GET",
                "/bkt/k?versionId=v1",
                O::GetObject,
                A::GetObjectVersion,
            ),
            ("HEAD", "/bkt/k", O::HeadObject, A::GetObject),
            (
                "HEAD",
                "/bkt/k?versionId=v1",
                O::HeadObject,
                A::GetObjectVersion,
            ),
            ("PUT", "/bkt/k?x-id=PutObject", O::PutObject, A::PutObject),
            ("DELETE", "/bkt/k", O::DeleteObject, A::DeleteObject),
            (
                "DELETE",
                "/bkt/k?versionId=v1",
                O::DeleteObject,
                A::DeleteObjectVersion,
            ),
            (
                "POST",
                "/bkt/k?uploads",
                O::CreateMultipartUpload,
                A::PutObject,
            ),
            (
                "PUT",
                "/bkt/k?partNumber=2&uploadId=u",
                O::UploadPart,
                A::PutObject,
            ),
            (
                "POST",
                "/bkt/k?uploadId=u",
                O::CompleteMultipartUpload,
                A::PutObject,
            ),
            (
                "DELETE",
                "/bkt/k?uploadId=u",
                O::AbortMultipartUpload,
                A::AbortMultipartUpload,
            ),
            (
                "GET",
                "/bkt/k?uploadId=u&max-parts=5",
                O::ListParts,
                A::ListMultipartUploadParts,
            ),
            (
                "GET",
                "/bkt/k?tagging",
                O::GetObjectTagging,
                A::GetObjectTagging,
            ),
            (
                "PUT",
                "/bkt/k?tagging",
                O::PutObjectTagging,
                A::PutObjectTagging,
            ),
            (
                "DELETE",
                "/bkt/k?tagging",
                O::DeleteObjectTagging,
                A::DeleteObjectTagging,
            ),
            ("GET", "/bkt/k?acl", O::GetObjectAcl, A::GetObjectAcl),
            ("PUT", "/bkt/k?acl", O::PutObjectAcl, A::PutObjectAcl),
            (
                "GET",
                "/bkt/k?attributes",
                O::GetObjectAttributes,
                A::GetObjectAttributes,
            ),
        ];
        for (method, uri, op, action) in cases {
            let r = req(method, uri);
            check(&r, *op, &[(*action, "s3://bkt/k")]);
            assert_eq!(r.key.as_deref(), Some("k"), "{uri}");
            assert_eq!(r.raw_key.as_deref(), Some("k"), "{uri}");
        }
        // Presigned-URL parameters do not change the operation.
        let presigned = "/bkt/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=SGIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request\
                         &X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
                         &X-Amz-Security-Token=t&X-Amz-Signature=00";
        check(
            &req("GET", presigned),
            Operation::GetObject,
            &[(Action::GetObject, "s3://bkt/k")],
        );
        assert_eq!(
            req("GET", "/bkt/k?versionId=v%201").version_id.as_deref(),
            Some("v 1")
        );
    }

    #[test]
    fn unknown_or_ambiguous_requests_are_other_and_need_unclassified() {
        for (method, uri, resource) in [
            ("GET", "/bkt/k?retention", "s3://bkt/k"),
            ("PUT", "/bkt/k?legal-hold", "s3://bkt/k"),
            ("PUT", "/bkt/k?tagging&acl", "s3://bkt/k"),
            ("PUT", "/bkt/k?uploadId=u", "s3://bkt/k"),
            ("PUT", "/bkt/k?partNumber=1", "s3://bkt/k"),
            ("POST", "/bkt/k", "s3://bkt/k"),
            ("POST", "/bkt/k?select&select-type=2", "s3://bkt/k"),
            ("OPTIONS", "/bkt/k", "s3://bkt/k"),
            ("PATCH", "/bkt/k", "s3://bkt/k"),
            ("POST", "/bkt", "s3://bkt"),
            ("PUT", "/bkt?publicAccessBlock", "s3://bkt"),
            ("GET", "/bkt?website", "s3://bkt"),
            ("GET", "/bkt?uploadId=u", "s3://bkt"),
            ("GET", "/bkt/k?x-am%C3%A9=1", "s3://bkt/k"),
            ("GET", "/bkt/k?%C3%A9%C3%A9%C3%A9%C3%A9=1", "s3://bkt/k"),
        ] {
            let r = req(method, uri);
            check(&r, Operation::Other, &[(Action::Unclassified, resource)]);
        }
    }

    #[test]
    fn dot_segments_are_refused_in_keys_copy_sources_and_prefixes() {
        let code = |method: &str, uri: &str, headers: &[(&'static str, &str)]| {
            try_req(method, uri, headers)
                .map(|_| ())
                .map_err(|e| e.code)
        };
        let bad = Err(S3ErrorCode::InvalidArgument);
        for uri in [
            "/bkt/a/../b",
            "/bkt/..",
            "/bkt/./a",
            "/bkt/a/.",
            "/bkt/a/%2E%2E/b",
            "/bkt/a%2F..%2Fb",
            "/bkt/a/%2e/b",
        ] {
            assert_eq!(code("GET", uri, &[]), bad, "{uri}");
            assert_eq!(code("PUT", uri, &[]), bad, "{uri}");
        }
        for source in ["src/dst/../other", "/src/a/%2E%2E/b", "src/./k", "src/k/.."] {
            assert_eq!(
                code("PUT", "/dst/k", &[("x-amz-copy-source", source)]),
                bad,
                "{source}"
            );
        }
        assert_eq!(code("GET", "/bkt?prefix=a/../b/", &[]), bad);
        assert_eq!(code("GET", "/bkt?prefix=a%2F..%2F", &[]), bad);
        // Names that merely start with dots are keys like any other, and a
        // prefix's last segment is a partial name.
        for uri in [
            "/bkt/..a/.b/c..",
            "/bkt/.../x",
            "/bkt?prefix=a/.",
            "/bkt?prefix=..",
        ] {
            assert_eq!(code("GET", uri, &[]), Ok(()), "{uri}");
        }
    }

    #[test]
    fn header_implied_actions_are_needed_on_the_destination() {
        check(
            &req_with("PUT", "/bkt/k", &[("x-amz-acl", "public-read")]),
            Operation::PutObject,
            &[
                (Action::PutObject, "s3://bkt/k"),
                (Action::PutObjectAcl, "s3://bkt/k"),
            ],
        );
        // A copy's implied actions are on the destination, not the source.
        check(
            &req_with(
                "PUT",
                "/dst/k",
                &[
                    ("x-amz-copy-source", "src/s"),
                    ("x-amz-object-lock-mode", "COMPLIANCE"),
                ],
            ),
            Operation::CopyObject,
            &[
                (Action::PutObject, "s3://dst/k"),
                (Action::PutObjectRetention, "s3://dst/k"),
                (Action::GetObject, "s3://src/s"),
            ],
        );
        // Both readings of a literal `+` need the implied action too.
        check(
            &req_with("PUT", "/bkt/a+b", &[("x-amz-tagging", "a=b")]),
            Operation::PutObject,
            &[
                (Action::PutObject, "s3://bkt/a+b"),
                (Action::PutObject, "s3://bkt/a b"),
                (Action::PutObjectTagging, "s3://bkt/a+b"),
                (Action::PutObjectTagging, "s3://bkt/a b"),
            ],
        );
        check(
            &req_with("PUT", "/bkt", &[("x-amz-acl", "public-read")]),
            Operation::CreateBucket,
            &[
                (Action::CreateBucket, "s3://bkt"),
                (Action::PutBucketAcl, "s3://bkt"),
            ],
        );
        // A presigned URL's hoisted header is a header.
        check(
            &req("PUT", "/bkt/k?X-Amz-Signature=0&x-amz-acl=public-read"),
            Operation::PutObject,
            &[
                (Action::PutObject, "s3://bkt/k"),
                (Action::PutObjectAcl, "s3://bkt/k"),
            ],
        );
        let err = try_req("PUT", "/bkt/k?x-amz-frob=1", &[]).expect_err("unknown");
        assert_eq!(err.code, S3ErrorCode::InvalidArgument);
        // DeleteObjects: the bypass is needed on every key.
        let mut r = req_with(
            "POST",
            "/bkt?delete",
            &[("x-amz-bypass-governance-retention", "true")],
        );
        r.set_delete_keys(&[("a".into(), None)]);
        assert_eq!(
            r.resources,
            res(&[
                (Action::BypassGovernanceRetention, "s3://bkt/a"),
                (Action::DeleteObject, "s3://bkt/a"),
            ])
        );
        // Unclassified requests need `*`, which holds every implied action.
        check(
            &req_with("PUT", "/bkt/k?retention", &[("x-amz-frob", "1")]),
            Operation::Other,
            &[(Action::Unclassified, "s3://bkt/k")],
        );
    }

    #[test]
    fn version_ids_need_the_version_actions() {
        use Action as A;
        for (method, uri, action) in [
            (
                "GET",
                "/bkt/k?tagging&versionId=v",
                A::GetObjectVersionTagging,
            ),
            (
                "PUT",
                "/bkt/k?tagging&versionId=v",
                A::PutObjectVersionTagging,
            ),
            (
                "DELETE",
                "/bkt/k?tagging&versionId=v",
                A::DeleteObjectVersionTagging,
            ),
            ("GET", "/bkt/k?acl&versionId=v", A::GetObjectVersionAcl),
            ("PUT", "/bkt/k?acl&versionId=v", A::PutObjectVersionAcl),
            (
                "GET",
                "/bkt/k?attributes&versionId=v",
                A::GetObjectVersionAttributes,
            ),
        ] {
            assert_eq!(
                req(method, uri).resources,
                res(&[(action, "s3://bkt/k")]),
                "{uri}"
            );
        }
    }

    /// Property: over random keys built from dots, slashes, letters and
    /// their percent-encodings, classify refuses exactly those whose decoded
    /// key has a `.` or `..` segment, as a path and as a copy source.
    #[test]
    fn dot_segments_are_refused_exactly_whatever_their_encoding() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0xd07);
        let pieces = [".", "%2E", "%2e", "/", "%2F", "a", "b"];
        for _ in 0..3000 {
            let len = rng.random_range(1..8);
            let raw: String = (0..len)
                .map(|_| pieces[rng.random_range(0..pieces.len())])
                .collect();
            let decoded = decode(&raw, false).expect("decodes");
            let dotted = decoded.split('/').any(|s| s == "." || s == "..");
            let as_path = try_req("GET", &format!("/bkt/{raw}"), &[]);
            let as_source = try_req(
                "PUT",
                "/dst/k",
                &[("x-amz-copy-source", &format!("src/{raw}"))],
            );
            if dotted {
                assert_eq!(
                    as_path.map(|_| ()).map_err(|e| e.code),
                    Err(S3ErrorCode::InvalidArgument),
                    "{raw}"
                );
                assert_eq!(
                    as_source.map(|_| ()).map_err(|e| e.code),
                    Err(S3ErrorCode::InvalidArgument),
                    "{raw}"
                );
            } else {
                assert!(as_path.is_ok(), "{raw}");
                assert!(as_source.is_ok(), "{raw}");
            }
        }
    }

    #[test]
    fn keys_are_byte_exact() {
        let r = req("GET", "/bkt/a//b");
        assert_eq!(r.raw_key.as_deref(), Some("a//b"));
        check(
            &r,
            Operation::GetObject,
            &[(Action::GetObject, "s3://bkt/a//b")],
        );

        let r = req("GET", "/bkt/a%2Fb");
        assert_eq!(r.raw_key.as_deref(), Some("a%2Fb"));
        assert_eq!(r.key.as_deref(), Some("a/b"));
        check(
            &r,
            Operation::GetObject,
            &[(Action::GetObject, "s3://bkt/a/b")],
        );

        let r = req("GET", "/bkt//");
        assert_eq!(r.raw_key.as_deref(), Some("/"));
        assert_eq!(r.key.as_deref(), Some("/"));

        let r = req("PUT", "/bkt/caf%C3%A9%20x");
        assert_eq!(r.key.as_deref(), Some("café x"));
    }

    #[test]
    fn literal_plus_in_key_needs_both_readings() {
        let r = req("GET", "/bkt/a+b");
        assert_eq!(r.key.as_deref(), Some("a+b"));
        check(
            &r,
            Operation::GetObject,
            &[
                (Action::GetObject, "s3://bkt/a+b"),
                (Action::GetObject, "s3://bkt/a b"),
            ],
        );
        check(
            &req("GET", "/bkt/a%2Bb"),
            Operation::GetObject,
            &[(Action::GetObject, "s3://bkt/a+b")],
        );
    }

    #[test]
    fn virtual_host_addressing() {
        let r = req_with(
            "GET",
            "/a//b%2Fc",
            &[("host", "my.bkt.s3gate.example.com:8443")],
        );
        assert_eq!(r.addressing, Addressing::VirtualHost);
        assert_eq!(r.bucket.as_deref(), Some("my.bkt"));
        assert_eq!(r.raw_key.as_deref(), Some("a//b%2Fc"));
        assert_eq!(r.key.as_deref(), Some("a//b/c"));
        check(
            &r,
            Operation::GetObject,
            &[(Action::GetObject, "s3://my.bkt/a//b/c")],
        );

        // Longest domain wins; the host is case-insensitive.
        let r = req_with(
            "GET",
            "/?list-type=2",
            &[("host", "BKT.S3GATE.example.com")],
        );
        assert_eq!(r.addressing, Addressing::VirtualHost);
        check(
            &r,
            Operation::ListObjectsV2,
            &[(Action::ListBucket, "s3://bkt/")],
        );

        let r = req_with("GET", "/k", &[("host", "bkt.example.com")]);
        assert_eq!(r.bucket.as_deref(), Some("bkt"));

        // A leading `//` in a virtual-hosted path is part of the key.
        let r = req_with("GET", "//k", &[("host", "bkt.example.com")]);
        assert_eq!(r.key.as_deref(), Some("/k"));
    }

    #[test]
    fn host_equal_to_a_domain_or_unknown_is_path_style() {
        let r = req_with("GET", "/bkt/k", &[("host", "s3gate.example.com:443")]);
        assert_eq!(r.addressing, Addressing::Path);
        assert_eq!(r.bucket.as_deref(), Some("bkt"));
        let r = req_with("GET", "/bkt/k", &[("host", "bkt.other.org")]);
        assert_eq!(r.addressing, Addressing::Path);
        let r = req_with("GET", "/bkt/k", &[("host", "[::1]:9000")]);
        assert_eq!(r.addressing, Addressing::Path);
        // `xexample.com` is not under `example.com`.
        let r = req_with("GET", "/bkt/k", &[("host", "xexample.com")]);
        assert_eq!(r.addressing, Addressing::Path);
    }

    #[test]
    fn authority_is_used_without_host_header() {
        let method = Method::GET;
        let uri: Uri = "https://bkt.example.com/k".parse().expect("uri");
        let r = classify(&method, &uri, &HeaderMap::new(), &domains()).expect("classify");
        assert_eq!(r.addressing, Addressing::VirtualHost);
        assert_eq!(r.bucket.as_deref(), Some("bkt"));
    }

    #[test]
    fn copy_object_needs_read_on_source_and_write_on_destination() {
        for source in ["src/a%2Fb/c%20d", "/src/a%2Fb/c%20d"] {
            let r = req_with("PUT", "/dst/k", &[("x-amz-copy-source", source)]);
            check(
                &r,
                Operation::CopyObject,
                &[
                    (Action::PutObject, "s3://dst/k"),
                    (Action::GetObject, "s3://src/a/b/c d"),
                ],
            );
            let src = r.copy_source.expect("copy source");
            assert_eq!((src.bucket.as_str(), src.key.as_str()), ("src", "a/b/c d"));
        }
        let r = req_with(
            "PUT",
            "/dst/k?partNumber=3&uploadId=u",
            &[("x-amz-copy-source", "src/k?versionId=v9")],
        );
        check(
            &r,
            Operation::UploadPartCopy,
            &[
                (Action::PutObject, "s3://dst/k"),
                (Action::GetObjectVersion, "s3://src/k"),
            ],
        );
        assert_eq!(
            r.copy_source.and_then(|s| s.version_id).as_deref(),
            Some("v9")
        );
    }

    #[test]
    fn unusable_copy_sources_are_refused() {
        for source in [
            "src",
            "src/",
            "/src",
            "_s3gate/k",
            "sr/k",
            "src/k%zz",
            "src/k?versionId=",
            "src/k?other=1",
            "src/k?versionId=a&x=y",
            "arn:aws:s3:us-east-1:123456789012:accesspoint/ap/object/k",
        ] {
            let err = try_req("PUT", "/dst/k", &[("x-amz-copy-source", source)]).expect_err(source);
            assert!(
                matches!(
                    err.code,
                    S3ErrorCode::InvalidArgument | S3ErrorCode::InvalidBucketName
                ),
                "{source}: {err}"
            );
        }
    }

    #[test]
    fn delete_objects_fails_closed_until_keys_are_set() {
        let mut r = req("POST", "/bkt?delete");
        assert_eq!(r.operation, Operation::DeleteObjects);
        assert!(r.needs_body_keys());
        assert_eq!(r.resources, res(&[(Action::Unclassified, "s3://bkt")]));
        r.set_delete_keys(&[("a/b".into(), None), ("c".into(), Some("v".into()))]);
        assert!(!r.needs_body_keys());
        assert_eq!(
            r.resources,
            res(&[
                (Action::DeleteObject, "s3://bkt/a/b"),
                (Action::DeleteObjectVersion, "s3://bkt/c")
            ])
        );
        // No keys: still fail-closed.
        let mut empty = req("POST", "/bkt?delete");
        empty.set_delete_keys(&[]);
        assert!(empty.needs_body_keys());
        assert_eq!(empty.resources, res(&[(Action::Unclassified, "s3://bkt")]));
        // Not DeleteObjects: untouched.
        let mut r = req("GET", "/bkt/k");
        r.set_delete_keys(&[("x".into(), None)]);
        assert!(!r.needs_body_keys());
        assert_eq!(r.resources, res(&[(Action::GetObject, "s3://bkt/k")]));
    }

    #[test]
    fn refusals() {
        let code =
            |method: &str, uri: &str| try_req(method, uri, &[]).map(|_| ()).map_err(|e| e.code);
        assert_eq!(
            code("GET", "/_s3gate/healthz"),
            Err(S3ErrorCode::InvalidBucketName)
        );
        assert_eq!(code("GET", "/_bk"), Err(S3ErrorCode::InvalidBucketName));
        assert_eq!(code("GET", "/ab/k"), Err(S3ErrorCode::InvalidBucketName));
        assert_eq!(
            code("GET", &format!("/{}/k", "b".repeat(64))),
            Err(S3ErrorCode::InvalidBucketName)
        );
        assert_eq!(code("GET", "/b%41c/k"), Err(S3ErrorCode::InvalidBucketName));
        assert_eq!(code("GET", "/bkt/k%"), Err(S3ErrorCode::InvalidURI));
        assert_eq!(code("GET", "/bkt/k%zz"), Err(S3ErrorCode::InvalidURI));
        assert_eq!(code("GET", "/bkt/k%FF"), Err(S3ErrorCode::InvalidURI));
        assert_eq!(
            code("GET", "/bkt?prefix=%FF"),
            Err(S3ErrorCode::InvalidArgument)
        );
        assert_eq!(
            code("GET", "/bkt?prefix=a&prefix=b"),
            Err(S3ErrorCode::InvalidArgument)
        );
        assert_eq!(
            code("GET", "/bkt/k?versionId=%zz"),
            Err(S3ErrorCode::InvalidURI)
        );
        // Legacy names are accepted leniently.
        assert_eq!(code("GET", "/My_Legacy.Bucket/k"), Ok(()));
        // A virtual-hosted bucket is validated too.
        let err = try_req("GET", "/k", &[("host", "_x.example.com")]).expect_err("vhost");
        assert_eq!(err.code, S3ErrorCode::InvalidBucketName);
        assert_eq!(err.resource.as_deref(), Some("/k"));
    }
}
