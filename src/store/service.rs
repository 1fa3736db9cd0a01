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

mod copy;
mod integrity;
mod objects;
mod put;
mod versions;

pub(in crate::store) use integrity::*;
pub(in crate::store) use objects::*;

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
        self.put_impl(req).await
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
        self.copy_impl(req).await
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
        let page = self
            .current_page(&dir, &prefix, delimiter, after.as_ref(), max)
            .await?;
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
        let page = self
            .current_page(&dir, &prefix, delimiter, after.as_ref(), max)
            .await?;
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
        self.versions_impl(req).await
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
