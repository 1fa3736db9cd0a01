//! Minting and opening sealed session credentials.
//!
//! Owns the token format and the access-key-id / secret-access-key
//! derivation; depends on [`super::keyring`] for keys. Pure: time and
//! randomness come from the caller.
//!
//! A token is the claims as compact JSON in the keyring's envelope
//! ([`super::envelope`], empty label, the token sealer). The secret access key is
//! `base64(HMAC-SHA256(secret subkey, access key id)[..30])`: 40 characters,
//! like an AWS secret, derivable by any instance holding the keyring.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::CryptoRng;
use zeroize::Zeroize as _;

use super::envelope::{self, EnvelopeError};
use super::keyring::{KeyEntry, Keyring, hmac_sha256};
use super::opened::OpenedSession;
use super::quota::{ParentQuota, Quota};
use super::secret::SecretString;
use super::{Claims, Identity, MAX_CHAIN, MAX_GROUPS, SessionCredentials, SessionError};
use crate::constant_time::same_bytes;
use crate::policy::Scope;

/// Longest session token accepted, checked before decoding anything.
pub const MAX_TOKEN_LEN: usize = 8192;

/// Every session access key id starts with this: like AWS's `ASIA` for
/// temporary credentials, but never mistaken for an AWS key.
pub const ACCESS_KEY_PREFIX: &str = "SGIA";

/// Session tokens are sealed with the keys' token sealer.
fn token_sealer(key: &KeyEntry) -> &chacha20poly1305::ChaCha20Poly1305 {
    &key.sealer
}
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Whether `id` has the shape of an s3gate session access key id
/// (`SGIA` + 16 characters of base32).
pub fn is_session_access_key_id(id: &str) -> bool {
    id.len() == 20
        && id.starts_with(ACCESS_KEY_PREFIX)
        && id.bytes().skip(4).all(|b| BASE32.contains(&b))
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn new_access_key_id(rng: &mut impl CryptoRng) -> String {
    // 10 random bytes = 80 bits = exactly 16 base32 characters.
    let mut bytes = [0u8; 10];
    rng.fill_bytes(&mut bytes);
    let mut out = String::with_capacity(20);
    out.push_str(ACCESS_KEY_PREFIX);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((acc >> bits) & 31) as usize]));
        }
    }
    out
}

fn secret_access_key(key: &KeyEntry, access_key_id: &str) -> SecretString {
    let mut mac = hmac_sha256(key.secret_key.as_ref(), &[access_key_id.as_bytes()]);
    let secret = STANDARD.encode(&mac[..30]);
    mac.zeroize();
    SecretString::new(secret)
}

/// What a delegated session inherits and is limited by, sealed as given
/// (the STS API works it out from the parent's claims).
#[derive(Debug, Clone, Default)]
pub struct Delegation {
    /// See [`Claims::parent_scopes`].
    pub parent_scopes: Vec<Scope>,
    /// See [`Claims::parent_sessions`]: revoked with any of them.
    pub parent_sessions: Vec<String>,
    /// See [`Claims::quota`].
    pub quota: Quota,
    /// See [`Claims::parent_quotas`].
    pub parent_quotas: Vec<ParentQuota>,
}

impl Claims {
    /// The checks every presentation of a session passes, opened now or
    /// found in the cache of opened sessions: the access key id it came
    /// with is the one sealed (in constant time), and it has not expired.
    pub(super) fn check_presented(
        &self,
        access_key_id: &str,
        now: SystemTime,
    ) -> Result<(), SessionError> {
        if !same_bytes(self.access_key_id.as_bytes(), access_key_id.as_bytes()) {
            return Err(SessionError::AccessKeyMismatch);
        }
        if unix_seconds(now) >= self.expires_at {
            return Err(SessionError::Expired);
        }
        Ok(())
    }
}

impl Keyring {
    /// Mints session credentials sealed under the newest key.
    ///
    /// `chain` lists the parent sessions' subjects, outermost first. The
    /// caller (the STS API) clamps `ttl` to a parent's expiry; this only
    /// seals what it is given.
    pub fn mint(
        &self,
        identity: Identity,
        scope: Scope,
        now: SystemTime,
        ttl: Duration,
        chain: Vec<String>,
        rng: &mut impl CryptoRng,
    ) -> Result<SessionCredentials, SessionError> {
        self.mint_delegated(identity, scope, Delegation::default(), now, ttl, chain, rng)
    }

