//! The browser data plane as a web app sees it, in Debian's Chromium
//! (`tests/testbed/node/cors-page.mjs`): a page on another loopback origin
//! fetching a public object anonymously, preflighted requests (a custom
//! header, a presigned PUT with a JSON content type), and the fetches the
//! browser must withhold because no CORS rule allows them.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{clean_command, run, store_object, store_put};
use crate::harness::{bucket_scope, harness, mint_with, testbed_var};
use crate::sign::{Payload, Signing, signed};

/// Runs the fetches from a page on `http://localhost:PORT`; one result each.
fn page_fetches(fetches: &Value) -> Vec<Value> {
    let node = PathBuf::from(testbed_var("S3GATE_TEST_NODE"));
    let mut cmd = clean_command("node");
    cmd.arg(node.join("cors-page.mjs")).arg(fetches.to_string());
    let out = run(cmd, Duration::from_secs(90)).ok();
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    v["results"].as_array().unwrap().clone()
}

#[test]
fn a_page_on_another_origin_reads_public_data_and_uploads_through_a_presigned_link() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("browser-data");
    let b = &bucket.name;
    store_put(b, "public/hello.txt", b"hello, browser");
    store_put(b, "private/secret.txt", b"secret");
    let policy = crate::anonymous::public_policy(b);
    let cors = format!(
        r#"
[[cors]]
buckets = ["{b}"]
allowed_origins = ["http://localhost:*"]
allowed_methods = ["GET", "PUT"]
allowed_headers = ["content-type", "x-custom"]
expose_headers = ["ETag"]
max_age_seconds = 60
"#
    );
    let gw = h.policy_gateway_with("browser-data", &policy, &cors);
    let creds = mint_with(&gw.config, "webapp", &bucket_scope("*", b), "1h");
    let presigned_put = signed(
        &Signing {
            presign: Some(Duration::from_secs(600)),
            ..Signing::now(&creds)
        },
        "PUT",
        &format!("{}/{b}/uploads/from-page.json", gw.endpoint()),
        &[],
        Payload::Unsigned,
        Vec::new(),
    )
    .0
    .url;
    let at = |path: &str| format!("{}/{b}/{path}", gw.endpoint());
    let results = page_fetches(&json!([
        // Anonymous and simple: no preflight.
        { "url": at("public/hello.txt") },
        // A custom header: preflighted, then served anonymously.
        { "url": at("public/hello.txt"), "headers": { "x-custom": "1" } },
        // A presigned upload with a JSON body: preflighted PUT.
        { "url": presigned_put, "method": "PUT",
          "headers": { "content-type": "application/json" }, "body": "{\"from\":\"page\"}" },
        // A header no rule allows: the preflight is refused.
        { "url": at("public/hello.txt"), "headers": { "x-other": "1" } },
        // Not public: the page may read the refusal (CORS allows GET), and
        // it is a refusal.
        { "url": at("private/secret.txt") },
    ]));
    assert_eq!(results[0]["status"], 200, "{results:#?}");
    assert_eq!(results[0]["text"], "hello, browser");
    assert_eq!(results[1]["status"], 200, "{results:#?}");
    assert_eq!(results[1]["text"], "hello, browser");
    assert_eq!(results[2]["status"], 200, "{results:#?}");
    assert!(
        results[2]["etag"].as_str().is_some_and(|e| !e.is_empty()),
        "ETag is exposed: {results:#?}"
    );
    assert_eq!(
        store_object(b, "uploads/from-page.json").unwrap(),
        b"{\"from\":\"page\"}"
    );
    assert!(
        results[3]["error"].as_str().is_some(),
        "the browser let the page read an answer no rule allows: {results:#?}"
    );
    assert_eq!(results[4]["status"], 403, "{results:#?}");
    assert!(
        results[4]["text"]
            .as_str()
            .unwrap()
            .contains("AccessDenied")
    );
}
