//! Who a caller is, and how a principal is written: the one spelling the
//! policy file, `s3gate policy explain --as` and the audit line's
//! `identity` share.
//!
//! ```text
//! user:NAME                      a session minted by the operator
//!                                (`s3gate session mint --user NAME`)
//! oidc:ISSUER#SUB                an OIDC identity: issuer URL and `sub`
//! aws:role/ACCOUNT/ROLE          an AWS assumed role (its session name is
//!                                not part of the principal)
//! aws:ARN                        any other AWS principal, by its ARN
//! METHOD:SUBJECT                 any other authentication method
//! anonymous                      an unsigned request (no credentials)
//! delegated:DELEGATOR/NAME       a delegated session (in a chain)
//! ```
//!
//! Pure, and below every stage: `session` seals an [`Identity`], `policy`
//! decides on it, `audit` writes its name.

use serde::{Deserialize, Serialize};

/// Who a session belongs to. Optional parts are left out of the sealed
/// form when absent, to keep tokens short.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    /// How the identity was proven: `mint`, `oidc`, `aws`, `delegated`.
    pub method: String,
    /// The stable subject: the OIDC `sub`, or the AWS principal ARN.
    pub subject: String,
    /// OIDC issuer URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Human-readable name (e.g. `preferred_username` or email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// At most [`MAX_GROUPS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_session: Option<String>,
    /// The verified email address (OIDC `email` claim), for `email:`
    /// principals in the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the identity provider says the login used a second factor
    /// (e.g. `amr` holds `mfa`), for the policy's `mfa` condition. `None`
    /// (unknown) counts as no MFA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<bool>,
}

impl Identity {
    /// An identity with only a method and a subject.
    pub fn new(method: impl Into<String>, subject: impl Into<String>) -> Identity {
        Identity {
            method: method.into(),
            subject: subject.into(),
            issuer: None,
            username: None,
            groups: Vec::new(),
            aws_account: None,
            aws_role: None,
            aws_session: None,
            email: None,
            mfa: None,
        }
    }
}

/// The principal of an unsigned request: its name, and its method.
pub const ANONYMOUS: &str = "anonymous";

/// The identity of an unsigned request.
pub fn anonymous() -> Identity {
    Identity::new(ANONYMOUS, ANONYMOUS)
}

/// Whether the identity is [`anonymous`]: no session ever carries it (a
/// session's method is how it was proven), so only the gateway's unsigned
/// path makes one.
pub fn is_anonymous(identity: &Identity) -> bool {
    identity.method == ANONYMOUS
}

/// The principal name of an identity (see the module doc).
pub fn principal_name(identity: &Identity) -> String {
    // Written piece by piece, not through `fmt`: the policy names the
    // caller on every request.
    let len = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let mut out = String::with_capacity(
        16 + identity.subject.len()
            + len(&identity.issuer)
            + len(&identity.aws_account)
            + len(&identity.aws_role),
    );
    match identity.method.as_str() {
        ANONYMOUS => out.push_str(ANONYMOUS),
        "mint" => {
            out.push_str("user:");
            out.push_str(&identity.subject);
        }
        "oidc" => {
            out.push_str("oidc:");
            out.push_str(identity.issuer.as_deref().unwrap_or(""));
            out.push('#');
            out.push_str(&identity.subject);
        }
        "aws" => match (&identity.aws_account, &identity.aws_role) {
            (Some(account), Some(role)) => {
                for piece in ["aws:role/", account, "/", role] {
                    out.push_str(piece);
                }
            }
            _ => {
                out.push_str("aws:");
                out.push_str(&identity.subject);
            }
        },
        method => {
            out.push_str(method);
            out.push(':');
            out.push_str(&identity.subject);
        }
    }
    out
}

/// Parses a principal name as written by [`principal_name`] back into an
/// identity, for `s3gate policy explain --as`. Groups, email and MFA are
/// given separately.
pub fn identity_from_principal(name: &str) -> Result<Identity, String> {
    if name == ANONYMOUS {
        return Ok(anonymous());
    }
    let (kind, rest) = name
        .split_once(':')
        .ok_or_else(|| format!("`{name}` is not a principal such as user:alice"))?;
    if rest.is_empty() {
        return Err(format!("`{name}` names no one after `{kind}:`"));
    }
    match kind {
        "user" => {
            let mut id = Identity::new("mint", rest);
            id.username = Some(rest.to_owned());
            Ok(id)
        }
        "oidc" => {
            let (issuer, sub) = rest
                .rsplit_once('#')
                .ok_or_else(|| format!("`{name}`: expected oidc:ISSUER#SUB"))?;
            let mut id = Identity::new("oidc", sub);
            id.issuer = Some(issuer.to_owned());
            Ok(id)
        }
        "aws" => {
            if let Some(role) = rest.strip_prefix("role/") {
                let (account, role) = role
                    .split_once('/')
                    .ok_or_else(|| format!("`{name}`: expected aws:role/ACCOUNT/ROLE"))?;
                let mut id = Identity::new(
                    "aws",
                    format!("arn:aws:sts::{account}:assumed-role/{role}/explain"),
                );
                id.aws_account = Some(account.to_owned());
                id.aws_role = Some(role.to_owned());
                Ok(id)
            } else {
                Ok(Identity::new("aws", rest))
            }
        }
        method => Ok(Identity::new(method, rest)),
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_explain_parsing() {
        let mut oidc = Identity::new("oidc", "248289761001");
        oidc.issuer = Some("https://idp.example.com".into());
        let mut role = Identity::new(
            "aws",
            "arn:aws:sts::123456789012:assumed-role/data-reader/task-1",
        );
        role.aws_account = Some("123456789012".into());
        role.aws_role = Some("data-reader".into());
        let user = Identity::new("aws", "arn:aws:iam::123456789012:user/bob");
        for (id, name) in [
            (Identity::new("mint", "alice"), "user:alice"),
            (oidc, "oidc:https://idp.example.com#248289761001"),
            (role, "aws:role/123456789012/data-reader"),
            (user, "aws:arn:aws:iam::123456789012:user/bob"),
            (Identity::new("delegated", "agent-7"), "delegated:agent-7"),
        ] {
            assert_eq!(principal_name(&id), name);
            let back = identity_from_principal(name).expect(name);
            assert_eq!(principal_name(&back), name);
        }
        assert!(identity_from_principal("alice").is_err());
        assert!(identity_from_principal("user:").is_err());
        assert!(identity_from_principal("oidc:no-hash").is_err());
    }
}
