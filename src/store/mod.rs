//! The embedded local store: an S3-compatible backend over a folder, on
//! the `s3s` crate (which speaks the protocol and verifies SigV4), serving
//! `s3gate dev` and `s3gate store`.
//!
//! Keys are data, not paths: each key has a JSON record named by the
//! SHA-256 of its bytes holding the exact key and its versions, and each
//! version's body is a file with a random id ([`layout`]). So every key S3
//! accepts — `a//b`, `a/`, `/a`, `%00`, `..`, 1024 bytes — round-trips
//! exactly and never resolves as a path. Writes are received into `.tmp/`,
//! verified (Content-MD5, checksums, declared length), synced and renamed;
//! the key record, replaced atomically, is the commit point ([`disk`]).
//! Listings read the records and sort keys by their UTF-8 bytes
//! ([`listing`]).
//!
//! Pure parts: [`listing`], [`conditional`], [`versioning`], [`record`]. The
//! rest does file I/O and reads the clock for `Last-Modified`. ACLs, object
//! lock, bucket policy and the other bucket configurations answer
//! `NotImplemented`: the gateway's policy file is the access control.
//! Depends on `s3s` and nothing else of s3gate.

mod conditional;
mod disk;
mod layout;
mod listing;
mod multipart;
mod record;
mod service;
mod versioning;

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use s3s::{S3Error, S3ErrorCode, S3Result};

use layout::Layout;
use record::{BucketRecord, KeyRecord};

/// The store over one folder. Cheap reads go straight to the files; every
/// change to a key or bucket record happens under `write`, so two writers
/// never interleave a read-modify-write of the same record.
pub struct Store {
    layout: Layout,
    write: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.layout.root())
            .finish_non_exhaustive()
    }
}

/// Why a folder cannot be opened as a store.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "{0} holds data in the old layout (s3s-fs: keys stored as file paths), which \
         this store does not read. To migrate: move the folder aside, start s3gate on a \
         new folder, and upload each old bucket folder with `aws s3 sync OLD/BUCKET \
         s3://BUCKET` (each file's path below the bucket folder is its key)"
    )]
    OldLayout(PathBuf),
    #[error("{0} is not an s3gate store folder of a known format (see its {1} file)")]
    UnknownFormat(PathBuf, &'static str),
    #[error("cannot open store folder {0}: {1}")]
    Io(PathBuf, io::Error),
}

impl Store {
    /// Opens (or initialises) the store in `root`: refuses a folder with
    /// other content, clears what an interrupted run left in `.tmp/`, and
    /// removes bodies no record refers to (a crash between writing a body
    /// and committing its record).
    pub fn open(root: &Path) -> Result<Self, OpenError> {
        let io_err = |e| OpenError::Io(root.to_owned(), e);
        std::fs::create_dir_all(root).map_err(io_err)?;
        let layout = Layout::new(root.to_owned());
        match std::fs::read_to_string(layout.marker()) {
            Ok(text) if text == layout::MARKER_TEXT => {}
            Ok(_) => return Err(OpenError::UnknownFormat(root.to_owned(), layout::MARKER)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if std::fs::read_dir(root).map_err(io_err)?.next().is_some() {
                    return Err(OpenError::OldLayout(root.to_owned()));
                }
                std::fs::write(layout.marker(), layout::MARKER_TEXT).map_err(io_err)?;
            }
            Err(e) => return Err(io_err(e)),
        }
        disk::clear_tmp(&layout).map_err(io_err)?;
        collect_orphans(&layout).map_err(io_err)?;
        Ok(Self {
            layout,
            write: tokio::sync::Mutex::new(()),
        })
    }

    /// Creates `bucket` unless it exists (for `s3gate dev`'s `dev` bucket).
    pub fn ensure_bucket(&self, bucket: &str) -> io::Result<()> {
        let dir = self
            .layout
            .bucket(bucket)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a bucket name"))?;
        std::fs::create_dir_all(dir)
    }

