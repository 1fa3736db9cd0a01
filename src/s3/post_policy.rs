//! The POST policy of a browser form upload: the base64 JSON document a
//! signer hands a browser, saying until when and under which conditions the
//! form may store an object. [`PostPolicy::parse`] reads it;
//! [`PostPolicy::check`] holds a submitted form to it.
//!
//! What S3 checks, and so what this module checks:
//! - `expiration` (ISO 8601, UTC) is in the future;
//! - every condition holds: exact matches (`{"field": "v"}` or
//!   `["eq", "$field", "v"]`), prefixes (`["starts-with", "$field", "p"]`,
//!   where `""` matches anything and a `Content-Type` list `a,b` must match
//!   item by item) and `["content-length-range", min, max]` on the file;
//! - every form field is named by a condition, except the ones S3 exempts
//!   (`x-amz-signature`, `file`, `policy`, `x-ignore-*`): a field nobody
//!   signed for is refused, never passed on to the store.
//!
//! Field names are compared case-insensitively (S3 does), values exactly.
//! `bucket` is the bucket the form was posted to, `key` the key after
//! `${filename}` substitution: the condition is checked on what will be
//! written.
//!
//! Pure: no I/O, no clock (the caller passes `now`). The signature over the
//! document is `sigv4`'s business; what the fields do to the upload is the
//! gateway's.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html>

use std::fmt;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::error::{S3Error, S3ErrorCode};

/// The largest policy document read (S3 caps the fields before the file at
/// 20 KiB, the policy among them).
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// A parsed POST policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy {
    pub expiration: SystemTime,
    pub conditions: Vec<Condition>,
}

/// One condition of a policy; field names are lowercase, without `$`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Eq { field: String, value: String },
    StartsWith { field: String, prefix: String },
    ContentLengthRange { min: u64, max: u64 },
}

impl fmt::Display for Condition {
    /// As S3 quotes a failed condition: `["eq", "$key", "a"]`. A session
    /// token is never quoted: the message reaches the audit log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = |s: &str| Value::String(s.to_owned()).to_string();
        let shown = |field: &str, value: &str| {
            if field == "x-amz-security-token" {
                quoted("<redacted>")
            } else {
                quoted(value)
            }
        };
        match self {
            Self::Eq { field, value } => write!(
                f,
                "[\"eq\", {}, {}]",
                quoted(&format!("${field}")),
                shown(field, value)
            ),
            Self::StartsWith { field, prefix } => write!(
                f,
                "[\"starts-with\", {}, {}]",
                quoted(&format!("${field}")),
                shown(field, prefix)
            ),
            Self::ContentLengthRange { min, max } => {
                write!(f, "[\"content-length-range\", {min}, {max}]")
            }
        }
    }
}

/// Why a form does not meet its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// Not base64, not JSON, or not a policy's shape; the reason is for the
    /// caller (it quotes nothing secret: the caller sent the document).
    Invalid(String),
    Expired,
    ConditionFailed(Condition),
    /// A form field no condition names.
    ExtraField(String),
    TooLarge {
        max: u64,
    },
    TooSmall {
        min: u64,
    },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(why) => write!(f, "Invalid Policy: {why}"),
            Self::Expired => f.write_str("Invalid according to Policy: Policy expired."),
            Self::ConditionFailed(c) => {
                write!(
                    f,
                    "Invalid according to Policy: Policy Condition failed: {c}"
                )
            }
            Self::ExtraField(name) => {
                write!(f, "Invalid according to Policy: Extra input fields: {name}")
            }
            Self::TooLarge { max } => write!(
                f,
                "Your proposed upload exceeds the maximum allowed size ({max} bytes)."
            ),
            Self::TooSmall { min } => write!(
                f,
                "Your proposed upload is smaller than the minimum allowed size ({min} bytes)."
            ),
        }
    }
}

impl PolicyError {
    /// S3's code for the failure.
    pub fn to_s3_error(&self) -> S3Error {
        let code = match self {
            Self::Invalid(_) => S3ErrorCode::InvalidPolicyDocument,
            Self::Expired | Self::ConditionFailed(_) | Self::ExtraField(_) => {
                S3ErrorCode::AccessDenied
            }
            Self::TooLarge { .. } => S3ErrorCode::EntityTooLarge,
            Self::TooSmall { .. } => S3ErrorCode::EntityTooSmall,
        };
        S3Error::new(code, self.to_string())
    }
}

/// Form fields S3 does not require a condition for.
pub fn is_exempt(field: &str) -> bool {
    matches!(field, "x-amz-signature" | "file" | "policy") || field.starts_with("x-ignore-")
}

/// What the policy is checked against: the form's fields (lowercase names,
/// values after `${filename}` substitution), the bucket posted to, and the
/// file's length.
pub struct Submitted<'a> {
    pub fields: &'a [(String, String)],
    pub bucket: &'a str,
    pub file_length: u64,
}

