//! Files that hold secrets (keyrings, the listener's TLS key, a config
//! with the store's keys inline, cached sessions, `s3gate dev`'s
//! credentials): written for their owner only, and read only when no other
//! user can read or change them, as ssh treats private keys. Files that
//! grant rights without being secret (the policy, the revocation list) are
//! refused when every user may change them.
//!
//! Depends on nothing else in the crate. Does file I/O.

use std::path::Path;

/// Writes a secret for its owner only: the folder is created 0700 if
/// missing, the file is written 0600 under a fresh temporary name (never
/// one another user could have made first), synced, and renamed into
/// place, so a reader never sees half of it.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{:016x}.tmp", rand::random::<u64>()));
    let tmp = std::path::PathBuf::from(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = f
        .write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Why a secret file with permission bits `mode`, owned by `owner`, is
/// open to others when read by `reader`, if it is: another user's file
/// (root's aside), any access for other users, or write access for its
/// group. A group may read it (0640, 0440: a secret mounted for a service's
/// group).
pub fn too_open(mode: u32, owner: u32, reader: u32) -> Option<&'static str> {
    if owner != reader && owner != 0 {
        Some("another user owns it")
    } else if mode & 0o007 != 0 {
        Some("other users can access it")
    } else if mode & 0o020 != 0 {
        Some("its group can change it")
    } else {
        None
    }
}

/// What a file must pass, judged on the file as opened
/// ([`read`]): [`private`], [`not_world_writable`] or [`any`].
pub type Guard = fn(&Path, &std::fs::Metadata) -> Result<(), String>;

/// Reads `path` (following symbolic links, as a Kubernetes secret is a
/// link into its volume) through one open handle, refusing more than
/// `max_bytes`, and returns its bytes with the metadata of the very file
/// read: a guard judging that metadata judges what was read, not a file
/// looked up before it and swapped since.
pub fn read(path: &Path, max_bytes: u64) -> std::io::Result<(Vec<u8>, std::fs::Metadata)> {
    use std::io::Read;
    let too_large = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max_bytes} bytes"),
        )
    };
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.len() > max_bytes {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large());
    }
    Ok((bytes, meta))
}

/// [`read`], then `guard` on what was read; errors name the file.
pub fn read_guarded(path: &Path, max_bytes: u64, guard: Guard) -> Result<Vec<u8>, String> {
    let (bytes, meta) = read(path, max_bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    guard(path, &meta)?;
    Ok(bytes)
}

/// A file with secrets: refused when others can read or change it (see
/// [`too_open`]). The error says how to fix it.
pub fn private(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let reader = rustix::process::geteuid().as_raw();
    match too_open(meta.mode(), meta.uid(), reader) {
        None => Ok(()),
        Some(why) => Err(format!(
            "{}: {why} (mode {:04o}, owner uid {}); it holds secrets: make it the \
             service user's and `chmod 600 {}` (or 640 for a group that must read it)",
            path.display(),
            meta.mode() & 0o7777,
            meta.uid(),
            path.display()
        )),
    }
}

/// A file that grants rights (the policy, the revocation list, the
/// config): refused when every user may change it, as anyone could then
/// grant themselves anything.
pub fn not_world_writable(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if meta.mode() & 0o002 != 0 {
        return Err(format!(
            "{}: every user can change it (mode {:04o}), and it decides who may do what: \
             `chmod o-w {}`",
            path.display(),
            meta.mode() & 0o7777,
            path.display()
        ));
    }
    Ok(())
}

/// No condition.
pub fn any(_: &Path, _: &std::fs::Metadata) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_and_a_reading_group_pass() {
        for ok in [0o600, 0o400, 0o640, 0o440, 0o700] {
            assert_eq!(too_open(ok, 1000, 1000), None, "{ok:o}");
            assert_eq!(too_open(ok, 0, 1000), None, "root's {ok:o}");
        }
        for open in [0o644, 0o604, 0o601, 0o660, 0o666, 0o620] {
            assert!(too_open(open, 1000, 1000).is_some(), "{open:o}");
        }
        // Another user's file, however closed, could be rewritten by them.
        assert!(too_open(0o640, 1001, 1000).is_some());
    }

    #[test]
    fn a_file_written_private_passes_and_a_readable_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/keyring.toml");
        write_private(&path, "x").unwrap();
        assert_eq!(read_guarded(&path, 1, private).unwrap(), b"x");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_guarded(&path, 1, private).unwrap_err();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(err.contains("0644"), "{err}");
    }

    #[test]
    fn a_temporary_file_someone_made_first_is_not_written_into() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.env");
        // The names the old writer used: a waiting reader's files.
        for planted in ["dev.tmp", "dev.env.tmp"] {
            let p = dir.path().join(planted);
            std::fs::write(&p, "").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        write_private(&path, "AWS_SECRET_ACCESS_KEY=x").unwrap();
        for planted in ["dev.tmp", "dev.env.tmp"] {
            assert_eq!(
                std::fs::read_to_string(dir.path().join(planted)).unwrap(),
                ""
            );
        }
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            3,
            "no temporary left"
        );
    }

    #[test]
    fn a_file_over_its_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, "12345").unwrap();
        assert_eq!(read_guarded(&path, 5, any).unwrap(), b"12345");
        let err = read_guarded(&path, 4, any).unwrap_err();
        assert!(err.contains("larger than 4 bytes"), "{err}");
    }

    #[test]
    fn a_world_writable_rule_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        read_guarded(&path, 0, not_world_writable).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = read_guarded(&path, 0, not_world_writable).unwrap_err();
        assert!(err.contains("chmod o-w"), "{err}");
    }
}
