//! The inline session policy passed to `sts:AssumeRole`: an IAM policy
//! document generated from the caller's grants on one role, so the role
//! session can do what was granted and nothing more — even if s3gate's own
//! check were wrong.
//!
//! Pure: no I/O, no clock. Depends on [`crate::policy`] for [`ActionSet`]
//! and [`Pattern`] and on [`crate::s3`] for the [`Action`] names.
//!
//! # Translation
//!
//! A grant is a set of actions on a pattern `s3://REST` in the resource
//! grammar of `s3::classify`. IAM sees the same resources as ARNs
//! `arn:aws:s3:::REST`, with `*` matching any run (`/` included), so:
//!
//! - object actions (GetObject, PutObject, …) and bucket-level actions
//!   (GetBucketLocation, PutBucketVersioning, …) go on `arn:aws:s3:::REST`
//!   as is — the same strings match. Object actions are left out when the
//!   pattern cannot match an object (`s3://bucket`), bucket actions when it
//!   cannot match a bare bucket (`s3://bucket/…`).
//! - listing (ListBucket, ListBucketVersions) is checked by IAM on the
//!   bucket ARN with the `s3:prefix` condition key: `s3://B/P` becomes
//!   `arn:aws:s3:::B` with `StringLike {"s3:prefix": "P"}` (no condition
//!   when `P` is `*`). A star inside `B` is not allowed to reach into the
//!   prefix there, so the session policy may be narrower than the grant,
//!   never broader. ListBucketMultipartUploads has no prefix key in IAM: it
//!   is included only where any prefix may be listed.
//! - ListAllMyBuckets (resource `s3://`) goes on `*`.
//! - the `*` group becomes `s3:*` only for the pattern `s3://*`; elsewhere
//!   it is spelled out action by action, because `s3:*` on a bucket ARN
//!   would also allow listing it. Requests s3gate does not classify
//!   (`Unclassified`) have no IAM name, so they only reach the store under
//!   `*=s3://*`.
//! - the caller's denies become `Deny` statements, translated the same
//!   way. s3gate enforces denies itself before any upstream call; these
//!   are a second guard, and where IAM cannot mirror a deny exactly (a
//!   multipart-upload listing under a prefix) the first guard holds.
//! - IAM reads `?` as a wildcard and `${…}` as a variable: literal `?` and
//!   `$` are written `${?}` and `${$}` (policy version 2012-10-17).
//!
//! The document is compact JSON in pure ASCII (other characters as `\u`
//! escapes: STS accepts only `\u0020`–`\u00FF` plus tab and newlines in
//! plaintext). STS refuses more than [`MAX_SESSION_POLICY_CHARS`] characters
//! of plaintext; a larger document is an error, never truncated or dropped.
//! STS also has a packed-size limit (policy and session tags compressed
//! together) that cannot be computed here: it answers
//! `PackedPolicyTooLarge`, which the caller treats the same way.
//!
//! Spec: <https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html>

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::policy::{ActionSet, Pattern};
use crate::s3::Action;

/// STS's limit on the plaintext of inline session policies.
pub const MAX_SESSION_POLICY_CHARS: usize = 2048;

/// Actions on an object ARN `arn:aws:s3:::bucket/key`.
const OBJECT_ACTIONS: ActionSet = ActionSet::of(&[
    Action::GetObject,
    Action::GetObjectVersion,
    Action::PutObject,
    Action::DeleteObject,
    Action::DeleteObjectVersion,
    Action::AbortMultipartUpload,
    Action::ListMultipartUploadParts,
    Action::GetObjectTagging,
    Action::PutObjectTagging,
    Action::DeleteObjectTagging,
    Action::GetObjectAcl,
    Action::PutObjectAcl,
    Action::GetObjectAttributes,
    Action::GetObjectVersionTagging,
    Action::PutObjectVersionTagging,
    Action::DeleteObjectVersionTagging,
    Action::GetObjectVersionAcl,
    Action::PutObjectVersionAcl,
    Action::GetObjectVersionAttributes,
    Action::PutObjectRetention,
    Action::PutObjectLegalHold,
    Action::BypassGovernanceRetention,
]);

