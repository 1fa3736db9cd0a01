//! What every request header and `x-amz-*` query parameter means for
//! authorization: *passed* (no right beyond the operation's own), *implies*
//! another action on the same resource (as IAM authorises it: an ACL header
//! on a PutObject needs `s3:PutObjectAcl` too), or *refused*.
//!
//! The store acts on the whole request, so s3gate decides on the whole
//! request: a field this table does not know is never guessed at. An
//! unknown `x-amz-*` field (header, or query parameter of a presigned URL,
//! which S3 reads as a header) is refused; an unknown plain HTTP header is
//! not forwarded ([`forwarded`]). Fields whose meaning depends on being
//! single (copy source, checksums, encryption, ACLs, …) are refused when
//! repeated, so s3gate and the store can never read two different values.
//!
//! Pure: no I/O, no clock. Depends only on [`super::action`] and
//! [`super::error`]. `docs/policy.md` lists this table for operators; keep
//! the two in step.
//!
//! Spec: <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html>

use http::HeaderMap;

use super::action::{Action, Operation};
use super::error::{S3Error, S3ErrorCode};

/// The server-side encryption a request asks for: what a grant's
/// `encryption` settings are checked against (see `policy`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encryption {
    /// `x-amz-server-side-encryption`: `AES256`, `aws:kms` or
    /// `aws:kms:dsse`; `None` for the bucket's default.
    pub mode: Option<String>,
    /// `x-amz-server-side-encryption-aws-kms-key-id`: a caller-chosen key.
    pub kms_key_id: Option<String>,
    /// SSE-C: the caller holds the key (of the object, or of a copy's
    /// source).
    pub customer_key: bool,
}

impl Encryption {
    /// Reads the encryption fields of an accepted request (headers, or
    /// `x-amz-*` parameters as [`implied_actions`] takes them; it has
    /// refused repeats already).
    pub fn of(headers: &HeaderMap, query: &[(String, String)]) -> Encryption {
        // Every field read below starts with one of these two; most
        // requests carry none, and need no lookup (this runs per request).
        // Prefixes, not a substring search: `contains` set up a searcher
        // for every header name (~300 instructions a request).
        let names_sse = |name: &str| {
            name.starts_with("x-amz-server-side-encryption")
                || name.starts_with("x-amz-copy-source-server-side-encryption")
        };
        if !headers.keys().any(|k| names_sse(k.as_str()))
            && !query.iter().any(|(n, _)| names_sse(n))
        {
            return Encryption::default();
        }
        let field = |name: &str| -> Option<String> {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .or_else(|| {
                    query
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                })
        };
        let customer = |prefix: &str| {
            ["algorithm", "key", "key-md5"]
                .iter()
                .any(|s| field(&format!("{prefix}server-side-encryption-customer-{s}")).is_some())
        };
        Encryption {
            mode: field("x-amz-server-side-encryption"),
            kms_key_id: field("x-amz-server-side-encryption-aws-kms-key-id"),
            customer_key: customer("x-amz-") || customer("x-amz-copy-source-"),
        }
    }
}

/// What one field means on one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// No right beyond the operation's own.
    Pass,
    /// Needs this action too, on the operation's own resource.
    Implies(Action),
    /// Never accepted on this operation; the reason says why.
    Refuse(&'static str),
}

/// Which group of operations a field applies to; the table is written per
/// group because S3's own API reference groups them so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// PutObject, CopyObject, CreateMultipartUpload: they create an object
    /// and so take its ACL, lock, tags and encryption.
    Create,
    /// UploadPart, UploadPartCopy, CompleteMultipartUpload.
    Part,
    /// GetObject, HeadObject, GetObjectAttributes.
    Read,
    /// DeleteObject, DeleteObjects.
    Delete,
    /// CreateBucket.
    CreateBucket,
    /// PutObjectAcl, PutBucketAcl: ACL headers are the operation itself.
    Acl,
    /// Every other classified operation, and [`Operation::Other`].
    Plain,
}

