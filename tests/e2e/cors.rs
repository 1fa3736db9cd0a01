//! CORS from the config's `[[cors]]` rules: preflights answered by s3gate
//! without credentials and without asking the store, the CORS headers of
//! real answers (errors included), and `GetBucketCors` / `PutBucketCors`.
//! The browser's own view is in `browser_data.rs`.

use crate::common::client::audit_file_lines_once;
use crate::harness::{Gateway, bucket_scope, harness, mint_with, unique_name};
use crate::sign::{Payload, Request, Response, Signing, send_blocking, signed};

/// `[[cors]]` rules for `bucket`: uploads from one app origin with its
/// headers, reads from any origin.
pub fn cors_rules(bucket: &str, app_origin: &str) -> String {
    format!(
        r#"
[[cors]]
id = "app-uploads"
buckets = ["{bucket}"]
allowed_origins = ["{app_origin}"]
allowed_methods = ["GET", "PUT", "HEAD"]
allowed_headers = ["content-type", "x-amz-*", "authorization", "x-custom"]
expose_headers = ["ETag", "x-amz-request-id"]
max_age_seconds = 600

[[cors]]
buckets = ["{bucket}"]
allowed_origins = ["*"]
allowed_methods = ["GET"]
"#
    )
}

fn preflight(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Response {
    send_blocking(Request {
        method: "OPTIONS".into(),
        url: format!("{}{path}", gw.endpoint()),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: Vec::new(),
    })
}

fn header<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    resp.headers.get(name).and_then(|v| v.to_str().ok())
}

const APP: &str = "http://app.localhost:8080";