/// Listing actions IAM narrows with `s3:prefix`.
const PREFIX_LIST_ACTIONS: ActionSet =
    ActionSet::of(&[Action::ListBucket, Action::ListBucketVersions]);

/// Why no session policy could be made. Never a reason to go on without one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IamRenderError {
    #[error(
        "the session policy for these grants is {chars} characters, over STS's limit of \
         {MAX_SESSION_POLICY_CHARS}"
    )]
    TooLarge { chars: usize },
    #[error("the grants allow no action STS can express")]
    Empty,
    #[error("grant resource `{0}` does not start with s3://")]
    BadResource(String),
}

/// The session policy for `grants`, with `Deny` statements for `denies`
/// (the caller's denies, which s3gate also enforces itself before any
/// upstream call): compact JSON, at most [`MAX_SESSION_POLICY_CHARS`]
/// characters.
pub fn session_policy(
    grants: &[(ActionSet, String)],
    denies: &[(ActionSet, String)],
) -> Result<String, IamRenderError> {
    let mut statements = statements_for("Allow", grants)?;
    if statements.is_empty() {
        return Err(IamRenderError::Empty);
    }
    statements.extend(statements_for("Deny", denies)?);
    let doc = Document {
        version: "2012-10-17",
        statement: statements,
    };
    let json = ascii_json(&doc);
    if json.len() > MAX_SESSION_POLICY_CHARS {
        return Err(IamRenderError::TooLarge { chars: json.len() });
    }
    Ok(json)
}

fn statements_for(
    effect: &'static str,
    rules: &[(ActionSet, String)],
) -> Result<Vec<Statement>, IamRenderError> {
    let mut raw = Vec::new();
    for (actions, resource) in rules {
        let rest = resource
            .strip_prefix("s3://")
            .ok_or_else(|| IamRenderError::BadResource(resource.clone()))?;
        translate(*actions, resource, rest, &mut raw);
    }
    Ok(merge(effect, raw))
}

/// One statement before merging: actions on one resource, perhaps with
/// a prefix condition (`None`: any prefix / not a listing).
#[derive(Debug)]
struct Raw {
    actions: Vec<String>,
    resource: String,
    prefix: Option<String>,
}

fn names(set: ActionSet) -> Vec<String> {
    set.iter().map(|a| format!("s3:{}", a.as_str())).collect()
}

fn translate(actions: ActionSet, resource: &str, rest: &str, out: &mut Vec<Raw>) {
    if rest == "*" && actions.contains_all(ActionSet::ALL) {
        out.push(Raw {
            actions: vec!["s3:*".into()],
            resource: "*".into(),
            prefix: None,
        });
        return;
    }
    let direct = format!("arn:aws:s3:::{}", iam_escape(rest));
    // A literal `/` in the pattern means every match has one (an object or
    // a listing); a star may stand for one.
    let may_be_object = rest.contains('/') || rest.contains('*');
    let may_be_bucket = !rest.contains('/') && !rest.is_empty();

    let objects = actions.intersection(OBJECT_ACTIONS);
    if may_be_object && !objects.is_empty() {
        out.push(Raw {
            actions: names(objects),
            resource: direct.clone(),
            prefix: None,
        });
    }
    let buckets = actions.intersection(ActionSet::BUCKET);
    if may_be_bucket && !buckets.is_empty() {
        out.push(Raw {
            actions: names(buckets),
            resource: direct,
            prefix: None,
        });
    }
    let listing = actions.intersection(PREFIX_LIST_ACTIONS);
    let uploads = actions.contains(Action::ListBucketMultipartUploads);
    if (!listing.is_empty() || uploads)
        && let Some((bucket, prefix)) = listing_parts(rest)
    {
        let any_prefix = prefix == "*";
        let mut list_actions = names(listing);
        if uploads && any_prefix {
            list_actions.push("s3:ListBucketMultipartUploads".into());
        }
        if !list_actions.is_empty() {
            out.push(Raw {
                actions: list_actions,
                resource: format!("arn:aws:s3:::{}", iam_escape(bucket)),
                prefix: (!any_prefix).then(|| iam_escape(prefix)),
            });
        }
    }
    if actions.contains(Action::ListAllMyBuckets) && Pattern::new(resource).matches("s3://") {
        out.push(Raw {
            actions: vec!["s3:ListAllMyBuckets".into()],
            resource: "*".into(),
            prefix: None,
        });
    }
}