    /// The bucket's folder; `NoSuchBucket` when there is none.
    async fn bucket_dir(&self, bucket: &str) -> S3Result<PathBuf> {
        let dir = self
            .layout
            .bucket(bucket)
            .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidBucketName))?;
        match tokio::fs::metadata(&dir).await {
            Ok(m) if m.is_dir() => Ok(dir),
            _ => Err(S3Error::new(S3ErrorCode::NoSuchBucket)),
        }
    }

    async fn bucket_record(&self, dir: &Path) -> S3Result<BucketRecord> {
        Ok(disk::read_json(&Layout::bucket_record(dir))
            .await
            .map_err(internal)?
            .unwrap_or_default())
    }

    async fn save_bucket_record(&self, dir: &Path, record: &BucketRecord) -> S3Result<()> {
        disk::write_json(&self.layout, &Layout::bucket_record(dir), record)
            .await
            .map_err(internal)
    }

    async fn key_record(&self, dir: &Path, key: &str) -> S3Result<Option<KeyRecord>> {
        let record: Option<KeyRecord> = disk::read_json(&Layout::key_record(dir, key))
            .await
            .map_err(internal)?;
        match record {
            // A SHA-256 collision, or a damaged file: never serve another key.
            Some(r) if r.key != key => Err(S3Error::with_message(
                S3ErrorCode::InternalError,
                "key record does not match its key",
            )),
            other => Ok(other),
        }
    }

    /// The key's record, or an empty one for a key not written yet.
    async fn key_record_or_new(&self, dir: &Path, key: &str) -> S3Result<KeyRecord> {
        Ok(self
            .key_record(dir, key)
            .await?
            .unwrap_or_else(|| KeyRecord {
                key: key.to_owned(),
                versions: Vec::new(),
            }))
    }

    /// Persists a key's record (the commit point), or removes it when no
    /// version is left; then removes the bodies in `freed`.
    async fn commit_key(&self, dir: &Path, record: &KeyRecord, freed: &[String]) -> S3Result<()> {
        let path = Layout::key_record(dir, &record.key);
        if record.versions.is_empty() {
            disk::remove_file_if_present(&path)
                .await
                .map_err(internal)?;
        } else {
            disk::write_json(&self.layout, &path, record)
                .await
                .map_err(internal)?;
        }
        for id in freed {
            let _ = disk::remove_file_if_present(&Layout::data_file(dir, id)).await;
        }
        Ok(())
    }

    /// Every key record of a bucket, in S3's key order.
    async fn all_keys(&self, dir: &Path) -> S3Result<Vec<KeyRecord>> {
        let dir = dir.to_owned();
        let mut records = tokio::task::spawn_blocking(move || read_key_records(&dir))
            .await
            .map_err(internal)?
            .map_err(internal)?;
        records.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(records)
    }
}

fn read_key_records(bucket_dir: &Path) -> io::Result<Vec<KeyRecord>> {
    let mut out = Vec::new();
    let shards = match std::fs::read_dir(Layout::keys_dir(bucket_dir)) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for shard in shards {
        for entry in std::fs::read_dir(shard?.path())? {
            let path = entry?.path();
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                // Removed between the listing of the folder and now.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let record: KeyRecord = serde_json::from_slice(&bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            out.push(record);
        }
    }
    Ok(out)
}

/// Removes body files that no key record names.
fn collect_orphans(layout: &Layout) -> io::Result<()> {
    for entry in std::fs::read_dir(layout.root())? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(bucket) = name.to_str() else {
            continue;
        };
        let Some(dir) = layout.bucket(bucket) else {
            continue;
        };
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let referenced: HashSet<String> = read_key_records(&dir)?
            .into_iter()
            .flat_map(|r| r.versions.into_iter().filter_map(|v| v.data))
            .collect();
        let data = match std::fs::read_dir(Layout::data_dir(&dir)) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for body in data {
            let body = body?;
            if !body
                .file_name()
                .to_str()
                .is_some_and(|n| referenced.contains(n))
            {
                std::fs::remove_file(body.path())?;
            }
        }
    }
    Ok(())
}

/// A failure of ours (disk, task): 500, with the cause kept for logs only.
fn internal<E: std::error::Error + Send + Sync + 'static>(e: E) -> S3Error {
    let mut err = S3Error::new(S3ErrorCode::InternalError);
    err.set_source(Box::new(e));
    err
}

fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_with_other_content_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dev/photos")).unwrap();
        std::fs::write(dir.path().join("dev/photos/cat.jpg"), b"meow").unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, OpenError::OldLayout(_)), "{err}");
        assert!(!dir.path().join(layout::MARKER).exists());
        assert_eq!(
            std::fs::read(dir.path().join("dev/photos/cat.jpg")).unwrap(),
            b"meow"
        );
    }

    #[test]
    fn opening_clears_interrupted_bodies_and_unreferenced_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.ensure_bucket("bkt").unwrap();
        let bucket = dir.path().join("bkt");
        let kept = record::Version::for_test(record::NULL_VERSION, "kept");
        let rec = KeyRecord {
            key: "k".into(),
            versions: vec![kept],
        };
        let path = Layout::key_record(&bucket, "k");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_vec(&rec).unwrap()).unwrap();
        std::fs::create_dir_all(Layout::data_dir(&bucket)).unwrap();
        std::fs::write(Layout::data_file(&bucket, "kept"), b"x").unwrap();
        std::fs::write(Layout::data_file(&bucket, "orphan"), b"y").unwrap();
        std::fs::write(dir.path().join(".tmp/partial"), b"z").unwrap();
        drop(store);

        Store::open(dir.path()).unwrap();
        assert!(Layout::data_file(&bucket, "kept").exists());
        assert!(!Layout::data_file(&bucket, "orphan").exists());
        assert_eq!(
            std::fs::read_dir(dir.path().join(".tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn a_record_for_another_key_is_never_served() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.ensure_bucket("bkt").unwrap();
        let bucket = dir.path().join("bkt");
        // A record stored under k1's name that says it is k2.
        let rec = KeyRecord {
            key: "k2".into(),
            versions: Vec::new(),
        };
        let path = Layout::key_record(&bucket, "k1");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_vec(&rec).unwrap()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt.block_on(store.key_record(&bucket, "k1")).unwrap_err();
        assert_eq!(*err.code(), S3ErrorCode::InternalError);
    }
}
