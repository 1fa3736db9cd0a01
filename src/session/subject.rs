//! Who a session's requests come from, as the audit record writes it:
//! the session, its access key id, the principal's name and identity
//! fields, and its delegation chain.
//!
//! Built once when a session opens ([`super::OpenedSession`]) and shared
//! by every request's audit event, so a request clones one `Arc` instead
//! of a dozen strings. Pure; depends on [`crate::principal`] for the
//! principal's one spelling.

use serde::Serialize;

use super::Claims;
use crate::principal::principal_name;

/// The audit record's `session_id` … `chain` fields, in the record's order
/// (`docs/audit.md`).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Subject {
    pub session_id: String,
    pub access_key_id: String,
    /// The principal, spelled as the policy file spells it.
    pub identity: String,
    pub identity_method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_session: Option<String>,
    /// Delegation chain, outermost first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
}

impl Subject {
    pub fn of(claims: &Claims) -> Subject {
        let id = &claims.identity;
        Subject {
            session_id: claims.session_id.clone(),
            access_key_id: claims.access_key_id.clone(),
            identity: principal_name(id),
            identity_method: id.method.clone(),
            issuer: id.issuer.clone(),
            username: id.username.clone(),
            groups: id.groups.clone(),
            aws_account: id.aws_account.clone(),
            aws_role: id.aws_role.clone(),
            aws_session: id.aws_session.clone(),
            chain: claims.chain.clone(),
        }
    }
}
