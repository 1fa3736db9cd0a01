//! The vocabulary of a classified request: [`Operation`] (which S3 API call
//! it is, for audit) and [`Action`] (which IAM permission it needs, for
//! authorization).
//!
//! Owns only names and their spelling; depends on nothing else in the crate.
//! Classification (which request is which operation, and which actions it
//! needs on which resources) lives in `classify`.
//!
//! Spec: <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html>

use std::fmt;
use std::str::FromStr;

/// The S3 API operation, for audit and routing (e.g. `ListObjectsV2`).
///
/// [`Operation::Other`] is every request classify does not recognise: it
/// still classifies (so it can be audited and refused in S3's shape), but it
/// needs [`Action::Unclassified`], which only a `*` scope rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    ListBuckets,
    CreateBucket,
    DeleteBucket,
    HeadBucket,
    GetBucketLocation,
    GetBucketVersioning,
    PutBucketVersioning,
    GetBucketTagging,
    PutBucketTagging,
    DeleteBucketTagging,
    GetBucketAcl,
    PutBucketAcl,
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    GetBucketCors,
    PutBucketCors,
    DeleteBucketCors,
    GetBucketLifecycleConfiguration,
    PutBucketLifecycleConfiguration,
    DeleteBucketLifecycle,
    GetBucketEncryption,
    PutBucketEncryption,
    DeleteBucketEncryption,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    GetObject,
    HeadObject,
    PutObject,
    CopyObject,
    DeleteObject,
    DeleteObjects,
    /// A browser form upload (`POST /bucket`, multipart/form-data): the
    /// key and every field are in the body.
    PostObject,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    GetObjectAcl,
    PutObjectAcl,
    GetObjectAttributes,
    /// Anything classify does not recognise (unknown subresource,
    /// `OPTIONS`, ambiguous combinations of subresources).
    Other,
}

impl Operation {
    /// Whether an `x-amz-checksum-*` header is a digest of this request's
    /// body. On CompleteMultipartUpload it is the whole object's checksum
    /// (the store checks it against the parts), not the XML body's.
    pub fn checksum_headers_describe_body(self) -> bool {
        self != Self::CompleteMultipartUpload
    }

    /// The S3 API name, as it appears in audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ListBuckets => "ListBuckets",
            Self::CreateBucket => "CreateBucket",
            Self::DeleteBucket => "DeleteBucket",
            Self::HeadBucket => "HeadBucket",
            Self::GetBucketLocation => "GetBucketLocation",
            Self::GetBucketVersioning => "GetBucketVersioning",
            Self::PutBucketVersioning => "PutBucketVersioning",
            Self::GetBucketTagging => "GetBucketTagging",
            Self::PutBucketTagging => "PutBucketTagging",
            Self::DeleteBucketTagging => "DeleteBucketTagging",
            Self::GetBucketAcl => "GetBucketAcl",
            Self::PutBucketAcl => "PutBucketAcl",
            Self::GetBucketPolicy => "GetBucketPolicy",
            Self::PutBucketPolicy => "PutBucketPolicy",
            Self::DeleteBucketPolicy => "DeleteBucketPolicy",
            Self::GetBucketCors => "GetBucketCors",
            Self::PutBucketCors => "PutBucketCors",
            Self::DeleteBucketCors => "DeleteBucketCors",
            Self::GetBucketLifecycleConfiguration => "GetBucketLifecycleConfiguration",
            Self::PutBucketLifecycleConfiguration => "PutBucketLifecycleConfiguration",
            Self::DeleteBucketLifecycle => "DeleteBucketLifecycle",
            Self::GetBucketEncryption => "GetBucketEncryption",
            Self::PutBucketEncryption => "PutBucketEncryption",
            Self::DeleteBucketEncryption => "DeleteBucketEncryption",
            Self::ListObjects => "ListObjects",
            Self::ListObjectsV2 => "ListObjectsV2",
            Self::ListObjectVersions => "ListObjectVersions",
            Self::ListMultipartUploads => "ListMultipartUploads",
            Self::GetObject => "GetObject",
            Self::HeadObject => "HeadObject",
            Self::PutObject => "PutObject",
            Self::CopyObject => "CopyObject",
            Self::DeleteObject => "DeleteObject",
            Self::DeleteObjects => "DeleteObjects",
            Self::PostObject => "PostObject",
            Self::CreateMultipartUpload => "CreateMultipartUpload",
            Self::UploadPart => "UploadPart",
            Self::UploadPartCopy => "UploadPartCopy",
            Self::CompleteMultipartUpload => "CompleteMultipartUpload",
            Self::AbortMultipartUpload => "AbortMultipartUpload",
            Self::ListParts => "ListParts",
            Self::GetObjectTagging => "GetObjectTagging",
            Self::PutObjectTagging => "PutObjectTagging",
            Self::DeleteObjectTagging => "DeleteObjectTagging",
            Self::GetObjectAcl => "GetObjectAcl",
            Self::PutObjectAcl => "PutObjectAcl",
            Self::GetObjectAttributes => "GetObjectAttributes",
            Self::Other => "Other",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A permission, spelled as IAM spells it without the `s3:` prefix
/// (e.g. `GetObject`, `ListBucket`).
///
/// The discriminants are dense (`0..Action::COUNT`) so a set of actions fits
/// in one `u64` bitset (see `policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Action {
    GetObject,
    GetObjectVersion,
    PutObject,
    DeleteObject,
    DeleteObjectVersion,
    ListBucket,
    ListBucketVersions,
    ListBucketMultipartUploads,
    ListMultipartUploadParts,
    AbortMultipartUpload,
    ListAllMyBuckets,
    CreateBucket,
    DeleteBucket,
    GetBucketLocation,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    GetObjectAcl,
    PutObjectAcl,
    GetObjectAttributes,
    GetBucketVersioning,
    PutBucketVersioning,
    GetBucketTagging,
    PutBucketTagging,
    GetBucketAcl,
    PutBucketAcl,
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    /// IAM spells it `GetBucketCORS`.
    GetBucketCors,
    /// IAM spells it `PutBucketCORS`; also covers DeleteBucketCors.
    PutBucketCors,
    GetLifecycleConfiguration,
    /// Also covers DeleteBucketLifecycle, as in IAM.
    PutLifecycleConfiguration,
    GetEncryptionConfiguration,
    /// Also covers DeleteBucketEncryption, as in IAM.
    PutEncryptionConfiguration,
    // Implied by a header or a `versionId` on another operation (see
    // `headers`), as IAM authorises them.
    GetObjectVersionTagging,
    PutObjectVersionTagging,
    DeleteObjectVersionTagging,
    GetObjectVersionAcl,
    PutObjectVersionAcl,
    GetObjectVersionAttributes,
    PutObjectRetention,
    PutObjectLegalHold,
    BypassGovernanceRetention,
    PutBucketObjectLockConfiguration,
    PutBucketOwnershipControls,
    /// Needed by [`Operation::Other`]. Not an IAM name: it cannot be named in
    /// a scope, only granted by the `*` group, so requests s3gate does not
    /// understand are denied unless the caller may do everything there.
    Unclassified,
}

