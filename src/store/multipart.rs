//! Multipart uploads: each part is received and verified like a whole
//! object, then named `uploads/ID/part-N`; completion joins the chosen
//! parts into one new body and commits it as one version, atomically (the
//! key record is the commit point, as for any write).
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html>

use std::path::{Path, PathBuf};

use s3s::crypto::Checksum as _;
use s3s::dto::*;
use s3s::{S3Result, s3_error};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

use super::disk::{self, Staged};
use super::layout::{self, Layout};
use super::record::{self, Checksums, PartRecord, UploadRecord, Version, timestamp};
use super::service::{check_tags, hasher_for, merge_trailers, new_meta, receive_error, verify};
use super::{Store, internal, now_ms};

/// S3: every part but the last is at least 5 MiB.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3: part numbers are 1..=10000.
const MAX_PART_NUMBER: i32 = 10_000;

fn check_part_number(n: i32) -> S3Result<()> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ))
    }
}

impl Store {
    /// The upload's folder and record; `NoSuchUpload` for an unknown id or
    /// one that belongs to another key.
    async fn upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> S3Result<(PathBuf, PathBuf, UploadRecord)> {
        let dir = self.bucket_dir(bucket).await?;
        let up = Layout::upload_dir(&dir, upload_id).ok_or_else(|| s3_error!(NoSuchUpload))?;
        let record: UploadRecord = disk::read_json(&Layout::upload_record(&up))
            .await
            .map_err(internal)?
            .filter(|r: &UploadRecord| r.key == key)
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        Ok((dir, up, record))
    }

