//! Access decisions: the policy file ([`Policy`]: grants and denies of
//! actions on resources to principals, with conditions and the upstream
//! role that carries a grant out) and a session's own [`Scope`] (rules
//! `ACTIONS=PATTERN` sealed into its token). A request is allowed when the
//! policy allows it *and* the session's scope does.
//!
//! Pure: no I/O, no clock (time and the client's address come in a
//! [`Caller`]). Depends on [`crate::s3`] for the [`Action`] names and on
//! [`crate::principal::Identity`] for what a principal is; the resource
//! strings it matches are those `s3::classify` produces (see its module doc
//! for the grammar). Reading, watching and swapping the file is the
//! server's (`live::policy`). The file format is in `docs/policy.md`.
//!
//! # Scope rule syntax
//!
//! ```text
//! RULE    = ACTIONS "=" PATTERN
//! ACTIONS = ITEM *("," ITEM)          whitespace around items is ignored
//! ITEM    = "read" | "write" | "list" | "delete" | "*"
//!         | ["s3:"] IAM-ACTION-NAME   e.g. s3:GetObject, PutObject (any case)
//! PATTERN = "s3://" *BYTE             `*` matches any run (incl. `/`, empty);
//!                                     everything else is literal
//! ```
//!
//! Groups: `read` = GetObject, GetObjectVersion, GetObjectTagging,
//! GetObjectVersionTagging, GetObjectAttributes, GetObjectVersionAttributes,
//! GetObjectAcl, GetObjectVersionAcl, GetBucketLocation; `list` = ListBucket,
//! ListBucketVersions, ListBucketMultipartUploads, ListMultipartUploadParts,
//! ListAllMyBuckets, GetBucketLocation; `write` = PutObject,
//! PutObjectTagging, PutObjectVersionTagging, AbortMultipartUpload (a copy
//! also needs `read` on its source); `delete` = DeleteObject,
//! DeleteObjectVersion, DeleteObjectTagging, DeleteObjectVersionTagging;
//! `*` = every action, including the `Unclassified` action of requests
//! s3gate does not recognise. No group holds what changes who may read an
//! object or how long it must live (PutObjectAcl, PutObjectVersionAcl,
//! PutObjectRetention, PutObjectLegalHold, BypassGovernanceRetention): a
//! header implying one of those needs it named.
//!
//! Listing is matched on `s3://bucket/<prefix>`: `list=s3://dev/home/alice/*`
//! allows listing `home/alice/` and below, and denies listing `home/`. That
//! is intended: a scope never reveals key names outside itself.

pub mod anonymous;
mod condition;
mod delegation;
mod encryption;
mod eval;
mod file;
mod lint;
mod principal;
mod resource;
#[cfg(test)]
mod tests;

mod pattern;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::s3::Action;

pub use crate::principal::{identity_from_principal, principal_name};
pub use condition::{Cidr, Conditions, DailyWindow};
pub use delegation::{DELEGATE_ACTION, delegated_name};
pub use encryption::{EncryptionRule, Required};
pub use eval::{Caller, Decision, Effect, Granted, GrantedBy, Policy, Reason, Rule};
pub use file::{
    MAX_POLICY_BYTES, MAX_POLICY_RULES, MAX_RULE_ITEMS, PolicyError, validate_role_arn,
};
pub use lint::{Lint, lint};
pub use pattern::Pattern;
pub use principal::PrincipalPattern;
pub use resource::{Resource, path_segment};

/// The policy `s3gate dev` uses when given none: user `dev` may do
/// everything (`config/policy.dev.toml`).
pub const DEV_POLICY: &str = include_str!("../../config/policy.dev.toml");

/// Most rules a scope may hold: it travels inside every session token.
pub const MAX_RULES: usize = 64;

/// Longest pattern accepted: `s3://`, a 63-byte bucket, `/`, a 1024-byte key
/// and room for stars.
pub const MAX_PATTERN_LEN: usize = 1200;

