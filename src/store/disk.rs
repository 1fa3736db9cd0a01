//! The store's file operations: every write goes to a temporary file, is
//! flushed to disk, and only then renamed into place, so a reader (or a
//! restart after a crash) sees the old file or the new one, never a part.
//! A body is received into `.tmp/` and checked before it is given a name.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::StreamExt as _;
use s3s::crypto::Checksum as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::AsyncWriteExt as _;

use super::layout::Layout;

/// A file in `.tmp/` that is removed unless [`Staged::commit`] moves it.
pub struct Staged {
    path: PathBuf,
    done: bool,
}

impl Staged {
    pub fn new(path: PathBuf) -> Self {
        Self { path, done: false }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the (already synced) file to `dest`, creating its folder,
    /// and syncs that folder so the new name survives a crash.
    pub async fn commit(mut self, dest: &Path) -> io::Result<()> {
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::rename(&self.path, dest).await?;
        self.done = true;
        if let Some(dir) = dest.parent() {
            sync_dir(dir).await;
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Best effort: some file systems refuse to sync a directory, and the
/// rename has happened either way.
async fn sync_dir(dir: &Path) {
    if let Ok(f) = tokio::fs::File::open(dir).await {
        let _ = f.sync_all().await;
    }
}

/// Writes `value` as JSON to `dest` atomically (temp file, fsync, rename).
pub async fn write_json<T: Serialize>(layout: &Layout, dest: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    let staged = Staged::new(layout.tmp_file());
    let mut f = tokio::fs::File::create(staged.path()).await?;
    f.write_all(&bytes).await?;
    f.sync_all().await?;
    drop(f);
    staged.commit(dest).await
}

/// Reads a JSON record; `Ok(None)` when there is none.
pub async fn read_json<T: DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn remove_file_if_present(path: &Path) -> io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A body received into `.tmp/`, synced, with what was measured on the way.
pub struct Received {
    pub staged: Staged,
    pub size: u64,
    pub md5: [u8; 16],
    pub checksums: s3s::dto::Checksum,
}

/// Why a body could not be received.
#[derive(Debug)]
pub enum ReceiveError {
    /// The caller's stream failed (cut connection, bad chunk signature).
    Body(s3s::StdError),
    Io(io::Error),
}

/// Streams `body` into a fresh temporary file, hashing MD5 and the
/// additional checksums enabled in `hasher`, then syncs it. Memory stays
/// flat whatever the size.
pub async fn receive<S>(
    layout: &Layout,
    mut body: S,
    mut hasher: s3s::checksum::ChecksumHasher,
) -> Result<Received, ReceiveError>
where
    S: futures_util::Stream<Item = Result<Bytes, s3s::StdError>> + Unpin,
{
    let staged = Staged::new(layout.tmp_file());
    let file = tokio::fs::File::create(staged.path())
        .await
        .map_err(ReceiveError::Io)?;
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let mut md5 = s3s::crypto::Md5::new();
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(ReceiveError::Body)?;
        md5.update(&chunk);
        hasher.update(&chunk);
        size += chunk.len() as u64;
        out.write_all(&chunk).await.map_err(ReceiveError::Io)?;
    }
    out.flush().await.map_err(ReceiveError::Io)?;
    let file = out.into_inner();
    file.sync_all().await.map_err(ReceiveError::Io)?;
    Ok(Received {
        staged,
        size,
        md5: md5.finalize(),
        checksums: hasher.finalize(),
    })
}

/// Removes what an interrupted run left in `.tmp/`.
pub fn clear_tmp(layout: &Layout) -> io::Result<()> {
    let tmp = layout.tmp_dir();
    match std::fs::remove_dir_all(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::create_dir_all(&tmp)
}