    pub(super) async fn mpu_create(
        &self,
        input: CreateMultipartUploadInput,
    ) -> S3Result<CreateMultipartUploadOutput> {
        let dir = self.bucket_dir(&input.bucket).await?;
        if input
            .acl
            .as_ref()
            .is_some_and(|a| a.as_str() != ObjectCannedACL::PRIVATE)
            || input.object_lock_mode.is_some()
            || input.server_side_encryption.is_some()
            || input.sse_customer_algorithm.is_some()
        {
            return Err(s3_error!(
                NotImplemented,
                "ACLs, object lock and encryption are not supported by the embedded store"
            ));
        }
        let tags = input
            .tagging
            .as_deref()
            .map(record::tags_from_header)
            .unwrap_or_default();
        check_tags(&tags)?;
        if let Some(a) = &input.checksum_algorithm {
            hasher_for(&Checksums::default(), Some(a))?;
        }
        let upload_id = layout::random_id();
        let up = Layout::upload_dir(&dir, &upload_id).ok_or_else(|| s3_error!(InternalError))?;
        let record = UploadRecord {
            key: input.key.clone(),
            initiated: now_ms(),
            meta: new_meta!(input).into(),
            tags,
            checksum_algorithm: input
                .checksum_algorithm
                .as_ref()
                .map(|a| a.as_str().to_owned()),
        };
        disk::write_json(&self.layout, &Layout::upload_record(&up), &record)
            .await
            .map_err(internal)?;
        Ok(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        })
    }

    /// Names a verified part; the part's record follows its body, so a
    /// record always describes a complete body.
    async fn save_part(
        &self,
        up: &Path,
        n: i32,
        staged: Staged,
        part: &PartRecord,
    ) -> S3Result<()> {
        staged
            .commit(&Layout::part_file(up, n))
            .await
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    s3_error!(NoSuchUpload)
                } else {
                    internal(e)
                }
            })?;
        disk::write_json(&self.layout, &Layout::part_record(up, n), part)
            .await
            .map_err(internal)?;
        // Aborted while this part was being written: take it away again.
        if tokio::fs::metadata(Layout::upload_record(up))
            .await
            .is_err()
        {
            let _ = tokio::fs::remove_dir_all(up).await;
            return Err(s3_error!(NoSuchUpload));
        }
        Ok(())
    }

    pub(super) async fn mpu_upload_part(
        &self,
        input: UploadPartInput,
        trailers: Option<&s3s::TrailingHeaders>,
    ) -> S3Result<UploadPartOutput> {
        check_part_number(input.part_number)?;
        let (_, up, upload) = self
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let mut declared = Checksums {
            crc32: input.checksum_crc32,
            crc32c: input.checksum_crc32c,
            crc64nvme: input.checksum_crc64nvme,
            sha1: input.checksum_sha1,
            sha256: input.checksum_sha256,
        };
        let algorithm = input
            .checksum_algorithm
            .or_else(|| upload.checksum_algorithm.map(ChecksumAlgorithm::from));
        let hasher = hasher_for(&declared, algorithm.as_ref())?;
        let body = input.body.ok_or_else(|| s3_error!(IncompleteBody))?;
        let received = disk::receive(&self.layout, body, hasher)
            .await
            .map_err(receive_error)?;
        merge_trailers(&mut declared, trailers);
        let checksums = verify(
            &received,
            input.content_length,
            input.content_md5.as_deref(),
            &declared,
        )?;
        let part = PartRecord {
            size: received.size,
            etag: hex::encode(received.md5),
            last_modified: now_ms(),
            checksums: checksums.clone(),
        };
        self.save_part(&up, input.part_number, received.staged, &part)
            .await?;
        Ok(UploadPartOutput {
            e_tag: Some(ETag::Strong(part.etag)),
            checksum_crc32: checksums.crc32,
            checksum_crc32c: checksums.crc32c,
            checksum_crc64nvme: checksums.crc64nvme,
            checksum_sha1: checksums.sha1,
            checksum_sha256: checksums.sha256,
            ..Default::default()
        })
    }

    pub(super) async fn mpu_upload_part_copy(
        &self,
        input: UploadPartCopyInput,
    ) -> S3Result<UploadPartCopyOutput> {
        check_part_number(input.part_number)?;
        let (_, up, _) = self
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            version_id,
        } = &input.copy_source
        else {
            return Err(s3_error!(
                NotImplemented,
                "Only bucket copy sources are supported"
            ));
        };
        let src_dir = self.bucket_dir(src_bucket).await?;
        let src_record = self.key_record(&src_dir, src_key).await?;
        let src = match version_id.as_deref() {
            None => src_record.as_ref().and_then(|r| r.current()),
            Some(id) => src_record.as_ref().and_then(|r| r.version(id)),
        }
        .filter(|v| !v.is_delete_marker())
        .cloned()
        .ok_or_else(|| s3_error!(NoSuchKey))?;
        super::conditional::ReadConditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        }
        .check(
            &src.etag,
            src.last_modified,
            super::conditional::Failed::Precondition,
        )
        .map_err(|_| s3_error!(PreconditionFailed))?;
        let (start, len) = match input.copy_source_range.as_deref() {
            None => (0, src.size),
            Some(text) => {
                let range = Range::parse(text)
                    .map_err(|_| s3_error!(InvalidArgument, "bad x-amz-copy-source-range"))?;
                let r = range.check(src.size).map_err(|_| s3_error!(InvalidRange))?;
                (r.start, r.end - r.start)
            }
        };
        let data = src.data.as_deref().ok_or_else(|| s3_error!(NoSuchKey))?;
        let mut file = tokio::fs::File::open(Layout::data_file(&src_dir, data))
            .await
            .map_err(internal)?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(internal)?;
        let staged = Staged::new(self.layout.tmp_file());
        let mut out = tokio::fs::File::create(staged.path())
            .await
            .map_err(internal)?;
        let mut md5 = s3s::crypto::Md5::new();
        let mut reader = file.take(len);
        let mut buf = vec![0u8; 64 * 1024];
        let mut copied = 0u64;
        loop {
            let n = reader.read(&mut buf).await.map_err(internal)?;
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
            out.write_all(&buf[..n]).await.map_err(internal)?;
            copied += n as u64;
        }
        out.sync_all().await.map_err(internal)?;
        drop(out);
        if copied != len {
            return Err(s3_error!(InternalError, "source changed during copy"));
        }
        let part = PartRecord {
            size: len,
            etag: hex::encode(md5.finalize()),
            last_modified: now_ms(),
            checksums: Checksums::default(),
        };
        self.save_part(&up, input.part_number, staged, &part)
            .await?;
        Ok(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(part.etag)),
                last_modified: Some(timestamp(part.last_modified)),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    pub(super) async fn mpu_complete(
        &self,
        input: CompleteMultipartUploadInput,
    ) -> S3Result<CompleteMultipartUploadOutput> {
        let (dir, up, upload) = self
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let chosen = input
            .multipart_upload
            .and_then(|m| m.parts)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| s3_error!(MalformedXML, "The XML you provided was not well-formed"))?;
        // Check every part before writing a byte.
        let mut parts = Vec::with_capacity(chosen.len());
        let mut previous = 0;
        for (i, c) in chosen.iter().enumerate() {
            let n = c.part_number.ok_or_else(|| s3_error!(InvalidPart))?;
            if n <= previous {
                return Err(s3_error!(InvalidPartOrder));
            }
            previous = n;
            let part: PartRecord = disk::read_json(&Layout::part_record(&up, n))
                .await
                .map_err(internal)?
                .ok_or_else(|| s3_error!(InvalidPart))?;
            let etag_ok = c
                .e_tag
                .as_ref()
                .is_some_and(|e| e.value().trim_matches('"') == part.etag);
            if !etag_ok {
                return Err(s3_error!(InvalidPart));
            }
            if i + 1 < chosen.len() && part.size < MIN_PART_SIZE {
                return Err(s3_error!(EntityTooSmall));
            }
            parts.push((n, part));
        }
        if let Some(want) = input.mpu_object_size {
            let total: u64 = parts.iter().map(|(_, p)| p.size).sum();
            if u64::try_from(want).ok() != Some(total) {
                return Err(s3_error!(
                    InvalidRequest,
                    "x-amz-mp-object-size does not match the parts"
                ));
            }
        }
        // Join the parts into one new body; the multipart ETag is the MD5
        // of the parts' MD5s, dash, the number of parts.
        let staged = Staged::new(self.layout.tmp_file());
        let mut out = tokio::io::BufWriter::with_capacity(
            256 * 1024,
            tokio::fs::File::create(staged.path())
                .await
                .map_err(internal)?,
        );
        let mut etags = s3s::crypto::Md5::new();
        let mut size = 0u64;
        for (n, part) in &parts {
            let mut f = tokio::fs::File::open(Layout::part_file(&up, *n))
                .await
                .map_err(internal)?;
            let copied = tokio::io::copy(&mut f, &mut out).await.map_err(internal)?;
            if copied != part.size {
                return Err(s3_error!(InvalidPart));
            }
            size += copied;
            etags.update(&hex::decode(&part.etag).map_err(internal)?);
        }
        out.flush().await.map_err(internal)?;
        out.into_inner().sync_all().await.map_err(internal)?;
        let etag = format!("{}-{}", hex::encode(etags.finalize()), parts.len());
        let data = layout::random_id();
        staged
            .commit(&Layout::data_file(&dir, &data))
            .await
            .map_err(internal)?;
        let version = Version {
            id: String::new(),
            data: Some(data),
            size,
            etag,
            last_modified: now_ms(),
            meta: upload.meta,
            checksums: Checksums::default(),
            tags: upload.tags,
            parts_count: i32::try_from(parts.len()).ok(),
            part_sizes: parts.iter().map(|(_, p)| p.size).collect(),
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
        let _ = tokio::fs::remove_dir_all(&up).await;
        Ok(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(v.e_tag()),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            version_id: bucket.versioning_configured().then(|| v.id.clone()),
            ..Default::default()
        })
    }

    pub(super) async fn mpu_abort(
        &self,
        input: AbortMultipartUploadInput,
    ) -> S3Result<AbortMultipartUploadOutput> {
        let (_, up, _) = self
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        tokio::fs::remove_dir_all(&up).await.map_err(internal)?;
        Ok(AbortMultipartUploadOutput::default())
    }

    async fn parts_of(up: &Path) -> S3Result<Vec<(i32, PartRecord)>> {
        let mut parts = Vec::new();
        let mut entries = tokio::fs::read_dir(up).await.map_err(internal)?;
        while let Some(e) = entries.next_entry().await.map_err(internal)? {
            let name = e.file_name();
            let Some(n) = name
                .to_str()
                .and_then(|s| s.strip_prefix("part-"))
                .and_then(|s| s.strip_suffix(".json"))
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if let Some(p) = disk::read_json::<PartRecord>(&e.path())
                .await
                .map_err(internal)?
            {
                parts.push((n, p));
            }
        }
        parts.sort_by_key(|(n, _)| *n);
        Ok(parts)
    }

    pub(super) async fn mpu_list_parts(&self, input: ListPartsInput) -> S3Result<ListPartsOutput> {
        let (_, up, upload) = self
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let after = input.part_number_marker.unwrap_or(0);
        let max = usize::try_from(input.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(0);
        let all: Vec<_> = Self::parts_of(&up)
            .await?
            .into_iter()
            .filter(|(n, _)| *n > after)
            .collect();
        let truncated = all.len() > max;
        let page: Vec<_> = all.into_iter().take(max).collect();
        let next = page.last().map(|(n, _)| *n);
        Ok(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next.filter(|_| truncated),
            max_parts: i32::try_from(max).ok(),
            is_truncated: Some(truncated),
            checksum_algorithm: upload.checksum_algorithm.map(ChecksumAlgorithm::from),
            parts: Some(
                page.into_iter()
                    .map(|(n, p)| Part {
                        part_number: Some(n),
                        e_tag: Some(ETag::Strong(p.etag)),
                        size: i64::try_from(p.size).ok(),
                        last_modified: Some(timestamp(p.last_modified)),
                        checksum_crc32: p.checksums.crc32,
                        checksum_crc32c: p.checksums.crc32c,
                        checksum_crc64nvme: p.checksums.crc64nvme,
                        checksum_sha1: p.checksums.sha1,
                        checksum_sha256: p.checksums.sha256,
                    })
                    .collect(),
            ),
            ..Default::default()
        })
    }

    pub(super) async fn mpu_list_uploads(
        &self,
        input: ListMultipartUploadsInput,
    ) -> S3Result<ListMultipartUploadsOutput> {
        let dir = self.bucket_dir(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut uploads = Vec::new();
        if let Ok(mut entries) = tokio::fs::read_dir(Layout::uploads_dir(&dir)).await {
            while let Some(e) = entries.next_entry().await.map_err(internal)? {
                let Ok(id) = e.file_name().into_string() else {
                    continue;
                };
                if !layout::is_id(&id) {
                    continue;
                }
                let Some(r) = disk::read_json::<UploadRecord>(&Layout::upload_record(&e.path()))
                    .await
                    .map_err(internal)?
                else {
                    continue;
                };
                if r.key.starts_with(&prefix) {
                    uploads.push((r.key.clone(), id, r));
                }
            }
        }
        uploads.sort_by(|a, b| (&a.0, a.2.initiated, &a.1).cmp(&(&b.0, b.2.initiated, &b.1)));
        let encode = super::listing::encoder(input.encoding_type.as_ref());
        let max = usize::try_from(input.max_uploads.unwrap_or(1000).clamp(0, 1000)).unwrap_or(0);
        let truncated = uploads.len() > max;
        uploads.truncate(max);
        Ok(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: Some(encode(&prefix)),
            max_uploads: i32::try_from(max).ok(),
            is_truncated: Some(truncated),
            next_key_marker: uploads.last().filter(|_| truncated).map(|u| encode(&u.0)),
            next_upload_id_marker: uploads.last().filter(|_| truncated).map(|u| u.1.clone()),
            encoding_type: input.encoding_type,
            uploads: Some(
                uploads
                    .into_iter()
                    .map(|(key, id, r)| MultipartUpload {
                        key: Some(encode(&key)),
                        upload_id: Some(id),
                        initiated: Some(timestamp(r.initiated)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        })
    }
}