impl Submitted<'_> {
    fn value(&self, field: &str) -> Option<&str> {
        if field == "bucket" {
            return Some(self.bucket);
        }
        self.fields
            .iter()
            .find(|(name, _)| name == field)
            .map(|(_, v)| v.as_str())
    }
}

impl PostPolicy {
    /// Decodes the `policy` field: base64 of a UTF-8 JSON document.
    pub fn parse(encoded: &str) -> Result<PostPolicy, PolicyError> {
        let invalid = |why: &str| PolicyError::Invalid(why.to_owned());
        if encoded.len() > MAX_POLICY_BYTES {
            return Err(invalid("the policy is too large."));
        }
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| invalid("the policy is not base64."))?;
        let doc: Value = serde_json::from_slice(&bytes).map_err(|_| invalid("Invalid JSON."))?;
        let Some(doc) = doc.as_object() else {
            return Err(invalid("the policy is not a JSON object."));
        };
        let expiration = doc
            .get("expiration")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("Policy missing expiration."))?;
        let expiration = time::OffsetDateTime::parse(
            expiration,
            &time::format_description::well_known::Iso8601::DEFAULT,
        )
        .map_err(|_| invalid("Invalid 'expiration' value."))?;
        let conditions = doc
            .get("conditions")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("Policy missing conditions."))?;
        let mut out = Vec::with_capacity(conditions.len());
        for c in conditions {
            parse_condition(c, &mut out)?;
        }
        Ok(PostPolicy {
            expiration: expiration.into(),
            conditions: out,
        })
    }

    /// Holds `form` to the policy at `now`: not expired, every condition
    /// met, every non-exempt field named by a condition.
    pub fn check(&self, form: &Submitted<'_>, now: SystemTime) -> Result<(), PolicyError> {
        if now >= self.expiration {
            return Err(PolicyError::Expired);
        }
        for condition in &self.conditions {
            let holds = match condition {
                Condition::Eq { field, value } => form.value(field).unwrap_or("") == value,
                Condition::StartsWith { field, prefix } => {
                    let got = form.value(field).unwrap_or("");
                    if field == "content-type" && got.contains(',') {
                        got.split(',')
                            .all(|v| v.trim().starts_with(prefix.as_str()))
                    } else {
                        got.starts_with(prefix.as_str())
                    }
                }
                Condition::ContentLengthRange { min, max } => {
                    if form.file_length > *max {
                        return Err(PolicyError::TooLarge { max: *max });
                    }
                    if form.file_length < *min {
                        return Err(PolicyError::TooSmall { min: *min });
                    }
                    true
                }
            };
            if !holds {
                return Err(PolicyError::ConditionFailed(condition.clone()));
            }
        }
        for (name, _) in form.fields {
            if !is_exempt(name) && !self.names(name) {
                return Err(PolicyError::ExtraField(name.clone()));
            }
        }
        Ok(())
    }

    /// The `content-length-range` limits, when the policy has any (the
    /// tightest, if it has several).
    pub fn length_range(&self) -> Option<(u64, u64)> {
        self.conditions.iter().fold(None, |acc, c| match c {
            Condition::ContentLengthRange { min, max } => Some(match acc {
                None => (*min, *max),
                Some((lo, hi)) => ((*min).max(lo), (*max).min(hi)),
            }),
            _ => acc,
        })
    }

    fn names(&self, field: &str) -> bool {
        self.conditions.iter().any(|c| match c {
            Condition::Eq { field: f, .. } | Condition::StartsWith { field: f, .. } => f == field,
            Condition::ContentLengthRange { .. } => false,
        })
    }
}

