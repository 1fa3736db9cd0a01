//! The live keyring: the current [`Keyring`] behind an atomic swap,
//! re-read from its file ([`super::watched`]). This is the I/O side of the
//! pure `session::keyring`: it says how a keyring file is read and logged.
//!
//! A rotation (`s3gate keyring rotate` on the shared file) reaches every
//! running instance within one poll: from then on each seals new sessions
//! with the new newest key, and still opens those sealed by the keys the
//! file keeps. (`rotate --staged`, then `promote` a poll later, so no
//! instance mints with a key another does not hold yet.) Requests read the keyring with one atomic load (`arc-swap`),
//! no lock. A file that does not load (unreadable, not TOML, no keys, a bad
//! key) is logged, counted in `reload_failures`, and the
//! keys in force stay: a broken file never leaves an instance without keys,
//! nor with keys nobody wrote. A keyring given as `env:NAME` is read once.
//!
//! Depends on `config` (where the keyring is), `session` and the reload
//! mechanism it shares with the policy ([`super::watched`]).

use std::path::Path;

use zeroize::Zeroizing;

use super::watched::{Live, Loaded, WatchedFile};
use crate::config::SessionConfig;
use crate::session::{Keyring, MAX_KEYS};

/// Largest keyring file re-read: [`MAX_KEYS`] keys are well under this.
const MAX_KEYRING_BYTES: u64 = 64 * 1024;
const _: () = assert!(MAX_KEYS * 256 <= MAX_KEYRING_BYTES as usize);

/// The keys sessions are sealed and opened with, and where they come from.
pub type LiveKeyring = Live<Keyring>;

impl Loaded for Keyring {
    const WHAT: &'static str = "keyring";

    fn parse(bytes: &[u8], path: &Path) -> Result<Keyring, String> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| format!("{}: the keyring is not UTF-8", path.display()))?;
        // Errors name the key and the problem, never a secret.
        Keyring::parse(text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Key ids, oldest first (the last seals new sessions); not secret.
    fn describe(&self) -> String {
        self.key_ids().collect::<Vec<_>>().join(",")
    }
}

impl From<Keyring> for LiveKeyring {
    /// Keys that are not read from a file and never reload.
    fn from(keyring: Keyring) -> LiveKeyring {
        Live::new(keyring, None)
    }
}

impl LiveKeyring {
    /// Loads `[session] keyring` for the first time; a keyring that does
    /// not load is an error (s3gate does not start without keys).
    pub fn load(config: &SessionConfig) -> anyhow::Result<LiveKeyring> {
        let path = &config.keyring;
        let text = Zeroizing::new(config.keyring_text()?);
        let keyring =
            Keyring::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let file = config.keyring_file().map(|file| {
            WatchedFile::new(file, MAX_KEYRING_BYTES, text.as_bytes())
                .guarded(crate::secret_file::private)
        });
        Ok(Live::new(keyring, file))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, SystemTime};

    use base64::Engine as _;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::policy::Scope;
    use crate::secret_file::write_private;
    use crate::session::{Identity, SessionCredentials};

    fn config(keyring: &str) -> SessionConfig {
        toml::from_str(&format!("keyring = {keyring:?}")).unwrap()
    }

    fn mint(live: &LiveKeyring, rng: &mut StdRng) -> SessionCredentials {
        live.current()
            .mint(
                Identity::new("mint", "alice"),
                Scope::all(),
                SystemTime::now(),
                Duration::from_secs(600),
                Vec::new(),
                rng,
            )
            .unwrap()
    }

    fn opens(live: &LiveKeyring, creds: &SessionCredentials) -> bool {
        live.current()
            .open(
                &creds.access_key_id,
                &creds.session_token,
                SystemTime::now(),
            )
            .is_ok()
    }

