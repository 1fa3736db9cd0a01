//! Where things live under the store's folder. Keys never become paths:
//! a key's record is named by the SHA-256 of its bytes, a body by a random
//! id, so `a//b`, `a/b/`, `/a`, `..` and a 1024-byte key are all just names
//! of equal standing that can neither collide nor walk out of the bucket.
//!
//! ```text
//! ROOT/.s3gate-store              format marker (refuses other layouts)
//! ROOT/.tmp/                      bodies being received (emptied at start)
//! ROOT/BUCKET/bucket.json         versioning state, tags (optional)
//! ROOT/BUCKET/keys/HH/SHA256.json one key: its exact bytes and versions
//! ROOT/BUCKET/data/ID             one version's content
//! ROOT/BUCKET/uploads/ID/         a multipart upload: upload.json, parts
//! ```
//!
//! A bucket name can never start with `.` (S3 naming rules, and s3s checks
//! them before we are called), so the two dot-names cannot be buckets.

use std::path::{Path, PathBuf};

use rand::Rng;
use sha2::{Digest, Sha256};

/// The marker file that says "this folder holds the s3gate store".
pub const MARKER: &str = ".s3gate-store";
/// What the marker holds; bumped when the layout changes.
pub const MARKER_TEXT: &str = "{\"format\":1}\n";
const TMP: &str = ".tmp";

#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn marker(&self) -> PathBuf {
        self.root.join(MARKER)
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP)
    }

    /// A fresh name in the temporary folder (same file system as the
    /// buckets, so a rename into place is atomic).
    pub fn tmp_file(&self) -> PathBuf {
        self.tmp_dir().join(random_id())
    }

    /// The bucket's folder, or `None` for a name that is no bucket name:
    /// s3s has checked it already, this is the second lock on the door.
    pub fn bucket(&self, bucket: &str) -> Option<PathBuf> {
        is_bucket_name(bucket).then(|| self.root.join(bucket))
    }

    pub fn bucket_record(bucket_dir: &Path) -> PathBuf {
        bucket_dir.join("bucket.json")
    }

    pub fn keys_dir(bucket_dir: &Path) -> PathBuf {
        bucket_dir.join("keys")
    }

    pub fn key_record(bucket_dir: &Path, key: &str) -> PathBuf {
        let name = key_hash(key);
        Self::keys_dir(bucket_dir)
            .join(&name[..2])
            .join(format!("{name}.json"))
    }

    pub fn data_dir(bucket_dir: &Path) -> PathBuf {
        bucket_dir.join("data")
    }

    pub fn data_file(bucket_dir: &Path, id: &str) -> PathBuf {
        Self::data_dir(bucket_dir).join(id)
    }

    pub fn uploads_dir(bucket_dir: &Path) -> PathBuf {
        bucket_dir.join("uploads")
    }

    /// `None` unless `upload_id` is one of ours (hex), so a caller's
    /// upload id never names a path of its choosing.
    pub fn upload_dir(bucket_dir: &Path, upload_id: &str) -> Option<PathBuf> {
        is_id(upload_id).then(|| Self::uploads_dir(bucket_dir).join(upload_id))
    }

    pub fn part_file(upload_dir: &Path, part: i32) -> PathBuf {
        upload_dir.join(format!("part-{part:05}"))
    }

    pub fn part_record(upload_dir: &Path, part: i32) -> PathBuf {
        upload_dir.join(format!("part-{part:05}.json"))
    }

    pub fn upload_record(upload_dir: &Path) -> PathBuf {
        upload_dir.join("upload.json")
    }
}

/// The record file's name for a key: its SHA-256, hex. Collisions would
/// need a SHA-256 collision, and the record keeps the exact key anyway,
/// so a mismatch is detected rather than served.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// 128 random bits, hex: body ids, version ids, upload ids.
pub fn random_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

pub fn is_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// S3's bucket naming rules, as far as they matter for a folder name:
/// 3–63 of `a-z 0-9 . -`, starting and ending with a letter or digit.
pub fn is_bucket_name(name: &str) -> bool {
    let ok_edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes.first().copied().is_some_and(ok_edge)
        && bytes.last().copied().is_some_and(ok_edge)
        && bytes.iter().all(|&b| ok_edge(b) || b == b'.' || b == b'-')
        && !name.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_name_the_same_file_on_disk_get_different_records() {
        let b = Path::new("/r/b");
        let keys = ["a/b", "a//b", "a/b/", "/a/b", "a/./b", "a/../b", "A/b"];
        let mut paths: Vec<PathBuf> = keys.iter().map(|k| Layout::key_record(b, k)).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), keys.len());
        for p in &paths {
            assert_eq!(
                p.parent().and_then(Path::parent),
                Some(b.join("keys").as_path())
            );
        }
    }

    #[test]
    fn upload_ids_that_are_not_ours_name_no_folder() {
        let b = Path::new("/r/b");
        assert!(Layout::upload_dir(b, "../../etc").is_none());
        assert!(Layout::upload_dir(b, &random_id()).is_some());
    }

    #[test]
    fn dot_names_are_not_buckets() {
        assert!(!is_bucket_name(".tmp"));
        assert!(!is_bucket_name(".s3gate-store"));
        assert!(!is_bucket_name("a..b"));
        assert!(!is_bucket_name("a/b"));
        assert!(is_bucket_name("dev"));
        assert!(is_bucket_name("my-bucket.1"));
    }
}