fn parse_condition(c: &Value, out: &mut Vec<Condition>) -> Result<(), PolicyError> {
    let invalid = |why: String| PolicyError::Invalid(why);
    match c {
        Value::Object(pairs) => {
            if pairs.is_empty() {
                return Err(invalid("an empty condition.".into()));
            }
            for (field, value) in pairs {
                let value = value.as_str().ok_or_else(|| {
                    invalid(format!("the condition on '{field}' is not a string."))
                })?;
                out.push(Condition::Eq {
                    field: field.trim_start_matches('$').to_ascii_lowercase(),
                    value: value.to_owned(),
                });
            }
            Ok(())
        }
        Value::Array(items) => {
            let op = items
                .first()
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .ok_or_else(|| invalid("a condition without an operation.".into()))?;
            if items.len() != 3 {
                return Err(invalid(format!("'{op}' takes exactly two arguments.")));
            }
            if op == "content-length-range" {
                let bound = |v: &Value| -> Option<u64> {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                };
                let (Some(min), Some(max)) = (bound(&items[1]), bound(&items[2])) else {
                    return Err(invalid(
                        "content-length-range takes two non-negative integers.".into(),
                    ));
                };
                if min > max {
                    return Err(invalid(
                        "content-length-range's minimum is above its maximum.".into(),
                    ));
                }
                out.push(Condition::ContentLengthRange { min, max });
                return Ok(());
            }
            let field = items[1]
                .as_str()
                .and_then(|f| f.strip_prefix('$'))
                .ok_or_else(|| invalid(format!("'{op}' names no $field.")))?
                .to_ascii_lowercase();
            let value = items[2]
                .as_str()
                .ok_or_else(|| invalid(format!("the condition on '{field}' is not a string.")))?
                .to_owned();
            out.push(match op.as_str() {
                "eq" => Condition::Eq { field, value },
                "starts-with" => Condition::StartsWith {
                    field,
                    prefix: value,
                },
                _ => return Err(invalid(format!("unknown operation '{op}'."))),
            });
            Ok(())
        }
        _ => Err(invalid(
            "a condition is neither an object nor a list.".into(),
        )),
    }
}

