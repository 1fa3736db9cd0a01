//! Who a request comes from, as the audit record writes it: the session,
//! its access key id, the principal's name and identity fields, and its
//! delegation chain.
//!
//! A session's is built once when it opens ([`super::OpenedSession`]) and
//! shared by every request's audit event, so a request clones one `Arc`
//! instead of a dozen strings; requests without a session fill one in
//! field by field. Pure; depends on [`crate::principal`] for the
//! principal's one spelling.

use serde::Serialize;

use super::Claims;
use crate::principal::{Identity, principal_name};

/// The audit record's `session_id` … `chain` fields, in the record's order
/// (`docs/audit.md`).
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Subject {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The principal, spelled as the policy file spells it
    /// (`user:alice`, `oidc:ISSUER#SUB`, `aws:role/ACCOUNT/ROLE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// How the identity was proven (`mint`, `oidc`, `aws`, `delegated`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_method: Option<String>,
    /// OIDC issuer of the identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// For AWS identities: the account, role (or IAM user) and role session.
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
    /// A session's subject.
    pub fn of(claims: &Claims) -> Subject {
        let mut subject = Subject {
            session_id: Some(claims.session_id.clone()),
            access_key_id: Some(claims.access_key_id.clone()),
            chain: claims.chain.clone(),
            ..Subject::default()
        };
        subject.set_identity(&claims.identity);
        subject
    }

    /// Fills in who `id` is: its principal's name (spelled as the policy
    /// names principals, so `policy explain --as` takes what the audit line
    /// shows) and the parts of the identity a reader needs.
    pub fn set_identity(&mut self, id: &Identity) {
        self.identity = Some(principal_name(id));
        self.identity_method = Some(id.method.clone());
        self.issuer.clone_from(&id.issuer);
        self.username.clone_from(&id.username);
        self.groups.clone_from(&id.groups);
        self.aws_account.clone_from(&id.aws_account);
        self.aws_role.clone_from(&id.aws_role);
        self.aws_session.clone_from(&id.aws_session);
    }
}
