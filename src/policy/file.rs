//! The policy file: TOML text to a [`Policy`], refusing anything it does
//! not understand with the file, line, column and reason.
//!
//! Pure: the caller reads the file and passes its text and name. The format
//! is documented in `docs/policy.md`.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::ActionSet;
use super::Pattern;
use super::condition::{Cidr, Conditions, DailyWindow, parse_rfc3339};
use super::encryption::{EncryptionRule, Required};
use super::eval::{Effect, Policy, Rule};
use super::principal::PrincipalPattern;
use super::resource::Resource;

/// Largest policy file accepted.
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;
/// Most grants and denies together: each request is checked against all.
pub const MAX_POLICY_RULES: usize = 4096;
/// Most entries in one rule's `principals`, `actions` or `resources`.
pub const MAX_RULE_ITEMS: usize = 256;
/// Longest rule id.
pub const MAX_RULE_ID_LEN: usize = 64;

/// A policy file problem, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {reason}")]
pub struct PolicyError {
    pub file: String,
    /// 1-based; 0 when the problem is the file as a whole.
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    grant: Vec<RawRule>,
    #[serde(default)]
    deny: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    #[serde(default)]
    #[allow(dead_code, reason = "documentation for readers of the file")]
    description: Option<String>,
    principals: Spanned<Vec<Spanned<String>>>,
    actions: Spanned<Vec<Spanned<String>>>,
    resources: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    role: Option<Spanned<String>>,
    #[serde(default)]
    conditions: Option<RawConditions>,
    #[serde(default)]
    encryption: Option<Spanned<RawEncryption>>,
}

/// A grant's `encryption` table (see `policy::encryption`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEncryption {
    #[serde(default)]
    kms_keys: Vec<Spanned<String>>,
    #[serde(default)]
    customer_keys: bool,
    #[serde(default)]
    require: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConditions {
    #[serde(default)]
    source_cidr: Vec<Spanned<String>>,
    #[serde(default)]
    not_source_cidr: Vec<Spanned<String>>,
    #[serde(default)]
    not_before: Option<Spanned<String>>,
    #[serde(default)]
    not_after: Option<Spanned<String>>,
    #[serde(default)]
    daily_utc: Option<Spanned<String>>,
    #[serde(default)]
    mfa: Option<bool>,
}

/// Turns byte offsets into line and column for errors.
struct Locator<'a> {
    file: &'a str,
    text: &'a str,
}

impl Locator<'_> {
    fn at(&self, offset: usize, reason: impl Into<String>) -> PolicyError {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        PolicyError {
            file: self.file.to_owned(),
            line,
            column,
            reason: reason.into(),
        }
    }

    fn spanned<T>(&self, s: &Spanned<T>, reason: impl Into<String>) -> PolicyError {
        self.at(s.span().start, reason)
    }

    fn whole(&self, reason: impl Into<String>) -> PolicyError {
        PolicyError {
            file: self.file.to_owned(),
            line: 0,
            column: 0,
            reason: reason.into(),
        }
    }
}

impl Policy {
    /// Parses and validates a policy file's text. `file` only labels errors.
    pub fn parse(text: &str, file: &str) -> Result<Policy, PolicyError> {
        let loc = Locator { file, text };
        if text.len() > MAX_POLICY_BYTES {
            return Err(loc.whole(format!(
                "the policy is larger than {MAX_POLICY_BYTES} bytes"
            )));
        }
        let raw: RawPolicy = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => loc.at(span.start, e.message().trim_end()),
            None => loc.whole(e.message().trim_end()),
        })?;
        if raw.grant.len() + raw.deny.len() > MAX_POLICY_RULES {
            return Err(loc.whole(format!(
                "a policy has at most {MAX_POLICY_RULES} grants and denies"
            )));
        }
        let mut ids: Vec<std::sync::Arc<str>> = Vec::new();
        let mut grants = Vec::with_capacity(raw.grant.len());
        let mut denies = Vec::with_capacity(raw.deny.len());
        for (effect, raws, out) in [
            (Effect::Allow, raw.grant, &mut grants),
            (Effect::Deny, raw.deny, &mut denies),
        ] {
            for r in raws {
                let rule = compile_rule(&loc, effect, r)?;
                if ids.contains(&rule.id) {
                    return Err(loc.at(
                        rule.span_start,
                        format!(
                            "rule id `{}` is used twice (ids name decisions in the audit log)",
                            rule.id
                        ),
                    ));
                }
                ids.push(rule.id.clone());
                out.push(rule);
            }
        }
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        let hash = &hash[..12];
        let version = match &raw.version {
            Some(label) => format!("{label}/{hash}"),
            None => hash.to_owned(),
        };
        Ok(Policy::from_rules(version, grants, denies))
    }
}

