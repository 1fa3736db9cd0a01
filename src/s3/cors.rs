//! CORS rules in S3's shape, and S3's way of matching a browser's request
//! against them: the first rule whose origins, method and (for a preflight)
//! requested headers all match decides; no rule, no CORS headers.
//!
//! Pure: no I/O, no HTTP types beyond header names. The rules come from the
//! gateway's config (`[[cors]]`, the source of truth: `PutBucketCors` is
//! refused), the answer's headers are chosen here and set by
//! `gateway::cors`.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/RESTOPTIONSobject.html>

use serde::Deserialize;

use crate::xml::Doc;

/// The methods a CORS rule may allow, as S3 accepts them.
pub const CORS_METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];
/// Most rules a bucket may have (S3's own limit).
pub const MAX_CORS_RULES: usize = 100;
/// Longest rule id (S3's own limit).
pub const MAX_CORS_ID_LEN: usize = 255;

/// One `[[cors]]` entry: an S3 `CORSRule`, plus the buckets it applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsRule {
    /// `ID`. Default: none.
    #[serde(default)]
    pub id: Option<String>,
    /// The buckets (exact names) this rule is part of the CORS
    /// configuration of.
    pub buckets: Vec<String>,
    /// `AllowedOrigin`: origins (`https://app.example.com`), each with at
    /// most one `*` wildcard (`https://*.example.com`, or `*` for any).
    pub allowed_origins: Vec<String>,
    /// `AllowedMethod`: of GET, PUT, HEAD, POST, DELETE.
    pub allowed_methods: Vec<String>,
    /// `AllowedHeader`: request headers a preflight may name, each with at
    /// most one `*`, compared without case. Default: none.
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    /// `ExposeHeader`: response headers the page may read. Default: none.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// `MaxAgeSeconds`: how long a browser may cache a preflight answer.
    /// Default: unset (the browser's own default).
    #[serde(default)]
    pub max_age_seconds: Option<u32>,
}

/// `*` matches any run of characters (S3 allows one per entry).
fn wildcard(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value.starts_with(head)
                && value.ends_with(tail)
        }
    }
}

impl CorsRule {
    /// Why the rule is not one S3 would accept, if it is not.
    pub fn validate(&self) -> Result<(), String> {
        if self.buckets.is_empty() {
            return Err("`buckets` is empty: a rule names the buckets it applies to".into());
        }
        if self
            .id
            .as_ref()
            .is_some_and(|id| id.len() > MAX_CORS_ID_LEN)
        {
            return Err(format!("`id` is longer than {MAX_CORS_ID_LEN} characters"));
        }
        if self.allowed_origins.is_empty() || self.allowed_methods.is_empty() {
            return Err("a rule needs `allowed_origins` and `allowed_methods`".into());
        }
        for m in &self.allowed_methods {
            if !CORS_METHODS.contains(&m.as_str()) {
                return Err(format!(
                    "`allowed_methods`: `{m}` is not one of {}",
                    CORS_METHODS.join(", ")
                ));
            }
        }
        for (field, list) in [
            ("allowed_origins", &self.allowed_origins),
            ("allowed_headers", &self.allowed_headers),
        ] {
            for item in list {
                if item.matches('*').count() > 1 || item.is_empty() {
                    return Err(format!(
                        "`{field}`: `{item}` may hold at most one `*` wildcard, and not be empty"
                    ));
                }
            }
        }
        for h in &self.expose_headers {
            if h.contains('*') || h.is_empty() || http::HeaderName::try_from(h.as_str()).is_err() {
                return Err(format!(
                    "`expose_headers`: `{h}` is not a header name (no wildcards)"
                ));
            }
        }
        Ok(())
    }

    fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| wildcard(o, origin))
    }

    fn allows_header(&self, header: &str) -> bool {
        let header = header.to_ascii_lowercase();
        self.allowed_headers
            .iter()
            .any(|a| wildcard(&a.to_ascii_lowercase(), &header))
    }
}

/// Every bucket's rules, in file order.
#[derive(Debug, Clone, Default)]
pub struct CorsRules {
    rules: Vec<CorsRule>,
}

/// What a browser asked: its `Origin`, the method of the real request, and
/// for a preflight the headers it wants to send.
#[derive(Debug, Clone, Copy)]
pub struct CorsAsk<'a> {
    pub origin: &'a str,
    pub method: &'a str,
    /// `Access-Control-Request-Headers`, comma-separated (preflights only).
    pub request_headers: Option<&'a str>,
}

/// Why a preflight is refused, in S3's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorsRefusal {
    /// The bucket has no CORS rules.
    NotEnabled,
    /// No rule matches the origin, method and headers.
    NotAllowed,
}

