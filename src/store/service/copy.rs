//! CopyObject: the source read under its conditions, the target written
//! with the metadata and tagging directives.

use super::*;

impl Store {
    pub(in crate::store) async fn copy_impl(
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
            new_meta!(input).into()
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
}