fn family(op: Operation) -> Family {
    use Operation as O;
    match op {
        O::PutObject | O::CopyObject | O::CreateMultipartUpload => Family::Create,
        O::UploadPart | O::UploadPartCopy | O::CompleteMultipartUpload => Family::Part,
        O::GetObject | O::HeadObject | O::GetObjectAttributes => Family::Read,
        O::DeleteObject | O::DeleteObjects => Family::Delete,
        O::CreateBucket => Family::CreateBucket,
        O::PutObjectAcl | O::PutBucketAcl => Family::Acl,
        _ => Family::Plain,
    }
}

/// The meaning of the `x-amz-*` field `name` (lowercase) with the value
/// `value()` on `op`; `None` when s3gate does not know the field at all.
///
/// The value is asked for only by the rows that read it (one does): a
/// header's value is checked as text to be read, and the session token
/// every header-signed request carries is ~400 bytes to check for nothing.
#[allow(
    clippy::too_many_lines,
    reason = "one table, read top to bottom against docs/policy.md"
)]
pub fn amz_effect<'v>(
    op: Operation,
    name: &str,
    value: impl FnOnce() -> &'v str,
) -> Option<Effect> {
    use Effect::{Implies, Pass, Refuse};
    use Family as F;
    let f = family(op);
    let only = |ok: bool, what: &'static str| if ok { Pass } else { Refuse(what) };
    Some(match name {
        // The caller's own authentication and body framing: checked by
        // sigv4, stripped before the store (upstream).
        "x-amz-content-sha256"
        | "x-amz-date"
        | "x-amz-security-token"
        | "x-amz-decoded-content-length"
        | "x-amz-trailer" => Pass,
        // Integrity checks and client bookkeeping: they can only make the
        // store refuse, never reach further.
        "x-amz-sdk-checksum-algorithm"
        | "x-amz-checksum-algorithm"
        | "x-amz-checksum-crc32"
        | "x-amz-checksum-crc32c"
        | "x-amz-checksum-crc64nvme"
        | "x-amz-checksum-sha1"
        | "x-amz-checksum-sha256"
        | "x-amz-checksum-type"
        | "x-amz-checksum-mode"
        | "x-amz-te"
        | "x-amz-user-agent"
        | "x-amz-expected-bucket-owner"
        | "x-amz-source-expected-bucket-owner"
        | "x-amz-mfa" => Pass,
        // The caller accepts the charge of a requester-pays bucket; what it
        // may touch is still the operation's own resources.
        "x-amz-request-payer" => Pass,
        // Object attributes chosen at creation that change no one's access.
        "x-amz-storage-class" | "x-amz-website-redirect-location" => {
            only(f == F::Create, "only an upload or copy sets it")
        }
        "x-amz-metadata-directive" | "x-amz-tagging-directive" => {
            only(op == Operation::CopyObject, "only CopyObject takes it")
        }
        // The copy source is authorised by classify (read on the source).
        "x-amz-copy-source" => only(
            matches!(op, Operation::CopyObject | Operation::UploadPartCopy),
            "only a copy names a source",
        ),
        "x-amz-copy-source-range" => only(
            op == Operation::UploadPartCopy,
            "only UploadPartCopy takes a range",
        ),
        "x-amz-copy-source-if-match"
        | "x-amz-copy-source-if-none-match"
        | "x-amz-copy-source-if-modified-since"
        | "x-amz-copy-source-if-unmodified-since" => only(
            matches!(op, Operation::CopyObject | Operation::UploadPartCopy),
            "only a copy takes copy-source conditions",
        ),
        "x-amz-mp-object-size" => only(
            op == Operation::CompleteMultipartUpload,
            "only CompleteMultipartUpload takes it",
        ),
        "x-amz-object-attributes" | "x-amz-max-parts" | "x-amz-part-number-marker" => only(
            op == Operation::GetObjectAttributes,
            "only GetObjectAttributes takes it",
        ),
        "x-amz-confirm-remove-self-bucket-access" => only(
            op == Operation::PutBucketPolicy,
            "only PutBucketPolicy takes it",
        ),
        // Who may read or change the object: IAM needs the ACL action.
        "x-amz-acl"
        | "x-amz-grant-read"
        | "x-amz-grant-read-acp"
        | "x-amz-grant-write-acp"
        | "x-amz-grant-full-control" => match f {
            F::Create => Implies(Action::PutObjectAcl),
            F::CreateBucket => Implies(Action::PutBucketAcl),
            F::Acl => Pass,
            _ => Refuse("only an upload, a copy, CreateBucket or a Put*Acl sets an ACL"),
        },
        "x-amz-grant-write" => match f {
            F::CreateBucket => Implies(Action::PutBucketAcl),
            F::Acl if op == Operation::PutBucketAcl => Pass,
            _ => Refuse("only a bucket has a WRITE grant"),
        },
        // How long the object must live.
        "x-amz-object-lock-mode" | "x-amz-object-lock-retain-until-date" => match f {
            F::Create => Implies(Action::PutObjectRetention),
            _ => Refuse("only an upload or copy sets a retention"),
        },
        "x-amz-object-lock-legal-hold" => match f {
            F::Create => Implies(Action::PutObjectLegalHold),
            _ => Refuse("only an upload or copy sets a legal hold"),
        },
        "x-amz-bypass-governance-retention" => match f {
            F::Delete => Implies(Action::BypassGovernanceRetention),
            _ => Refuse("only a delete bypasses governance retention here"),
        },
        "x-amz-tagging" => match f {
            F::Create => Implies(Action::PutObjectTagging),
            _ => Refuse("only an upload or copy sets tags by header"),
        },
        "x-amz-bucket-object-lock-enabled" => match f {
            F::CreateBucket => Implies(Action::PutBucketObjectLockConfiguration),
            _ => Refuse("only CreateBucket enables object lock"),
        },
        "x-amz-object-ownership" => match f {
            F::CreateBucket => Implies(Action::PutBucketOwnershipControls),
            _ => Refuse("only CreateBucket sets object ownership"),
        },
        // Encryption with the store's own keys (SSE-S3, or SSE-KMS under the
        // bucket's default or AWS-managed key) changes no one's access; a
        // caller-chosen key (possibly in another account) decides who can
        // ever read the object again, so the policy decides on it
        // ([`Encryption`], `encryption` of a grant).
        "x-amz-server-side-encryption" => match f {
            F::Create if sse_value_known(value()) => Pass,
            F::Create => Refuse("unknown server-side encryption"),
            _ => Refuse("only an upload or copy chooses its encryption"),
        },
        "x-amz-server-side-encryption-context"
        | "x-amz-server-side-encryption-bucket-key-enabled" => only(
            f == F::Create,
            "only an upload or copy chooses its encryption",
        ),
        "x-amz-server-side-encryption-aws-kms-key-id" => only(
            f == F::Create,
            "only an upload or copy chooses its encryption",
        ),
        "x-amz-server-side-encryption-customer-algorithm"
        | "x-amz-server-side-encryption-customer-key"
        | "x-amz-server-side-encryption-customer-key-md5" => only(
            matches!(f, F::Create | F::Part | F::Read),
            "only an upload, a part or a read takes a customer key",
        ),
        "x-amz-copy-source-server-side-encryption-customer-algorithm"
        | "x-amz-copy-source-server-side-encryption-customer-key"
        | "x-amz-copy-source-server-side-encryption-customer-key-md5" => only(
            matches!(op, Operation::CopyObject | Operation::UploadPartCopy),
            "only a copy takes its source's customer key",
        ),
        // User metadata travels with the object and grants nothing.
        n if n.starts_with("x-amz-meta-") => Pass,
        _ => return None,
    })
}

