//! A rule's resource patterns: `s3://bucket/prefix*` globs (see
//! [`super::Pattern`]) that may hold `${identity.…}` variables, expanded
//! per request from the caller's identity.
//!
//! Pure; reads only [`crate::principal::Identity`].
//!
//! A variable's value is literal and one path segment: it never adds a
//! wildcard nor crosses a `/`. A grant whose variable has no such value for
//! the caller (empty, or holding `/`, `..`, `*`, `?` or a control
//! character) does not apply to that caller; a deny's unresolved variable
//! stands for `*`, so a deny never narrows because the identity lacks a
//! field (fail closed).

use super::Pattern;
use crate::principal::Identity;

/// The identity fields a resource may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// `${identity.sub}` or `${identity.subject}`: the stable subject.
    Subject,
    /// `${identity.username}`: the username (for minted sessions, the
    /// `--user` name).
    Username,
    Email,
    Issuer,
    AwsAccount,
    AwsRole,
    AwsSession,
}

impl Var {
    fn parse(name: &str) -> Option<Var> {
        Some(match name {
            "identity.sub" | "identity.subject" => Var::Subject,
            "identity.username" => Var::Username,
            "identity.email" => Var::Email,
            "identity.issuer" => Var::Issuer,
            "identity.aws_account" => Var::AwsAccount,
            "identity.aws_role" => Var::AwsRole,
            "identity.aws_session" => Var::AwsSession,
            _ => return None,
        })
    }

    /// The value for `identity`, if it has a usable one: one path segment
    /// ([`path_segment`]), so it neither widens the pattern nor moves it
    /// into another's area. The issuer (an operator-configured URL) only
    /// has to be free of wildcards.
    fn value(self, identity: &Identity) -> Option<&str> {
        let v = match self {
            Var::Subject => Some(identity.subject.as_str()),
            Var::Username => identity
                .username
                .as_deref()
                .or_else(|| (identity.method == "mint").then_some(identity.subject.as_str())),
            Var::Email => identity.email.as_deref(),
            Var::Issuer => identity.issuer.as_deref(),
            Var::AwsAccount => identity.aws_account.as_deref(),
            Var::AwsRole => identity.aws_role.as_deref(),
            Var::AwsSession => identity.aws_session.as_deref(),
        };
        match self {
            Var::Issuer => v.filter(|v| !v.is_empty() && !v.contains(['*', '?'])),
            _ => v.filter(|v| path_segment(v).is_ok()),
        }
    }
}

/// Why `value` cannot stand for one path segment, if it cannot: empty, or
/// holding `/`, `..`, a wildcard (`*`, `?`) or a control character.
pub fn path_segment(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        Err("is empty")
    } else if value.contains('/') {
        Err("holds `/`")
    } else if value.contains("..") {
        Err("holds `..`")
    } else if value.contains(['*', '?']) {
        Err("holds a wildcard (`*` or `?`)")
    } else if value.chars().any(char::is_control) {
        Err("holds a control character")
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Var(Var),
}

/// A resource pattern as written in a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    text: String,
    /// Compiled once when there is no variable.
    fixed: Option<Pattern>,
    pieces: Vec<Piece>,
}

/// Longest resource pattern: as long as a scope pattern may be.
const MAX_LEN: usize = super::MAX_PATTERN_LEN;