/// A set of [`Action`]s as a bitset, so a check is one AND.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ActionSet(u64);

impl ActionSet {
    pub const EMPTY: ActionSet = ActionSet(0);
    /// Every action, including `Unclassified`: the `*` group.
    pub const ALL: ActionSet = ActionSet::of(&Action::ALL);
    /// Every action s3gate recognises, not `Unclassified`: the `s3:*`
    /// group, as IAM spells all of S3.
    pub const KNOWN: ActionSet = Self::ALL.without(ActionSet::of(&[Action::Unclassified]));
    pub const READ: ActionSet = ActionSet::of(&[
        Action::GetObject,
        Action::GetObjectVersion,
        Action::GetObjectTagging,
        Action::GetObjectAttributes,
        Action::GetObjectAcl,
        Action::GetBucketLocation,
        Action::GetObjectVersionTagging,
        Action::GetObjectVersionAcl,
        Action::GetObjectVersionAttributes,
    ]);
    pub const LIST: ActionSet = ActionSet::of(&[
        Action::ListBucket,
        Action::ListBucketVersions,
        Action::ListBucketMultipartUploads,
        Action::ListMultipartUploadParts,
        Action::ListAllMyBuckets,
        Action::GetBucketLocation,
    ]);
    pub const WRITE: ActionSet = ActionSet::of(&[
        Action::PutObject,
        Action::PutObjectTagging,
        Action::PutObjectVersionTagging,
        Action::AbortMultipartUpload,
    ]);
    pub const DELETE: ActionSet = ActionSet::of(&[
        Action::DeleteObject,
        Action::DeleteObjectVersion,
        Action::DeleteObjectTagging,
        Action::DeleteObjectVersionTagging,
    ]);
    /// Actions on a bucket itself (`s3://BUCKET`, `arn:aws:s3:::BUCKET`):
    /// not a group a scope can name, but what the policy linter and the
    /// session-policy generator both need to tell apart from object actions.
    pub const BUCKET: ActionSet = ActionSet::of(&[
        Action::CreateBucket,
        Action::DeleteBucket,
        Action::GetBucketLocation,
        Action::GetBucketVersioning,
        Action::PutBucketVersioning,
        Action::GetBucketTagging,
        Action::PutBucketTagging,
        Action::GetBucketAcl,
        Action::PutBucketAcl,
        Action::GetBucketPolicy,
        Action::PutBucketPolicy,
        Action::DeleteBucketPolicy,
        Action::GetBucketCors,
        Action::PutBucketCors,
        Action::GetLifecycleConfiguration,
        Action::PutLifecycleConfiguration,
        Action::GetEncryptionConfiguration,
        Action::PutEncryptionConfiguration,
        Action::PutBucketObjectLockConfiguration,
        Action::PutBucketOwnershipControls,
    ]);

    /// The named groups, in the order [`fmt::Display`] prefers them.
    const GROUPS: [(&'static str, ActionSet); 4] = [
        ("read", Self::READ),
        ("list", Self::LIST),
        ("write", Self::WRITE),
        ("delete", Self::DELETE),
    ];

    pub const fn of(actions: &[Action]) -> ActionSet {
        let mut bits = 0;
        let mut i = 0;
        while i < actions.len() {
            bits |= actions[i].bit();
            i += 1;
        }
        ActionSet(bits)
    }

    pub const fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    /// Whether every action of `other` is in `self`.
    pub const fn contains_all(self, other: ActionSet) -> bool {
        self.0 & other.0 == other.0
    }

    #[must_use]
    pub const fn union(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 | other.0)
    }

