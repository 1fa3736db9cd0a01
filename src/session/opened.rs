//! A bounded cache of opened sessions, so a client's requests after the
//! first skip the token's base64, AEAD and JSON work and the secret's HMAC
//! (measured: most of a session open's ~4.5 µs).
//!
//! Owns only the cache; the keyring ([`super::keyring`]) owns it and
//! [`super::token`] does the opening. The request's `now` decides every
//! check; moka's own monotonic clock only evicts entries early.
//!
//! Why a hit may stand for a fresh open:
//! - the key is the SHA-256 of the whole token, and a miss inserts only
//!   after the token opened, so a hit means these exact bytes authenticated
//!   under this keyring (a different token cannot find the entry short of a
//!   SHA-256 collision);
//! - the claims and the derived secret are a deterministic function of the
//!   token and the keyring; the cache lives inside the [`super::Keyring`]
//!   and is emptied by every change to it, so no entry outlives the keys
//!   that opened it;
//! - the two checks that depend on the request, the access key id binding
//!   and expiry against `now`, run on every hit, in the same order and with
//!   the same errors as [`super::Keyring::open`]; an expired entry is
//!   dropped, never served.
//!
//! The secret stays a [`SecretString`] (zeroized on drop, redacted Debug),
//! and so does its derived signing key.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::sync::Cache;
use sha2::{Digest as _, Sha256};

use super::secret::SecretString;
use super::{Claims, SessionError, Subject};
use crate::sigv4::SigningKeyCache;

/// Most sessions kept open (each ~1 KiB: claims and secret).
pub const CAPACITY: u64 = 16_384;

/// An opened session: its claims and the secret its requests are signed
/// with, and that secret's derived SigV4 signing key (see
/// [`OpenedSession::signing_keys`]).
pub struct OpenedSession {
    pub claims: Claims,
    pub secret: SecretString,
    /// Who the session's requests come from, as their audit records say.
    pub subject: Arc<Subject>,
    signing_keys: SigningKeyCache,
}

impl OpenedSession {
    pub fn new(claims: Claims, secret: SecretString) -> OpenedSession {
        OpenedSession {
            subject: Arc::new(Subject::of(&claims)),
            claims,
            secret,
            signing_keys: SigningKeyCache::new(),
        }
    }

    /// The cache of [`OpenedSession::secret`]'s derived signing key, for
    /// [`crate::sigv4::Authorization::verify_cached`] with that secret:
    /// it lives and dies with the cached session, so a client's requests
    /// after its first each day skip the key derivation.
    pub fn signing_keys(&self) -> &SigningKeyCache {
        &self.signing_keys
    }
}

impl std::fmt::Debug for OpenedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedSession")
            .field("claims", &self.claims)
            .field("secret", &self.secret)
            .finish()
    }
}

struct Entry {
    session: Arc<OpenedSession>,
    /// The session's remaining lifetime when it was opened: moka drops the
    /// entry then at the latest.
    ttl: Duration,
}

struct UntilExpiry;

impl moka::Expiry<[u8; 32], Arc<Entry>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        entry: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// Sessions opened under one keyring, by SHA-256 of their token.
pub(super) struct OpenedCache {
    cache: Cache<[u8; 32], Arc<Entry>>,
}

impl OpenedCache {
    pub(super) fn new() -> OpenedCache {
        OpenedCache {
            cache: Cache::builder()
                .max_capacity(CAPACITY)
                .expire_after(UntilExpiry)
                .build(),
        }
    }

    pub(super) fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The session cached for `key`, after the access key id and expiry
    /// checks; `Ok(None)` on a miss.
    pub(super) fn get(
        &self,
        key: &[u8; 32],
        access_key_id: &str,
        now: SystemTime,
    ) -> Result<Option<Arc<OpenedSession>>, SessionError> {
        let Some(entry) = self.cache.get(key) else {
            return Ok(None);
        };
        match entry.session.claims.check_presented(access_key_id, now) {
            Err(SessionError::Expired) => {
                self.cache.invalidate(key);
                Err(SessionError::Expired)
            }
            Err(e) => Err(e),
            Ok(()) => Ok(Some(Arc::clone(&entry.session))),
        }
    }

    /// Caches a session that just opened at `now`.
    pub(super) fn insert(&self, key: [u8; 32], session: Arc<OpenedSession>, now: SystemTime) {
        let expires = UNIX_EPOCH + Duration::from_secs(session.claims.expires_at);
        let Ok(ttl) = expires.duration_since(now) else {
            return;
        };
        self.cache.insert(key, Arc::new(Entry { session, ttl }));
    }

    /// Forgets every session: the keyring changed.
    pub(super) fn clear(&self) {
        self.cache.invalidate_all();
    }

    /// Sessions cached now (approximate: moka counts lazily).
    pub(super) fn len(&self) -> u64 {
        self.cache.entry_count()
    }
}
