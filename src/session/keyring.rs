//! The keyring: the gateway's master keys, by key id, and the subkeys
//! derived from each once at load.
//!
//! Owns the keyring file format and key derivation; depends on
//! [`super::secret`] and [`super::opened`] (the cache of sessions its keys
//! opened, which it empties whenever the keys change). Pure: the caller reads and writes the file and
//! supplies randomness.
//!
//! File format (TOML); the last key listed is the newest, used to mint; all
//! keys open (so a key staged first opens before it mints):
//!
//! ```toml
//! [[keys]]
//! id = "k2026-10"
//! secret = "<base64 of 32 random bytes>"
//!
//! [[keys]]
//! id = "k2026-11"
//! secret = "<base64 of 32 random bytes>"
//! ```
//!
//! Each master key is never used directly: HKDF-SHA256 (RFC 5869) derives a
//! sealing key (ChaCha20-Poly1305, for session tokens) and a signing key
//! (HMAC-SHA256, for secret access keys), and a second sealing key for the
//! browser and CLI login's cookies and codes, under distinct labels, so the
//! uses can never be confused.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit as _};
use hmac::{Hmac, Mac as _};
use rand::CryptoRng;
use serde::Deserialize;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::opened::OpenedCache;
use super::secret::{MasterKey, SecretString};

/// Most keys a keyring holds (a rotation keeps a handful).
pub const MAX_KEYS: usize = 32;
/// Longest key id: it is carried in every token.
pub const MAX_KEY_ID_LEN: usize = 64;

const HKDF_SALT: &[u8] = b"s3gate keyring v1";
const LABEL_SEAL: &[u8] = b"s3gate session token sealing v1";
const LABEL_SECRET: &[u8] = b"s3gate secret access key v1";
const LABEL_WEB: &[u8] = b"s3gate web sealing v1";

/// Why a keyring was refused. Messages name the key and the problem, never
/// the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("keyring file is not valid: {0}")]
    Syntax(String),
    #[error("keyring has no keys")]
    Empty,
    #[error("keyring has more than {MAX_KEYS} keys")]
    TooManyKeys,
    #[error(
        "key id `{0}` is not valid (1-{MAX_KEY_ID_LEN} characters of letters, digits, `.`, `_`, `-`)"
    )]
    InvalidKeyId(String),
    #[error("key id `{0}` appears more than once")]
    DuplicateKeyId(String),
    #[error("key `{0}`: secret is not valid base64")]
    BadBase64(String),
    #[error("key `{id}`: secret is {len} bytes, expected 32")]
    WrongLength { id: String, len: usize },
    #[error("key id `{0}` is not in the keyring")]
    UnknownKeyId(String),
    #[error("cannot remove `{0}`: it is the only key")]
    LastKey(String),
}

/// HMAC-SHA256 with a key of at most one block, without the fallible
/// constructor: HMAC zero-pads short keys to the block size, so padding
/// here is the same function.
pub(super) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = Zeroizing::new([0u8; 64]);
    let len = key.len().min(64);
    block[..len].copy_from_slice(&key[..len]);
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new(block.as_ref().into());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// HKDF-SHA256 for one 32-byte output block (RFC 5869 §2.2–2.3).
fn hkdf_32(ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let prk = Zeroizing::new(hmac_sha256(HKDF_SALT, &[ikm]));
    Zeroizing::new(hmac_sha256(prk.as_ref(), &[info, &[1]]))
}

/// One master key and what is derived from it.
pub(super) struct KeyEntry {
    pub(super) id: String,
    master: MasterKey,
    /// Seals and opens session tokens. Zeroizes its key on drop.
    pub(super) sealer: ChaCha20Poly1305,
    /// Keys the HMAC that derives secret access keys.
    pub(super) secret_key: Zeroizing<[u8; 32]>,
    /// Seals login cookies and one-time codes ([`super::web`]): a key of
    /// its own, so nothing sealed for a browser opens as a session token.
    pub(super) web_sealer: ChaCha20Poly1305,
}

impl KeyEntry {
    fn new(id: String, master: MasterKey) -> KeyEntry {
        let seal = hkdf_32(master.expose(), LABEL_SEAL);
        let secret_key = hkdf_32(master.expose(), LABEL_SECRET);
        let web = hkdf_32(master.expose(), LABEL_WEB);
        KeyEntry {
            id,
            sealer: ChaCha20Poly1305::new(seal.as_ref().into()),
            web_sealer: ChaCha20Poly1305::new(web.as_ref().into()),
            master,
            secret_key,
        }
    }
}