fn sse_value_known(value: &str) -> bool {
    matches!(value, "AES256" | "aws:kms" | "aws:kms:dsse")
}

/// Whether a field's value must be single: everything S3 gives meaning to
/// except user metadata, which S3 itself joins.
fn must_be_single(name: &str) -> bool {
    if name.starts_with("x-amz-meta-") {
        return false;
    }
    name.starts_with("x-amz-")
        || name.starts_with("content-")
        || name.starts_with("if-")
        || matches!(
            name,
            "host" | "authorization" | "range" | "expires" | "cache-control"
        )
}

/// Plain HTTP headers the store is sent. Anything else that is not an
/// `x-amz-*` field is dropped: a header s3gate does not know is not handed
/// to a store that might honour it. Hop-by-hop and authentication headers
/// are the upstream's to strip or replace.
const FORWARDED_PLAIN: [&str; 17] = [
    "content-type",
    "content-length",
    "content-md5",
    "content-encoding",
    "content-language",
    "content-disposition",
    "cache-control",
    "expires",
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "user-agent",
    "accept",
    "amz-sdk-invocation-id",
    "amz-sdk-request",
];

/// Whether the header `name` (lowercase, as `http` keeps it) may reach the
/// store. Every `x-amz-*` header that got this far was accepted by
/// [`implied_actions`].
pub fn forwarded(name: &str) -> bool {
    name.starts_with("x-amz-") || FORWARDED_PLAIN.contains(&name)
}

