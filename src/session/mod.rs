//! Sealed session credentials: the keyring, minting, and opening a session
//! token presented with a request.
//!
//! Pure: no I/O, no clock (time and randomness come from the caller).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::policy::Scope;

/// Who a session belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    /// How the identity was proven: `mint`, `oidc`, `aws`, `delegated`.
    pub method: String,
    pub subject: String,
}

impl Identity {
    pub fn minted(user: &str) -> Self {
        Self {
            method: "mint".into(),
            subject: user.into(),
        }
    }
}

/// What a session token seals.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub session_id: String,
    pub access_key_id: String,
    pub identity: Identity,
    pub scope: Scope,
    /// Unix seconds.
    pub issued_at: u64,
    /// Unix seconds.
    pub expires_at: u64,
    /// Parent sessions' subjects, outermost first (delegation).
    pub chain: Vec<String>,
}

#[derive(Debug)]
pub enum SessionError {
    Malformed,
}

/// Credentials handed to a caller.
pub struct SessionCredentials {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: String,
    pub expires_at: SystemTime,
}

pub struct Keyring {}

pub struct SecretString(String);
impl SecretString {
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
impl SessionError {
    pub fn to_s3_error(&self) -> crate::s3::S3Error {
        unimplemented!()
    }
}

impl Keyring {
    pub fn to_toml(&self) -> String {
        unimplemented!()
    }
    pub fn add_key(&mut self, _id: &str, _rng: &mut impl rand::Rng) -> Result<(), SessionError> {
        unimplemented!()
    }
    pub fn parse(_text: &str) -> Result<Self, SessionError> {
        unimplemented!()
    }
    pub fn generate(_id: &str, _rng: &mut impl rand::Rng) -> Self {
        unimplemented!()
    }
    pub fn mint(
        &self,
        _identity: Identity,
        _scope: Scope,
        _now: SystemTime,
        _ttl: std::time::Duration,
        _chain: Vec<String>,
        _rng: &mut impl rand::Rng,
    ) -> SessionCredentials {
        unimplemented!()
    }
    /// Opens a token presented with `access_key_id`; returns the claims and
    /// the secret access key the request must be signed with.
    pub fn open(
        &self,
        _access_key_id: &str,
        _token: &str,
        _now: SystemTime,
    ) -> Result<(Claims, SecretString), SessionError> {
        unimplemented!()
    }
}
