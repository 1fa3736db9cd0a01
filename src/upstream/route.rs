//! Which store serves a bucket: the `[[upstreams]]` entries in file order,
//! each claiming the buckets its `buckets` patterns match (`*` matches any
//! run); the first claim wins. Buckets nobody claims, and requests without
//! a bucket (ListBuckets), go to the default `[upstream]`.
//!
//! Depends on `config` and on [`crate::policy::Pattern`] for matching.

use std::sync::Arc;

use crate::config::Config;
use crate::policy::Pattern;
use crate::s3::S3Request;

use super::{Upstream, UpstreamError};

/// Every store, and the routing between them. Shared (`Arc`) so a
/// background task (the revocation poller) can hold the store it reads.
pub struct Upstreams {
    default: Arc<Upstream>,
    routes: Vec<(Vec<Pattern>, Arc<Upstream>)>,
}

impl Upstreams {
    /// Builds every configured upstream. Needs a tokio runtime.
    pub async fn new(config: &Config) -> anyhow::Result<Upstreams> {
        let default = Arc::new(Upstream::new(&config.upstream).await?);
        let mut routes = Vec::with_capacity(config.upstreams.len());
        for u in &config.upstreams {
            let patterns = u.buckets.iter().map(|b| Pattern::new(b)).collect();
            routes.push((patterns, Arc::new(Upstream::new(u).await?)));
        }
        Ok(Upstreams { default, routes })
    }

    /// The store for `bucket`.
    pub fn route(&self, bucket: Option<&str>) -> &Upstream {
        self.route_shared(bucket)
    }

    /// The store for `bucket`, to keep beyond this borrow.
    pub fn route_shared(&self, bucket: Option<&str>) -> &Arc<Upstream> {
        let Some(bucket) = bucket else {
            return &self.default;
        };
        self.routes
            .iter()
            .find(|(patterns, _)| patterns.iter().any(|p| p.matches(bucket)))
            .map_or(&self.default, |(_, upstream)| upstream)
    }

    /// The region a request for `bucket` must be signed for: its store's.
    pub fn region_for(&self, bucket: Option<&str>) -> &str {
        self.route(bucket).region()
    }

    /// Whether any configured store is in `region`: the regions s3gate
    /// serves, and so the only ones a caller's signature may name.
    pub fn serves_region(&self, region: &str) -> bool {
        std::iter::once(&self.default)
            .chain(self.routes.iter().map(|(_, u)| u))
            .any(|u| u.region() == region)
    }

    /// The store for a request. A copy (CopyObject, UploadPartCopy) whose
    /// source bucket another store serves is refused: the destination's
    /// store cannot read from a bucket it does not hold.
    pub fn route_request(&self, s3: &S3Request) -> Result<&Upstream, UpstreamError> {
        let upstream = self.route(s3.bucket.as_deref());
        if let Some(source) = &s3.copy_source {
            let from = self.route(Some(&source.bucket));
            if !std::ptr::eq(from, upstream) {
                return Err(UpstreamError::CrossUpstreamCopy {
                    source_bucket: source.bucket.clone(),
                    source_upstream: from.name().to_owned(),
                    upstream: upstream.name().to_owned(),
                });
            }
        }
        Ok(upstream)
    }

    /// The default `[upstream]`.
    pub fn default_upstream(&self) -> &Upstream {
        &self.default
    }

    /// An upstream by name (`default` is the `[upstream]`).
    pub fn get(&self, name: &str) -> Option<&Upstream> {
        if name == self.default.name() {
            return Some(&self.default);
        }
        self.routes
            .iter()
            .map(|(_, u)| &**u)
            .find(|u| u.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[tokio::test]
    async fn buckets_route_by_first_matching_pattern_and_the_rest_to_the_default() {
        let config = Config::parse(
            r#"
[upstream]
endpoint = "http://127.0.0.1:1"
[upstream.credentials]
access_key_id = "a"
secret_access_key = "b"

[[upstreams]]
name = "eu"
endpoint = "http://127.0.0.1:2"
region = "eu-west-1"
buckets = ["eu-*", "shared"]
[upstreams.credentials]
access_key_id = "c"
secret_access_key = "d"

[[upstreams]]
name = "catchall-eu"
endpoint = "http://127.0.0.1:3"
buckets = ["*-eu-*"]
[upstreams.credentials]
access_key_id = "e"
secret_access_key = "f"

[session]
keyring = "k"
"#,
            Path::new("t.toml"),
        )
        .unwrap();
        let ups = Upstreams::new(&config).await.unwrap();
        assert_eq!(ups.route(None).name(), "default");
        assert_eq!(ups.route(Some("eu-data")).name(), "eu");
        assert_eq!(ups.route(Some("eu-data")).region, "eu-west-1");
        assert_eq!(ups.route(Some("shared")).name(), "eu");
        assert_eq!(ups.route(Some("shared2")).name(), "default");
        assert_eq!(ups.route(Some("x-eu-y")).name(), "catchall-eu");
        // First match wins: `eu-x-eu-y` is claimed by `eu`.
        assert_eq!(ups.route(Some("eu-x-eu-y")).name(), "eu");
        assert_eq!(ups.route(Some("us-data")).name(), "default");
        assert_eq!(ups.get("catchall-eu").unwrap().authority, "127.0.0.1:3");
        assert!(ups.get("nope").is_none());

        let copy = |dest: &str, source: &str| {
            let headers = http::HeaderMap::from_iter([(
                http::header::HeaderName::from_static("x-amz-copy-source"),
                http::HeaderValue::from_str(&format!("/{source}/k")).unwrap(),
            )]);
            let uri: http::Uri = format!("/{dest}/k").parse().unwrap();
            crate::s3::classify(&http::Method::PUT, &uri, &headers, &[]).unwrap()
        };
        assert_eq!(
            ups.route_request(&copy("eu-a", "shared")).unwrap().name(),
            "eu"
        );
        let err = ups
            .route_request(&copy("eu-a", "us-data"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("us-data") && err.contains("`default`") && err.contains("`eu`"),
            "{err}"
        );
    }
}
