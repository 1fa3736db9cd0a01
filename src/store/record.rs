//! What the store writes next to the bodies: one JSON record per key (the
//! exact key and its versions), per bucket and per multipart upload. Plain
//! data and conversions to the s3s types; no I/O.

use std::collections::BTreeMap;

use s3s::dto;
use serde::{Deserialize, Serialize};

/// The version id S3 gives objects written while versioning is off or
/// suspended.
pub const NULL_VERSION: &str = "null";

/// Milliseconds since the epoch: S3's listings carry millisecond precision.
pub type Millis = i64;

pub fn timestamp(ms: Millis) -> dto::Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    dto::Timestamp::from(t)
}

pub fn millis(t: &dto::Timestamp) -> Millis {
    let t: time::OffsetDateTime = t.clone().into();
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// A key and everything stored under it, newest version last.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyRecord {
    pub key: String,
    pub versions: Vec<Version>,
}

impl KeyRecord {
    pub fn latest(&self) -> Option<&Version> {
        self.versions.last()
    }

    /// The latest version when it is an object (not a delete marker).
    pub fn current(&self) -> Option<&Version> {
        self.latest().filter(|v| !v.is_delete_marker())
    }

    pub fn version(&self, id: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.id == id)
    }

    pub fn version_mut(&mut self, id: &str) -> Option<&mut Version> {
        self.versions.iter_mut().find(|v| v.id == id)
    }
}

/// One version of a key: an object, or a delete marker (`data: None`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Version {
    pub id: String,
    /// The body's file id under `data/`; none for a delete marker.
    pub data: Option<String>,
    pub size: u64,
    /// The ETag's value without quotes (`hex(md5)`, or `hex-N` for multipart).
    pub etag: String,
    pub last_modified: Millis,
    #[serde(default)]
    pub meta: ObjectMeta,
    #[serde(default)]
    pub checksums: Checksums,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub parts_count: Option<i32>,
    /// Each part's size, for `GetObject?partNumber=N` (multipart only).
    #[serde(default)]
    pub part_sizes: Vec<u64>,
}

impl Version {
    pub fn delete_marker(id: String, now_ms: Millis) -> Self {
        Self {
            id,
            data: None,
            size: 0,
            etag: String::new(),
            last_modified: now_ms,
            meta: ObjectMeta::default(),
            checksums: Checksums::default(),
            tags: Vec::new(),
            parts_count: None,
            part_sizes: Vec::new(),
        }
    }

    /// A one-byte version with body `data`, for tests.
    #[cfg(test)]
    pub fn for_test(id: &str, data: &str) -> Self {
        Self {
            data: Some(data.to_owned()),
            size: 1,
            etag: "e".to_owned(),
            ..Self::delete_marker(id.to_owned(), 0)
        }
    }

    pub fn is_delete_marker(&self) -> bool {
        self.data.is_none()
    }

    pub fn e_tag(&self) -> dto::ETag {
        dto::ETag::Strong(self.etag.clone())
    }
}

/// The headers S3 stores with an object and returns on GET/HEAD.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ObjectMeta {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    /// `Expires` as the HTTP date the caller sent (kept verbatim).
    pub expires: Option<Millis>,
    pub website_redirect_location: Option<String>,
    pub storage_class: Option<String>,
    /// `x-amz-meta-*`, names lower-case as S3 returns them.
    pub user: BTreeMap<String, String>,
}

impl ObjectMeta {
    pub fn user_metadata(&self) -> Option<dto::Metadata> {
        (!self.user.is_empty()).then(|| {
            self.user
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }
}

/// Additional checksums, base64 as S3 returns them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Checksums {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
}

impl From<dto::Checksum> for Checksums {
    fn from(c: dto::Checksum) -> Self {
        Self {
            crc32: c.checksum_crc32,
            crc32c: c.checksum_crc32c,
            crc64nvme: c.checksum_crc64nvme,
            sha1: c.checksum_sha1,
            sha256: c.checksum_sha256,
        }
    }
}

/// A bucket's own settings. A bucket folder without this file is a bucket
/// with versioning never configured.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BucketRecord {
    pub created: Option<Millis>,
    /// `None` (never configured), `Enabled` or `Suspended`.
    pub versioning: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<(String, String)>>,
}

impl BucketRecord {
    pub fn versioning_enabled(&self) -> bool {
        self.versioning.as_deref() == Some(dto::BucketVersioningStatus::ENABLED)
    }

    /// Whether version ids are shown at all: S3 omits them on buckets
    /// that never had versioning configured.
    pub fn versioning_configured(&self) -> bool {
        self.versioning.is_some()
    }
}

/// A multipart upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UploadRecord {
    pub key: String,
    pub initiated: Millis,
    pub meta: ObjectMeta,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    pub checksum_algorithm: Option<String>,
}

/// One uploaded part.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartRecord {
    pub size: u64,
    pub etag: String,
    pub last_modified: Millis,
    #[serde(default)]
    pub checksums: Checksums,
}

pub fn tags_to_dto(tags: &[(String, String)]) -> dto::TagSet {
    tags.iter()
        .map(|(k, v)| dto::Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

pub fn tags_from_dto(set: dto::TagSet) -> Vec<(String, String)> {
    set.into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect()
}

/// Tags from the `x-amz-tagging` header, a URL query string.
pub fn tags_from_header(header: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(header.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
