//! s3gate's own objects on a store (the revocation list) are out of the
//! data plane's reach: no grant lets a caller read, overwrite, delete, copy
//! or re-tag them, or change the configuration of the bucket holding them
//! (a lifecycle rule or a bucket policy could remove or hide them too).
//!
//! Pure: compares a classified request's resources with the objects'
//! names. Depends only on [`super::action`] and [`super::classify`].

use super::action::Action;
use super::classify::S3Request;

/// The first (action, resource) of `req` that touches `s3://bucket/key`
/// or changes the bucket holding it, if any. Listings and bucket reads
/// (`Get*`) pass: they show the object's name, never its content.
pub fn touches_own_object<'r>(
    req: &'r S3Request,
    bucket: &str,
    key: &str,
) -> Option<&'r (Action, String)> {
    let bucket_resource = format!("s3://{bucket}");
    let object_resource = format!("s3://{bucket}/{key}");
    req.resources.iter().find(|(action, resource)| {
        *resource == object_resource
            || (*resource == bucket_resource && !action.as_str().starts_with("Get"))
    })
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod tests {
    use http::{HeaderMap, HeaderValue, Method, Uri};

    use super::*;
    use crate::s3::classify;

    fn request(method: &str, uri: &str, headers: &[(&'static str, &str)]) -> S3Request {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).expect("value"));
        }
        let method: Method = method.parse().expect("method");
        let uri: Uri = uri.parse().expect("uri");
        classify(&method, &uri, &map, &[]).expect("classify")
    }

    fn touches(method: &str, uri: &str, headers: &[(&'static str, &str)]) -> bool {
        touches_own_object(&request(method, uri, headers), "ops", "s3gate/rev.jsonl").is_some()
    }

    #[test]
    fn every_object_operation_on_the_list_is_caught() {
        for (method, uri) in [
            ("GET", "/ops/s3gate/rev.jsonl"),
            ("HEAD", "/ops/s3gate/rev.jsonl"),
            ("PUT", "/ops/s3gate/rev.jsonl"),
            ("DELETE", "/ops/s3gate/rev.jsonl"),
            ("DELETE", "/ops/s3gate/rev.jsonl?versionId=1"),
            ("PUT", "/ops/s3gate/rev.jsonl?tagging"),
            ("PUT", "/ops/s3gate/rev.jsonl?retention"),
            ("POST", "/ops/s3gate/rev.jsonl?uploads"),
            ("GET", "/ops/s3gate%2Frev.jsonl"),
            ("PUT", "/ops?lifecycle"),
            ("PUT", "/ops?policy"),
            ("DELETE", "/ops"),
        ] {
            assert!(touches(method, uri, &[]), "{method} {uri}");
        }
        // As a copy source, or a copy destination.
        assert!(touches(
            "PUT",
            "/other/k",
            &[("x-amz-copy-source", "ops/s3gate/rev.jsonl")]
        ));
        // A DeleteObjects batch holding it.
        let mut batch = request("POST", "/ops?delete", &[]);
        batch.set_delete_keys(&[("a".into(), None), ("s3gate/rev.jsonl".into(), None)]);
        assert!(touches_own_object(&batch, "ops", "s3gate/rev.jsonl").is_some());
    }

    #[test]
    fn neighbours_listings_and_bucket_reads_pass() {
        for (method, uri) in [
            ("GET", "/ops/s3gate/rev.jsonl2"),
            ("GET", "/ops/s3gate/"),
            ("PUT", "/ops/other"),
            ("GET", "/ops?list-type=2&prefix=s3gate/"),
            ("GET", "/ops?location"),
            ("GET", "/other/s3gate/rev.jsonl"),
        ] {
            assert!(!touches(method, uri, &[]), "{method} {uri}");
        }
    }
}
