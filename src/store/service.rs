//! `impl s3s::S3 for Store`: each operation reads or changes the records
//! and bodies through [`super::Store`]'s helpers. Operations not written
//! here keep s3s's default answer, `NotImplemented`.

use std::path::Path;

use futures_util::StreamExt as _;
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::conditional::{self, Failed, ReadConditions};
use super::disk::{self, ReceiveError, Received};
use super::layout::{self, Layout};
use super::listing::{self, Marker};
use super::record::{
    self, BucketRecord, Checksums, KeyRecord, NULL_VERSION, ObjectMeta, Version, timestamp,
};
use super::versioning;
use super::{Store, internal, now_ms};

/// S3's cap on one page of a listing.
const MAX_KEYS: i32 = 1000;
/// S3's limits on object tags.
const MAX_OBJECT_TAGS: usize = 10;

fn precondition(f: Failed) -> S3Error {
    match f {
        Failed::Precondition => S3Error::new(S3ErrorCode::PreconditionFailed),
        Failed::NotModified => S3Error::new(S3ErrorCode::NotModified),
    }
}

/// A version id as the caller sent it: `null` or one of ours.
fn check_version_id(id: &str) -> S3Result<()> {
    if id == NULL_VERSION || layout::is_id(id) {
        Ok(())
    } else {
        Err(s3_error!(InvalidArgument, "Invalid version id specified"))
    }
}

