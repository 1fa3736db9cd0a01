//! How a caller is named to STS: the `RoleSessionName`, the
//! `SourceIdentity` and the session tags of the role session s3gate opens
//! for them, so S3 server logs and CloudTrail show who acted.
//!
//! Pure: no I/O. Depends on [`crate::session`] for the caller's
//! [`Identity`].
//!
//! - `RoleSessionName` names the whole delegation chain, outermost first,
//!   joined by `,` (`alice,agent-7`); `SourceIdentity` names the person (or
//!   service) at the start of the chain, who stays accountable whatever was
//!   delegated. Both allow only `[A-Za-z0-9_+=,.@-]` and 2–64 characters:
//!   anything else becomes `-`; a longer name keeps its start and ends in a
//!   hash of the whole, so two long names never collide.
//! - Tags `s3gate:kind` (how the identity was proven) and `s3gate:name` (the
//!   caller, unabridged where the tag rules allow) — STS allows letters,
//!   digits, spaces and `_.:/=+-@`, keys up to 128 and values up to 256
//!   characters. (Non-ASCII letters and digits are kept as Rust classifies
//!   them, which is close to, not exactly, STS's `\p{L}\p{N}`.)
//!
//! Spec: <https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>,
//! <https://docs.aws.amazon.com/STS/latest/APIReference/API_Tag.html>

use sha2::{Digest, Sha256};

use crate::session::Identity;

/// STS's bounds on `RoleSessionName` and `SourceIdentity`.
const NAME_MIN: usize = 2;
const NAME_MAX: usize = 64;
/// STS's bound on a tag value.
const TAG_VALUE_MAX: usize = 256;

pub const TAG_KIND: &str = "s3gate:kind";
pub const TAG_NAME: &str = "s3gate:name";

/// The caller's display name: the username if the identity has one (the
/// readable choice for OIDC subjects), else the subject.
pub fn caller_name(identity: &Identity) -> &str {
    identity
        .username
        .as_deref()
        .filter(|u| !u.is_empty())
        .unwrap_or(&identity.subject)
}

/// `RoleSessionName`: the chain and the caller, outermost first.
pub fn role_session_name(identity: &Identity, chain: &[String]) -> String {
    let mut parts: Vec<&str> = chain.iter().map(String::as_str).collect();
    parts.push(caller_name(identity));
    sts_name(&parts.join(","))
}

/// `SourceIdentity`: whoever started the chain (the caller if none).
pub fn source_identity(identity: &Identity, chain: &[String]) -> String {
    sts_name(
        chain
            .first()
            .map_or_else(|| caller_name(identity), String::as_str),
    )
}

/// Session tags, as (key, value).
pub fn session_tags(identity: &Identity) -> Vec<(&'static str, String)> {
    vec![
        (TAG_KIND, tag_value(&identity.method)),
        (TAG_NAME, tag_value(caller_name(identity))),
    ]
}

/// Sanitises to STS's `[\w+=,.@-]{2,64}`.
pub fn sts_name(raw: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    let mut name: String = raw
        .chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .collect();
    // SourceIdentity may not start with `aws:`; `:` is never kept, so it
    // cannot. Too long: keep the start, end with a hash of the original.
    if name.len() > NAME_MAX {
        let digest = hex::encode(&Sha256::digest(raw.as_bytes())[..6]);
        name.truncate(NAME_MAX - digest.len() - 1);
        name.push('-');
        name.push_str(&digest);
    }
    if name.is_empty() {
        name.push_str("unknown");
    }
    while name.len() < NAME_MIN {
        name.push('-');
    }
    name
}

/// Sanitises to STS's tag value rule `[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}`.
pub fn tag_value(raw: &str) -> String {
    let allowed = |c: char| {
        if c.is_ascii() {
            c.is_ascii_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
        } else {
            c.is_alphabetic() || c.is_numeric()
        }
    };
    raw.chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .take(TAG_VALUE_MAX)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(method: &str, subject: &str, username: Option<&str>) -> Identity {
        let mut i = Identity::new(method, subject);
        i.username = username.map(str::to_owned);
        i
    }

    #[test]
    fn plain_names_pass_unchanged() {
        assert_eq!(sts_name("alice"), "alice");
        assert_eq!(sts_name("alice@example.com"), "alice@example.com");
        assert_eq!(sts_name("svc_1+x=y,z.w-v"), "svc_1+x=y,z.w-v");
    }

    #[test]
    fn other_characters_become_dashes() {
        assert_eq!(
            sts_name("arn:aws:sts::123456789012:assumed-role/app/i-0ab"),
            "arn-aws-sts--123456789012-assumed-role-app-i-0ab"
        );
        assert_eq!(sts_name("José Núñez"), "Jos--N--ez");
        assert_eq!(sts_name("aws:x"), "aws-x");
    }

    #[test]
    fn lengths_are_kept_within_2_to_64() {
        assert_eq!(sts_name("a"), "a-");
        assert_eq!(sts_name(""), "unknown");
        let long = "u".repeat(100);
        let name = sts_name(&long);
        assert_eq!(name.len(), 64);
        assert!(name.starts_with(&"u".repeat(51)), "{name}");
        // Two long names that share their first 64 characters stay apart.
        let other = format!("{}v", "u".repeat(99));
        assert_ne!(sts_name(&other), name);
        assert_eq!(sts_name(&"x".repeat(64)), "x".repeat(64));
    }

    #[test]
    fn session_name_shows_the_chain_and_source_identity_its_start() {
        let agent = id("delegated", "agent-7", None);
        let chain = vec!["alice".to_owned()];
        assert_eq!(role_session_name(&agent, &chain), "alice,agent-7");
        assert_eq!(source_identity(&agent, &chain), "alice");
        let bob = id("oidc", "248289761001", Some("bob"));
        assert_eq!(role_session_name(&bob, &[]), "bob");
        assert_eq!(source_identity(&bob, &[]), "bob");
    }

    #[test]
    fn tags_keep_arns_and_emails_and_replace_the_rest() {
        let who = id("aws", "arn:aws:iam::123456789012:role/app", None);
        assert_eq!(
            session_tags(&who),
            vec![
                (TAG_KIND, "aws".to_owned()),
                (TAG_NAME, "arn:aws:iam::123456789012:role/app".to_owned())
            ]
        );
        assert_eq!(tag_value("José <x@y.z>"), "José _x@y.z_");
        assert_eq!(tag_value(&"v".repeat(300)).len(), 256);
    }
}
