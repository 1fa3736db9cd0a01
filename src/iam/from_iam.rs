//! IAM session policies (the `Policy` of an STS `AssumeRole`) read into a
//! [`Scope`]: the part of IAM's JSON grammar that maps exactly onto scope
//! rules, and a clear refusal for everything else.
//!
//! Pure: no I/O. Depends on [`crate::policy::Scope`] and [`crate::s3::Action`].
//!
//! Accepted: `Version`, `Statement` (one object or a list), each with an
//! optional `Sid`, `Effect: "Allow"`, `Action` (a string or a list:
//! `s3:GetObject`, `s3:*`, `*`, or `s3:Get*`-style wildcards matched against
//! the actions s3gate knows) and `Resource` (a string or a list):
//!
//! ```text
//! arn:aws:s3:::BUCKET/KEYPATTERN  ->  s3://BUCKET/KEYPATTERN   objects, listings
//! arn:aws:s3:::BUCKET             ->  s3://BUCKET              the bucket itself,
//!                                     and s3://BUCKET/* for the listing actions
//! arn:aws:s3:::*, *               ->  s3://*
//! ```
//!
//! Listing keeps s3gate's grammar (see `s3::classify`): `s3:ListBucket` on
//! `arn:aws:s3:::b/p/*` allows listing under `p/` only, where IAM would
//! need a `s3:prefix` condition.
//!
//! Refused (never silently ignored, since ignoring a `Deny` or a
//! `Condition` would grant more than asked): `Deny`, `Condition`,
//! `NotAction`, `NotResource`, `Principal`, `NotPrincipal`, unknown keys,
//! non-S3 actions or resources, IAM's `?` wildcard and `${…}` variables.

use std::fmt;

use serde_json::Value;

use crate::policy::{ActionSet, MAX_PATTERN_LEN, MAX_RULES, Pattern, Scope, ScopeRule};
use crate::s3::Action;

/// STS's own limit on an inline session policy's plain text.
pub const MAX_SESSION_POLICY_BYTES: usize = 2048;

/// Why a session policy was refused; the message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPolicyError(pub String);

impl fmt::Display for SessionPolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SessionPolicyError {}

fn refuse(message: impl Into<String>) -> SessionPolicyError {
    SessionPolicyError(message.into())
}

/// Actions IAM scopes to the bucket ARN that s3gate matches on
/// `s3://BUCKET/PREFIX` (see the module doc).
const LISTINGS: ActionSet = ActionSet::of(&[
    Action::ListBucket,
    Action::ListBucketVersions,
    Action::ListBucketMultipartUploads,
]);

/// Reads an IAM session policy into the scope it grants.
pub fn scope_from_iam_json(text: &str) -> Result<Scope, SessionPolicyError> {
    if text.len() > MAX_SESSION_POLICY_BYTES {
        return Err(refuse(format!(
            "the policy is longer than {MAX_SESSION_POLICY_BYTES} bytes"
        )));
    }
    let doc: Value =
        serde_json::from_str(text).map_err(|e| refuse(format!("the policy is not JSON: {e}")))?;
    let Value::Object(doc) = doc else {
        return Err(refuse("the policy must be a JSON object"));
    };
    for key in doc.keys() {
        if !matches!(key.as_str(), "Version" | "Statement" | "Id") {
            return Err(refuse(format!("unsupported policy element `{key}`")));
        }
    }
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Err(refuse("the policy needs a Statement (an object or a list)")),
    };
    let mut rules = Vec::new();
    for statement in statements {
        read_statement(statement, &mut rules)?;
        if rules.len() > MAX_RULES {
            return Err(refuse(format!(
                "the policy expands to more than {MAX_RULES} rules"
            )));
        }
    }
    Scope::new(rules).map_err(|e| refuse(e.to_string()))
}

fn read_statement(statement: &Value, rules: &mut Vec<ScopeRule>) -> Result<(), SessionPolicyError> {
    let Value::Object(statement) = statement else {
        return Err(refuse("each Statement must be an object"));
    };
    for key in statement.keys() {
        match key.as_str() {
            "Sid" | "Effect" | "Action" | "Resource" => {}
            "Condition" | "NotAction" | "NotResource" | "Principal" | "NotPrincipal" => {
                return Err(refuse(format!(
                    "s3gate does not support `{key}` in a session policy"
                )));
            }
            _ => return Err(refuse(format!("unsupported statement element `{key}`"))),
        }
    }
    match statement.get("Effect").and_then(Value::as_str) {
        Some("Allow") => {}
        Some("Deny") => {
            return Err(refuse(
                "s3gate session policies only allow; a Deny is refused rather than ignored",
            ));
        }
        _ => return Err(refuse("each Statement needs \"Effect\": \"Allow\"")),
    }
    let mut actions = ActionSet::EMPTY;
    for action in strings(statement.get("Action"), "Action")? {
        actions = actions.union(action_set(action)?);
    }
    for resource in strings(statement.get("Resource"), "Resource")? {
        let (pattern, bucket_only) = resource_pattern(resource)?;
        if bucket_only {
            let listing = actions.intersection(LISTINGS);
            let rest = actions.without(LISTINGS);
            if !rest.is_empty() {
                rules.push(ScopeRule {
                    actions: rest,
                    pattern: Pattern::new(&pattern),
                });
            }
            if !listing.is_empty() {
                rules.push(ScopeRule {
                    actions: listing,
                    pattern: Pattern::new(&format!("{pattern}/*")),
                });
            }
        } else {
            rules.push(ScopeRule {
                actions,
                pattern: Pattern::new(&pattern),
            });
        }
    }
    Ok(())
}

