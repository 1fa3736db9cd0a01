//! The principal patterns a policy rule names.
//!
//! Pure; depends on [`crate::principal`] for an identity and its spelling
//! and on [`super::Pattern`] for `*` globs.
//!
//! Patterns in a rule's `principals` use the principal spelling
//! ([`crate::principal`]) with `*` globs,
//! plus kinds that match an attribute rather than the name:
//!
//! ```text
//! *                              every authenticated identity (never
//!                                `anonymous` in a grant; a deny's `*`
//!                                includes it)
//! anonymous                      an unsigned request (grants: read
//!                                actions only, see `policy::anonymous`)
//! group:NAME                     one of the identity's groups
//! email:ADDRESS                  the identity's verified email
//!                                (`email:*@example.com`)
//! delegated-by:PRINCIPAL         a session delegated (directly or not) by
//!                                a principal: an entry of its chain
//! ```

use super::Pattern;
use crate::principal::Identity;

/// One entry of a rule's `principals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalPattern {
    /// `*`: every authenticated identity (and, in a deny, anonymous too).
    Any,
    /// `anonymous`: an unsigned request.
    Anonymous,
    /// `user:`, `oidc:`, `aws:` or another method's name, matched as a
    /// whole against [`crate::principal::principal_name`].
    Name(Pattern),
    Group(Pattern),
    Email(Pattern),
    DelegatedBy(Pattern),
}

/// Principal kinds a name pattern may start with.
const NAME_KINDS: [&str; 3] = ["user", "oidc", "aws"];

impl PrincipalPattern {
    /// Parses one entry; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<PrincipalPattern, String> {
        if text == "*" {
            return Ok(Self::Any);
        }
        if text == crate::principal::ANONYMOUS {
            return Ok(Self::Anonymous);
        }
        let Some((kind, rest)) = text.split_once(':') else {
            return Err(format!(
                "principal `{text}` has no kind (expected *, user:, oidc:, aws:, group:, email: or delegated-by:)"
            ));
        };
        if rest.is_empty() {
            return Err(format!("principal `{text}` names no one after `{kind}:`"));
        }
        match kind {
            "group" => Ok(Self::Group(Pattern::new(rest))),
            "email" => Ok(Self::Email(Pattern::new(rest))),
            "delegated-by" => Ok(Self::DelegatedBy(Pattern::new(rest))),
            "oidc" if rest != "*" && !rest.contains('#') => Err(format!(
                "principal `{text}`: expected oidc:ISSUER#SUB (e.g. oidc:https://idp.example.com#*)"
            )),
            "aws" if !(rest == "*" || rest.starts_with("role/") || rest.starts_with("arn:")) => {
                Err(format!(
                    "principal `{text}`: expected aws:role/ACCOUNT/ROLE or aws:ARN"
                ))
            }
            _ if NAME_KINDS.contains(&kind) => Ok(Self::Name(Pattern::new(text))),
            _ => Err(format!(
                "principal `{text}` has unknown kind `{kind}` (expected *, user:, oidc:, aws:, group:, email: or delegated-by:)"
            )),
        }
    }

    /// Whether the identity (named `name`, with delegation `chain`) matches.
    pub fn matches(&self, identity: &Identity, name: &str, chain: &[String]) -> bool {
        self.matches_as(identity, name, chain, false)
    }

    /// [`Self::matches`] for a grant (`deny == false`) or a deny. An
    /// attribute the identity's kind carries but this identity does not
    /// prove (an OIDC identity without a verified email) never matches a
    /// grant, and always matches a deny: a deny fails closed.
    pub fn matches_as(
        &self,
        identity: &Identity,
        name: &str,
        chain: &[String],
        deny: bool,
    ) -> bool {
        let anonymous = crate::principal::is_anonymous(identity);
        match self {
            // A grant to `*` means everyone who signed in, never the
            // public; a deny to `*` fails closed and includes it.
            Self::Any => deny || !anonymous,
            Self::Anonymous => anonymous,
            Self::Name(p) => p.matches(name),
            Self::Group(p) => identity.groups.iter().any(|g| p.matches(g)),
            Self::Email(p) => match identity.email.as_deref() {
                Some(e) => p.matches(e),
                None => deny && identity.method == "oidc",
            },
            Self::DelegatedBy(p) => chain.iter().any(|c| p.matches(c)),
        }
    }

    /// As written in the file.
    pub fn to_text(&self) -> String {
        match self {
            Self::Any => "*".into(),
            Self::Anonymous => crate::principal::ANONYMOUS.into(),
            Self::Name(p) => p.to_string(),
            Self::Group(p) => format!("group:{p}"),
            Self::Email(p) => format!("email:{p}"),
            Self::DelegatedBy(p) => format!("delegated-by:{p}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;
    use crate::principal::principal_name;

    #[test]
    fn patterns_match_by_kind() {
        let mut id = Identity::new("oidc", "s-1");
        id.issuer = Some("https://idp.example.com".into());
        id.groups = vec!["eng".into(), "admins".into()];
        id.email = Some("ann@corp.example".into());
        let name = principal_name(&id);
        let chain = vec!["user:root".to_owned()];
        let m = |p: &str| {
            PrincipalPattern::parse(p)
                .expect(p)
                .matches(&id, &name, &chain)
        };
        assert!(m("*"));
        assert!(m("oidc:https://idp.example.com#s-1"));
        assert!(m("oidc:https://idp.example.com#*"));
        assert!(!m("oidc:https://other.example.com#s-1"));
        assert!(!m("user:s-1"));
        assert!(m("group:admins"));
        assert!(m("group:adm*"));
        assert!(!m("group:ops"));
        assert!(m("email:*@corp.example"));
        assert!(!m("email:*@evil.example"));
        assert!(m("delegated-by:user:root"));
        assert!(!m("delegated-by:user:other"));
        // No email known: an email pattern never matches, even `*`.
        let bare = Identity::new("mint", "bob");
        let p = PrincipalPattern::parse("email:*").expect("email:*");
        assert!(!p.matches(&bare, "user:bob", &[]));
        // …but an OIDC identity without a verified email is unknown, not
        // absent: a deny naming emails applies to it (fails closed), a
        // grant does not.
        let mut unverified = Identity::new("oidc", "s-2");
        unverified.issuer = Some("https://idp.example.com".into());
        let name = principal_name(&unverified);
        let evil = PrincipalPattern::parse("email:*@evil.example").expect("email");
        assert!(evil.matches_as(&unverified, &name, &[], true));
        assert!(!evil.matches_as(&unverified, &name, &[], false));
        assert!(!evil.matches_as(&id, &principal_name(&id), &[], true));
    }

    #[test]
    fn bad_patterns_say_why() {
        for (text, says) in [
            ("alice", "no kind"),
            ("user:", "names no one"),
            ("role:admin", "unknown kind `role`"),
            ("oidc:https://idp", "ISSUER#SUB"),
            ("aws:123456789012", "aws:role/ACCOUNT/ROLE"),
        ] {
            let err = PrincipalPattern::parse(text).expect_err(text);
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