    /// Like [`Keyring::mint`], for a delegated session bound by what it
    /// inherits from the sessions it was delegated from (`delegation`).
    #[allow(clippy::too_many_arguments, reason = "each part is sealed as given")]
    pub fn mint_delegated(
        &self,
        identity: Identity,
        scope: Scope,
        delegation: Delegation,
        now: SystemTime,
        ttl: Duration,
        chain: Vec<String>,
        rng: &mut impl CryptoRng,
    ) -> Result<SessionCredentials, SessionError> {
        let key = self.keys.last().ok_or(SessionError::NoKey)?;
        if identity.groups.len() > MAX_GROUPS || chain.len() > MAX_CHAIN {
            return Err(SessionError::ClaimsTooLarge);
        }
        let mut session_id = [0u8; 16];
        rng.fill_bytes(&mut session_id);
        let issued_at = unix_seconds(now);
        let claims = Claims {
            session_id: hex::encode(session_id),
            access_key_id: new_access_key_id(rng),
            identity,
            scope,
            issued_at,
            expires_at: issued_at.saturating_add(ttl.as_secs()),
            chain,
            parent_scopes: delegation.parent_scopes,
            parent_sessions: delegation.parent_sessions,
            quota: delegation.quota,
            parent_quotas: delegation.parent_quotas,
        };
        let plaintext = serde_json::to_vec(&claims).map_err(|_| SessionError::ClaimsTooLarge)?;

        let session_token =
            envelope::seal(key, token_sealer, b"", &plaintext, rng).map_err(|e| match e {
                EnvelopeError::TooLarge => SessionError::ClaimsTooLarge,
                _ => SessionError::NoKey,
            })?;
        if session_token.len() > MAX_TOKEN_LEN {
            return Err(SessionError::ClaimsTooLarge);
        }

        Ok(SessionCredentials {
            secret_access_key: secret_access_key(key, &claims.access_key_id),
            access_key_id: claims.access_key_id,
            session_id: claims.session_id,
            session_token,
            expires_at: UNIX_EPOCH + Duration::from_secs(claims.expires_at),
        })
    }

    /// Opens a token presented with `access_key_id`; returns the claims and
    /// the secret access key the request must be signed with.
    pub fn open(
        &self,
        access_key_id: &str,
        token: &str,
        now: SystemTime,
    ) -> Result<(Claims, SecretString), SessionError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(SessionError::Malformed);
        }
        let (key, body) = envelope::open(self, token_sealer, b"", token).map_err(|e| match e {
            EnvelopeError::UnknownKey => SessionError::UnknownKey,
            EnvelopeError::Tampered => SessionError::Tampered,
            EnvelopeError::Malformed | EnvelopeError::TooLarge => SessionError::Malformed,
        })?;
        // Authentic but unreadable claims mean a format bug, not an
        // attack; still, refuse.
        let claims: Claims = serde_json::from_slice(&body).map_err(|_| SessionError::Malformed)?;

        claims.check_presented(access_key_id, now)?;
        let secret = secret_access_key(key, &claims.access_key_id);
        Ok((claims, secret))
    }

    /// [`Keyring::open`] through the keyring's cache of opened sessions
    /// (see [`super::opened`] for why a hit is as good as an open): same
    /// checks, same errors, on every call.
    pub fn open_shared(
        &self,
        access_key_id: &str,
        token: &str,
        now: SystemTime,
    ) -> Result<Arc<OpenedSession>, SessionError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(SessionError::Malformed);
        }
        if let Some(session) = self.opened.get(access_key_id, token, now)? {
            return Ok(session);
        }
        let (claims, secret) = self.open(access_key_id, token, now)?;
        let session = Arc::new(OpenedSession::new(claims, secret));
        self.opened.insert(token, Arc::clone(&session), now);
        Ok(session)
    }

    /// Sessions in the cache of opened sessions (approximate).
    pub fn opened_sessions(&self) -> u64 {
        self.opened.len()
    }
}
