//! Sealed session credentials: the keyring, minting, and opening a session
//! token presented with a request.
//!
//! Pure: no I/O, no clock (time and randomness come from the caller).
//! Depends on [`crate::policy`] for the sealed [`Scope`] and on
//! [`crate::s3`] only to render [`SessionError`] at the edge.
//!
//! Sessions are stateless: the token seals the [`Claims`] under the
//! keyring's newest key (see [`token`] for the format), and the secret
//! access key is derived from the key and the access key id, so any instance
//! holding the keyring opens any session. Rotation: add a key (it mints from
//! then on), keep the old one until its sessions have expired, then remove
//! it.

mod envelope;
mod keyring;
mod opened;
pub mod quota;
pub mod revocation;
mod secret;
mod subject;
pub mod token;
pub mod web;

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::policy::Scope;
pub use crate::principal::Identity;
use crate::s3::{S3Error, S3ErrorCode};

pub use keyring::{Keyring, KeyringError, MAX_KEY_ID_LEN, MAX_KEYS};
pub use opened::{OpenedSession, RoleGrants};
pub use quota::{Demand, ParentQuota, Quota, QuotaError, QuotaLedger, ReadMeter};
pub use revocation::{RevocationEntry, RevocationList};
pub use secret::{MasterKey, SecretString};
pub use subject::Subject;
pub use token::{ACCESS_KEY_PREFIX, Delegation, MAX_TOKEN_LEN, is_session_access_key_id};

/// Most groups an identity carries into a session (identity adapters keep
/// the ones the policy names).
pub const MAX_GROUPS: usize = 64;
/// Deepest delegation chain.
pub const MAX_CHAIN: usize = 8;

/// What a session token seals. Field names are shortened in the sealed
/// form; they travel in every request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    #[serde(rename = "sid")]
    pub session_id: String,
    #[serde(rename = "ak")]
    pub access_key_id: String,
    #[serde(rename = "id")]
    pub identity: Identity,
    #[serde(rename = "sc")]
    pub scope: Scope,
    /// Unix seconds.
    #[serde(rename = "iat")]
    pub issued_at: u64,
    /// Unix seconds; the session is expired from this second on.
    #[serde(rename = "exp")]
    pub expires_at: u64,
    /// The root principal, then each delegated session, this one last, each
    /// written as its principal name (`user:alice`,
    /// `delegated:user:alice/agent-7`: see `policy::delegated_name`): the
    /// policy's `delegated-by:` principals match these entries.
    #[serde(rename = "ch", default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
    /// The delegating sessions' scopes (those that narrow anything): a
    /// delegated session may do only what its own [`Claims::scope`] *and*
    /// every one of these allow. Kept whole because two globs' intersection
    /// is not a glob; absent in tokens minted before delegation existed.
    #[serde(rename = "ps", default, skip_serializing_if = "Vec::is_empty")]
    pub parent_scopes: Vec<Scope>,
    /// The delegating sessions' ids, outermost first: revoking one of them
    /// revokes this session too.
    #[serde(rename = "pi", default, skip_serializing_if = "Vec::is_empty")]
    pub parent_sessions: Vec<String>,
    /// This session's own quota (see [`quota`]); absent when unlimited.
    #[serde(rename = "q", default, skip_serializing_if = "Quota::is_empty")]
    pub quota: Quota,
    /// The quotas of the sessions this one was delegated from, outermost
    /// first: every request is charged to each of them too.
    #[serde(rename = "pq", default, skip_serializing_if = "Vec::is_empty")]
    pub parent_quotas: Vec<ParentQuota>,
}

impl Claims {
    /// Claims of no sealed session: `identity` within `scope`, with no
    /// session id or access key, no chain, no quota and no expiry. What an
    /// unsigned request is decided with; tests start from it too.
    pub fn unsealed(identity: Identity, scope: Scope) -> Claims {
        Claims {
            session_id: String::new(),
            access_key_id: String::new(),
            identity,
            scope,
            issued_at: 0,
            expires_at: u64::MAX,
            chain: Vec::new(),
            parent_scopes: Vec::new(),
            parent_sessions: Vec::new(),
            quota: Quota::default(),
            parent_quotas: Vec::new(),
        }
    }