/// `${filename}` in a field's value replaced by the file's name, as S3 does
/// it: only the text after the last `/` or `\` of what the browser sent.
pub fn substitute_filename(value: &str, filename: Option<&str>) -> String {
    const VAR: &str = "${filename}";
    let Some(filename) = filename else {
        return value.to_owned();
    };
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    value.replace(VAR, base)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn encode(json: &str) -> String {
        STANDARD.encode(json)
    }

    // 2030-01-01T00:00:00Z
    const EXPIRY: u64 = 1_893_456_000;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    // The example policy of the AWS POST policy page, with the SigV4 fields
    // boto3's generate_presigned_post adds.
    const DOC: &str = r#"{ "expiration": "2030-01-01T00:00:00.000Z",
        "conditions": [
          {"bucket": "sigv4examplebucket"},
          ["starts-with", "$key", "user/user1/"],
          {"acl": "public-read"},
          {"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},
          ["starts-with", "$Content-Type", "image/"],
          {"x-amz-meta-uuid": "14365123651274"},
          {"x-amz-server-side-encryption": "AES256"},
          ["starts-with", "$x-amz-meta-tag", ""],
          ["content-length-range", 1, "1024"],
          {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},
          {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
          {"x-amz-date": "20151229T000000Z" }
        ]
    }"#;

    fn good_fields() -> Vec<(String, String)> {
        fields(&[
            ("key", "user/user1/photo.jpg"),
            ("acl", "public-read"),
            (
                "success_action_redirect",
                "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
            ),
            ("content-type", "image/jpeg"),
            ("x-amz-meta-uuid", "14365123651274"),
            ("x-amz-server-side-encryption", "AES256"),
            ("x-amz-meta-tag", ""),
            (
                "x-amz-credential",
                "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
            ),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("x-amz-date", "20151229T000000Z"),
            ("policy", "..."),
            ("x-amz-signature", "..."),
            ("x-ignore-note", "anything"),
        ])
    }

    fn check(
        policy: &PostPolicy,
        f: &[(String, String)],
        bucket: &str,
        len: u64,
    ) -> Result<(), PolicyError> {
        policy.check(
            &Submitted {
                fields: f,
                bucket,
                file_length: len,
            },
            at(EXPIRY - 1),
        )
    }

    #[test]
    fn the_aws_example_policy_parses_and_a_form_meeting_it_passes() {
        let p = PostPolicy::parse(&encode(DOC)).unwrap();
        assert_eq!(p.expiration, at(EXPIRY));
        assert_eq!(p.conditions.len(), 12);
        assert_eq!(p.length_range(), Some((1, 1024)));
        assert_eq!(check(&p, &good_fields(), "sigv4examplebucket", 10), Ok(()));
    }

    #[test]
    fn each_violated_condition_is_named_in_s3s_words() {
        let p = PostPolicy::parse(&encode(DOC)).unwrap();
        let err = check(&p, &good_fields(), "otherbucket", 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "sigv4examplebucket"]"#
        );
        assert_eq!(err.to_s3_error().code, S3ErrorCode::AccessDenied);
        let mut f = good_fields();
        f[0].1 = "user/user2/photo.jpg".into();
        assert!(matches!(
            check(&p, &f, "sigv4examplebucket", 10),
            Err(PolicyError::ConditionFailed(Condition::StartsWith { ref field, .. })) if field == "key"
        ));
        let mut f = good_fields();
        f[4].1 = "other".into();
        assert!(matches!(
            check(&p, &f, "sigv4examplebucket", 10),
            Err(PolicyError::ConditionFailed(Condition::Eq { ref field, .. })) if field == "x-amz-meta-uuid"
        ));
        // A missing field is an empty one: an exact match on it fails.
        let f: Vec<_> = good_fields()
            .into_iter()
            .filter(|(k, _)| k != "acl")
            .collect();
        assert!(matches!(
            check(&p, &f, "sigv4examplebucket", 10),
            Err(PolicyError::ConditionFailed(Condition::Eq { ref field, .. })) if field == "acl"
        ));
    }

    #[test]
    fn a_failed_token_condition_never_quotes_the_token() {
        let c = Condition::Eq {
            field: "x-amz-security-token".into(),
            value: "SECRET-TOKEN".into(),
        };
        let text = PolicyError::ConditionFailed(c).to_string();
        assert!(!text.contains("SECRET-TOKEN"), "{text}");
        assert!(
            text.contains(r#"["eq", "$x-amz-security-token", "<redacted>"]"#),
            "{text}"
        );
    }

    #[test]
    fn content_length_range_bounds_the_file_both_ways() {
        let p = PostPolicy::parse(&encode(DOC)).unwrap();
        assert_eq!(
            check(&p, &good_fields(), "sigv4examplebucket", 1024),
            Ok(())
        );
        let big = check(&p, &good_fields(), "sigv4examplebucket", 1025).unwrap_err();
        assert_eq!(big.to_s3_error().code, S3ErrorCode::EntityTooLarge);
        let small = check(&p, &good_fields(), "sigv4examplebucket", 0).unwrap_err();
        assert_eq!(small.to_s3_error().code, S3ErrorCode::EntityTooSmall);
    }

    #[test]
    fn a_field_no_condition_names_is_refused_unless_s3_exempts_it() {
        let p = PostPolicy::parse(&encode(DOC)).unwrap();
        let mut f = good_fields();
        f.push(("x-amz-meta-extra".into(), "x".into()));
        assert_eq!(
            check(&p, &f, "sigv4examplebucket", 10),
            Err(PolicyError::ExtraField("x-amz-meta-extra".into()))
        );
        let mut f = good_fields();
        f.push(("file".into(), String::new()));
        assert_eq!(check(&p, &f, "sigv4examplebucket", 10), Ok(()));
    }

    #[test]
    fn an_expired_policy_is_refused_at_and_after_its_expiry() {
        let p = PostPolicy::parse(&encode(DOC)).unwrap();
        let form = Submitted {
            fields: &good_fields(),
            bucket: "sigv4examplebucket",
            file_length: 10,
        };
        assert_eq!(p.check(&form, at(EXPIRY)), Err(PolicyError::Expired));
        assert_eq!(
            PolicyError::Expired.to_string(),
            "Invalid according to Policy: Policy expired."
        );
    }

    #[test]
    fn content_type_lists_must_match_item_by_item() {
        let p = PostPolicy::parse(&encode(DOC)).unwrap();
        let with = |ct: &str| {
            let mut f = good_fields();
            f[3].1 = ct.into();
            check(&p, &f, "sigv4examplebucket", 10)
        };
        assert_eq!(with("image/jpg,image/png"), Ok(()));
        assert!(with("image/jpg,text/plain").is_err());
        assert!(with("text/plain").is_err());
    }

    #[test]
    fn malformed_documents_are_invalid_policy_documents() {
        for doc in [
            "not base64 !".to_owned(),
            encode("not json"),
            encode("[]"),
            encode(r#"{"conditions": []}"#),
            encode(r#"{"expiration": "tomorrow", "conditions": []}"#),
            encode(r#"{"expiration": "2030-01-01T00:00:00Z"}"#),
            encode(
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["in", "$key", "a"]]}"#,
            ),
            encode(r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "key", "a"]]}"#),
            encode(r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "$key"]]}"#),
            encode(
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 5, 1]]}"#,
            ),
            encode(
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", -1, 1]]}"#,
            ),
            encode(r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"key": 1}]}"#),
            encode(r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [7]}"#),
        ] {
            let err = PostPolicy::parse(&doc).unwrap_err();
            assert_eq!(
                err.to_s3_error().code,
                S3ErrorCode::InvalidPolicyDocument,
                "{doc}"
            );
        }
    }

    #[test]
    fn filename_substitution_keeps_only_the_last_path_segment() {
        assert_eq!(
            substitute_filename("up/${filename}", Some("a.txt")),
            "up/a.txt"
        );
        assert_eq!(
            substitute_filename("up/${filename}", Some("C:\\Users\\x\\b.png")),
            "up/b.png"
        );
        assert_eq!(substitute_filename("up/${filename}", Some("dir/c")), "up/c");
        assert_eq!(
            substitute_filename("up/${filename}", None),
            "up/${filename}"
        );
        assert_eq!(substitute_filename("fixed", Some("a")), "fixed");
    }
}
