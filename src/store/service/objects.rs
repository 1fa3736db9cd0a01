//! Reading and deleting versions, and the shapes several answers share
//! (owner, grants, ranges, listing entries).

use super::*;

pub(in crate::store) fn precondition(f: Failed) -> S3Error {
    match f {
        Failed::Precondition => S3Error::new(S3ErrorCode::PreconditionFailed),
        Failed::NotModified => S3Error::new(S3ErrorCode::NotModified),
    }
}

/// A version id as the caller sent it: `null` or one of ours.
pub(in crate::store) fn check_version_id(id: &str) -> S3Result<()> {
    if id == NULL_VERSION || layout::is_id(id) {
        Ok(())
    } else {
        Err(s3_error!(InvalidArgument, "Invalid version id specified"))
    }
}

/// Picks the version a read names: the current object, or the given
/// version (a delete marker cannot be read: 405, as S3 answers).
pub(in crate::store) fn pick(
    record: Option<&KeyRecord>,
    version_id: Option<&str>,
) -> S3Result<Version> {
    match version_id {
        None => match record.and_then(KeyRecord::latest) {
            Some(v) if !v.is_delete_marker() => Ok(v.clone()),
            Some(marker) => Err(at_delete_marker(s3_error!(NoSuchKey), &marker.id)),
            None => Err(s3_error!(NoSuchKey)),
        },
        Some(id) => {
            check_version_id(id)?;
            let v = record
                .and_then(|r| r.version(id))
                .ok_or_else(|| s3_error!(NoSuchVersion))?;
            if v.is_delete_marker() {
                return Err(at_delete_marker(s3_error!(MethodNotAllowed), id));
            }
            Ok(v.clone())
        }
    }
}

/// S3 says on the refusal that a delete marker answered, and which.
pub(in crate::store) fn at_delete_marker(mut err: S3Error, id: &str) -> S3Error {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-amz-delete-marker",
        http::HeaderValue::from_static("true"),
    );
    if let Ok(v) = http::HeaderValue::from_str(id) {
        headers.insert("x-amz-version-id", v);
    }
    err.set_headers(headers);
    err
}

/// Headers this store does not keep, refused rather than silently dropped.
pub(in crate::store) fn refuse_unsupported(
    acl: Option<&ObjectCannedACL>,
    lock_mode: bool,
    sse: bool,
) -> S3Result<()> {
    if acl.is_some_and(|a| a.as_str() != ObjectCannedACL::PRIVATE) {
        return Err(s3_error!(
            NotImplemented,
            "ACLs are not supported by the embedded store"
        ));
    }
    if lock_mode {
        return Err(s3_error!(
            NotImplemented,
            "Object lock is not supported by the embedded store"
        ));
    }
    if sse {
        return Err(s3_error!(
            NotImplemented,
            "Server-side encryption is not supported by the embedded store"
        ));
    }
    Ok(())
}

/// The descriptive metadata an upload names: the same nine fields on the
/// PutObject, CopyObject (REPLACE) and CreateMultipartUpload inputs, moved
/// out of whichever input `$input` is.
macro_rules! new_meta {
    ($input:expr) => {
        $crate::store::service::NewMeta {
            content_type: $input.content_type,
            content_encoding: $input.content_encoding,
            content_disposition: $input.content_disposition,
            content_language: $input.content_language,
            cache_control: $input.cache_control,
            expires: $input.expires,
            website_redirect_location: $input.website_redirect_location,
            storage_class: $input.storage_class,
            metadata: $input.metadata,
        }
    };
}
pub(in crate::store) use new_meta;

pub(in crate::store) struct NewMeta {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<Timestamp>,
    pub website_redirect_location: Option<String>,
    pub storage_class: Option<StorageClass>,
    pub metadata: Option<Metadata>,
}