#[test]
fn preflights_are_answered_from_the_config_without_credentials_or_the_store() {
    needs_testbed!();
    let h = harness();
    // No such bucket on the store: an answer proves the store was not asked.
    let ghost = unique_name("ghost");
    let gw = h.gateway_with("cors-preflight", &cors_rules(&ghost, APP));
    let path = format!("/{ghost}/uploads/a.txt");

    let ok = preflight(
        &gw,
        &path,
        &[
            ("origin", APP),
            ("access-control-request-method", "PUT"),
            (
                "access-control-request-headers",
                "Content-Type, X-Amz-Meta-Note",
            ),
        ],
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(header(&ok, "access-control-allow-origin"), Some(APP));
    assert_eq!(
        header(&ok, "access-control-allow-methods"),
        Some("GET, PUT, HEAD")
    );
    assert_eq!(
        header(&ok, "access-control-allow-headers"),
        Some("content-type, x-amz-meta-note")
    );
    assert_eq!(
        header(&ok, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(header(&ok, "access-control-max-age"), Some("600"));
    assert_eq!(
        header(&ok, "access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );
    let vary: Vec<_> = ok.headers.get_all("vary").iter().collect();
    assert!(
        vary.iter().any(|v| v.to_str().unwrap().contains("Origin")),
        "{vary:?}"
    );

    // Any origin may GET (the second rule): answered `*`, no credentials.
    let any = preflight(
        &gw,
        &path,
        &[
            ("origin", "https://elsewhere.test"),
            ("access-control-request-method", "GET"),
        ],
    );
    assert_eq!(any.status, 200, "{}", any.text());
    assert_eq!(header(&any, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&any, "access-control-allow-credentials"), None);

    // S3's refusals.
    for (headers, status, code, says) in [
        (
            vec![
                ("origin", "https://elsewhere.test"),
                ("access-control-request-method", "PUT"),
            ],
            403,
            "AccessForbidden",
            "This CORS request is not allowed",
        ),
        (
            vec![
                ("origin", APP),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "x-not-listed"),
            ],
            403,
            "AccessForbidden",
            "This CORS request is not allowed",
        ),
        (
            vec![("access-control-request-method", "GET")],
            400,
            "BadRequest",
            "Origin request header needed",
        ),
        (
            vec![("origin", APP), ("access-control-request-method", "PATCH")],
            400,
            "BadRequest",
            "Access-Control-Request-Method",
        ),
    ] {
        let resp = preflight(&gw, &path, &headers);
        resp.assert_error(status, code);
        assert!(resp.message().contains(says), "{}", resp.text());
        assert_eq!(header(&resp, "access-control-allow-origin"), None);
    }
    let bare = unique_name("nocors");
    let resp = preflight(
        &gw,
        &format!("/{bare}/k"),
        &[("origin", APP), ("access-control-request-method", "GET")],
    );
    resp.assert_error(403, "AccessForbidden");
    assert!(
        resp.message()
            .contains("CORS is not enabled for this bucket"),
        "{}",
        resp.text()
    );

    // Every preflight is audited, as no one in particular.
    let is_preflight = |l: &serde_json::Value| l["operation"] == "PreflightCORS";
    let lines = audit_file_lines_once(&gw.audit, |ls| {
        ls.iter().filter(|l| is_preflight(l)).count() >= 7
    });
    let preflights: Vec<_> = lines.iter().filter(|l| is_preflight(l)).collect();
    assert_eq!(preflights.len(), 7, "{lines:?}");
    assert_eq!(preflights[0]["decision"], "allow");
    assert_eq!(preflights[0]["bucket"], ghost.as_str());
    assert_eq!(preflights[2]["decision"], "deny");
    assert_eq!(preflights[2]["error"], "AccessForbidden");
}

#[test]
fn real_answers_and_errors_carry_the_matching_rules_headers() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("cors-real");
    let gw = h.gateway_with("cors-real", &cors_rules(&bucket.name, APP));
    let creds = mint_with(&gw.config, "web", &bucket_scope("*", &bucket.name), "1h");
    let url = format!("{}/{}/hello.txt", gw.endpoint(), bucket.name);
    let (put, _) = signed(
        &Signing::now(&creds),
        "PUT",
        &url,
        &[("origin", APP)],
        Payload::Hash(b"hi"),
        b"hi".to_vec(),
    );
    let resp = send_blocking(put);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(APP));
    assert_eq!(
        header(&resp, "access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );

    // An error answer is readable by the page too (it can show why).
    let missing = format!("{}/{}/nope.txt", gw.endpoint(), bucket.name);
    let (get, _) = signed(
        &Signing::now(&creds),
        "GET",
        &missing,
        &[("origin", APP)],
        Payload::Unsigned,
        Vec::new(),
    );
    let resp = send_blocking(get);
    assert_eq!((resp.status, resp.code().as_str()), (404, "NoSuchKey"));
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(APP));

    // A PUT from an origin only allowed to GET: no CORS headers (the
    // browser hides the answer), but the answer still varies by origin.
    let (put, _) = signed(
        &Signing::now(&creds),
        "PUT",
        &url,
        &[("origin", "https://elsewhere.test")],
        Payload::Hash(b"hi"),
        b"hi".to_vec(),
    );
    let resp = send_blocking(put);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(header(&resp, "access-control-allow-origin"), None);
    assert!(
        resp.headers
            .get_all("vary")
            .iter()
            .any(|v| v.to_str().unwrap().contains("Origin"))
    );
}

#[test]
fn bucket_cors_is_read_from_the_config_and_never_changed_by_callers() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("cors-api");
    let plain = h.bucket("cors-none");
    let gw = h.gateway_with("cors-api", &cors_rules(&bucket.name, APP));
    let mut scopes = bucket_scope("*", &bucket.name);
    scopes.extend(bucket_scope("*", &plain.name));
    let creds = mint_with(&gw.config, "admin", &scopes, "1h");
    let call = |method: &str, name: &str, body: &[u8]| {
        crate::policy::request(&gw, &creds, method, &format!("{name}?cors"), body)
    };
    let got = call("GET", &bucket.name, b"");
    assert_eq!(got.status, 200, "{}", got.text());
    let xml = got.text();
    assert!(xml.contains("<CORSConfiguration"), "{xml}");
    assert!(xml.contains("<ID>app-uploads</ID>"), "{xml}");
    assert!(
        xml.contains(&format!("<AllowedOrigin>{APP}</AllowedOrigin>")),
        "{xml}"
    );
    assert!(xml.contains("<MaxAgeSeconds>600</MaxAgeSeconds>"), "{xml}");

    call("GET", &plain.name, b"").assert_error(404, "NoSuchCORSConfiguration");

    let config = b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>\
<AllowedMethod>DELETE</AllowedMethod></CORSRule></CORSConfiguration>";
    let put = call("PUT", &bucket.name, config);
    put.assert_error(403, "AccessDenied");
    assert!(put.message().contains("[[cors]]"), "{}", put.text());
    call("DELETE", &bucket.name, b"").assert_error(403, "AccessDenied");
    // Still the config's rules.
    assert!(
        call("GET", &bucket.name, b"")
            .text()
            .contains("app-uploads")
    );

    // Without a grant of s3:GetBucketCORS, refused like any other action.
    let reader = mint_with(
        &gw.config,
        "reader",
        &[format!("read=s3://{}/*", bucket.name)],
        "1h",
    );
    crate::policy::request(&gw, &reader, "GET", &format!("{}?cors", bucket.name), b"")
        .assert_error(403, "AccessDenied");
}
