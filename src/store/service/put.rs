//! PutObject: the body received into a temporary file, verified, then
//! committed as a new version by one record write.

use super::*;

impl Store {
    pub(in crate::store) async fn put_impl(
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
            meta: new_meta!(input).into(),
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
}