    /// The actions of `self` that are not in `other`.
    #[must_use]
    pub const fn without(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 & !other.0)
    }

    #[must_use]
    pub const fn intersection(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 & other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The actions in the set, in [`Action::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// A group name or an action name, as in a rule's ACTIONS.
    pub fn parse_item(item: &str) -> Result<ActionSet, ScopeError> {
        if item == "*" {
            return Ok(Self::ALL);
        }
        if item == "s3:*" {
            return Ok(Self::KNOWN);
        }
        if let Some((_, set)) = Self::GROUPS.iter().find(|(name, _)| *name == item) {
            return Ok(*set);
        }
        Action::parse(item)
            .map(|a| ActionSet(a.bit()))
            .ok_or_else(|| ScopeError::UnknownAction(item.to_owned()))
    }
}

/// Displays compactly and canonically: `*`, or the groups fully contained,
/// then the remaining actions by IAM name (`read,list,s3:PutObject`).
impl fmt::Display for ActionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::ALL {
            return f.write_str("*");
        }
        if *self == Self::KNOWN {
            return f.write_str("s3:*");
        }
        let mut covered = ActionSet::EMPTY;
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let s = if first { "" } else { "," };
            first = false;
            f.write_str(s)
        };
        for (name, set) in Self::GROUPS {
            if self.contains_all(set) {
                sep(f)?;
                f.write_str(name)?;
                covered = covered.union(set);
            }
        }
        for action in self.iter().filter(|a| !covered.contains(*a)) {
            sep(f)?;
            write!(f, "s3:{action}")?;
        }
        Ok(())
    }
}

/// Why a scope rule was refused. Messages name the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("scope rule `{0}` has no `=` (expected ACTIONS=PATTERN)")]
    MissingEquals(String),
    #[error("scope rule `{0}` has an empty action")]
    EmptyAction(String),
    #[error(
        "unknown action `{0}` (expected read, write, list, delete, * or an S3 action such as s3:GetObject)"
    )]
    UnknownAction(String),
    #[error("scope pattern `{0}` must start with `s3://`")]
    PatternScheme(String),
    #[error("scope pattern is longer than {MAX_PATTERN_LEN} bytes")]
    PatternTooLong,
    #[error("a scope has at most {MAX_RULES} rules")]
    TooManyRules,
}

/// One rule: a set of actions on the resources matching a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRule {
    pub actions: ActionSet,
    pub pattern: Pattern,
}

impl ScopeRule {
    pub fn allows(&self, action: Action, resource: &str) -> bool {
        self.actions.contains(action) && self.pattern.matches(resource)
    }
}

impl FromStr for ScopeRule {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Split at the first `=`: action names never hold one, keys may.
        let (actions_text, pattern_text) = s
            .split_once('=')
            .ok_or_else(|| ScopeError::MissingEquals(s.to_owned()))?;
        let mut actions = ActionSet::EMPTY;
        for item in actions_text.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(ScopeError::EmptyAction(s.to_owned()));
            }
            actions = actions.union(ActionSet::parse_item(item)?);
        }
        // Only leading whitespace goes: the rest is byte-exact.
        let pattern_text = pattern_text.trim_start();
        if !pattern_text.starts_with("s3://") {
            return Err(ScopeError::PatternScheme(pattern_text.to_owned()));
        }
        if pattern_text.len() > MAX_PATTERN_LEN {
            return Err(ScopeError::PatternTooLong);
        }
        Ok(ScopeRule {
            actions,
            pattern: Pattern::new(pattern_text),
        })
    }
}

impl fmt::Display for ScopeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.actions, self.pattern)
    }
}

/// What a session may do: the union of its rules. The empty scope (the
/// `Default`) allows nothing.
///
/// Serialises as a list of rule strings, compactly, since it is sealed into
/// every session token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Scope {
    rules: Vec<ScopeRule>,
}

impl Scope {
    /// `*=s3://*`: everything, everywhere.
    pub fn all() -> Scope {
        Scope {
            rules: vec![ScopeRule {
                actions: ActionSet::ALL,
                pattern: Pattern::new("s3://*"),
            }],
        }
    }

