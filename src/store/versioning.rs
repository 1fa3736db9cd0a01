//! How a write or a delete changes a key's versions, by the bucket's
//! versioning state (never configured, `Enabled`, `Suspended`). Pure: the
//! caller persists the record and removes the bodies it is told to.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html>

use super::layout::random_id;
use super::record::{BucketRecord, KeyRecord, NULL_VERSION, Version};

/// The id a new version gets: a fresh one while versioning is enabled,
/// `null` otherwise (unversioned and suspended buckets keep one null version).
pub fn new_version_id(bucket: &BucketRecord) -> String {
    if bucket.versioning_enabled() {
        random_id()
    } else {
        NULL_VERSION.to_owned()
    }
}

/// Adds `version` as the newest; returns the bodies no version refers to
/// any more (a replaced null version's).
pub fn push(record: &mut KeyRecord, version: Version) -> Vec<String> {
    let mut freed = Vec::new();
    if version.id == NULL_VERSION {
        record.versions.retain(|v| {
            let keep = v.id != NULL_VERSION;
            if !keep && let Some(d) = &v.data {
                freed.push(d.clone());
            }
            keep
        });
    }
    record.versions.push(version);
    freed
}

/// What a DELETE without a version id did.
#[derive(Debug, PartialEq, Eq)]
pub struct Deleted {
    /// The delete marker's id, when one was written (versioned buckets).
    pub marker: Option<String>,
    pub freed: Vec<String>,
}

/// DELETE without a version id: unversioned buckets drop the object;
/// versioned ones add a delete marker (suspended: a `null` one replacing
/// the null version).
pub fn delete_current(bucket: &BucketRecord, record: &mut KeyRecord, now_ms: i64) -> Deleted {
    if !bucket.versioning_configured() {
        let freed = record.versions.drain(..).filter_map(|v| v.data).collect();
        return Deleted {
            marker: None,
            freed,
        };
    }
    let id = new_version_id(bucket);
    let freed = push(record, Version::delete_marker(id.clone(), now_ms));
    Deleted {
        marker: Some(id),
        freed,
    }
}

/// DELETE with a version id removes exactly that version, for good.
/// Returns the removed version, if there was one.
pub fn delete_version(record: &mut KeyRecord, id: &str) -> Option<Version> {
    let at = record.versions.iter().position(|v| v.id == id)?;
    Some(record.versions.remove(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(id: &str, data: &str) -> Version {
        Version::for_test(id, data)
    }

    fn bucket(state: Option<&str>) -> BucketRecord {
        BucketRecord {
            versioning: state.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn unversioned_overwrite_frees_the_old_body_and_delete_leaves_nothing() {
        let b = bucket(None);
        let mut r = KeyRecord {
            key: "k".into(),
            versions: vec![],
        };
        assert!(push(&mut r, v(&new_version_id(&b), "d1")).is_empty());
        assert_eq!(push(&mut r, v(&new_version_id(&b), "d2")), ["d1"]);
        let d = delete_current(&b, &mut r, 0);
        assert_eq!(
            d,
            Deleted {
                marker: None,
                freed: vec!["d2".into()]
            }
        );
        assert!(r.versions.is_empty());
    }

    #[test]
    fn enabled_keeps_every_version_and_delete_adds_a_marker() {
        let b = bucket(Some("Enabled"));
        let mut r = KeyRecord {
            key: "k".into(),
            versions: vec![],
        };
        push(&mut r, v(&new_version_id(&b), "d1"));
        push(&mut r, v(&new_version_id(&b), "d2"));
        let d = delete_current(&b, &mut r, 0);
        assert!(d.marker.is_some() && d.freed.is_empty());
        assert_eq!(r.versions.len(), 3);
        assert!(r.current().is_none());
        let first = r.versions[0].id.clone();
        assert_ne!(first, r.versions[1].id);
        assert_eq!(
            delete_version(&mut r, &first)
                .and_then(|v| v.data)
                .as_deref(),
            Some("d1")
        );
    }

    #[test]
    fn suspended_replaces_only_the_null_version() {
        let enabled = bucket(Some("Enabled"));
        let suspended = bucket(Some("Suspended"));
        let mut r = KeyRecord {
            key: "k".into(),
            versions: vec![],
        };
        push(&mut r, v(&new_version_id(&enabled), "d1"));
        push(&mut r, v(&new_version_id(&suspended), "d2"));
        assert_eq!(push(&mut r, v(&new_version_id(&suspended), "d3")), ["d2"]);
        assert_eq!(r.versions.len(), 2);
        let d = delete_current(&suspended, &mut r, 0);
        assert_eq!(d.marker.as_deref(), Some(NULL_VERSION));
        assert_eq!(d.freed, ["d3"]);
        assert_eq!(r.versions.len(), 2);
    }
}
