//! The audit trail: one JSON line per request, allowed or denied, naming
//! who did what to which object, and never a credential.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Gateway, bucket_scope, harness, unique_name, wait_for};
use crate::sign::{Payload, Signing, send_blocking, signed};

/// Field names of an audit line.
const REQUEST_ID: &str = "request_id";
const IDENTITY: &str = "identity";
const ACTION: &str = "operation";
const BUCKET: &str = "bucket";
const KEY: &str = "key";
const DECISION: &str = "decision";
const STATUS: &str = "status";
const BYTES_IN: &str = "bytes_in";
const BYTES_OUT: &str = "bytes_out";

/// Every line of a gateway's audit file, each parsed as JSON (a line that is
/// not JSON fails the test: lines from concurrent requests must not mix).
pub fn audit_lines(gw: &Gateway) -> Vec<Value> {
    let text = std::fs::read_to_string(&gw.audit).unwrap_or_default();
    text.lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}"))
        })
        .collect()
}

fn str_field<'a>(line: &'a Value, name: &str) -> &'a str {
    line[name].as_str().unwrap_or("")
}

/// The actions audited on one object (waits briefly for the last lines).
pub fn actions_for_key(gw: &Gateway, bucket: &str, key: &str) -> Vec<String> {
    let collect = || {
        audit_lines(gw)
            .iter()
            .filter(|l| str_field(l, BUCKET) == bucket && str_field(l, KEY) == key)
            .map(|l| str_field(l, ACTION).to_owned())
            .collect::<Vec<_>>()
    };
    wait_for(Duration::from_secs(3), || {
        let a = collect();
        a.iter().any(|a| a.contains("UploadPart")).then_some(a)
    })
    .unwrap_or_else(collect)
}

/// The audit lines carrying `request_id`, once at least one is written.
fn lines_for(gw: &Gateway, request_id: &str) -> Vec<Value> {
    let find = || {
        audit_lines(gw)
            .into_iter()
            .filter(|l| str_field(l, REQUEST_ID) == request_id)
            .collect::<Vec<_>>()
    };
    wait_for(Duration::from_secs(3), || {
        let v = find();
        (!v.is_empty()).then_some(v)
    })
    .unwrap_or_default()
}

#[track_caller]
fn the_line(gw: &Gateway, request_id: &str) -> Value {
    let lines = lines_for(gw, request_id);
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one audit line for request {request_id}, got {lines:?}"
    );
    lines.into_iter().next().unwrap()
}

#[test]
fn audit_writes_one_line_per_request_with_who_what_and_never_a_credential() {
    let h = harness();
    let bucket = h.bucket("audit");
    let user = unique_name("auditor");
    let mut scopes = bucket_scope("list", &bucket.name);
    scopes.push(format!("read,write=s3://{}/allowed/*", bucket.name));
    let creds = h.mint(&user, &scopes, "1h");
    let base = format!("{}/{}", h.gw().endpoint(), bucket.name);
    let body = crate::harness::random_bytes(1000);
    let mut signatures = Vec::new();

    // Allowed PUT.
    let (req, sig) = signed(
        &Signing::now(&creds),
        "PUT",
        &format!("{base}/allowed/a.txt"),
        &[],
        Payload::Hash(&body),
        body.clone(),
    );
    signatures.push(sig);
    let put = send_blocking(req);
    assert_eq!(put.status, 200, "{}", put.text());
    // Allowed GET.
    let (req, sig) = signed(
        &Signing::now(&creds),
        "GET",
        &format!("{base}/allowed/a.txt"),
        &[],
        Payload::Hash(b""),
        Vec::new(),
    );
    signatures.push(sig);
    let get = send_blocking(req);
    assert_eq!(get.status, 200, "{}", get.text());
    assert_eq!(get.body.as_ref(), &body[..]);
    // Denied PUT (out of scope).
    let (req, sig) = signed(
        &Signing::now(&creds),
        "PUT",
        &format!("{base}/denied/b.txt"),
        &[],
        Payload::Hash(&body),
        body.clone(),
    );
    signatures.push(sig);
    let denied = send_blocking(req);
    denied.assert_error(403, "AccessDenied");

    for (resp, action, key, decision, bytes_field, bytes) in [
        (&put, "PutObject", "allowed/a.txt", "allow", BYTES_IN, 1000),
        (&get, "GetObject", "allowed/a.txt", "allow", BYTES_OUT, 1000),
        (&denied, "PutObject", "denied/b.txt", "deny", BYTES_IN, 0),
    ] {
        let id = resp
            .request_id()
            .expect("x-amz-request-id on every response");
        let line = the_line(h.gw(), &id);
        assert!(
            line[IDENTITY].to_string().contains(&user),
            "identity {user} missing from {line}"
        );
        assert!(
            str_field(&line, ACTION).contains(action),
            "action in {line}"
        );
        assert_eq!(str_field(&line, BUCKET), bucket.name, "bucket in {line}");
        assert_eq!(str_field(&line, KEY), key, "key in {line}");
        assert!(
            str_field(&line, DECISION)
                .to_ascii_lowercase()
                .contains(decision),
            "decision {decision} in {line}"
        );
        assert_eq!(
            line[STATUS].as_u64(),
            Some(u64::from(resp.status)),
            "status in {line}"
        );
        if bytes > 0 {
            assert_eq!(
                line[bytes_field].as_u64(),
                Some(bytes),
                "{bytes_field} in {line}"
            );
        }
    }

    // A request with a wrong secret is audited too, as a denial.
    let forged = crate::harness::Creds {
        secret_access_key: format!("x{}", &creds.secret_access_key[1..]),
        ..creds.clone()
    };
    let (req, sig) = signed(
        &Signing::now(&forged),
        "GET",
        &format!("{base}/allowed/a.txt"),
        &[],
        Payload::Hash(b""),
        Vec::new(),
    );
    signatures.push(sig);
    let bad = send_blocking(req);
    bad.assert_error(403, "SignatureDoesNotMatch");
    let line = the_line(h.gw(), &bad.request_id().unwrap());
    assert_eq!(line[STATUS].as_u64(), Some(403), "{line}");
    assert!(
        str_field(&line, DECISION)
            .to_ascii_lowercase()
            .contains("deny"),
        "{line}"
    );

    // No credential material anywhere in the file.
    let text = std::fs::read_to_string(&h.gw().audit).unwrap();
    let token = creds.session_token.as_deref().unwrap();
    assert!(
        !text.contains(&creds.secret_access_key),
        "the secret key is in the audit file"
    );
    assert!(
        !text.contains(token),
        "the session token is in the audit file"
    );
    assert!(
        !text.contains(&token[..token.len().min(40)]),
        "part of the session token is in the audit file"
    );
    for sig in &signatures {
        assert!(
            !text.contains(sig.as_str()),
            "a request signature is in the audit file"
        );
    }
}