impl Action {
    /// How many actions there are; every discriminant is below this.
    pub const COUNT: usize = 47;

    /// Every action, in discriminant order.
    pub const ALL: [Action; Self::COUNT] = [
        Self::GetObject,
        Self::GetObjectVersion,
        Self::PutObject,
        Self::DeleteObject,
        Self::DeleteObjectVersion,
        Self::ListBucket,
        Self::ListBucketVersions,
        Self::ListBucketMultipartUploads,
        Self::ListMultipartUploadParts,
        Self::AbortMultipartUpload,
        Self::ListAllMyBuckets,
        Self::CreateBucket,
        Self::DeleteBucket,
        Self::GetBucketLocation,
        Self::GetObjectTagging,
        Self::PutObjectTagging,
        Self::DeleteObjectTagging,
        Self::GetObjectAcl,
        Self::PutObjectAcl,
        Self::GetObjectAttributes,
        Self::GetBucketVersioning,
        Self::PutBucketVersioning,
        Self::GetBucketTagging,
        Self::PutBucketTagging,
        Self::GetBucketAcl,
        Self::PutBucketAcl,
        Self::GetBucketPolicy,
        Self::PutBucketPolicy,
        Self::DeleteBucketPolicy,
        Self::GetBucketCors,
        Self::PutBucketCors,
        Self::GetLifecycleConfiguration,
        Self::PutLifecycleConfiguration,
        Self::GetEncryptionConfiguration,
        Self::PutEncryptionConfiguration,
        Self::GetObjectVersionTagging,
        Self::PutObjectVersionTagging,
        Self::DeleteObjectVersionTagging,
        Self::GetObjectVersionAcl,
        Self::PutObjectVersionAcl,
        Self::GetObjectVersionAttributes,
        Self::PutObjectRetention,
        Self::PutObjectLegalHold,
        Self::BypassGovernanceRetention,
        Self::PutBucketObjectLockConfiguration,
        Self::PutBucketOwnershipControls,
        Self::Unclassified,
    ];

