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

/// `*` matches any run of characters, everything else itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs_match_wildcards_only() {
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("app-*", "app-web"));
        assert!(!glob_matches("app-*", "xapp-web"));
        assert!(glob_matches("*-task", "web-task"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxc"));
        assert!(!glob_matches("ab*ba", "aba"));
        assert!(glob_matches("exact", "exact"));
        assert!(!glob_matches("exact", "exact2"));
    }
}
