//! Proving who a caller is before s3gate mints a session: OIDC tokens
//! ([`oidc`], validated by the pure [`jwt`]) and AWS principals by a signed
//! `sts:GetCallerIdentity` ([`aws`]).
//!
//! An adapter: it fetches discovery documents and JWKS and calls STS over
//! [`http`]. The pure checks (token claims, the caller's signed headers,
//! STS's answer) take the time as an argument and are tested on their own.
//! Depends on `config` and `session` (the [`crate::session::Identity`] it
//! produces); renders its errors as STS errors with
//! [`IdentityError::to_sts_error`] at the edge.

pub mod aws;
pub mod http;
pub mod jwt;
pub mod oidc;

use ::http::StatusCode;

use crate::sts_api::StsError;

/// Why an identity was not accepted. Messages name the check that failed
/// but never echo a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The token is not acceptable: malformed, badly signed, wrong issuer,
    /// audience, algorithm, claim types, or a required claim is missing.
    #[error("{0}")]
    InvalidToken(String),
    /// The token's `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// The issuer's keys could not be fetched and none are cached.
    #[error("{0}")]
    IdpUnreachable(String),
    /// A valid identity that the configuration does not admit (an AWS
    /// account or role not allowed).
    #[error("{0}")]
    NotAllowed(String),
    /// The request itself is malformed (missing parameters, bad values).
    #[error("{0}")]
    Validation(String),
    /// This kind of identity is not configured on this gateway.
    #[error("{0}")]
    NotConfigured(String),
}

impl IdentityError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidToken(message.into())
    }

    /// The STS error a caller sees, with STS's own codes.
    pub fn to_sts_error(&self) -> StsError {
        let message = self.to_string();
        match self {
            Self::InvalidToken(_) => {
                StsError::new(StatusCode::BAD_REQUEST, "InvalidIdentityToken", message)
            }
            Self::Expired => StsError::new(
                StatusCode::BAD_REQUEST,
                "ExpiredTokenException",
                "Token expired: current date/time is past the token's exp",
            ),
            Self::IdpUnreachable(_) => {
                StsError::new(StatusCode::BAD_REQUEST, "IDPCommunicationError", message)
            }
            Self::NotAllowed(_) | Self::NotConfigured(_) => {
                StsError::new(StatusCode::FORBIDDEN, "AccessDenied", message)
            }
            Self::Validation(_) => {
                StsError::new(StatusCode::BAD_REQUEST, "ValidationError", message)
            }
        }
    }
}