    /// Builds a scope from rules, refusing more than [`MAX_RULES`].
    pub fn new(rules: Vec<ScopeRule>) -> Result<Scope, ScopeError> {
        if rules.len() > MAX_RULES {
            return Err(ScopeError::TooManyRules);
        }
        Ok(Scope { rules })
    }

    /// Parses rule strings (`read,list=s3://dev/home/alice/*`).
    pub fn parse<S: AsRef<str>>(rules: &[S]) -> Result<Scope, ScopeError> {
        if rules.len() > MAX_RULES {
            return Err(ScopeError::TooManyRules);
        }
        let rules = rules
            .iter()
            .map(|r| r.as_ref().parse())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Scope { rules })
    }

    pub fn rules(&self) -> &[ScopeRule] {
        &self.rules
    }

    /// Whether some rule allows every action on every resource (`*=s3://*`):
    /// such a scope narrows nothing.
    pub fn is_all(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.actions == ActionSet::ALL && r.pattern.as_str() == "s3://*")
    }

    /// True if some rule grants `action` and its pattern matches `resource`.
    pub fn allows(&self, action: Action, resource: &str) -> bool {
        self.rules.iter().any(|r| r.allows(action, resource))
    }

    /// Narrows grants (action sets on expanded `s3://` patterns) to this
    /// scope, for the session policy the upstream enforces.
    ///
    /// Two globs' intersection is not a glob in general, but where one
    /// pattern *contains* the other the intersection is the narrower one:
    /// a pattern contains another when it matches the other's text, since
    /// its literal characters can never match a `*` and so every `*` of the
    /// narrower pattern falls inside one of its own. Pairs where neither
    /// contains the other keep the grant: broader than the scope, never
    /// broader than the policy, and s3gate checks the scope itself anyway.
    pub fn narrow(&self, grants: &[(ActionSet, String)]) -> Vec<(ActionSet, String)> {
        let mut out = Vec::with_capacity(grants.len());
        for (actions, resource) in grants {
            let grant = Pattern::new(resource);
            let mut kept_whole = false;
            for rule in &self.rules {
                let both = actions.intersection(rule.actions);
                if both.is_empty() {
                    continue;
                }
                if grant.matches(rule.pattern.as_str()) {
                    out.push((both, rule.pattern.as_str().to_owned()));
                } else if rule.pattern.matches(resource) {
                    out.push((both, resource.clone()));
                } else if !kept_whole {
                    out.push((*actions, resource.clone()));
                    kept_whole = true;
                }
            }
        }
        out.dedup();
        out
    }

    /// The first `(action, resource)` this scope does not allow, if any —
    /// what the server names in its AccessDenied message.
    pub fn first_denied<'r>(
        &self,
        resources: &'r [(Action, String)],
    ) -> Option<&'r (Action, String)> {
        resources.iter().find(|(a, r)| !self.allows(*a, r))
    }
}

impl TryFrom<Vec<String>> for Scope {
    type Error = ScopeError;

    fn try_from(rules: Vec<String>) -> Result<Self, Self::Error> {
        Scope::parse(&rules)
    }
}