fn refused(name: &str, why: &str) -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidArgument,
        format!("s3gate refuses `{name}` on this request: {why}."),
    )
}

/// A field's value, read as text only when the table needs it.
enum Field<'a> {
    Header(&'a http::HeaderValue),
    Query(&'a str),
}

/// The actions the request's fields imply beyond the operation's own, in
/// first-seen order without repeats, or the refusal of a field.
///
/// `headers` are the request's; `query` the `x-amz-*` query parameters
/// (decoded, lowercase names) other than the presigned-URL authentication
/// ones, which S3 reads as headers.
pub fn implied_actions(
    op: Operation,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Result<Vec<Action>, S3Error> {
    // One pass over the map, no lookup by name: its iterator yields a
    // name's values one after the other, so a name's first value and
    // whether another follows are read as it goes. A header that is
    // neither `x-amz-*` nor single-valued has nothing to check. The
    // others' first value is read as text only for the table, below (an
    // Authorization header is hundreds of bytes to validate for nothing).
    let mut entries = headers.iter().peekable();
    let header_fields = std::iter::from_fn(move || {
        loop {
            let (name, first) = entries.next()?;
            let mut repeated = false;
            while entries.next_if(|(next, _)| *next == name).is_some() {
                repeated = true;
            }
            let name = name.as_str();
            if name.starts_with("x-amz-") || must_be_single(name) {
                return Some((name, Some(Field::Header(first)), repeated));
            }
        }
    });
    implied_by_fields(op, headers, header_fields, query)
}

/// [`implied_actions`] over the request's header fields (name, first
/// value, whether another follows), as they were read.
fn implied_by_fields<'a>(
    op: Operation,
    headers: &HeaderMap,
    header_fields: impl Iterator<Item = (&'a str, Option<Field<'a>>, bool)>,
    query: &'a [(String, String)],
) -> Result<Vec<Action>, S3Error> {
    let mut out = Vec::new();
    let query_fields = query.iter().enumerate().map(|(i, (name, value))| {
        let repeated =
            query[..i].iter().any(|(n, _)| n == name) || headers.contains_key(name.as_str());
        (name.as_str(), Some(Field::Query(value.as_str())), repeated)
    });
    for (name, value, repeated) in header_fields.chain(query_fields) {
        if repeated && must_be_single(name) {
            return Err(refused(name, "it is given more than once"));
        }
        if !name.starts_with("x-amz-") {
            continue;
        }
        // A value that is not visible ASCII reads as empty: no table entry
        // gives an empty value more reach (an unknown encryption is refused).
        let value = || match value {
            Some(Field::Header(v)) => v.to_str().unwrap_or(""),
            Some(Field::Query(v)) => v,
            None => "",
        };
        match amz_effect(op, name, value) {
            None => {
                return Err(refused(
                    name,
                    "s3gate does not know what it makes the store do, so it cannot authorise it",
                ));
            }
            Some(Effect::Pass) => {}
            Some(Effect::Implies(action)) => {
                if !out.contains(&action) {
                    out.push(action);
                }
            }
            Some(Effect::Refuse(why)) => return Err(refused(name, why)),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod tests {
    use http::HeaderValue;

    use super::*;

    /// The header fields as `implied_actions` read them until it made one
    /// pass over the map: each name, then its values by lookup. The oracle
    /// the proptest below holds the pass to.
    fn by_lookup(op: Operation, headers: &HeaderMap) -> Result<Vec<Action>, S3Error> {
        let fields = headers
            .keys()
            .filter(|name| name.as_str().starts_with("x-amz-") || must_be_single(name.as_str()))
            .map(|name| {
                let mut values = headers.get_all(name).iter();
                let first = values.next();
                (
                    name.as_str(),
                    first.map(Field::Header),
                    values.next().is_some(),
                )
            });
        implied_by_fields(op, headers, fields, &[])
    }

    mod one_pass {
        use proptest::prelude::*;

        use super::*;

        const NAMES: [&str; 9] = [
            "x-amz-acl",
            "x-amz-meta-a",
            "x-amz-server-side-encryption",
            "x-amz-tagging",
            "range",
            "content-type",
            "accept",
            "user-agent",
            "x-amz-security-token",
        ];

        proptest! {
            /// Maps over names of each kind (x-amz, single-valued, neither),
            /// some repeated and interleaved: the pass answers what the
            /// lookups answered, the same actions or the same refusal.
            #[test]
            fn a_pass_over_the_map_answers_what_lookups_answered(
                entries in prop::collection::vec(
                    (
                        prop::sample::select(&NAMES[..]),
                        prop::sample::select(vec!["AES256", "aws:kms", "private", "a=b", "bytes=0-1", "x"]),
                    ),
                    0..12,
                ),
                op in prop::sample::select(vec![
                    Operation::PutObject,
                    Operation::GetObject,
                    Operation::CopyObject,
                    Operation::CreateMultipartUpload,
                ]),
            ) {
                let mut map = HeaderMap::new();
                for (name, value) in &entries {
                    map.append(*name, HeaderValue::from_static(value));
                }
                let message = |e: S3Error| e.message;
                prop_assert_eq!(
                    implied_actions(op, &map, &[]).map_err(message),
                    by_lookup(op, &map).map_err(message)
                );
            }
        }
    }

    fn headers(list: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in list {
            map.append(*name, HeaderValue::from_str(value).expect("value"));
        }
        map
    }

    fn implied(op: Operation, list: &[(&'static str, &str)]) -> Result<Vec<Action>, S3ErrorCode> {
        implied_actions(op, &headers(list), &[]).map_err(|e| e.code)
    }

    #[test]
    fn acl_and_grant_headers_on_an_upload_need_put_object_acl() {
        for op in [
            Operation::PutObject,
            Operation::CopyObject,
            Operation::CreateMultipartUpload,
        ] {
            for name in [
                "x-amz-acl",
                "x-amz-grant-read",
                "x-amz-grant-read-acp",
                "x-amz-grant-write-acp",
                "x-amz-grant-full-control",
            ] {
                assert_eq!(
                    implied(op, &[(name, "public-read")]),
                    Ok(vec![Action::PutObjectAcl]),
                    "{op} {name}"
                );
            }
        }
        assert_eq!(
            implied(Operation::PutObjectAcl, &[("x-amz-acl", "private")]),
            Ok(vec![])
        );
        assert_eq!(
            implied(Operation::CreateBucket, &[("x-amz-grant-write", "id=x")]),
            Ok(vec![Action::PutBucketAcl])
        );
    }

    #[test]
    fn object_lock_tagging_and_bypass_imply_their_actions() {
        assert_eq!(
            implied(
                Operation::PutObject,
                &[
                    ("x-amz-object-lock-mode", "COMPLIANCE"),
                    (
                        "x-amz-object-lock-retain-until-date",
                        "2099-01-01T00:00:00Z"
                    ),
                    ("x-amz-object-lock-legal-hold", "ON"),
                    ("x-amz-tagging", "a=b"),
                ]
            ),
            Ok(vec![
                Action::PutObjectRetention,
                Action::PutObjectLegalHold,
                Action::PutObjectTagging
            ])
        );
        assert_eq!(
            implied(
                Operation::DeleteObject,
                &[("x-amz-bypass-governance-retention", "true")]
            ),
            Ok(vec![Action::BypassGovernanceRetention])
        );
        assert_eq!(
            implied(
                Operation::CreateBucket,
                &[
                    ("x-amz-bucket-object-lock-enabled", "true"),
                    ("x-amz-object-ownership", "ObjectWriter")
                ]
            ),
            Ok(vec![
                Action::PutBucketObjectLockConfiguration,
                Action::PutBucketOwnershipControls
            ])
        );
    }

    #[test]
    fn stock_client_headers_pass() {
        let routine: &[(&'static str, &str)] = &[
            ("host", "gw"),
            ("authorization", "AWS4-HMAC-SHA256 x"),
            ("user-agent", "aws-cli/1"),
            ("content-type", "text/plain"),
            ("content-length", "5"),
            ("content-md5", "x"),
            ("content-encoding", "aws-chunked"),
            ("expect", "100-continue"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("x-amz-date", "20260101T000000Z"),
            ("x-amz-security-token", "t"),
            ("x-amz-decoded-content-length", "5"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
            ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ("x-amz-checksum-crc32", "AAAAAA=="),
            ("amz-sdk-invocation-id", "i"),
            ("amz-sdk-request", "attempt=1"),
            ("x-amz-te", "append-md5"),
            ("x-amz-meta-owner", "alice"),
            ("x-amz-storage-class", "STANDARD"),
            ("x-amz-server-side-encryption", "AES256"),
            ("cache-control", "no-cache"),
        ];
        assert_eq!(implied(Operation::PutObject, routine), Ok(vec![]));
        assert_eq!(
            implied(
                Operation::GetObject,
                &[
                    ("range", "bytes=0-1"),
                    ("if-none-match", "\"e\""),
                    ("x-amz-checksum-mode", "ENABLED")
                ]
            ),
            Ok(vec![])
        );
    }

    #[test]
    fn unknown_misplaced_and_repeated_fields_are_refused() {
        use S3ErrorCode as C;
        assert_eq!(
            implied(Operation::PutObject, &[("x-amz-frobnicate", "1")]),
            Err(C::InvalidArgument)
        );
        assert_eq!(
            implied(Operation::GetObject, &[("x-amz-acl", "public-read")]),
            Err(C::InvalidArgument)
        );
        assert_eq!(
            implied(
                Operation::PutObjectTagging,
                &[("x-amz-object-lock-mode", "COMPLIANCE")]
            ),
            Err(C::InvalidArgument)
        );
        for name in [
            "x-amz-copy-source",
            "x-amz-copy-source-range",
            "x-amz-checksum-sha256",
            "x-amz-server-side-encryption",
            "content-length",
        ] {
            assert_eq!(
                implied(Operation::UploadPartCopy, &[(name, "a"), (name, "b")]),
                Err(C::InvalidArgument),
                "{name}"
            );
        }
        // User metadata may repeat, as S3 joins it.
        assert_eq!(
            implied(
                Operation::PutObject,
                &[("x-amz-meta-a", "1"), ("x-amz-meta-a", "2")]
            ),
            Ok(vec![])
        );
        assert_eq!(
            implied(
                Operation::PutObject,
                &[("x-amz-server-side-encryption", "rot13")]
            ),
            Err(C::InvalidArgument)
        );
    }

    #[test]
    fn caller_chosen_keys_pass_the_table_and_are_read_for_the_policy() {
        let list = [
            ("x-amz-server-side-encryption", "aws:kms"),
            ("x-amz-server-side-encryption-aws-kms-key-id", "arn:k"),
        ];
        assert_eq!(implied(Operation::PutObject, &list), Ok(vec![]));
        assert_eq!(
            Encryption::of(&headers(&list), &[]),
            Encryption {
                mode: Some("aws:kms".into()),
                kms_key_id: Some("arn:k".into()),
                customer_key: false,
            }
        );
        let sse_c = [("x-amz-server-side-encryption-customer-key", "k")];
        assert_eq!(implied(Operation::GetObject, &sse_c), Ok(vec![]));
        assert!(Encryption::of(&headers(&sse_c), &[]).customer_key);
        let source = [("x-amz-copy-source-server-side-encryption-customer-key", "k")];
        assert!(Encryption::of(&headers(&source), &[]).customer_key);
        // Where they mean nothing, they are refused.
        assert_eq!(
            implied(
                Operation::GetObject,
                &[("x-amz-server-side-encryption-aws-kms-key-id", "k")]
            ),
            Err(S3ErrorCode::InvalidArgument)
        );
        assert_eq!(
            implied(Operation::PutObject, &source),
            Err(S3ErrorCode::InvalidArgument)
        );
        // A presigned URL's parameters count.
        let q = vec![(
            "x-amz-server-side-encryption-aws-kms-key-id".to_owned(),
            "arn:q".to_owned(),
        )];
        assert_eq!(
            Encryption::of(&HeaderMap::new(), &q).kms_key_id.as_deref(),
            Some("arn:q")
        );
    }

    #[test]
    fn query_fields_count_as_headers() {
        let q = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            implied_actions(
                Operation::PutObject,
                &HeaderMap::new(),
                &q(&[("x-amz-acl", "public-read")])
            )
            .map_err(|e| e.code),
            Ok(vec![Action::PutObjectAcl])
        );
        // The same field as header and parameter is a repeat.
        assert_eq!(
            implied_actions(
                Operation::PutObject,
                &headers(&[("x-amz-acl", "private")]),
                &q(&[("x-amz-acl", "public-read")])
            )
            .map_err(|e| e.code),
            Err(S3ErrorCode::InvalidArgument)
        );
        assert_eq!(
            implied_actions(
                Operation::GetObject,
                &HeaderMap::new(),
                &q(&[("x-amz-unknown", "1")])
            )
            .map_err(|e| e.code),
            Err(S3ErrorCode::InvalidArgument)
        );
    }

    #[test]
    fn forwarding_drops_unknown_plain_headers() {
        assert!(forwarded("content-type"));
        assert!(forwarded("x-amz-meta-a"));
        assert!(forwarded("range"));
        assert!(!forwarded("x-forwarded-for"));
        assert!(!forwarded("cookie"));
        assert!(!forwarded("x-custom"));
    }

    const OPS: [Operation; 12] = [
        Operation::PutObject,
        Operation::CopyObject,
        Operation::CreateMultipartUpload,
        Operation::UploadPart,
        Operation::CompleteMultipartUpload,
        Operation::GetObject,
        Operation::HeadObject,
        Operation::DeleteObject,
        Operation::PutObjectTagging,
        Operation::CreateBucket,
        Operation::ListObjectsV2,
        Operation::Other,
    ];

    /// Property: any `x-amz-` name outside the table is refused, on every
    /// operation — nothing unknown is ever passed. Random names from a
    /// fixed seed, so a failure reproduces.
    #[test]
    fn unknown_amz_fields_are_never_passed() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-";
        for _ in 0..2000 {
            let len = rng.random_range(1..24);
            let suffix: String = (0..len)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect();
            let name = format!("x-amz-{suffix}");
            let op = OPS[rng.random_range(0..OPS.len())];
            if amz_effect(op, &name, || "v").is_some() {
                continue;
            }
            let map = headers_named(&name, "v");
            assert!(implied_actions(op, &map, &[]).is_err(), "{op} {name}");
            let query = [(name.clone(), "v".to_owned())];
            assert!(
                implied_actions(op, &HeaderMap::new(), &query).is_err(),
                "{op} ?{name}"
            );
        }
    }

    fn headers_named(name: &str, value: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_static(value),
        );
        map
    }

    /// Property: fields never cancel each other — on every operation and
    /// every subset of the sample, the implied set of the whole request
    /// holds the implied set of each field, and a field refused alone is
    /// refused together.
    #[test]
    fn implied_actions_are_the_union_of_each_fields() {
        for op in OPS {
            for mask in 0u32..(1 << TABLE_SAMPLE.len()) {
                let picks: Vec<_> = (0..TABLE_SAMPLE.len())
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| TABLE_SAMPLE[i])
                    .collect();
                let whole = implied_actions(op, &headers(&picks), &[]);
                for (name, value) in &picks {
                    match implied_actions(op, &headers(&[(*name, *value)]), &[]) {
                        Err(_) => assert!(whole.is_err(), "{op}: {name} refused alone only"),
                        Ok(alone) => {
                            if let Ok(whole) = &whole {
                                for a in alone {
                                    assert!(whole.contains(&a), "{op} {name}: {a} lost");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    const TABLE_SAMPLE: [(&str, &str); 10] = [
        ("x-amz-acl", "public-read"),
        ("x-amz-grant-full-control", "id=x"),
        ("x-amz-object-lock-mode", "COMPLIANCE"),
        ("x-amz-object-lock-legal-hold", "ON"),
        ("x-amz-tagging", "a=b"),
        ("x-amz-bypass-governance-retention", "true"),
        ("x-amz-meta-x", "1"),
        ("x-amz-checksum-crc32", "AAAAAA=="),
        ("x-amz-copy-source", "b/k"),
        ("content-type", "text/plain"),
    ];
}
