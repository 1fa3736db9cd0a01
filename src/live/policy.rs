//! The live policy: the current [`Policy`] behind an atomic swap, re-read
//! from its file ([`super::watched`]). This is the I/O side of the pure
//! `policy` module: it says how a policy file is read and logged.
//!
//! Requests read the policy with one atomic load: no lock on the hot path.
//! A valid new file is swapped in whole, so each request sees one policy
//! version from start to end; an invalid one is logged, counted in
//! `reload_failures`, and the old policy stays.

use std::path::Path;

use super::watched::{Live, Loaded, WatchedFile, read_bounded};
use crate::policy::{MAX_POLICY_BYTES, Policy};

/// The policy requests are decided by, and where it comes from.
pub type LivePolicy = Live<Policy>;

impl Loaded for Policy {
    const WHAT: &'static str = "policy";

    fn parse(bytes: &[u8], path: &Path) -> Result<Policy, String> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| format!("{}: the policy is not UTF-8", path.display()))?;
        Policy::parse(text, &path.display().to_string()).map_err(|e| e.to_string())
    }

    fn describe(&self) -> String {
        self.version().to_owned()
    }

    /// The same version is the same policy: nothing to count.
    fn same(&self, new: &Policy) -> bool {
        self.version() == new.version()
    }
}

impl LivePolicy {
    /// Loads the file for the first time; an invalid file is an error
    /// (s3gate does not start without a policy: default deny).
    pub async fn load(path: &Path) -> anyhow::Result<LivePolicy> {
        // Anyone able to change it could grant themselves anything.
        let guard = crate::secret_file::not_world_writable;
        let bytes = read_bounded(path, MAX_POLICY_BYTES as u64, guard)
            .await
            .map_err(anyhow::Error::msg)?;
        let policy = <Policy as Loaded>::parse(&bytes, path).map_err(anyhow::Error::msg)?;
        let file = WatchedFile::new(path, MAX_POLICY_BYTES as u64, &bytes).guarded(guard);
        Ok(Live::new(policy, Some(file)))
    }

    /// A policy that is not read from a file and never reloads.
    pub fn fixed(policy: Policy) -> LivePolicy {
        Live::new(policy, None)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::SystemTime;

    use super::*;
    use crate::policy::Caller;
    use crate::s3::Action;
    use crate::session::Identity;

    fn grant(id: &str, user: &str) -> String {
        format!(
            "[[grant]]\nid = \"{id}\"\nprincipals = [\"user:{user}\"]\nactions = [\"read\"]\nresources = [\"s3://b/*\"]\n"
        )
    }

    fn may_read(live: &LivePolicy, user: &str) -> bool {
        let id = Identity::new("mint", user);
        let caller = Caller {
            identity: &id,
            name: None,
            chain: &[],
            client: None,
            now: SystemTime::now(),
        };
        live.current()
            .explain(&caller, Action::GetObject, "s3://b/k")
            .allowed
    }

    #[tokio::test]
    async fn a_policy_every_user_may_change_is_not_loaded_nor_reloaded() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        let mode = |m| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m));
        std::fs::write(&path, grant("a", "alice")).unwrap();
        mode(0o666).unwrap();
        let err = LivePolicy::load(&path).await.err().unwrap().to_string();
        assert!(err.contains("chmod o-w"), "{err}");

        mode(0o644).unwrap();
        let live = LivePolicy::load(&path).await.unwrap();
        std::fs::write(&path, grant("m", "mallory")).unwrap();
        mode(0o646).unwrap();
        assert!(!live.reload().await, "a grant anyone could have written");
        assert!(!may_read(&live, "mallory") && may_read(&live, "alice"));
    }

    #[tokio::test]
    async fn a_valid_edit_swaps_and_a_bad_one_keeps_the_old_policy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, grant("a", "alice")).unwrap();
        let live = LivePolicy::load(&path).await.unwrap();
        assert!(may_read(&live, "alice"));
        assert!(!live.reload().await, "unchanged file: no new version");

        std::fs::write(&path, grant("b", "bob")).unwrap();
        assert!(live.reload().await);
        assert!(!may_read(&live, "alice"), "the removed grant ends access");
        assert!(may_read(&live, "bob"));
        assert_eq!(live.reloads.load(Ordering::Relaxed), 1);

        std::fs::write(&path, "[[grant]]\nid = \"c\"\nprincipals = [\"nobody\"]\n").unwrap();
        assert!(!live.reload().await);
        assert!(!live.reload().await, "the same bad file is counted once");
        assert_eq!(live.reload_failures.load(Ordering::Relaxed), 1);
        assert!(may_read(&live, "bob"), "the old policy stays");

        std::fs::remove_file(&path).unwrap();
        assert!(!live.reload().await);
        assert_eq!(live.reload_failures.load(Ordering::Relaxed), 2);
        assert!(may_read(&live, "bob"));

        std::fs::write(&path, grant("a", "alice")).unwrap();
        assert!(live.reload().await);
        assert!(may_read(&live, "alice"));
    }

    #[tokio::test]
    async fn an_invalid_file_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, "[[grant]]\nid = 1\n").unwrap();
        let err = LivePolicy::load(&path).await.err().unwrap().to_string();
        assert!(err.contains("policy.toml:2:"), "{err}");
        let missing = LivePolicy::load(&dir.path().join("nope.toml")).await;
        assert!(missing.is_err());
    }
}
