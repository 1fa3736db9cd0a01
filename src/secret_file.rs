//! Files that hold secrets (keyrings, cached sessions, `s3gate dev`'s
//! credentials): written for their owner only, and a keyring read only
//! when no other user can read or change it, as ssh treats private keys.
//!
//! Depends on nothing else in the crate. Does file I/O.

use std::path::Path;

/// Writes a secret for its owner only: the folder is created 0700 if
/// missing, the file is written 0600 under a temporary name, synced, and
/// renamed into place, so a reader never sees half of it.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Why a secret file with permission bits `mode` is open to others, if it
/// is: any access for other users, or write access for its group. A group
/// may read it (0640, 0440: a secret mounted for a service's group).
pub fn too_open(mode: u32) -> Option<&'static str> {
    if mode & 0o007 != 0 {
        Some("other users can access it")
    } else if mode & 0o020 != 0 {
        Some("its group can change it")
    } else {
        None
    }
}

/// Refuses a secret file that other users can read or change (see
/// [`too_open`]), following symbolic links as a read would (a Kubernetes
/// secret is a link into its volume). The error says how to fix it.
pub fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .permissions()
        .mode();
    match too_open(mode) {
        None => Ok(()),
        Some(why) => Err(format!(
            "{}: {why} (mode {:04o}); it holds secrets: `chmod 600 {}` (or 640 for a group \
             that must read it)",
            path.display(),
            mode & 0o7777,
            path.display()
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_and_a_reading_group_pass() {
        for ok in [0o600, 0o400, 0o640, 0o440, 0o700] {
            assert_eq!(too_open(ok), None, "{ok:o}");
        }
        for open in [0o644, 0o604, 0o601, 0o660, 0o666, 0o620] {
            assert!(too_open(open).is_some(), "{open:o}");
        }
    }

    #[test]
    fn a_file_written_private_passes_and_a_readable_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/keyring.toml");
        write_private(&path, "x").unwrap();
        check_private(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = check_private(&path).unwrap_err();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(err.contains("0644"), "{err}");
    }
}