/// Splits a pattern's rest into the bucket and prefix patterns of the
/// listings it matches (`s3://B/P`), or `None` if it matches none that IAM
/// can express exactly.
fn listing_parts(rest: &str) -> Option<(&str, &str)> {
    match rest.split_once('/') {
        Some(("", _)) => None,
        Some((bucket, prefix)) => Some((bucket, prefix)),
        // `s3://dev*` also matches `s3://dev/anything`: the trailing star
        // covers the slash and any prefix.
        None if rest.len() > 1 && rest.ends_with('*') => Some((rest, "*")),
        None => None,
    }
}

/// Escapes the characters IAM would otherwise read as a wildcard (`?`) or
/// a variable (`$`).
fn iam_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '?' => out.push_str("${?}"),
            '$' => out.push_str("${$}"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug, Serialize)]
struct Document {
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "Statement")]
    statement: Vec<Statement>,
}

#[derive(Debug, PartialEq, Eq)]
struct Statement {
    /// `Allow` or `Deny`.
    effect: &'static str,
    actions: Vec<String>,
    resources: Vec<String>,
    /// `s3:prefix` patterns; empty: no condition.
    prefixes: Vec<String>,
}

impl Serialize for Statement {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct OneOrMany<'a>(&'a [String]);
        impl Serialize for OneOrMany<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self.0 {
                    [one] => s.serialize_str(one),
                    many => many.serialize(s),
                }
            }
        }
        struct Condition<'a>(&'a [String]);
        impl Serialize for Condition<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                struct Prefix<'a>(&'a [String]);
                impl Serialize for Prefix<'_> {
                    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        let mut m = s.serialize_map(Some(1))?;
                        m.serialize_entry("s3:prefix", &OneOrMany(self.0))?;
                        m.end()
                    }
                }
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("StringLike", &Prefix(self.0))?;
                m.end()
            }
        }
        let conditioned = !self.prefixes.is_empty();
        let mut m = s.serialize_map(Some(if conditioned { 4 } else { 3 }))?;
        m.serialize_entry("Effect", self.effect)?;
        m.serialize_entry("Action", &OneOrMany(&self.actions))?;
        m.serialize_entry("Resource", &OneOrMany(&self.resources))?;
        if conditioned {
            m.serialize_entry("Condition", &Condition(&self.prefixes))?;
        }
        m.end()
    }
}

/// Merges raw statements into as few as keep the meaning exact:
/// 1. listings of the same actions on the same bucket pool their prefixes
///    (any-prefix wins);
/// 2. statements with the same actions and the same condition pool their
///    resources;
/// 3. resources already under an unconditioned `s3:*` go.
fn merge(effect: &'static str, raw: Vec<Raw>) -> Vec<Statement> {
    // 1: (actions, resource) → prefixes (empty: unconditioned).
    let mut by_resource: Vec<(Vec<String>, String, Vec<String>)> = Vec::new();
    for r in raw {
        match by_resource
            .iter_mut()
            .find(|(a, res, _)| *a == r.actions && *res == r.resource)
        {
            Some((_, _, prefixes)) => match r.prefix {
                // Unconditioned already, or becoming so.
                _ if prefixes.is_empty() => {}
                None => prefixes.clear(),
                Some(p) => {
                    if !prefixes.contains(&p) {
                        prefixes.push(p);
                    }
                }
            },
            None => by_resource.push((r.actions, r.resource, r.prefix.into_iter().collect())),
        }
    }
    // 3 (before 2, on single resources): what `s3:*` already covers.
    let everything: Vec<String> = by_resource
        .iter()
        .filter(|(a, _, p)| a.len() == 1 && a[0] == "s3:*" && p.is_empty())
        .map(|(_, res, _)| res.clone())
        .collect();
    by_resource.retain(|(a, res, _)| a[0] == "s3:*" || !everything.contains(res));
    // 2: (actions, prefixes) → resources.
    let mut out: Vec<Statement> = Vec::new();
    for (actions, resource, prefixes) in by_resource {
        match out
            .iter_mut()
            .find(|s| s.actions == actions && s.prefixes == prefixes)
        {
            Some(s) => {
                if !s.resources.contains(&resource) {
                    s.resources.push(resource);
                }
            }
            None => out.push(Statement {
                effect,
                actions,
                resources: vec![resource],
                prefixes,
            }),
        }
    }
    out
}