impl From<NewMeta> for ObjectMeta {
    fn from(m: NewMeta) -> Self {
        Self {
            content_type: m.content_type,
            content_encoding: m.content_encoding,
            content_disposition: m.content_disposition,
            content_language: m.content_language,
            cache_control: m.cache_control,
            expires: m.expires.as_ref().map(record::millis),
            website_redirect_location: m.website_redirect_location,
            storage_class: m
                .storage_class
                .map(|s| s.as_str().to_owned())
                .filter(|s| s != StorageClass::STANDARD),
            user: m
                .metadata
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        }
    }
}

pub(in crate::store) fn stream_error(e: std::io::Error) -> s3s::StdError {
    Box::new(e)
}

impl Store {
    /// One page of the bucket's current objects (no delete markers, no
    /// older versions), as ListObjects and ListObjectsV2 both serve them.
    pub(in crate::store) async fn current_page(
        &self,
        dir: &Path,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&listing::Marker>,
        max: usize,
    ) -> S3Result<listing::Page<(String, Version)>> {
        let records = self.all_keys(dir).await?;
        let items = records
            .into_iter()
            .filter_map(|r| r.current().cloned().map(|v| (r.key.clone(), (r.key, v))));
        Ok(listing::page(items, prefix, delimiter, after, max))
    }