impl From<Scope> for Vec<String> {
    fn from(scope: Scope) -> Self {
        scope.rules.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rule) in self.rules.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{rule}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod scope_tests {

    fn grants(list: &[(ActionSet, &str)]) -> Vec<(ActionSet, String)> {
        list.iter().map(|(a, r)| (*a, (*r).to_owned())).collect()
    }

    #[test]
    fn narrowing_a_broad_grant_to_a_narrow_scope_keeps_the_scope() {
        let scope = Scope::parse(&["read=s3://b/alice/*"]).unwrap();
        let out = scope.narrow(&grants(&[(ActionSet::ALL, "s3://*")]));
        assert_eq!(out, grants(&[(ActionSet::READ, "s3://b/alice/*")]));
    }

    #[test]
    fn narrowing_a_narrow_grant_to_a_broad_scope_keeps_the_grant() {
        let scope = Scope::all();
        let g = grants(&[(ActionSet::WRITE, "s3://b/x/*")]);
        assert_eq!(scope.narrow(&g), g);
    }

    #[test]
    fn narrowing_drops_grants_whose_actions_the_scope_never_allows() {
        let scope = Scope::parse(&["read=s3://b/*"]).unwrap();
        assert!(
            scope
                .narrow(&grants(&[(ActionSet::DELETE, "s3://b/*")]))
                .is_empty()
        );
    }

    #[test]
    fn narrowing_keeps_a_grant_no_scope_rule_contains_or_is_contained_in() {
        let scope = Scope::parse(&["read=s3://b/*y"]).unwrap();
        let g = grants(&[(ActionSet::READ, "s3://b/x*")]);
        assert_eq!(scope.narrow(&g), g);
    }

    use super::*;

    fn scope(rules: &[&str]) -> Scope {
        Scope::parse(rules).expect("scope")
    }

    #[test]
    fn groups_hold_the_documented_actions() {
        use Action as A;
        let names = |set: ActionSet| set.iter().map(Action::as_str).collect::<Vec<_>>();
        assert_eq!(
            names(ActionSet::READ),
            [
                "GetObject",
                "GetObjectVersion",
                "GetBucketLocation",
                "GetObjectTagging",
                "GetObjectAcl",
                "GetObjectAttributes",
                "GetObjectVersionTagging",
                "GetObjectVersionAcl",
                "GetObjectVersionAttributes"
            ]
        );
        for set in [
            ActionSet::READ,
            ActionSet::LIST,
            ActionSet::WRITE,
            ActionSet::DELETE,
        ] {
            for a in [
                A::PutObjectAcl,
                A::PutObjectVersionAcl,
                A::PutObjectRetention,
                A::PutObjectLegalHold,
                A::BypassGovernanceRetention,
            ] {
                assert!(!set.contains(a), "{a} is in a group");
            }
        }
        assert!(ActionSet::LIST.contains(A::ListAllMyBuckets));
        assert!(ActionSet::LIST.contains(A::GetBucketLocation));
        assert!(!ActionSet::LIST.contains(A::GetObject));
        assert!(ActionSet::WRITE.contains(A::AbortMultipartUpload));
        assert!(!ActionSet::WRITE.contains(A::PutObjectAcl));
        assert!(!ActionSet::WRITE.contains(A::DeleteObject));
        assert!(ActionSet::DELETE.contains(A::DeleteObjectTagging));
        assert!(ActionSet::ALL.contains(A::Unclassified));
        for set in [
            ActionSet::READ,
            ActionSet::LIST,
            ActionSet::WRITE,
            ActionSet::DELETE,
        ] {
            assert!(!set.contains(A::Unclassified));
        }
    }

    #[test]
    fn home_prefix_scope() {
        let s = scope(&["read,list=s3://dev/home/alice/*"]);
        assert!(s.allows(Action::GetObject, "s3://dev/home/alice/notes.txt"));
        assert!(s.allows(Action::ListBucket, "s3://dev/home/alice/"));
        assert!(!s.allows(Action::ListBucket, "s3://dev/home/"));
        assert!(!s.allows(Action::PutObject, "s3://dev/home/alice/notes.txt"));
        assert!(!s.allows(Action::GetObject, "s3://dev/home/bob/x"));
        assert!(!s.allows(Action::GetBucketLocation, "s3://dev"));
        assert!(!s.allows(Action::Unclassified, "s3://dev/home/alice/x"));
    }

    #[test]
    fn action_names_with_or_without_prefix() {
        let s = scope(&["s3:GetObject, PutObject =s3://b/x*"]);
        assert!(s.allows(Action::GetObject, "s3://b/x"));
        assert!(s.allows(Action::PutObject, "s3://b/xyz"));
        assert!(!s.allows(Action::GetObjectVersion, "s3://b/x"));
        assert!(!s.allows(Action::GetObject, "s3://b/y"));
    }

    #[test]
    fn star_allows_everything_including_unclassified() {
        let s = scope(&["*=s3://*"]);
        assert_eq!(s, Scope::all());
        for action in Action::ALL {
            assert!(s.allows(action, "s3://any/thing"));
        }
        assert!(s.allows(Action::ListAllMyBuckets, "s3://"));
        assert!(!Scope::default().allows(Action::GetObject, "s3://b/k"));
    }

    #[test]
    fn union_of_rules() {
        let s = scope(&["read=s3://a/*", "write=s3://b/*"]);
        assert!(s.allows(Action::GetObject, "s3://a/k"));
        assert!(!s.allows(Action::PutObject, "s3://a/k"));
        assert!(s.allows(Action::PutObject, "s3://b/k"));
        let resources = vec![
            (Action::GetObject, "s3://a/k".to_owned()),
            (Action::PutObject, "s3://a/k".to_owned()),
        ];
        assert_eq!(s.first_denied(&resources), Some(&resources[1]));
        assert_eq!(s.first_denied(&resources[..1]), None);
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        for (input, canonical) in [
            ("*=s3://*", "*=s3://*"),
            ("list,read=s3://b/*", "read,list=s3://b/*"),
            (
                "GetObject,s3:putobject=s3://b/k",
                "s3:GetObject,s3:PutObject=s3://b/k",
            ),
            (
                "read,s3:PutObject=s3://b/a=b*",
                "read,s3:PutObject=s3://b/a=b*",
            ),
            (
                "write,delete,s3:GetObject=s3://b/ k ",
                "write,delete,s3:GetObject=s3://b/ k ",
            ),
        ] {
            let rule: ScopeRule = input.parse().expect(input);
            assert_eq!(rule.to_string(), canonical);
            let again: ScopeRule = canonical.parse().expect(canonical);
            assert_eq!(again, rule);
        }
    }

    #[test]
    fn serde_is_a_list_of_strings() {
        let s = scope(&[
            "read,list=s3://dev/home/alice/*",
            "s3:PutObject=s3://dev/in/*",
        ]);
        let json = serde_json::to_string(&s).expect("serialize");
        assert_eq!(
            json,
            r#"["read,list=s3://dev/home/alice/*","s3:PutObject=s3://dev/in/*"]"#
        );
        let back: Scope = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, s);
        let bad = serde_json::from_str::<Scope>(r#"["bogus=s3://x"]"#).expect_err("bad");
        assert!(bad.to_string().contains("bogus"), "{bad}");
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let err = |r: &str| r.parse::<ScopeRule>().expect_err(r);
        assert_eq!(err("read"), ScopeError::MissingEquals("read".into()));
        assert_eq!(
            err("read,,list=s3://b/*"),
            ScopeError::EmptyAction("read,,list=s3://b/*".into())
        );
        assert_eq!(
            err("=s3://b/*"),
            ScopeError::EmptyAction("=s3://b/*".into())
        );
        assert_eq!(
            err("reed=s3://b/*"),
            ScopeError::UnknownAction("reed".into())
        );
        assert_eq!(
            err("s3:Unclassified=s3://b/*"),
            ScopeError::UnknownAction("s3:Unclassified".into())
        );
        assert_eq!(
            err("READ=s3://b/*"),
            ScopeError::UnknownAction("READ".into())
        );
        assert_eq!(err("read=b/*"), ScopeError::PatternScheme("b/*".into()));
        assert_eq!(
            err("read=S3://b/*"),
            ScopeError::PatternScheme("S3://b/*".into())
        );
        let long = format!("read=s3://b/{}", "k".repeat(MAX_PATTERN_LEN));
        assert_eq!(err(&long), ScopeError::PatternTooLong);
        assert!(err("reed=s3://b/*").to_string().contains("`reed`"));
        let many = vec!["read=s3://b/*"; MAX_RULES + 1];
        assert_eq!(Scope::parse(&many), Err(ScopeError::TooManyRules));
    }
}