/// Compact JSON with every non-ASCII character written as a `\u` escape.
fn ascii_json(doc: &Document) -> String {
    // Serialising plain structs of strings cannot fail.
    let json = serde_json::to_string(doc).unwrap_or_default();
    if json.is_ascii() {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(actions: &str, resource: &str) -> (ActionSet, String) {
        let mut set = ActionSet::EMPTY;
        for item in actions.split(',') {
            set = set.union(ActionSet::parse_item(item).unwrap());
        }
        (set, resource.to_owned())
    }

    fn policy(grants: &[(&str, &str)]) -> String {
        let grants: Vec<_> = grants.iter().map(|(a, r)| grant(a, r)).collect();
        session_policy(&grants, &[]).unwrap()
    }

    #[test]
    fn home_prefix_read_and_list() {
        assert_eq!(
            policy(&[("read,list", "s3://dev/home/alice/*")]),
            r#"{"Version":"2012-10-17","Statement":["#.to_owned()
                + r#"{"Effect":"Allow","Action":["s3:GetObject","s3:GetObjectVersion","s3:ListMultipartUploadParts","s3:GetObjectTagging","s3:GetObjectAcl","s3:GetObjectAttributes","s3:GetObjectVersionTagging","s3:GetObjectVersionAcl","s3:GetObjectVersionAttributes"],"Resource":"arn:aws:s3:::dev/home/alice/*"},"#
                + r#"{"Effect":"Allow","Action":["s3:ListBucket","s3:ListBucketVersions"],"Resource":"arn:aws:s3:::dev","Condition":{"StringLike":{"s3:prefix":"home/alice/*"}}}]}"#
        );
    }

    #[test]
    fn object_and_bucket_actions_keep_the_pattern_as_an_arn() {
        assert_eq!(
            policy(&[("s3:GetObject,s3:PutObject", "s3://logs/2026/*")]),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::logs/2026/*"}]}"#
        );
        // A bare bucket pattern matches no object: only the bucket action.
        assert_eq!(
            policy(&[("s3:GetBucketLocation,s3:GetObject", "s3://logs")]),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetBucketLocation","Resource":"arn:aws:s3:::logs"}]}"#
        );
    }

    #[test]
    fn whole_bucket_listing_has_no_condition_and_includes_uploads() {
        assert_eq!(
            policy(&[("list", "s3://b/*")]),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListMultipartUploadParts","Resource":"arn:aws:s3:::b/*"},{"Effect":"Allow","Action":["s3:ListBucket","s3:ListBucketVersions","s3:ListBucketMultipartUploads"],"Resource":"arn:aws:s3:::b"}]}"#
        );
    }

    #[test]
    fn listings_of_one_bucket_pool_their_prefixes_and_buckets_pool_resources() {
        assert_eq!(
            policy(&[
                ("s3:ListBucket", "s3://b/x/*"),
                ("s3:ListBucket", "s3://b/y/*"),
                ("s3:GetObject", "s3://b/x/*"),
                ("s3:GetObject", "s3://c/*"),
            ]),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":["x/*","y/*"]}}},{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::b/x/*","arn:aws:s3:::c/*"]}]}"#
        );
        // A whole-bucket listing absorbs the narrower one.
        assert_eq!(
            policy(&[
                ("s3:ListBucket", "s3://b/x/*"),
                ("s3:ListBucket", "s3://b/*")
            ]),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}]}"#
        );
    }

    #[test]
    fn star_everywhere_is_s3_star_and_elsewhere_is_spelled_out() {
        assert_eq!(
            policy(&[("*", "s3://*")]),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#
        );
        let p = policy(&[("*", "s3://b"), ("*", "s3://b/*")]);
        assert!(!p.contains("s3:*"), "{p}");
        assert!(p.contains(r#""Resource":"arn:aws:s3:::b/*""#), "{p}");
        assert!(p.contains(r#""s3:PutBucketVersioning""#), "{p}");
        assert!(!p.contains("Unclassified"), "{p}");
        assert!(p.len() <= MAX_SESSION_POLICY_CHARS, "{}", p.len());
    }

    #[test]
    fn list_all_my_buckets_goes_on_star_only_when_the_account_matches() {
        assert_eq!(
            policy(&[("s3:ListAllMyBuckets", "s3://*")]),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#
        );
        assert_eq!(
            session_policy(&[grant("s3:ListAllMyBuckets", "s3://b/*")], &[]),
            Err(IamRenderError::Empty)
        );
    }

    #[test]
    fn a_multipart_listing_under_a_narrow_prefix_is_left_out() {
        assert_eq!(
            session_policy(
                &[grant("s3:ListBucketMultipartUploads", "s3://b/home/*")],
                &[]
            ),
            Err(IamRenderError::Empty)
        );
    }

    #[test]
    fn iam_wildcards_and_variables_in_keys_are_escaped() {
        assert_eq!(
            policy(&[("s3:GetObject,s3:ListBucket", "s3://b/what?/${x}/*")]),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/what${?}/${$}{x}/*"},{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":"what${?}/${$}{x}/*"}}}]}"#
        );
    }

    #[test]
    fn non_ascii_keys_are_json_escaped() {
        let p = policy(&[("s3:GetObject", "s3://b/caf\u{e9}/\u{1F600}*")]);
        assert!(p.is_ascii());
        assert!(
            p.contains(r#""arn:aws:s3:::b/caf\u00e9/\ud83d\ude00*""#),
            "{p}"
        );
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(
            v["Statement"][0]["Resource"],
            "arn:aws:s3:::b/caf\u{e9}/\u{1F600}*"
        );
    }

    #[test]
    fn a_policy_over_the_sts_limit_is_an_error_never_truncated() {
        let grants: Vec<_> = (0..60)
            .map(|i| {
                grant(
                    "s3:GetObject",
                    &format!("s3://bucket/user-{i:03}/documents/*"),
                )
            })
            .collect();
        match session_policy(&grants, &[]) {
            Err(IamRenderError::TooLarge { chars }) => {
                assert!(chars > MAX_SESSION_POLICY_CHARS, "{chars}");
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        // Just under the limit is fine.
        let ok = session_policy(&grants[..20], &[]).unwrap();
        assert!(ok.len() <= MAX_SESSION_POLICY_CHARS);
    }

    #[test]
    fn denies_become_deny_statements_after_the_allows() {
        let grants = [grant("read,list", "s3://b/*")];
        let denies = [grant("read", "s3://b/secret/*")];
        assert_eq!(
            session_policy(&grants, &denies).unwrap(),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:GetObjectVersion","s3:ListMultipartUploadParts","s3:GetObjectTagging","s3:GetObjectAcl","s3:GetObjectAttributes","s3:GetObjectVersionTagging","s3:GetObjectVersionAcl","s3:GetObjectVersionAttributes"],"Resource":"arn:aws:s3:::b/*"},{"Effect":"Allow","Action":["s3:ListBucket","s3:ListBucketVersions","s3:ListBucketMultipartUploads"],"Resource":"arn:aws:s3:::b"},{"Effect":"Deny","Action":["s3:GetObject","s3:GetObjectVersion","s3:GetObjectTagging","s3:GetObjectAcl","s3:GetObjectAttributes","s3:GetObjectVersionTagging","s3:GetObjectVersionAcl","s3:GetObjectVersionAttributes"],"Resource":"arn:aws:s3:::b/secret/*"}]}"#
        );
        // Denies alone allow nothing.
        assert_eq!(session_policy(&[], &denies), Err(IamRenderError::Empty));
    }

    #[test]
    fn resources_must_be_s3_urls() {
        assert_eq!(
            session_policy(&[grant("read", "arn:aws:s3:::b/*")], &[]),
            Err(IamRenderError::BadResource("arn:aws:s3:::b/*".into()))
        );
        assert_eq!(session_policy(&[], &[]), Err(IamRenderError::Empty));
    }
}
