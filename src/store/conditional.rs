//! Conditional requests: `If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since` on reads and copies, and `If-Match` /
//! `If-None-Match: *` on writes. Pure: the current object (if any) is
//! passed in.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html>,
//! RFC 9110 §13.2.2 for the order of evaluation.

use s3s::dto::{ETag, ETagCondition, Timestamp};

/// The outcome of a failed precondition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// 412 `PreconditionFailed`.
    Precondition,
    /// 304 (GET/HEAD only).
    NotModified,
}

/// The read preconditions of a GET or HEAD (or of a copy's source).
#[derive(Debug, Default, Clone)]
pub struct ReadConditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

fn matches(condition: &ETagCondition, etag: &str, weak: bool) -> bool {
    let current = ETag::Strong(etag.to_owned());
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) if weak => current.weak_cmp(e),
        ETagCondition::ETag(e) => current.strong_cmp(e),
    }
}

/// Seconds: HTTP dates have no finer precision.
fn secs(t: &Timestamp) -> i64 {
    let t: time::OffsetDateTime = t.clone().into();
    t.unix_timestamp()
}

impl ReadConditions<'_> {
    /// Evaluates against an existing object. `not_modified` is what a
    /// failed `If-None-Match`/`If-Modified-Since` answers: 304 for GET and
    /// HEAD, 412 for a copy source.
    pub fn check(
        &self,
        etag: &str,
        last_modified_ms: i64,
        not_modified: Failed,
    ) -> Result<(), Failed> {
        let modified = last_modified_ms.div_euclid(1000);
        // If-Match wins over If-Unmodified-Since (RFC 9110, and S3 documents
        // the same pairing).
        if let Some(c) = self.if_match {
            if !matches(c, etag, false) {
                return Err(Failed::Precondition);
            }
        } else if let Some(t) = self.if_unmodified_since
            && modified > secs(t)
        {
            return Err(Failed::Precondition);
        }
        if let Some(c) = self.if_none_match {
            if matches(c, etag, true) {
                return Err(not_modified);
            }
        } else if let Some(t) = self.if_modified_since
            && modified <= secs(t)
        {
            return Err(not_modified);
        }
        Ok(())
    }
}

/// Write preconditions (PutObject, CompleteMultipartUpload): `If-None-Match:
/// *` creates only; `If-Match` overwrites only that ETag. `current` is the
/// key's current object (none when absent or behind a delete marker).
pub fn check_write(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    current: Option<&str>,
) -> Result<(), Failed> {
    if let Some(c) = if_none_match
        && let Some(etag) = current
        && matches(c, etag, true)
    {
        return Err(Failed::Precondition);
    }
    if let Some(c) = if_match {
        match current {
            Some(etag) if matches(c, etag, false) => {}
            _ => return Err(Failed::Precondition),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> ETagCondition {
        ETagCondition::ETag(ETag::Strong(s.to_owned()))
    }

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from(time::OffsetDateTime::from_unix_timestamp(secs).unwrap())
    }

    #[test]
    fn if_none_match_star_refuses_an_existing_key_and_allows_a_new_one() {
        let any = ETagCondition::Any;
        assert_eq!(
            check_write(None, Some(&any), Some("e")),
            Err(Failed::Precondition)
        );
        assert_eq!(check_write(None, Some(&any), None), Ok(()));
    }

    #[test]
    fn if_match_on_write_needs_that_etag_and_an_object() {
        assert_eq!(check_write(Some(&tag("e")), None, Some("e")), Ok(()));
        assert_eq!(
            check_write(Some(&tag("x")), None, Some("e")),
            Err(Failed::Precondition)
        );
        assert_eq!(
            check_write(Some(&tag("e")), None, None),
            Err(Failed::Precondition)
        );
    }

    #[test]
    fn reads_follow_rfc_9110_precedence() {
        let m = tag("e");
        let c = ReadConditions {
            if_match: Some(&m),
            if_unmodified_since: Some(&ts(0)),
            ..Default::default()
        };
        // If-Match true overrides a false If-Unmodified-Since.
        assert_eq!(c.check("e", 10_000, Failed::NotModified), Ok(()));
        let c = ReadConditions {
            if_none_match: Some(&m),
            ..Default::default()
        };
        assert_eq!(
            c.check("e", 0, Failed::NotModified),
            Err(Failed::NotModified)
        );
        assert_eq!(
            c.check("e", 0, Failed::Precondition),
            Err(Failed::Precondition)
        );
        let since = ts(10);
        let c = ReadConditions {
            if_modified_since: Some(&since),
            ..Default::default()
        };
        assert_eq!(
            c.check("e", 10_999, Failed::NotModified),
            Err(Failed::NotModified)
        );
        assert_eq!(c.check("e", 11_000, Failed::NotModified), Ok(()));
    }
}