fn check_len<T>(loc: &Locator<'_>, list: &Spanned<Vec<T>>, what: &str) -> Result<(), PolicyError> {
    if list.get_ref().is_empty() {
        return Err(loc.spanned(
            list,
            format!("`{what}` is empty: a rule must name at least one"),
        ));
    }
    if list.get_ref().len() > MAX_RULE_ITEMS {
        return Err(loc.spanned(
            list,
            format!("`{what}` has more than {MAX_RULE_ITEMS} entries"),
        ));
    }
    Ok(())
}

fn compile_rule(loc: &Locator<'_>, effect: Effect, r: RawRule) -> Result<Rule, PolicyError> {
    let id = r.id.get_ref();
    let id_ok = !id.is_empty()
        && id.len() <= MAX_RULE_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !id_ok {
        return Err(loc.spanned(
            &r.id,
            format!("rule id `{id}` must be 1–{MAX_RULE_ID_LEN} letters, digits, `-`, `_` or `.`"),
        ));
    }
    check_len(loc, &r.principals, "principals")?;
    check_len(loc, &r.actions, "actions")?;
    check_len(loc, &r.resources, "resources")?;

    let mut principals = Vec::new();
    for p in r.principals.get_ref() {
        principals.push(PrincipalPattern::parse(p.get_ref()).map_err(|e| loc.spanned(p, e))?);
    }
    let mut actions = ActionSet::EMPTY;
    let mut delegate = false;
    for a in r.actions.get_ref() {
        let item = a.get_ref().trim();
        // Not an S3 action: whether a session may hand out sessions.
        if item == super::delegation::DELEGATE_ACTION || item == "*" {
            delegate = true;
            if item != "*" {
                continue;
            }
        }
        let set = ActionSet::parse_item(item).map_err(|e| loc.spanned(a, e.to_string()))?;
        actions = actions.union(set);
    }
    if effect == Effect::Allow && principals.contains(&PrincipalPattern::Anonymous) {
        super::anonymous::check_grant(actions, delegate).map_err(|e| loc.spanned(&r.actions, e))?;
    }
    let mut resources = Vec::new();
    for res in r.resources.get_ref() {
        resources.push(Resource::parse(res.get_ref()).map_err(|e| loc.spanned(res, e))?);
    }
    let role = match r.role {
        None => None,
        Some(role) if effect == Effect::Deny => {
            return Err(loc.spanned(
                &role,
                "a deny names no upstream role (only grants are carried out)",
            ));
        }
        Some(role) => {
            validate_role_arn(role.get_ref()).map_err(|e| loc.spanned(&role, e))?;
            Some(role.into_inner().into())
        }
    };
    let conditions = match r.conditions {
        None => Conditions::default(),
        Some(c) => compile_conditions(loc, c)?,
    };
    let encryption = match r.encryption {
        None => EncryptionRule::default(),
        Some(e) if effect == Effect::Deny => {
            return Err(loc.spanned(
                &e,
                "a deny has no `encryption`: it settles what grants allow",
            ));
        }
        Some(e) => {
            let e = e.into_inner();
            if e.kms_keys.len() > MAX_RULE_ITEMS {
                return Err(loc.spanned(
                    &e.kms_keys[0],
                    format!("more than {MAX_RULE_ITEMS} KMS keys"),
                ));
            }
            EncryptionRule {
                kms_keys: e
                    .kms_keys
                    .iter()
                    .map(|k| Pattern::new(k.get_ref()))
                    .collect(),
                customer_keys: e.customer_keys,
                require: e
                    .require
                    .as_ref()
                    .map(|r| Required::parse(r.get_ref()).map_err(|why| loc.spanned(r, why)))
                    .transpose()?,
            }
        }
    };
    Ok(Rule {
        span_start: r.id.span().start,
        line: loc.spanned(&r.id, "").line,
        id: r.id.into_inner().into(),
        effect,
        principals,
        actions,
        delegate,
        resources,
        role,
        conditions,
        encryption,
    })
}