    /// The IAM name without the `s3:` prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GetObject => "GetObject",
            Self::GetObjectVersion => "GetObjectVersion",
            Self::PutObject => "PutObject",
            Self::DeleteObject => "DeleteObject",
            Self::DeleteObjectVersion => "DeleteObjectVersion",
            Self::ListBucket => "ListBucket",
            Self::ListBucketVersions => "ListBucketVersions",
            Self::ListBucketMultipartUploads => "ListBucketMultipartUploads",
            Self::ListMultipartUploadParts => "ListMultipartUploadParts",
            Self::AbortMultipartUpload => "AbortMultipartUpload",
            Self::ListAllMyBuckets => "ListAllMyBuckets",
            Self::CreateBucket => "CreateBucket",
            Self::DeleteBucket => "DeleteBucket",
            Self::GetBucketLocation => "GetBucketLocation",
            Self::GetObjectTagging => "GetObjectTagging",
            Self::PutObjectTagging => "PutObjectTagging",
            Self::DeleteObjectTagging => "DeleteObjectTagging",
            Self::GetObjectAcl => "GetObjectAcl",
            Self::PutObjectAcl => "PutObjectAcl",
            Self::GetObjectAttributes => "GetObjectAttributes",
            Self::GetBucketVersioning => "GetBucketVersioning",
            Self::PutBucketVersioning => "PutBucketVersioning",
            Self::GetBucketTagging => "GetBucketTagging",
            Self::PutBucketTagging => "PutBucketTagging",
            Self::GetBucketAcl => "GetBucketAcl",
            Self::PutBucketAcl => "PutBucketAcl",
            Self::GetBucketPolicy => "GetBucketPolicy",
            Self::PutBucketPolicy => "PutBucketPolicy",
            Self::DeleteBucketPolicy => "DeleteBucketPolicy",
            Self::GetBucketCors => "GetBucketCORS",
            Self::PutBucketCors => "PutBucketCORS",
            Self::GetLifecycleConfiguration => "GetLifecycleConfiguration",
            Self::PutLifecycleConfiguration => "PutLifecycleConfiguration",
            Self::GetEncryptionConfiguration => "GetEncryptionConfiguration",
            Self::PutEncryptionConfiguration => "PutEncryptionConfiguration",
            Self::GetObjectVersionTagging => "GetObjectVersionTagging",
            Self::PutObjectVersionTagging => "PutObjectVersionTagging",
            Self::DeleteObjectVersionTagging => "DeleteObjectVersionTagging",
            Self::GetObjectVersionAcl => "GetObjectVersionAcl",
            Self::PutObjectVersionAcl => "PutObjectVersionAcl",
            Self::GetObjectVersionAttributes => "GetObjectVersionAttributes",
            Self::PutObjectRetention => "PutObjectRetention",
            Self::PutObjectLegalHold => "PutObjectLegalHold",
            Self::BypassGovernanceRetention => "BypassGovernanceRetention",
            Self::PutBucketObjectLockConfiguration => "PutBucketObjectLockConfiguration",
            Self::PutBucketOwnershipControls => "PutBucketOwnershipControls",
            Self::Unclassified => "Unclassified",
        }
    }

    /// The bit of this action in a `u64` action set.
    pub const fn bit(self) -> u64 {
        1u64 << (self as u8)
    }

    /// Parses an IAM action name, with or without the `s3:` prefix, ignoring
    /// ASCII case as IAM does. [`Action::Unclassified`] is not nameable.
    pub fn parse(name: &str) -> Option<Action> {
        let bare = match name.get(..3) {
            Some(prefix) if prefix.eq_ignore_ascii_case("s3:") => &name[3..],
            _ => name,
        };
        Self::ALL
            .iter()
            .copied()
            .filter(|a| *a != Self::Unclassified)
            .find(|a| a.as_str().eq_ignore_ascii_case(bare))
    }
}

// Action sets are `u64` bitsets.
const _: () = assert!(Action::COUNT <= 64);

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name given to [`Action::from_str`] is not an S3 action s3gate knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown S3 action `{0}`")]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| UnknownAction(s.to_owned()))
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    #[test]
    fn discriminants_are_dense_and_in_all_order() {
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i, "{a}");
        }
    }

    #[test]
    fn action_names_parse_with_or_without_prefix_in_any_case() {
        for a in Action::ALL {
            if a == Action::Unclassified {
                continue;
            }
            assert_eq!(Action::parse(a.as_str()), Some(a));
            assert_eq!(Action::parse(&format!("s3:{a}")), Some(a));
            assert_eq!(
                Action::parse(&format!("S3:{}", a.as_str().to_lowercase())),
                Some(a)
            );
        }
        assert_eq!("s3:getobject".parse::<Action>(), Ok(Action::GetObject));
        assert_eq!(Action::parse("GetBucketCors"), Some(Action::GetBucketCors));
    }

    #[test]
    fn unclassified_and_unknown_names_do_not_parse() {
        assert_eq!(Action::parse("Unclassified"), None);
        assert_eq!(Action::parse("s3:Unclassified"), None);
        assert_eq!(Action::parse("s3:*"), None);
        assert_eq!(Action::parse("iam:GetObject"), None);
        assert_eq!(Action::parse(""), None);
        assert_eq!(
            "s3:Frobnicate".parse::<Action>(),
            Err(UnknownAction("s3:Frobnicate".into()))
        );
    }
}
