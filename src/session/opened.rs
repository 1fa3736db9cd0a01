//! A bounded cache of opened sessions, so a client's requests after the
//! first skip the token's base64, AEAD and JSON work and the secret's HMAC
//! (measured: most of a session open's ~4.5 µs).
//!
//! Owns only the cache; the keyring ([`super::keyring`]) owns it and
//! [`super::token`] does the opening. The request's `now` decides every
//! check; moka's own monotonic clock only evicts entries early.
//!
//! Why a hit may stand for a fresh open:
//! - an entry is found by the access key id the request presents, and it
//!   is served only if the presented token is byte for byte the token
//!   that opened it (compared in constant time, a word at a time); a miss
//!   inserts only after the token opened, so a hit means these exact bytes
//!   authenticated under this keyring;
//! - the claims and the derived secret are a deterministic function of the
//!   token and the keyring; the cache lives inside the [`super::Keyring`]
//!   and is emptied by every change to it, so no entry outlives the keys
//!   that opened it;
//! - the two checks that depend on the request, the access key id binding
//!   and expiry against `now`, run on every hit, in the same order and with
//!   the same errors as [`super::Keyring::open`]; an expired entry is
//!   dropped, never served.
//!
//! Why by access key id and not by a hash of the token: the token is
//! ~800 bytes, and hashing it was 13 of the ~30 SHA-256 blocks a request
//! costs (`benches/load/PROFILE.md`); comparing it with the stored copy
//! costs a tenth of that. A token that does not match the entry for its
//! access key id (altered, or another session's presented with this id)
//! is opened in full, as on a miss, and refused there; a refused open
//! never replaces or evicts the entry, so presenting someone's access key
//! id (not a secret: it travels in every request) with a bad token cannot
//! push their session out. The price is memory: each entry keeps its
//! token, about as much again as the claims and secret it caches.
//!
//! The secret stays a [`SecretString`] (zeroized on drop, redacted Debug),
//! and so does its derived signing key.
//!
//! An opened session also keeps what its role session may do
//! ([`RoleGrants`]); the gateway works that out and decides when it may be
//! kept.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use moka::sync::Cache;

use super::secret::SecretString;
use super::{Claims, SessionError, Subject};
use crate::constant_time::same_bytes;
use crate::policy::ActionSet;
use crate::sigv4::SigningKeyCache;

/// Most sessions kept open (each ~2 KiB: claims, secret and token).
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
    role_grants: ArcSwapOption<RoleGrants>,
}

/// What a session's requests may do under one upstream role, as its role
/// session's policy states it: the policy's grants for the caller,
/// narrowed to the session's scope, and the policy's denies.
#[derive(Debug, PartialEq, Eq)]
pub struct RoleGrants {
    /// The policy they come from ([`crate::policy::Policy::is_version`]).
    pub policy: Arc<str>,
    /// The deciding grant's role (`None`: the upstream's own).
    pub role: Option<Arc<str>>,
    pub grants: Vec<(ActionSet, String)>,
    pub denies: Vec<(ActionSet, String)>,
}

impl OpenedSession {
    pub fn new(claims: Claims, secret: SecretString) -> OpenedSession {
        OpenedSession {
            subject: Arc::new(Subject::of(&claims)),
            claims,
            secret,
            signing_keys: SigningKeyCache::new(),
            role_grants: ArcSwapOption::empty(),
        }
    }

    /// The [`RoleGrants`] last kept for this session
    /// ([`OpenedSession::keep_role_grants`]), if any.
    pub fn role_grants(&self) -> Option<Arc<RoleGrants>> {
        self.role_grants.load_full()
    }

    /// Keeps `grants` for this session's next requests. Only the caller
    /// knows whether they may be kept: what the policy grants must not
    /// depend on the request (an address or a time condition).
    pub fn keep_role_grants(&self, grants: Arc<RoleGrants>) {
        self.role_grants.store(Some(grants));
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
    /// The token that opened `session`: a hit needs these exact bytes.
    token: Box<str>,
    session: Arc<OpenedSession>,
    /// The session's remaining lifetime when it was opened: moka drops the
    /// entry then at the latest.
    ttl: Duration,
}

struct UntilExpiry;

impl moka::Expiry<String, Arc<Entry>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        entry: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// Sessions opened under one keyring, by their access key id.
pub(super) struct OpenedCache {
    cache: Cache<String, Arc<Entry>>,
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

    /// The session cached for `access_key_id` if `token` is the one that
    /// opened it, after the access key id and expiry checks; `Ok(None)` on
    /// a miss, and when the token is not that one (the caller opens it).
    pub(super) fn get(
        &self,
        access_key_id: &str,
        token: &str,
        now: SystemTime,
    ) -> Result<Option<Arc<OpenedSession>>, SessionError> {
        let Some(entry) = self.cache.get(access_key_id) else {
            return Ok(None);
        };
        if !same_bytes(entry.token.as_bytes(), token.as_bytes()) {
            return Ok(None);
        }
        match entry.session.claims.check_presented(access_key_id, now) {
            Err(SessionError::Expired) => {
                self.cache.invalidate(access_key_id);
                Err(SessionError::Expired)
            }
            Err(e) => Err(e),
            Ok(()) => Ok(Some(Arc::clone(&entry.session))),
        }
    }

    /// Caches a session that `token` just opened at `now`, under the
    /// access key id sealed in it.
    pub(super) fn insert(&self, token: &str, session: Arc<OpenedSession>, now: SystemTime) {
        let expires = UNIX_EPOCH + Duration::from_secs(session.claims.expires_at);
        let Ok(ttl) = expires.duration_since(now) else {
            return;
        };
        let access_key_id = session.claims.access_key_id.clone();
        let entry = Entry {
            token: token.into(),
            session,
            ttl,
        };
        self.cache.insert(access_key_id, Arc::new(entry));
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