fn compile_conditions(loc: &Locator<'_>, c: RawConditions) -> Result<Conditions, PolicyError> {
    let cidrs = |list: &[Spanned<String>]| -> Result<Vec<Cidr>, PolicyError> {
        if list.len() > MAX_RULE_ITEMS {
            return Err(loc.spanned(
                &list[0],
                format!("more than {MAX_RULE_ITEMS} address blocks"),
            ));
        }
        list.iter()
            .map(|s| Cidr::parse(s.get_ref()).map_err(|e| loc.spanned(s, e)))
            .collect()
    };
    let time = |t: &Option<Spanned<String>>| -> Result<Option<i64>, PolicyError> {
        t.as_ref()
            .map(|s| parse_rfc3339(s.get_ref()).map_err(|e| loc.spanned(s, e)))
            .transpose()
    };
    let not_before = time(&c.not_before)?;
    let not_after = time(&c.not_after)?;
    if let (Some(a), Some(b), Some(s)) = (not_before, not_after, &c.not_after)
        && b <= a
    {
        return Err(loc.spanned(s, "`not_after` must be later than `not_before`"));
    }
    Ok(Conditions {
        source_cidr: cidrs(&c.source_cidr)?,
        not_source_cidr: cidrs(&c.not_source_cidr)?,
        not_before,
        not_after,
        daily_utc: c
            .daily_utc
            .as_ref()
            .map(|s| DailyWindow::parse(s.get_ref()).map_err(|e| loc.spanned(s, e)))
            .transpose()?,
        mfa: c.mfa,
    })
}

/// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`, as STS AssumeRole
/// accepts it: a 12-digit account, a role name of 1–64 characters from
/// IAM's set (`A-Za-z0-9+=,.@_-`), a path of the same characters and `/`.
pub fn validate_role_arn(arn: &str) -> Result<(), String> {
    let bad = |why: &str| {
        format!("role `{arn}` is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME): {why}")
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [scheme, partition, service, region, account, resource] = parts[..] else {
        return Err(bad("expected six `:`-separated parts"));
    };
    if scheme != "arn" {
        return Err(bad("it must start with `arn:`"));
    }
    if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
        return Err(bad("unknown partition"));
    }
    if service != "iam" {
        return Err(bad("the service must be `iam`"));
    }
    if !region.is_empty() {
        return Err(bad("IAM ARNs have no region"));
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the account must be 12 digits"));
    }
    let Some(path_name) = resource.strip_prefix("role/") else {
        return Err(bad("the resource must be `role/NAME`"));
    };
    let name = path_name.rsplit('/').next().unwrap_or("");
    let iam_char = |b: u8| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b);
    if name.is_empty() || name.len() > 64 || !name.bytes().all(iam_char) {
        return Err(bad("the role name must be 1–64 of A-Za-z0-9+=,.@_-"));
    }
    if path_name.len() > 512 + 64 || !path_name.bytes().all(|b| iam_char(b) || b == b'/') {
        return Err(bad("the role path has characters IAM does not allow"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    fn err(text: &str) -> PolicyError {
        Policy::parse(text, "p.toml").expect_err(text)
    }

    const GRANT_HEAD: &str = "[[grant]]\nid = \"g\"\nprincipals = [\"user:a\"]\n";

    #[test]
    fn errors_name_file_line_and_reason() {
        let cases: &[(String, usize, &str)] = &[
            (
                format!("{GRANT_HEAD}actions = [\"read\"]\nresources = [\"s3://b/*\"]\nrol = \"x\"\n"),
                6,
                "unknown field `rol`",
            ),
            (
                format!("{GRANT_HEAD}actions = [\"read\", \"reed\"]\nresources = [\"s3://b/*\"]\n"),
                4,
                "unknown action `reed`",
            ),
            (
                format!("{GRANT_HEAD}actions = [\"read\"]\nresources = [\"b/*\"]\n"),
                5,
                "must start with `s3://`",
            ),
            (
                format!(
                    "{GRANT_HEAD}actions = [\"read\"]\nresources = [\"s3://b/*\"]\nrole = \"arn:aws:iam::12345:role/r\"\n"
                ),
                6,
                "12 digits",
            ),
            (
                format!("{GRANT_HEAD}actions = [\"read\"]\nresources = [\"s3://b/${{identity.nope}}\"]\n"),
                5,
                "unknown variable",
            ),
            (
                "[[grant]]\nid = \"g\"\nprincipals = [\"alice\"]\nactions = [\"read\"]\nresources = [\"s3://b/*\"]\n".into(),
                3,
                "has no kind",
            ),
            (
                format!(
                    "{GRANT_HEAD}actions = [\"read\"]\nresources = [\"s3://b/*\"]\n[[grant]]\nid = \"g\"\nprincipals = [\"*\"]\nactions = [\"read\"]\nresources = [\"s3://b/*\"]\n"
                ),
                7,
                "used twice",
            ),
            (
                "[[deny]]\nid = \"d\"\nprincipals = [\"*\"]\nactions = [\"read\"]\nresources = [\"s3://b/*\"]\nrole = \"arn:aws:iam::123456789012:role/r\"\n".into(),
                6,
                "a deny names no upstream role",
            ),
            (
                format!(
                    "{GRANT_HEAD}actions = [\"read\"]\nresources = [\"s3://b/*\"]\nconditions = {{ source_cidr = [\"10.0.0.1/8\"] }}\n"
                ),
                6,
                "bits set after the prefix",
            ),
            (
                format!("{GRANT_HEAD}actions = []\nresources = [\"s3://b/*\"]\n"),
                4,
                "`actions` is empty",
            ),
            ("[[grant]]\nid = \"g\"\n".into(), 1, "missing field"),
            ("[[grant]\n".into(), 1, ""),
            ("polcy = 1\n".into(), 1, "unknown field `polcy`"),
            (
                "[[grant]]\nid = \"pub\"\nprincipals = [\"anonymous\"]\nactions = [\"read\", \"s3:PutObject\"]\nresources = [\"s3://b/public/*\"]\n".into(),
                4,
                "a grant to `anonymous` may only read",
            ),
        ];
        for (text, line, says) in cases {
            let e = err(text);
            assert_eq!(e.file, "p.toml");
            assert_eq!(e.line, *line, "{text}\n{e}");
            assert!(e.reason.contains(says), "{text}\n{e}");
            assert!(e.to_string().starts_with(&format!("p.toml:{line}:")), "{e}");
        }
    }

    #[test]
    fn role_arns() {
        for ok in [
            "arn:aws:iam::123456789012:role/s3gate-data",
            "arn:aws:iam::123456789012:role/service/team/s3gate+x=y,z.w@v_u-t",
            "arn:aws-cn:iam::123456789012:role/r",
        ] {
            validate_role_arn(ok).expect(ok);
        }
        for bad in [
            "arn:aws:iam::123456789012:user/bob",
            "arn:aws:sts::123456789012:role/r",
            "arn:aws:iam:us-east-1:123456789012:role/r",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/has space",
            "arn:aws:iam::123456789012",
            "role/r",
            "arn:aws:iam::12345678901a:role/r",
        ] {
            assert!(validate_role_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn version_is_the_label_and_a_content_hash() {
        let text = "version = \"v7\"\n";
        let p = Policy::parse(text, "p").expect("policy");
        assert!(p.version().starts_with("v7/"), "{}", p.version());
        assert_eq!(p.version().len(), 3 + 12);
        let q = Policy::parse("version = \"v7\"\n\n", "p").expect("policy");
        assert_ne!(p.version(), q.version(), "an edit changes the version");
        let bare = Policy::parse("", "p").expect("empty policy");
        assert_eq!(bare.version().len(), 12);
    }
}