/// The gateway's master keys. The last is the newest: it mints; all open.
pub struct Keyring {
    pub(super) keys: Vec<KeyEntry>,
    /// Sessions these keys opened; emptied whenever the keys change.
    pub(super) opened: OpenedCache,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringFile {
    keys: Vec<KeyFileEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileEntry {
    id: String,
    secret: String,
}

impl Drop for KeyFileEntry {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

fn validate_key_id(id: &str) -> Result<(), KeyringError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(KeyringError::InvalidKeyId(id.to_owned()))
    }
}

/// 32 fresh random bytes as a master key.
fn fresh_master(rng: &mut impl CryptoRng) -> MasterKey {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    let master = MasterKey::from_bytes(bytes);
    bytes.zeroize();
    master
}

impl Keyring {
    /// Parses a keyring file.
    pub fn parse(text: &str) -> Result<Keyring, KeyringError> {
        let file: KeyringFile = toml::from_str(text).map_err(|e| {
            // toml's message quotes the offending line, which may be a
            // secret: keep only the description.
            KeyringError::Syntax(e.message().to_owned())
        })?;
        if file.keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        if file.keys.len() > MAX_KEYS {
            return Err(KeyringError::TooManyKeys);
        }
        let mut ring = Keyring {
            keys: Vec::with_capacity(file.keys.len()),
            opened: OpenedCache::new(),
        };
        for entry in &file.keys {
            validate_key_id(&entry.id)?;
            if ring.keys.iter().any(|k| k.id == entry.id) {
                return Err(KeyringError::DuplicateKeyId(entry.id.clone()));
            }
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(entry.secret.trim())
                    .map_err(|_| KeyringError::BadBase64(entry.id.clone()))?,
            );
            let master: [u8; 32] =
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| KeyringError::WrongLength {
                        id: entry.id.clone(),
                        len: bytes.len(),
                    })?;
            ring.keys.push(KeyEntry::new(
                entry.id.clone(),
                MasterKey::from_bytes(master),
            ));
        }
        Ok(ring)
    }

    /// A keyring of one fresh key.
    pub fn generate(id: &str, rng: &mut impl CryptoRng) -> Result<Keyring, KeyringError> {
        let mut ring = Keyring {
            keys: Vec::new(),
            opened: OpenedCache::new(),
        };
        ring.add_key(id, rng)?;
        Ok(ring)
    }

    /// Rotation: adds a fresh key as the newest, which mints from now on.
    /// Older keys still open the sessions they minted.
    pub fn add_key(&mut self, id: &str, rng: &mut impl CryptoRng) -> Result<(), KeyringError> {
        self.insert(id, fresh_master(rng))
    }

    /// Adds a known key as the newest.
    pub fn insert(&mut self, id: &str, master: MasterKey) -> Result<(), KeyringError> {
        self.insert_at(usize::MAX, id, master)
    }

    /// Staged rotation, step one: adds a fresh key as the oldest, so every
    /// instance opens its sessions before any instance mints with it
    /// ([`Keyring::promote`], once every instance has re-read the file).
    pub fn stage_key(&mut self, id: &str, rng: &mut impl CryptoRng) -> Result<(), KeyringError> {
        self.insert_at(0, id, fresh_master(rng))
    }

    /// Staged rotation, step two: makes key `id` the newest, which mints.
    pub fn promote(&mut self, id: &str) -> Result<(), KeyringError> {
        let at = self
            .keys
            .iter()
            .position(|k| k.id == id)
            .ok_or_else(|| KeyringError::UnknownKeyId(id.to_owned()))?;
        let key = self.keys.remove(at);
        self.keys.push(key);
        Ok(())
    }

    /// Adds a known key at position `at` (past the end: as the newest).
    fn insert_at(&mut self, at: usize, id: &str, master: MasterKey) -> Result<(), KeyringError> {
        validate_key_id(id)?;
        if self.keys.iter().any(|k| k.id == id) {
            return Err(KeyringError::DuplicateKeyId(id.to_owned()));
        }
        if self.keys.len() >= MAX_KEYS {
            return Err(KeyringError::TooManyKeys);
        }
        let entry = KeyEntry::new(id.to_owned(), master);
        self.keys.insert(at.min(self.keys.len()), entry);
        self.opened.clear();
        Ok(())
    }

    /// Retires a key: sessions it sealed no longer open.
    pub fn remove_key(&mut self, id: &str) -> Result<(), KeyringError> {
        let at = self
            .keys
            .iter()
            .position(|k| k.id == id)
            .ok_or_else(|| KeyringError::UnknownKeyId(id.to_owned()))?;
        if self.keys.len() == 1 {
            return Err(KeyringError::LastKey(id.to_owned()));
        }
        self.keys.remove(at);
        // Its sessions must stop opening now, cached or not.
        self.opened.clear();
        Ok(())
    }

    /// Key ids, oldest first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// The id of the key that mints.
    pub fn newest_key_id(&self) -> Option<&str> {
        self.keys.last().map(|k| k.id.as_str())
    }

    /// The keyring file, to write with owner-only permissions.
    pub fn to_toml(&self) -> SecretString {
        let mut out = String::new();
        for (i, key) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            // Key ids are validated to need no TOML escaping.
            out.push_str("[[keys]]\nid = \"");
            out.push_str(&key.id);
            out.push_str("\"\nsecret = \"");
            out.push_str(&STANDARD.encode(key.master.expose()));
            out.push_str("\"\n");
        }
        SecretString::new(out)
    }

    pub(super) fn key(&self, id: &[u8]) -> Option<&KeyEntry> {
        self.keys.iter().find(|k| k.id.as_bytes() == id)
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn hkdf_matches_rfc5869_shape() {
        // RFC 5869 test case 1 uses its own salt; check the HMAC primitive
        // against RFC 4231 test case 2 instead ("Jefe").
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn parse_generate_serialize_round_trip() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut ring = Keyring::generate("k1", &mut rng).expect("generate");
        ring.add_key("k2", &mut rng).expect("add");
        assert_eq!(ring.newest_key_id(), Some("k2"));
        let text = ring.to_toml();
        let again = Keyring::parse(text.expose()).expect("parse");
        assert_eq!(again.key_ids().collect::<Vec<_>>(), ["k1", "k2"]);
        assert_eq!(again.to_toml(), text);
        assert!(!format!("{again:?}").contains(&text.expose()[30..60]));
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let one =
            |id: &str, secret: &str| format!("[[keys]]\nid = \"{id}\"\nsecret = \"{secret}\"\n");
        let err = |text: &str| Keyring::parse(text).expect_err(text);
        assert_eq!(err("keys = []"), KeyringError::Empty);
        assert!(matches!(err(""), KeyringError::Syntax(_)));
        assert_eq!(
            err(&format!("{}{}", one("k1", K1), one("k1", K1))),
            KeyringError::DuplicateKeyId("k1".into())
        );
        assert_eq!(
            err(&one("k1", "not base64!")),
            KeyringError::BadBase64("k1".into())
        );
        assert_eq!(
            err(&one("k1", "AAECAw==")),
            KeyringError::WrongLength {
                id: "k1".into(),
                len: 4
            }
        );
        assert_eq!(
            err(&one("bad id", K1)),
            KeyringError::InvalidKeyId("bad id".into())
        );
        assert_eq!(err(&one("", K1)), KeyringError::InvalidKeyId(String::new()));
        let unknown = err(&format!("{}created = 1\n", one("k1", K1)));
        assert!(
            matches!(&unknown, KeyringError::Syntax(m) if m.contains("created")),
            "{unknown}"
        );
        let top = err(&format!("version = 1\n{}", one("k1", K1)));
        assert!(
            matches!(&top, KeyringError::Syntax(m) if m.contains("version")),
            "{top}"
        );
        // The message never quotes the secret.
        let e = err(&format!(
            "[[keys]]\nid = \"k\"\nsecret = \"{K1}\"\nsecret = \"{K1}\"\n"
        ));
        assert!(!e.to_string().contains(K1), "{e}");
    }

    #[test]
    fn remove_and_insert_rules() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut ring = Keyring::generate("k1", &mut rng).expect("generate");
        assert_eq!(
            ring.remove_key("k1"),
            Err(KeyringError::LastKey("k1".into()))
        );
        assert_eq!(
            ring.remove_key("nope"),
            Err(KeyringError::UnknownKeyId("nope".into()))
        );
        assert_eq!(
            ring.add_key("k1", &mut rng),
            Err(KeyringError::DuplicateKeyId("k1".into()))
        );
        ring.add_key("k2", &mut rng).expect("add");
        ring.remove_key("k1").expect("remove");
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["k2"]);
    }

    #[test]
    fn a_staged_key_opens_first_and_mints_once_promoted() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut ring = Keyring::generate("k1", &mut rng).expect("generate");
        ring.stage_key("k2", &mut rng).expect("stage");
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["k2", "k1"]);
        assert_eq!(
            ring.newest_key_id(),
            Some("k1"),
            "a staged key does not mint"
        );
        let again = Keyring::parse(ring.to_toml().expose()).expect("parse");
        assert_eq!(
            again.newest_key_id(),
            Some("k1"),
            "the file keeps the order"
        );
        ring.promote("k2").expect("promote");
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["k1", "k2"]);
        assert_eq!(
            ring.promote("k3"),
            Err(KeyringError::UnknownKeyId("k3".into()))
        );
        assert_eq!(
            ring.stage_key("k1", &mut rng),
            Err(KeyringError::DuplicateKeyId("k1".into()))
        );
    }
}