    /// The session's own scope, then its parents'.
    pub fn scopes(&self) -> impl Iterator<Item = &Scope> {
        std::iter::once(&self.scope).chain(self.parent_scopes.iter())
    }

    /// The first `(action, resource)` some scope of the session does not
    /// allow, if any.
    pub fn first_denied<'r>(
        &self,
        resources: &'r [(crate::s3::Action, String)],
    ) -> Option<&'r (crate::s3::Action, String)> {
        self.scopes().find_map(|s| s.first_denied(resources))
    }

    /// A child's own scope and the scopes it inherits, for a child that
    /// asked for `requested` (`None`: the parent's own). Every scope of the
    /// parent stays with the child, so the child's scopes never allow what
    /// the parent's refuse.
    pub fn child_scopes(&self, requested: Option<Scope>) -> (Scope, Vec<Scope>) {
        match requested {
            None => (self.scope.clone(), self.parent_scopes.clone()),
            Some(requested) => {
                let mut parents = self.parent_scopes.clone();
                if !self.scope.is_all() {
                    parents.push(self.scope.clone());
                }
                (requested, parents)
            }
        }
    }

    /// Narrows grants by every scope of the session in turn (see
    /// [`Scope::narrow`]).
    pub fn narrow(
        &self,
        grants: &[(crate::policy::ActionSet, String)],
    ) -> Vec<(crate::policy::ActionSet, String)> {
        self.scopes()
            .fold(grants.to_vec(), |grants, scope| scope.narrow(&grants))
    }
}

/// Why a session could not be minted or opened. No HTTP here: the edge
/// renders it with [`SessionError::to_s3_error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not a token: too long, bad base64, bad header, unknown version.
    #[error("session token is malformed")]
    Malformed,
    /// Sealed under a key id this keyring does not hold (another gateway's,
    /// or a retired key).
    #[error("session token names an unknown key")]
    UnknownKey,
    /// The AEAD tag did not verify: altered, truncated, or forged.
    #[error("session token failed authentication")]
    Tampered,
    /// A valid token presented with another session's access key id.
    #[error("session token belongs to another access key")]
    AccessKeyMismatch,
    #[error("session has expired")]
    Expired,
    /// Minting: too many groups or delegations, or the token would exceed
    /// [`MAX_TOKEN_LEN`].
    #[error("session claims are too large")]
    ClaimsTooLarge,
    /// Minting with an empty keyring (cannot happen with a parsed keyring).
    #[error("keyring has no key to mint with")]
    NoKey,
}

impl SessionError {
    /// The S3 error a caller sees. A token presented with the wrong access
    /// key id answers `InvalidAccessKeyId` (403), as AWS does for a key it
    /// does not know: the pair is not a credential we issued.
    pub fn to_s3_error(&self) -> S3Error {
        match self {
            Self::Malformed | Self::UnknownKey | Self::Tampered => S3Error::new(
                S3ErrorCode::InvalidToken,
                "The provided token is malformed or otherwise invalid.",
            ),
            Self::AccessKeyMismatch => S3Error::new(
                S3ErrorCode::InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
            ),
            Self::Expired => {
                S3Error::new(S3ErrorCode::ExpiredToken, "The provided token has expired.")
            }
            Self::ClaimsTooLarge => S3Error::new(
                S3ErrorCode::InvalidRequest,
                "The session would carry too many groups or delegations.",
            ),
            Self::NoKey => S3Error::new(
                S3ErrorCode::InternalError,
                "We encountered an internal error. Please try again.",
            ),
        }
    }
}

/// Credentials handed to a caller. `Debug` shows neither the secret nor
/// the token.
pub struct SessionCredentials {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: String,
    /// For audit: the session id sealed in the token.
    pub session_id: String,
    /// Whole seconds.
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &"<redacted>")
            .field("session_id", &self.session_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[cfg(test)]
mod tests;