    /// The key id in a token's envelope header (what an operator reads).
    fn sealed_by(creds: &SessionCredentials) -> String {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&creds.session_token)
            .unwrap();
        let len = usize::from(raw[1]);
        String::from_utf8(raw[2..2 + len].to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_rotation_is_swapped_in_and_a_broken_file_keeps_the_keys() {
        let mut rng = StdRng::seed_from_u64(7);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.toml");
        let mut ring = Keyring::generate("k1", &mut rng).unwrap();
        write_private(&path, ring.to_toml().expose()).unwrap();
        let live = LiveKeyring::load(&config(path.to_str().unwrap())).unwrap();
        let old = mint(&live, &mut rng);
        assert_eq!(sealed_by(&old), "k1");
        assert!(!live.reload().await, "unchanged file: nothing new");

        ring.add_key("k2", &mut rng).unwrap();
        write_private(&path, ring.to_toml().expose()).unwrap();
        assert!(live.reload().await);
        assert_eq!(live.reloads.load(Ordering::Relaxed), 1);
        let new = mint(&live, &mut rng);
        assert_eq!(sealed_by(&new), "k2", "the newest key seals");
        assert!(opens(&live, &old) && opens(&live, &new));

        // Not TOML, no keys, an empty file, a short key: each refused and
        // counted once, the keys in force kept.
        let broken = [
            "{\"keys\": []}",
            "keys = []\n",
            "",
            "[[keys]]\nid = \"k3\"\nsecret = \"AAECAw==\"\n",
        ];
        for (i, text) in broken.into_iter().enumerate() {
            write_private(&path, text).unwrap();
            assert!(!live.reload().await, "{text:?}");
            assert!(!live.reload().await, "{text:?} again");
            assert_eq!(live.reload_failures.load(Ordering::Relaxed), i as u64 + 1);
            assert!(opens(&live, &old) && opens(&live, &new), "{text:?}");
            assert_eq!(sealed_by(&mint(&live, &mut rng)), "k2", "{text:?}");
        }
        // Unreadable (gone) is refused too.
        std::fs::remove_file(&path).unwrap();
        assert!(!live.reload().await);
        assert_eq!(live.reload_failures.load(Ordering::Relaxed), 5);
        assert!(opens(&live, &new));

        // Retiring k1 ends its sessions; k2's still open.
        ring.remove_key("k1").unwrap();
        write_private(&path, ring.to_toml().expose()).unwrap();
        assert!(live.reload().await);
        assert!(
            !opens(&live, &old),
            "a retired key's session no longer opens"
        );
        assert!(opens(&live, &new));
    }

    #[tokio::test]
    async fn a_keyring_file_others_can_read_is_not_loaded_nor_reloaded() {
        use std::os::unix::fs::PermissionsExt;
        let mut rng = StdRng::seed_from_u64(8);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.toml");
        let mut ring = Keyring::generate("k1", &mut rng).unwrap();
        let mode = |m| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m));
        std::fs::write(&path, ring.to_toml().expose()).unwrap();
        mode(0o644).unwrap();
        let err = LiveKeyring::load(&config(path.to_str().unwrap()))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("chmod 600"), "{err}");

        mode(0o640).unwrap();
        let live = LiveKeyring::load(&config(path.to_str().unwrap())).unwrap();
        let old = mint(&live, &mut rng);
        // A rotation written world-readable is not taken in.
        ring.add_key("k2", &mut rng).unwrap();
        std::fs::write(&path, ring.to_toml().expose()).unwrap();
        mode(0o604).unwrap();
        assert!(!live.reload().await);
        assert_eq!(live.reload_failures.load(Ordering::Relaxed), 1);
        assert_eq!(sealed_by(&mint(&live, &mut rng)), "k1");
        assert!(opens(&live, &old));
        // Closed again, it is.
        mode(0o600).unwrap();
        assert!(live.reload().await);
        assert_eq!(sealed_by(&mint(&live, &mut rng)), "k2");
    }

    #[test]
    fn a_keyring_from_the_environment_is_not_polled() {
        // (Setting a variable needs `unsafe` in edition 2024: the config
        // decides, and an unset one does not load.)
        assert_eq!(config("env:S3GATE_KEYRING").keyring_file(), None);
        assert_eq!(config("/k.toml").keyring_file(), Some(Path::new("/k.toml")));
        assert!(LiveKeyring::load(&config("env:S3GATE_TEST_UNSET_VARIABLE")).is_err());
    }
}