/// A string or a non-empty list of strings.
fn strings<'v>(value: Option<&'v Value>, name: &str) -> Result<Vec<&'v str>, SessionPolicyError> {
    let list = match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| refuse(format!("each {name} must be a string")))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(refuse(format!(
                "each Statement needs {name} (a string or a non-empty list)"
            )));
        }
    };
    Ok(list)
}

/// `*`, `s3:*`, an action name, or a wildcard over action names (which must
/// match at least one action s3gate knows).
fn action_set(text: &str) -> Result<ActionSet, SessionPolicyError> {
    if text == "*" || text.eq_ignore_ascii_case("s3:*") {
        return Ok(ActionSet::ALL);
    }
    let bare = match text.get(..3) {
        Some(p) if p.eq_ignore_ascii_case("s3:") => &text[3..],
        _ => return Err(refuse(format!("action `{text}` is not an S3 action"))),
    };
    if bare.contains('?') {
        return Err(refuse(format!(
            "action `{text}`: the `?` wildcard is not supported"
        )));
    }
    let wanted = Pattern::new(&bare.to_ascii_lowercase());
    let set = Action::ALL
        .iter()
        .filter(|a| **a != Action::Unclassified)
        .filter(|a| wanted.matches(&a.as_str().to_ascii_lowercase()))
        .fold(ActionSet::EMPTY, |set, a| set.union(ActionSet::of(&[*a])));
    if set.is_empty() {
        return Err(refuse(format!(
            "action `{text}` names no S3 action s3gate knows"
        )));
    }
    Ok(set)
}

/// The scope pattern of an S3 ARN, and whether it names a bucket only.
fn resource_pattern(text: &str) -> Result<(String, bool), SessionPolicyError> {
    if text == "*" {
        return Ok(("s3://*".to_owned(), false));
    }
    let Some(rest) = text.strip_prefix("arn:aws:s3:::") else {
        return Err(refuse(format!(
            "resource `{text}` is not an S3 ARN (arn:aws:s3:::bucket/key)"
        )));
    };
    if rest.contains('?') || rest.contains("${") {
        return Err(refuse(format!(
            "resource `{text}`: `?` wildcards and policy variables are not supported"
        )));
    }
    if rest.is_empty() {
        return Err(refuse(format!("resource `{text}` names no bucket")));
    }
    let pattern = format!("s3://{rest}");
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(refuse(format!(
            "resource `{text}` is longer than {MAX_PATTERN_LEN} bytes"
        )));
    }
    // `arn:aws:s3:::*` and `arn:aws:s3:::b*` reach keys too (IAM's `*`
    // crosses `/`), which the pattern already does.
    let bucket_only = !rest.contains('/') && !rest.contains('*');
    Ok((pattern, bucket_only))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    fn scope(json: &str) -> Scope {
        scope_from_iam_json(json).unwrap()
    }

    #[test]
    fn object_prefix_grants_only_that_prefix() {
        let s = scope(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/p/*"}]}"#,
        );
        assert!(s.allows(Action::GetObject, "s3://b/p/x"));
        assert!(!s.allows(Action::GetObject, "s3://b/q/x"));
        assert!(!s.allows(Action::PutObject, "s3://b/p/x"));
    }

    #[test]
    fn wildcards_and_lists_expand() {
        let s = scope(
            r#"{"Statement":{"Effect":"Allow","Action":["s3:Get*","s3:ListBucket"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}}"#,
        );
        assert!(s.allows(Action::GetObject, "s3://b/k"));
        assert!(s.allows(Action::GetObjectTagging, "s3://b/k"));
        assert!(s.allows(Action::GetBucketLocation, "s3://b"));
        assert!(s.allows(Action::ListBucket, "s3://b/any/prefix"));
        assert!(!s.allows(Action::PutObject, "s3://b/k"));
        assert!(!s.allows(Action::GetObject, "s3://c/k"));
        let all = scope(r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#);
        assert!(all.allows(Action::Unclassified, "s3://x/y"));
    }

    #[test]
    fn what_would_widen_is_refused() {
        for bad in [
            r#"{"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{}}]}"#,
            r#"{"Statement":[{"Effect":"Allow","NotAction":"s3:PutObject","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:Frobnicate","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:sqs:::q"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#,
            r#"{"Statement":[]"#,
            "[]",
        ] {
            assert!(scope_from_iam_json(bad).is_err(), "{bad}");
        }
        let long = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::{}"}}]}}"#,
            "b".repeat(MAX_SESSION_POLICY_BYTES)
        );
        assert!(scope_from_iam_json(&long).is_err());
    }
}