/// Picks the version a read names: the current object, or the given
/// version (a delete marker cannot be read: 405, as S3 answers).
fn pick(record: Option<&KeyRecord>, version_id: Option<&str>) -> S3Result<Version> {
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
fn at_delete_marker(mut err: S3Error, id: &str) -> S3Error {
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

/// Turns a failed receive into the caller's error: their stream's own S3
/// error (a bad chunk signature, a payload hash mismatch) when it is one.
pub(super) fn receive_error(e: ReceiveError) -> S3Error {
    match e {
        ReceiveError::Body(e) => match e.downcast::<S3Error>() {
            Ok(s3) => *s3,
            Err(e) => {
                let mut err = S3Error::new(S3ErrorCode::IncompleteBody);
                err.set_source(e);
                err
            }
        },
        ReceiveError::Io(e) => internal(e),
    }
}

/// The additional checksums a write asks for: declared values and
/// `x-amz-checksum-algorithm` (whose value may come in a trailer).
pub(super) fn hasher_for(
    declared: &Checksums,
    algorithm: Option<&ChecksumAlgorithm>,
) -> S3Result<s3s::checksum::ChecksumHasher> {
    let mut h = s3s::checksum::ChecksumHasher::default();
    let mut enable = |name: &str| -> S3Result<()> {
        match name {
            ChecksumAlgorithm::CRC32 => h.crc32 = Some(Default::default()),
            ChecksumAlgorithm::CRC32C => h.crc32c = Some(Default::default()),
            ChecksumAlgorithm::CRC64NVME => h.crc64nvme = Some(Default::default()),
            ChecksumAlgorithm::SHA1 => h.sha1 = Some(Default::default()),
            ChecksumAlgorithm::SHA256 => h.sha256 = Some(Default::default()),
            _ => return Err(s3_error!(InvalidRequest, "unsupported checksum algorithm")),
        }
        Ok(())
    };
    for (value, name) in [
        (&declared.crc32, ChecksumAlgorithm::CRC32),
        (&declared.crc32c, ChecksumAlgorithm::CRC32C),
        (&declared.crc64nvme, ChecksumAlgorithm::CRC64NVME),
        (&declared.sha1, ChecksumAlgorithm::SHA1),
        (&declared.sha256, ChecksumAlgorithm::SHA256),
    ] {
        if value.is_some() {
            enable(name)?;
        }
    }
    if let Some(a) = algorithm {
        enable(&a.as_str().to_ascii_uppercase())?;
    }
    Ok(h)
}

/// Adds checksums that arrived as trailers of an aws-chunked body.
pub(super) fn merge_trailers(declared: &mut Checksums, trailers: Option<&s3s::TrailingHeaders>) {
    let Some(map) = trailers.and_then(s3s::TrailingHeaders::take) else {
        return;
    };
    let get = |name: &str| {
        map.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    for (slot, name) in [
        (&mut declared.crc32, "x-amz-checksum-crc32"),
        (&mut declared.crc32c, "x-amz-checksum-crc32c"),
        (&mut declared.crc64nvme, "x-amz-checksum-crc64nvme"),
        (&mut declared.sha1, "x-amz-checksum-sha1"),
        (&mut declared.sha256, "x-amz-checksum-sha256"),
    ] {
        if slot.is_none() {
            *slot = get(name);
        }
    }
}

/// Every integrity check of a received body: declared length, Content-MD5
/// and each declared checksum. Only a body that passes gets a name.
pub(super) fn verify(
    received: &Received,
    content_length: Option<i64>,
    content_md5: Option<&str>,
    declared: &Checksums,
) -> S3Result<Checksums> {
    if let Some(n) = content_length
        && u64::try_from(n).ok() != Some(received.size)
    {
        return Err(s3_error!(
            IncompleteBody,
            "The body is not as long as declared"
        ));
    }
    if let Some(md5) = content_md5 {
        use base64::Engine as _;
        let want = base64::engine::general_purpose::STANDARD
            .decode(md5.trim())
            .ok()
            .filter(|d| d.len() == 16)
            .ok_or_else(|| s3_error!(InvalidDigest))?;
        if want != received.md5 {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
    }
    let got = Checksums::from(received.checksums.clone());
    for (want, have, name) in [
        (&declared.crc32, &got.crc32, "CRC32"),
        (&declared.crc32c, &got.crc32c, "CRC32C"),
        (&declared.crc64nvme, &got.crc64nvme, "CRC64NVME"),
        (&declared.sha1, &got.sha1, "SHA1"),
        (&declared.sha256, &got.sha256, "SHA256"),
    ] {
        if want.is_some() && want != have {
            return Err(s3_error!(
                BadDigest,
                "The {name} you specified did not match the calculated checksum."
            ));
        }
    }
    Ok(got)
}

pub(super) fn check_tags(tags: &[(String, String)]) -> S3Result<()> {
    let mut names: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    let unique = names.windows(2).all(|w| w[0] != w[1]);
    let sized = tags
        .iter()
        .all(|(k, v)| (1..=128).contains(&k.chars().count()) && v.chars().count() <= 256);
    if tags.len() > MAX_OBJECT_TAGS || !unique || !sized {
        return Err(s3_error!(InvalidTag, "The tag set is not valid"));
    }
    Ok(())
}

/// Headers this store does not keep, refused rather than silently dropped.
fn refuse_unsupported(acl: Option<&ObjectCannedACL>, lock_mode: bool, sse: bool) -> S3Result<()> {
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

pub(super) struct NewMeta {
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

fn stream_error(e: std::io::Error) -> s3s::StdError {
    Box::new(e)
}

impl Store {
    /// Reads the version a GET/HEAD/copy names and opens its body. Retries
    /// when an overwrite removed the body between reading the record and
    /// opening the file (an open file survives its removal).
    async fn open_version(
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
    pub(super) async fn place(&self, dir: &Path, received: Received) -> S3Result<String> {
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
    pub(super) async fn commit_version(
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
            let mut record = self
                .key_record(dir, key)
                .await?
                .unwrap_or_else(|| KeyRecord {
                    key: key.to_owned(),
                    versions: Vec::new(),
                });
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

    async fn delete_one(
        &self,
        dir: &Path,
        key: &str,
        version_id: Option<&str>,
        if_match: Option<&ETagCondition>,
    ) -> S3Result<(Option<String>, bool)> {
        let _guard = self.write.lock().await;
        let bucket = self.bucket_record(dir).await?;
        let mut record = self
            .key_record(dir, key)
            .await?
            .unwrap_or_else(|| KeyRecord {
                key: key.to_owned(),
                versions: Vec::new(),
            });
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
    async fn tagged_version(
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

fn owner() -> Owner {
    Owner {
        display_name: Some("s3gate".to_owned()),
        id: Some("s3gate".to_owned()),
    }
}

fn private_grants() -> Grants {
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
fn slice(
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

fn shown_version(bucket: &BucketRecord, id: &str) -> Option<String> {
    bucket.versioning_configured().then(|| id.to_owned())
}

fn max_keys(requested: Option<i32>) -> usize {
    usize::try_from(requested.unwrap_or(MAX_KEYS).clamp(0, MAX_KEYS)).unwrap_or(0)
}

fn object_entry(key: &str, v: &Version, encode: fn(&str) -> String) -> Object {
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

fn common_prefixes(prefixes: Vec<String>, encode: fn(&str) -> String) -> Option<CommonPrefixList> {
    Some(
        prefixes
            .into_iter()
            .map(|p| CommonPrefix {
                prefix: Some(encode(&p)),
            })
            .collect(),
    )
}

#[async_trait::async_trait]
impl S3 for Store {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let input = req.input;
        if input.object_lock_enabled_for_bucket == Some(true) {
            return Err(s3_error!(
                NotImplemented,
                "Object lock is not supported by the embedded store"
            ));
        }
        let dir = self
            .layout
            .bucket(&input.bucket)
            .ok_or_else(|| s3_error!(InvalidBucketName))?;
        let _guard = self.write.lock().await;
        match tokio::fs::create_dir(&dir).await {
            Ok(()) => {}
            // In us-east-1 (the store's region) S3 answers 200 to an owner
            // re-creating a bucket; there is only one owner here.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Ok(S3Response::new(CreateBucketOutput {
                    location: Some(format!("/{}", input.bucket)),
                }));
            }
            Err(e) => return Err(internal(e)),
        }
        let record = BucketRecord {
            created: Some(now_ms()),
            ..Default::default()
        };
        self.save_bucket_record(&dir, &record).await?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let dir = self.bucket_dir(&req.input.bucket).await?;
        let _guard = self.write.lock().await;
        let has_keys = !self.all_keys(&dir).await?.is_empty();
        let has_uploads =
            std::fs::read_dir(Layout::uploads_dir(&dir)).is_ok_and(|mut d| d.next().is_some());
        if has_keys || has_uploads {
            return Err(s3_error!(BucketNotEmpty));
        }
        tokio::fs::remove_dir_all(&dir).await.map_err(internal)?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.bucket_dir(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some("us-east-1".to_owned()),
            ..Default::default()
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.bucket_dir(&req.input.bucket).await?;
        // us-east-1 is the empty constraint.
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let mut buckets = Vec::new();
        let mut entries = tokio::fs::read_dir(self.layout.root())
            .await
            .map_err(internal)?;
        while let Some(entry) = entries.next_entry().await.map_err(internal)? {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Some(dir) = self.layout.bucket(&name) else {
                continue;
            };
            let Ok(meta) = entry.metadata().await else {
                continue;
            };
            if !meta.is_dir() {
                continue;
            }
            let created = match self.bucket_record(&dir).await?.created {
                Some(ms) => timestamp(ms),
                None => Timestamp::from(meta.modified().map_err(internal)?),
            };
            buckets.push(Bucket {
                name: Some(name),
                creation_date: Some(created),
                bucket_region: None,
            });
        }
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner()),
            ..Default::default()
        }))
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let dir = self.bucket_dir(&req.input.bucket).await?;
        let record = self.bucket_record(&dir).await?;
        Ok(S3Response::new(GetBucketVersioningOutput {
            status: record.versioning.map(BucketVersioningStatus::from),
            mfa_delete: None,
        }))
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket).await?;
        if input.versioning_configuration.mfa_delete.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "MFA delete is not supported by the embedded store"
            ));
        }
        let status = match input.versioning_configuration.status {
            Some(s)
                if s.as_str() == BucketVersioningStatus::ENABLED
                    || s.as_str() == BucketVersioningStatus::SUSPENDED =>
            {
                s
            }
            _ => return Err(s3_error!(MalformedXML)),
        };
        let _guard = self.write.lock().await;
        let mut record = self.bucket_record(&dir).await?;
        record.versioning = Some(status.as_str().to_owned());
        self.save_bucket_record(&dir, &record).await?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let dir = self.bucket_dir(&req.input.bucket).await?;
        let tags = self
            .bucket_record(&dir)
            .await?
            .tags
            .ok_or_else(|| s3_error!(NoSuchTagSet))?;
        Ok(S3Response::new(GetBucketTaggingOutput {
            tag_set: record::tags_to_dto(&tags),
        }))
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket).await?;
        let tags = record::tags_from_dto(input.tagging.tag_set);
        let _guard = self.write.lock().await;
        let mut record = self.bucket_record(&dir).await?;
        record.tags = Some(tags);
        self.save_bucket_record(&dir, &record).await?;
        Ok(S3Response::new(PutBucketTaggingOutput {}))
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        let dir = self.bucket_dir(&req.input.bucket).await?;
        let _guard = self.write.lock().await;
        let mut record = self.bucket_record(&dir).await?;
        record.tags = None;
        self.save_bucket_record(&dir, &record).await?;
        Ok(S3Response::new(DeleteBucketTaggingOutput {}))
    }

    // Access control is the gateway's policy file: the store keeps no ACL
    // or policy of its own, so every object and bucket reads as private to
    // its one owner, and there is no bucket policy or object lock to show.
    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.bucket_dir(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketAclOutput {
            grants: Some(private_grants()),
            owner: Some(owner()),
        }))
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket).await?;
        let record = self.key_record(&dir, &input.key).await?;
        pick(record.as_ref(), input.version_id.as_deref())?;
        Ok(S3Response::new(GetObjectAclOutput {
            grants: Some(private_grants()),
            owner: Some(owner()),
            request_charged: None,
        }))
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        self.bucket_dir(&req.input.bucket).await?;
        Err(s3_error!(NoSuchBucketPolicy))
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        self.bucket_dir(&req.input.bucket).await?;
        Err(s3_error!(ObjectLockConfigurationNotFoundError))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        refuse_unsupported(
            input.acl.as_ref(),
            input.object_lock_mode.is_some() || input.object_lock_legal_hold_status.is_some(),
            input.server_side_encryption.is_some() || input.sse_customer_algorithm.is_some(),
        )?;
        if input.write_offset_bytes.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "Appends are not supported by the embedded store"
            ));
        }
        let dir = self.bucket_dir(&input.bucket).await?;
        let tags = input
            .tagging
            .as_deref()
            .map(record::tags_from_header)
            .unwrap_or_default();
        check_tags(&tags)?;
        let mut declared = Checksums {
            crc32: input.checksum_crc32,
            crc32c: input.checksum_crc32c,
            crc64nvme: input.checksum_crc64nvme,
            sha1: input.checksum_sha1,
            sha256: input.checksum_sha256,
        };
        let hasher = hasher_for(&declared, input.checksum_algorithm.as_ref())?;
        let body = input.body.ok_or_else(|| s3_error!(IncompleteBody))?;
        let received = disk::receive(&self.layout, body, hasher)
            .await
            .map_err(receive_error)?;
        merge_trailers(&mut declared, req.trailing_headers.as_ref());
        let checksums = verify(
            &received,
            input.content_length,
            input.content_md5.as_deref(),
            &declared,
        )?;
        let (size, etag) = (received.size, hex::encode(received.md5));
        let data = self.place(&dir, received).await?;
        let version = Version {
            id: String::new(),
            data: Some(data),
            size,
            etag,
            last_modified: now_ms(),
            meta: NewMeta {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires,
                website_redirect_location: input.website_redirect_location,
                storage_class: input.storage_class,
                metadata: input.metadata,
            }
            .into(),
            checksums,
            tags,
            parts_count: None,
            part_sizes: Vec::new(),
        };
        let (v, bucket) = self
            .commit_version(
                &dir,
                &input.key,
                version,
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
            )
            .await?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(v.e_tag()),
            checksum_crc32: v.checksums.crc32,
            checksum_crc32c: v.checksums.crc32c,
            checksum_crc64nvme: v.checksums.crc64nvme,
            checksum_sha1: v.checksums.sha1,
            checksum_sha256: v.checksums.sha256,
            version_id: shown_version(&bucket, &v.id),
            size: i64::try_from(v.size).ok(),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket).await?;
        let bucket = self.bucket_record(&dir).await?;
        let (v, mut file) = self
            .open_version(&dir, &input.key, input.version_id.as_deref())
            .await?;
        ReadConditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check(&v.etag, v.last_modified, Failed::NotModified)
        .map_err(precondition)?;
        let (start, len, content_range) = slice(&v, input.range.as_ref(), input.part_number)?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(internal)?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 * 1024);
        let whole = content_range.is_none();
        let m = v.meta;
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(stream)),
            content_length: i64::try_from(len).ok(),
            content_range,
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(ETag::Strong(v.etag)),
            last_modified: Some(timestamp(v.last_modified)),
            metadata: m.user_metadata(),
            content_type: input.response_content_type.or(m.content_type),
            content_encoding: input.response_content_encoding.or(m.content_encoding),
            content_disposition: input.response_content_disposition.or(m.content_disposition),
            content_language: input.response_content_language.or(m.content_language),
            cache_control: input.response_cache_control.or(m.cache_control),
            expires: input.response_expires.or(m.expires.map(timestamp)),
            website_redirect_location: m.website_redirect_location,
            storage_class: m.storage_class.map(StorageClass::from),
            tag_count: (!v.tags.is_empty()).then(|| i32::try_from(v.tags.len()).unwrap_or(0)),
            parts_count: v.parts_count,
            version_id: shown_version(&bucket, &v.id),
            // A range is not the object: its checksums would not match.
            checksum_crc32: v.checksums.crc32.filter(|_| whole),
            checksum_crc32c: v.checksums.crc32c.filter(|_| whole),
            checksum_crc64nvme: v.checksums.crc64nvme.filter(|_| whole),
            checksum_sha1: v.checksums.sha1.filter(|_| whole),
            checksum_sha256: v.checksums.sha256.filter(|_| whole),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket).await?;
        let bucket = self.bucket_record(&dir).await?;
        let record = self.key_record(&dir, &input.key).await?;
        let v = pick(record.as_ref(), input.version_id.as_deref())?;
        ReadConditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check(&v.etag, v.last_modified, Failed::NotModified)
        .map_err(precondition)?;
        let (_, len, content_range) = slice(&v, input.range.as_ref(), input.part_number)?;
        let m = v.meta;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: i64::try_from(len).ok(),
            content_range,
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(ETag::Strong(v.etag)),
            last_modified: Some(timestamp(v.last_modified)),
            metadata: m.user_metadata(),
            content_type: input.response_content_type.or(m.content_type),
            content_encoding: input.response_content_encoding.or(m.content_encoding),
            content_disposition: input.response_content_disposition.or(m.content_disposition),
            content_language: input.response_content_language.or(m.content_language),
            cache_control: input.response_cache_control.or(m.cache_control),
            expires: input.response_expires.or(m.expires.map(timestamp)),
            website_redirect_location: m.website_redirect_location,
            storage_class: m.storage_class.map(StorageClass::from),
            parts_count: v.parts_count,
            version_id: shown_version(&bucket, &v.id),
            checksum_crc32: v.checksums.crc32,
            checksum_crc32c: v.checksums.crc32c,
            checksum_crc64nvme: v.checksums.crc64nvme,
            checksum_sha1: v.checksums.sha1,
            checksum_sha256: v.checksums.sha256,
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        refuse_unsupported(
            input.acl.as_ref(),
            input.object_lock_mode.is_some() || input.object_lock_legal_hold_status.is_some(),
            input.server_side_encryption.is_some() || input.sse_customer_algorithm.is_some(),
        )?;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            version_id: src_version,
        } = &input.copy_source
        else {
            return Err(s3_error!(
                NotImplemented,
                "Only bucket copy sources are supported"
            ));
        };
        let src_dir = self.bucket_dir(src_bucket).await?;
        let dst_dir = self.bucket_dir(&input.bucket).await?;
        let src_bucket_record = self.bucket_record(&src_dir).await?;
        let (src, file) = self
            .open_version(&src_dir, src_key, src_version.as_deref())
            .await?;
        ReadConditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        }
        .check(&src.etag, src.last_modified, Failed::Precondition)
        .map_err(precondition)?;
        let replace_meta = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let replace_tags = input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
        let same_object = **src_bucket == *input.bucket && **src_key == *input.key;
        let changes_class = input
            .storage_class
            .as_ref()
            .is_some_and(|c| Some(c.as_str()) != src.meta.storage_class.as_deref());
        if same_object
            && !replace_meta
            && !changes_class
            && input.website_redirect_location.is_none()
        {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect location \
                 or encryption attributes."
            ));
        }
        let tags = if replace_tags {
            input
                .tagging
                .as_deref()
                .map(record::tags_from_header)
                .unwrap_or_default()
        } else {
            src.tags.clone()
        };
        check_tags(&tags)?;
        let algorithm = input.checksum_algorithm.clone();
        let hasher = hasher_for(&src.checksums, algorithm.as_ref())?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024)
            .map(|r| r.map_err(stream_error));
        let received = disk::receive(&self.layout, stream, hasher)
            .await
            .map_err(receive_error)?;
        if received.size != src.size {
            return Err(s3_error!(InternalError, "source changed during copy"));
        }
        let checksums = Checksums::from(received.checksums.clone());
        let etag = if src.parts_count.is_some() {
            hex::encode(received.md5)
        } else {
            src.etag.clone()
        };
        let meta: ObjectMeta = if replace_meta {
            NewMeta {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires,
                website_redirect_location: input.website_redirect_location,
                storage_class: input.storage_class,
                metadata: input.metadata,
            }
            .into()
        } else {
            let mut m = src.meta.clone();
            if let Some(c) = input.storage_class {
                m.storage_class =
                    Some(c.as_str().to_owned()).filter(|s| s != StorageClass::STANDARD);
            }
            if input.website_redirect_location.is_some() {
                m.website_redirect_location = input.website_redirect_location;
            }
            m
        };
        let size = received.size;
        let data = self.place(&dst_dir, received).await?;
        let version = Version {
            id: String::new(),
            data: Some(data),
            size,
            etag,
            last_modified: now_ms(),
            meta,
            checksums,
            tags,
            parts_count: None,
            part_sizes: Vec::new(),
        };
        let (v, bucket) = self
            .commit_version(&dst_dir, &input.key, version, None, None)
            .await?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(v.e_tag()),
                last_modified: Some(timestamp(v.last_modified)),
                checksum_crc32: v.checksums.crc32,
                checksum_crc32c: v.checksums.crc32c,
                checksum_crc64nvme: v.checksums.crc64nvme,
                checksum_sha1: v.checksums.sha1,
                checksum_sha256: v.checksums.sha256,
                ..Default::default()
            }),
            version_id: shown_version(&bucket, &v.id),
            copy_source_version_id: shown_version(&src_bucket_record, &src.id),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket).await?;
        let (version_id, delete_marker) = self
            .delete_one(
                &dir,
                &input.key,
                input.version_id.as_deref(),
                input.if_match.as_ref(),
            )
            .await?;
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: delete_marker.then_some(true),
            version_id,
            ..Default::default()
        }))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket).await?;
        let quiet = input.delete.quiet == Some(true);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for object in input.delete.objects {
            match self
                .delete_one(&dir, &object.key, object.version_id.as_deref(), None)
                .await
            {
                Ok((version_id, marker)) => {
                    if !quiet {
                        let asked = object.version_id.clone();
                        deleted.push(DeletedObject {
                            key: Some(object.key),
                            version_id: asked.clone(),
                            delete_marker: marker.then_some(true),
                            delete_marker_version_id: if asked.is_none() {
                                version_id
                            } else {
                                None
                            },
                        });
                    }
                }
                Err(e) => errors.push(Error {
                    code: Some(e.code().as_str().to_owned()),
                    message: e.message().map(str::to_owned),
                    key: Some(object.key),
                    version_id: object.version_id,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
        let after = match &input.continuation_token {
            Some(t) => Some(Marker::from_token(t).ok_or_else(|| {
                s3_error!(
                    InvalidArgument,
                    "The continuation token provided is incorrect"
                )
            })?),
            None => input
                .start_after
                .as_deref()
                .map(|s| Marker::from_client(s, &prefix, delimiter)),
        };
        let max = max_keys(input.max_keys);
        let records = self.all_keys(&dir).await?;
        let items = records
            .into_iter()
            .filter_map(|r| r.current().cloned().map(|v| (r.key.clone(), (r.key, v))));
        let page = listing::page(items, &prefix, delimiter, after.as_ref(), max);
        let encode = listing::encoder(input.encoding_type.as_ref());
        let key_count = page.entries.len() + page.prefixes.len();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(encode(&prefix)),
            delimiter: input.delimiter.as_deref().map(encode),
            start_after: input.start_after.as_deref().map(encode),
            continuation_token: input.continuation_token,
            next_continuation_token: page.next.as_ref().map(Marker::token),
            max_keys: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
            key_count: Some(i32::try_from(key_count).unwrap_or(MAX_KEYS)),
            is_truncated: Some(page.truncated),
            contents: Some(
                page.entries
                    .iter()
                    .map(|(k, v)| object_entry(k, v, encode))
                    .collect(),
            ),
            common_prefixes: common_prefixes(page.prefixes, encode),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
        let after = input
            .marker
            .as_deref()
            .map(|m| Marker::from_client(m, &prefix, delimiter));
        let max = max_keys(input.max_keys);
        let records = self.all_keys(&dir).await?;
        let items = records
            .into_iter()
            .filter_map(|r| r.current().cloned().map(|v| (r.key.clone(), (r.key, v))));
        let page = listing::page(items, &prefix, delimiter, after.as_ref(), max);
        let encode = listing::encoder(input.encoding_type.as_ref());
        // S3 gives NextMarker only with a delimiter; without one the client
        // continues from the last key.
        let next_marker = page
            .next
            .as_ref()
            .filter(|_| delimiter.is_some())
            .map(|m| encode(m.as_str()));
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(encode(&prefix)),
            delimiter: input.delimiter.as_deref().map(encode),
            marker: Some(input.marker.as_deref().map(encode).unwrap_or_default()),
            next_marker,
            max_keys: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
            is_truncated: Some(page.truncated),
            contents: Some(
                page.entries
                    .iter()
                    .map(|(k, v)| object_entry(k, v, encode))
                    .collect(),
            ),
            common_prefixes: common_prefixes(page.prefixes, encode),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
        let max = max_keys(input.max_keys);
        let key_marker = input.key_marker.clone().filter(|m| !m.is_empty());
        let version_marker = input.version_id_marker.clone().filter(|m| !m.is_empty());
        let records = self.all_keys(&dir).await?;
        // One item per version, newest first within a key; the markers
        // resume after a key, or after one version of it.
        let mut items: Vec<(String, (String, Version, bool))> = Vec::new();
        for r in records {
            if let Some(m) = &key_marker
                && (r.key < *m || (r.key == *m && version_marker.is_none()))
            {
                continue;
            }
            let resume_in_key = key_marker.as_deref() == Some(r.key.as_str());
            let mut skipping = resume_in_key;
            for (i, v) in r.versions.iter().rev().enumerate() {
                if skipping {
                    if version_marker.as_deref() == Some(v.id.as_str()) {
                        skipping = false;
                    }
                    continue;
                }
                items.push((r.key.clone(), (r.key.clone(), v.clone(), i == 0)));
            }
        }
        let after = key_marker
            .as_deref()
            .map(|m| Marker::from_client(m, &prefix, delimiter))
            .filter(|m| matches!(m, Marker::Prefix(_)));
        let page = listing::page(items, &prefix, delimiter, after.as_ref(), max);
        let encode = listing::encoder(input.encoding_type.as_ref());
        let (next_key_marker, next_version_id_marker) = match &page.next {
            Some(Marker::Prefix(p)) => (Some(encode(p)), None),
            Some(Marker::Key(k)) => (
                Some(encode(k)),
                page.entries.last().map(|(_, v, _)| v.id.clone()),
            ),
            None => (None, None),
        };
        let mut versions = Vec::new();
        let mut delete_markers = Vec::new();
        for (key, v, latest) in page.entries {
            if v.is_delete_marker() {
                delete_markers.push(DeleteMarkerEntry {
                    key: Some(encode(&key)),
                    version_id: Some(v.id),
                    is_latest: Some(latest),
                    last_modified: Some(timestamp(v.last_modified)),
                    owner: None,
                });
            } else {
                versions.push(ObjectVersion {
                    key: Some(encode(&key)),
                    e_tag: Some(v.e_tag()),
                    size: i64::try_from(v.size).ok(),
                    is_latest: Some(latest),
                    last_modified: Some(timestamp(v.last_modified)),
                    storage_class: Some(ObjectVersionStorageClass::from(
                        ObjectVersionStorageClass::STANDARD.to_owned(),
                    )),
                    version_id: Some(v.id),
                    ..Default::default()
                });
            }
        }
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(encode(&prefix)),
            delimiter: input.delimiter.as_deref().map(encode),
            key_marker: input.key_marker.as_deref().map(encode),
            version_id_marker: input.version_id_marker,
            next_key_marker,
            next_version_id_marker,
            max_keys: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
            is_truncated: Some(page.truncated),
            versions: Some(versions),
            delete_markers: Some(delete_markers),
            common_prefixes: common_prefixes(page.prefixes, encode),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket).await?;
        let bucket = self.bucket_record(&dir).await?;
        let (record, id) = self
            .tagged_version(&dir, &input.key, input.version_id.as_deref())
            .await?;
        let tags = record
            .version(&id)
            .map(|v| v.tags.clone())
            .unwrap_or_default();
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: record::tags_to_dto(&tags),
            version_id: shown_version(&bucket, &id),
        }))
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket).await?;
        let tags = record::tags_from_dto(input.tagging.tag_set);
        check_tags(&tags)?;
        let _guard = self.write.lock().await;
        let bucket = self.bucket_record(&dir).await?;
        let (mut record, id) = self
            .tagged_version(&dir, &input.key, input.version_id.as_deref())
            .await?;
        if let Some(v) = record.version_mut(&id) {
            v.tags = tags;
        }
        self.commit_key(&dir, &record, &[]).await?;
        Ok(S3Response::new(PutObjectTaggingOutput {
            version_id: shown_version(&bucket, &id),
        }))
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket).await?;
        let _guard = self.write.lock().await;
        let bucket = self.bucket_record(&dir).await?;
        let (mut record, id) = self
            .tagged_version(&dir, &input.key, input.version_id.as_deref())
            .await?;
        if let Some(v) = record.version_mut(&id) {
            v.tags.clear();
        }
        self.commit_key(&dir, &record, &[]).await?;
        Ok(S3Response::new(DeleteObjectTaggingOutput {
            version_id: shown_version(&bucket, &id),
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.mpu_create(req.input).await.map(S3Response::new)
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let trailers = req.trailing_headers;
        self.mpu_upload_part(req.input, trailers.as_ref())
            .await
            .map(S3Response::new)
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.mpu_upload_part_copy(req.input)
            .await
            .map(S3Response::new)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.mpu_complete(req.input).await.map(S3Response::new)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.mpu_abort(req.input).await.map(S3Response::new)
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.mpu_list_parts(req.input).await.map(S3Response::new)
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.mpu_list_uploads(req.input).await.map(S3Response::new)
    }
}