/// The CORS answer headers for a matched rule, as (name, value) pairs.
pub type CorsHeaders = Vec<(&'static str, String)>;

impl CorsRules {
    /// Checks every rule and the per-bucket limit.
    pub fn new(rules: Vec<CorsRule>) -> Result<CorsRules, String> {
        for (i, rule) in rules.iter().enumerate() {
            rule.validate().map_err(|e| format!("cors[{i}]: {e}"))?;
        }
        let this = CorsRules { rules };
        for rule in &this.rules {
            for bucket in &rule.buckets {
                if this.for_bucket(bucket).count() > MAX_CORS_RULES {
                    return Err(format!(
                        "bucket `{bucket}` has more than {MAX_CORS_RULES} CORS rules"
                    ));
                }
            }
        }
        Ok(this)
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The bucket's rules, in order.
    pub fn for_bucket<'a>(&'a self, bucket: &'a str) -> impl Iterator<Item = &'a CorsRule> {
        self.rules
            .iter()
            .filter(move |r| r.buckets.iter().any(|b| b == bucket))
    }

    /// Whether the bucket has any rule (its answers then vary by `Origin`).
    pub fn enabled(&self, bucket: &str) -> bool {
        self.for_bucket(bucket).next().is_some()
    }

    /// A preflight: the headers to answer 200 with, or why not.
    pub fn preflight(&self, bucket: &str, ask: CorsAsk<'_>) -> Result<CorsHeaders, CorsRefusal> {
        if !self.enabled(bucket) {
            return Err(CorsRefusal::NotEnabled);
        }
        let requested: Vec<&str> = ask
            .request_headers
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        let rule = self
            .for_bucket(bucket)
            .find(|r| {
                r.allows_origin(ask.origin)
                    && r.allowed_methods.iter().any(|m| m == ask.method)
                    && requested.iter().all(|h| r.allows_header(h))
            })
            .ok_or(CorsRefusal::NotAllowed)?;
        let mut headers = answer(rule, ask.origin);
        if !requested.is_empty() {
            // S3 echoes the requested headers, lower-cased.
            headers.push((
                "access-control-allow-headers",
                requested
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        Ok(headers)
    }

    /// A real request from a page: the headers its answer carries, when a
    /// rule matches (none otherwise, and the browser withholds the answer
    /// from the page).
    pub fn actual(&self, bucket: &str, origin: &str, method: &str) -> Option<CorsHeaders> {
        self.for_bucket(bucket)
            .find(|r| r.allows_origin(origin) && r.allowed_methods.iter().any(|m| m == method))
            .map(|rule| answer(rule, origin))
    }

    /// `GetBucketCors`'s answer: the bucket's rules as S3's
    /// `CORSConfiguration`, or `None` when it has none.
    pub fn to_xml(&self, bucket: &str) -> Option<String> {
        if !self.enabled(bucket) {
            return None;
        }
        let mut doc = Doc::with_declaration();
        doc.element(
            "CORSConfiguration",
            &[("xmlns", "http://s3.amazonaws.com/doc/2006-03-01/")],
            |d| {
                for rule in self.for_bucket(bucket) {
                    d.element("CORSRule", &[], |d| {
                        if let Some(id) = &rule.id {
                            d.text("ID", id);
                        }
                        for h in &rule.allowed_headers {
                            d.text("AllowedHeader", h);
                        }
                        for m in &rule.allowed_methods {
                            d.text("AllowedMethod", m);
                        }
                        for o in &rule.allowed_origins {
                            d.text("AllowedOrigin", o);
                        }
                        for h in &rule.expose_headers {
                            d.text("ExposeHeader", h);
                        }
                        if let Some(age) = rule.max_age_seconds {
                            d.text("MaxAgeSeconds", &age.to_string());
                        }
                    });
                }
            },
        );
        Some(doc.finish())
    }
}

/// The headers S3 answers a matched rule with. A rule open to every origin
/// (`*`) answers `*` and no credentials; any other echoes the origin and
/// allows credentials, as S3 does.
fn answer(rule: &CorsRule, origin: &str) -> CorsHeaders {
    let any = rule.allowed_origins.iter().any(|o| o == "*");
    let mut headers = vec![
        (
            "access-control-allow-origin",
            if any { "*".into() } else { origin.to_owned() },
        ),
        (
            "access-control-allow-methods",
            rule.allowed_methods.join(", "),
        ),
    ];
    if !any {
        headers.push(("access-control-allow-credentials", "true".into()));
    }
    if !rule.expose_headers.is_empty() {
        headers.push((
            "access-control-expose-headers",
            rule.expose_headers.join(", "),
        ));
    }
    if let Some(age) = rule.max_age_seconds {
        headers.push(("access-control-max-age", age.to_string()));
    }
    headers
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            id: None,
            buckets: vec!["web".into()],
            allowed_origins: origins.iter().map(|s| (*s).to_owned()).collect(),
            allowed_methods: methods.iter().map(|s| (*s).to_owned()).collect(),
            allowed_headers: headers.iter().map(|s| (*s).to_owned()).collect(),
            expose_headers: vec!["ETag".into()],
            max_age_seconds: Some(600),
        }
    }

    fn ask<'a>(origin: &'a str, method: &'a str, headers: Option<&'a str>) -> CorsAsk<'a> {
        CorsAsk {
            origin,
            method,
            request_headers: headers,
        }
    }

    fn get<'a>(h: &'a CorsHeaders, name: &str) -> Option<&'a str> {
        h.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn origins_match_with_one_wildcard() {
        let rules =
            CorsRules::new(vec![rule(&["https://*.example.com"], &["GET"], &[])]).expect("rules");
        for ok in ["https://app.example.com", "https://a.b.example.com"] {
            assert!(rules.actual("web", ok, "GET").is_some(), "{ok}");
        }
        for no in [
            "http://app.example.com",
            "https://example.com",
            "https://app.example.com.evil.test",
        ] {
            assert!(rules.actual("web", no, "GET").is_none(), "{no}");
        }
        assert!(
            rules
                .actual("other", "https://app.example.com", "GET")
                .is_none()
        );
        assert!(
            rules
                .actual("web", "https://app.example.com", "PUT")
                .is_none()
        );
    }

    #[test]
    fn preflight_checks_method_and_every_requested_header() {
        let rules = CorsRules::new(vec![
            rule(
                &["https://app.test"],
                &["PUT"],
                &["content-type", "x-amz-*"],
            ),
            rule(&["*"], &["GET"], &[]),
        ])
        .expect("rules");
        let h = rules
            .preflight(
                "web",
                ask(
                    "https://app.test",
                    "PUT",
                    Some("Content-Type, X-Amz-Meta-A"),
                ),
            )
            .expect("allowed");
        assert_eq!(
            get(&h, "access-control-allow-origin"),
            Some("https://app.test")
        );
        assert_eq!(get(&h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(
            get(&h, "access-control-allow-headers"),
            Some("content-type, x-amz-meta-a")
        );
        assert_eq!(get(&h, "access-control-max-age"), Some("600"));
        assert_eq!(
            rules.preflight("web", ask("https://app.test", "PUT", Some("authorization"))),
            Err(CorsRefusal::NotAllowed)
        );
        assert_eq!(
            rules.preflight("web", ask("https://app.test", "DELETE", None)),
            Err(CorsRefusal::NotAllowed)
        );
        // The second rule: any origin, GET only, answered with `*` and no
        // credentials.
        let h = rules
            .preflight("web", ask("https://else.test", "GET", None))
            .expect("allowed");
        assert_eq!(get(&h, "access-control-allow-origin"), Some("*"));
        assert_eq!(get(&h, "access-control-allow-credentials"), None);
        assert_eq!(
            rules.preflight("nocors", ask("https://app.test", "GET", None)),
            Err(CorsRefusal::NotEnabled)
        );
    }

    #[test]
    fn rules_s3_would_refuse_are_refused() {
        let mut bad = vec![
            rule(&["https://*.*.test"], &["GET"], &[]),
            rule(&["https://a.test"], &["PATCH"], &[]),
            rule(&["https://a.test"], &["GET"], &["x-*-*"]),
            rule(&[], &["GET"], &[]),
        ];
        let mut no_bucket = rule(&["*"], &["GET"], &[]);
        no_bucket.buckets.clear();
        bad.push(no_bucket);
        let mut wild_expose = rule(&["*"], &["GET"], &[]);
        wild_expose.expose_headers = vec!["x-*".into()];
        bad.push(wild_expose);
        for r in bad {
            assert!(CorsRules::new(vec![r.clone()]).is_err(), "{r:?}");
        }
        let many = vec![rule(&["*"], &["GET"], &[]); MAX_CORS_RULES + 1];
        assert!(CorsRules::new(many).is_err());
    }

    #[test]
    fn get_bucket_cors_renders_the_rules() {
        let mut r = rule(&["https://app.test"], &["GET", "PUT"], &["*"]);
        r.id = Some("web-<app>".into());
        let rules = CorsRules::new(vec![r]).expect("rules");
        let xml = rules.to_xml("web").expect("xml");
        assert!(xml.contains("<CORSRule><ID>web-&lt;app&gt;</ID><AllowedHeader>*</AllowedHeader><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedOrigin>https://app.test</AllowedOrigin><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>"), "{xml}");
        assert!(rules.to_xml("other").is_none());
    }
}