    /// Reads the version a GET/HEAD/copy names and opens its body. Retries
    /// when an overwrite removed the body between reading the record and
    /// opening the file (an open file survives its removal).
    pub(in crate::store) async fn open_version(
        &self,
        dir: &Path,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<(Version, tokio::fs::File)> {
        let mut attempts = 0;
        loop {
            let record = self.key_record(dir, key).await?;
            let version = pick(record.as_ref(), version_id)?;
            let Some(data) = &version.data else {
                return Err(s3_error!(NoSuchKey));
            };
            match tokio::fs::File::open(Layout::data_file(dir, data)).await {
                Ok(f) => return Ok((version, f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 3 => {
                    attempts += 1;
                }
                Err(e) => return Err(internal(e)),
            }
        }
    }

    /// Receives a body that has already been checked, gives it a body id
    /// under `dir/data/` and returns that id.
    pub(in crate::store) async fn place(&self, dir: &Path, received: Received) -> S3Result<String> {
        let id = layout::random_id();
        received
            .staged
            .commit(&Layout::data_file(dir, &id))
            .await
            .map_err(internal)?;
        Ok(id)
    }

    /// Commits a new version of `key` (the body is already in place),
    /// after the write preconditions hold. On any failure the body is
    /// removed again: a refused write leaves nothing.
    pub(in crate::store) async fn commit_version(
        &self,
        dir: &Path,
        key: &str,
        mut version: Version,
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
    ) -> S3Result<(Version, BucketRecord)> {
        let body = version.data.clone();
        let result = async {
            let _guard = self.write.lock().await;
            let bucket = self.bucket_record(dir).await?;
            let mut record = self.key_record_or_new(dir, key).await?;
            conditional::check_write(
                if_match,
                if_none_match,
                record.current().map(|v| v.etag.as_str()),
            )
            .map_err(precondition)?;
            version.id = versioning::new_version_id(&bucket);
            let freed = versioning::push(&mut record, version.clone());
            self.commit_key(dir, &record, &freed).await?;
            Ok((version, bucket))
        }
        .await;
        if result.is_err()
            && let Some(id) = body
        {
            let _ = disk::remove_file_if_present(&Layout::data_file(dir, &id)).await;
        }
        result
    }

    pub(in crate::store) async fn delete_one(
        &self,
        dir: &Path,
        key: &str,
        version_id: Option<&str>,
        if_match: Option<&ETagCondition>,
    ) -> S3Result<(Option<String>, bool)> {
        let _guard = self.write.lock().await;
        let bucket = self.bucket_record(dir).await?;
        let mut record = self.key_record_or_new(dir, key).await?;
        if if_match.is_some() {
            conditional::check_write(if_match, None, record.current().map(|v| v.etag.as_str()))
                .map_err(precondition)?;
        }
        if let Some(id) = version_id {
            check_version_id(id)?;
            let removed = versioning::delete_version(&mut record, id);
            let freed: Vec<String> = removed.iter().filter_map(|v| v.data.clone()).collect();
            self.commit_key(dir, &record, &freed).await?;
            let was_marker = removed.is_some_and(|v| v.is_delete_marker());
            return Ok((Some(id.to_owned()), was_marker));
        }
        let deleted = versioning::delete_current(&bucket, &mut record, now_ms());
        self.commit_key(dir, &record, &deleted.freed).await?;
        let is_marker = deleted.marker.is_some();
        Ok((deleted.marker, is_marker))
    }

    /// The version a tagging call names (current when none).
    pub(in crate::store) async fn tagged_version(
        &self,
        dir: &Path,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<(KeyRecord, String)> {
        let record = self.key_record(dir, key).await?;
        let v = pick(record.as_ref(), version_id)?;
        record
            .map(|r| (r, v.id))
            .ok_or_else(|| s3_error!(NoSuchKey))
    }
}

pub(in crate::store) fn owner() -> Owner {
    Owner {
        display_name: Some("s3gate".to_owned()),
        id: Some("s3gate".to_owned()),
    }
}

pub(in crate::store) fn private_grants() -> Grants {
    vec![Grant {
        grantee: Some(Grantee {
            display_name: Some("s3gate".to_owned()),
            email_address: None,
            id: Some("s3gate".to_owned()),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }]
}

/// What part of a version a GET/HEAD reads: all of it, a `Range`, or one
/// part of a multipart object (`partNumber`; part 1 of any other object is
/// the whole object, as on S3). Returns start, length and `Content-Range`.
pub(in crate::store) fn slice(
    v: &Version,
    range: Option<&Range>,
    part: Option<i32>,
) -> S3Result<(u64, u64, Option<String>)> {
    let (start, end) = match (range, part) {
        (None, None) => return Ok((0, v.size, None)),
        (Some(_), Some(_)) => {
            return Err(s3_error!(
                InvalidRequest,
                "Cannot specify both Range header and partNumber"
            ));
        }
        (Some(range), None) => {
            let r = range.check(v.size).map_err(|_| s3_error!(InvalidRange))?;
            (r.start, r.end)
        }
        (None, Some(n)) => {
            let index = usize::try_from(n).ok().and_then(|n| n.checked_sub(1));
            match index {
                Some(0) if v.part_sizes.is_empty() => (0, v.size),
                Some(i) if i < v.part_sizes.len() => {
                    let start: u64 = v.part_sizes[..i].iter().sum();
                    (start, start + v.part_sizes[i])
                }
                _ => {
                    let mut e = S3Error::with_message(
                        S3ErrorCode::Custom("InvalidPartNumber".into()),
                        "The requested partnumber is not satisfiable",
                    );
                    e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
                    return Err(e);
                }
            }
        }
    };
    let text = format!("bytes {start}-{}/{}", end.saturating_sub(1), v.size);
    Ok((start, end - start, Some(text)))
}

pub(in crate::store) fn shown_version(bucket: &BucketRecord, id: &str) -> Option<String> {
    bucket.versioning_configured().then(|| id.to_owned())
}

pub(in crate::store) fn max_keys(requested: Option<i32>) -> usize {
    usize::try_from(requested.unwrap_or(MAX_KEYS).clamp(0, MAX_KEYS)).unwrap_or(0)
}

pub(in crate::store) fn object_entry(key: &str, v: &Version, encode: fn(&str) -> String) -> Object {
    Object {
        key: Some(encode(key)),
        e_tag: Some(v.e_tag()),
        last_modified: Some(timestamp(v.last_modified)),
        size: i64::try_from(v.size).ok(),
        storage_class: Some(ObjectStorageClass::from(
            v.meta
                .storage_class
                .clone()
                .unwrap_or_else(|| ObjectStorageClass::STANDARD.to_owned()),
        )),
        ..Default::default()
    }
}

pub(in crate::store) fn common_prefixes(
    prefixes: Vec<String>,
    encode: fn(&str) -> String,
) -> Option<CommonPrefixList> {
    Some(
        prefixes
            .into_iter()
            .map(|p| CommonPrefix {
                prefix: Some(encode(&p)),
            })
            .collect(),
    )
}