impl Resource {
    /// Parses `s3://…` with optional `${identity.…}` variables.
    pub fn parse(text: &str) -> Result<Resource, String> {
        if !text.starts_with("s3://") {
            return Err(format!("resource `{text}` must start with `s3://`"));
        }
        if text.len() > MAX_LEN {
            return Err(format!("resource is longer than {MAX_LEN} bytes"));
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            if at > 0 {
                pieces.push(Piece::Lit(rest[..at].to_owned()));
            }
            let after = &rest[at + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("resource `{text}`: `${{` without a closing `}}`"))?;
            let name = &after[..end];
            let var = Var::parse(name).ok_or_else(|| {
                format!(
                    "resource `{text}`: unknown variable `${{{name}}}` (expected identity.sub, \
                     identity.username, identity.email, identity.issuer, identity.aws_account, \
                     identity.aws_role or identity.aws_session)"
                )
            })?;
            pieces.push(Piece::Var(var));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Lit(rest.to_owned()));
        }
        let has_var = pieces.iter().any(|p| matches!(p, Piece::Var(_)));
        Ok(Resource {
            text: text.to_owned(),
            fixed: (!has_var).then(|| Pattern::new(text)),
            pieces,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn has_variables(&self) -> bool {
        self.fixed.is_none()
    }

    /// The pattern for `identity`. For a grant (`deny == false`): `None`
    /// when a variable has no usable value. For a deny: an unresolved
    /// variable becomes `*`.
    pub fn expand(&self, identity: &Identity, deny: bool) -> Option<String> {
        if self.fixed.is_some() {
            return Some(self.text.clone());
        }
        let mut out = String::with_capacity(self.text.len() + 16);
        for piece in &self.pieces {
            match piece {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var(v) => match v.value(identity) {
                    Some(value) => out.push_str(value),
                    None if deny => out.push('*'),
                    None => return None,
                },
            }
        }
        Some(out)
    }

    /// Whether `resource` matches this pattern for `identity`.
    pub fn matches(&self, identity: &Identity, resource: &str, deny: bool) -> bool {
        match &self.fixed {
            Some(p) => p.matches(resource),
            None => self
                .expand(identity, deny)
                .is_some_and(|p| Pattern::new(&p).matches(resource)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    #[test]
    fn variables_expand_literally() {
        let r = Resource::parse("s3://data/home/${identity.username}/*").expect("parse");
        let mut alice = Identity::new("oidc", "sub-1");
        alice.username = Some("alice".into());
        assert!(r.matches(&alice, "s3://data/home/alice/x", false));
        assert!(!r.matches(&alice, "s3://data/home/bob/x", false));
        assert!(!r.matches(&alice, "s3://data/home/alice", false));
        // A username holding `*` must not become a wildcard.
        let mut star = Identity::new("oidc", "sub-2");
        star.username = Some("*".into());
        assert!(!r.matches(&star, "s3://data/home/bob/x", false));
        assert!(!r.matches(&star, "s3://data/home/*/x", false));
        // Nor may one holding `/` move the grant into another's area, or
        // `..` out of its own: not substituted, the grant does not apply.
        for moved in ["bob/shared", "..", "a/../b"] {
            let mut id = Identity::new("mint", "m");
            id.username = Some(moved.into());
            assert!(
                !r.matches(&id, &format!("s3://data/home/{moved}/x"), false),
                "{moved}"
            );
            assert!(
                r.matches(&id, "s3://data/home/bob/shared/x", true),
                "{moved}"
            );
        }
        // No username: a grant does not apply, a deny covers every name.
        let none = Identity::new("oidc", "sub-3");
        assert!(!r.matches(&none, "s3://data/home/x/y", false));
        assert!(r.matches(&none, "s3://data/home/x/y", true));
        // A minted session's username is its user.
        let minted = Identity::new("mint", "carol");
        assert!(r.matches(&minted, "s3://data/home/carol/f", false));
        let sub = Resource::parse("s3://b/${identity.sub}/${identity.sub}*").expect("sub");
        assert_eq!(
            sub.expand(&alice, false).as_deref(),
            Some("s3://b/sub-1/sub-1*")
        );
    }

    /// Property: whatever the username (stars, slashes, dots, `${…}`), a
    /// home grant matches only keys under that user's literal prefix.
    #[test]
    fn a_variable_never_widens_the_grant() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let r = Resource::parse("s3://b/home/${identity.username}/*").expect("parse");
        let mut rng = StdRng::seed_from_u64(0xbadc0de);
        let alphabet = b"a*/.${}";
        let mut random = |max: usize| -> String {
            let len = rng.random_range(0..=max);
            (0..len)
                .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
                .collect()
        };
        for _ in 0..20_000 {
            let name = random(4);
            let key = random(8);
            let mut id = Identity::new("oidc", "s");
            id.username = Some(name.clone());
            let resource = format!("s3://b/home/{key}");
            if r.matches(&id, &resource, false) {
                assert!(
                    path_segment(&name).is_ok()
                        && resource.starts_with(&format!("s3://b/home/{name}/")),
                    "username {name:?} matched {resource:?}"
                );
            }
        }
    }

    #[test]
    fn bad_resources_say_why() {
        for (text, says) in [
            ("data/*", "s3://"),
            ("s3://b/${identity.nope}", "unknown variable"),
            ("s3://b/${identity.sub", "closing"),
            ("${identity.sub}", "s3://"),
        ] {
            let err = Resource::parse(text).expect_err(text);
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
