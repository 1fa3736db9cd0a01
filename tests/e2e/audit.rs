//! The audit trail: one JSON line per request, allowed or denied, naming
//! who did what to which object, and never a credential.

use std::time::Duration;

use serde_json::Value;

use crate::common::client::AUDIT_WAIT;
use crate::harness::{Creds, Gateway, bucket_scope, harness, random_bytes, unique_name, wait_for};
use crate::sign::{Payload, Response, Signing, send_blocking, signed};

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

/// The first audit line `pred` holds for, once it is written: a line lands
/// after its response has gone, in batches, so a test that reads right
/// after its last request must wait for it (`None` after `AUDIT_WAIT`).
pub fn audited_line(gw: &Gateway, pred: impl Fn(&Value) -> bool) -> Option<Value> {
    wait_for(AUDIT_WAIT, || audit_lines(gw).into_iter().find(|l| pred(l)))
}

/// Every line of a gateway's audit file, once `enough` holds for them (or
/// after `AUDIT_WAIT`, when the caller's assertion says what is missing).
pub fn audit_lines_once(gw: &Gateway, enough: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    crate::common::client::audit_file_lines_once(&gw.audit, enough)
}

/// Every line of a gateway's audit file, each parsed as JSON (a line that is
/// not JSON fails the test: lines from concurrent requests must not mix).
pub fn audit_lines(gw: &Gateway) -> Vec<Value> {
    crate::common::client::audit_file_lines(&gw.audit)
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

/// The audit lines of one identity, once there are at least `n`.
fn lines_of(gw: &Gateway, identity: &str, n: usize) -> Vec<Value> {
    let find = || {
        audit_lines(gw)
            .into_iter()
            .filter(|l| str_field(l, IDENTITY).contains(identity))
            .collect::<Vec<_>>()
    };
    wait_for(Duration::from_secs(3), || {
        let v = find();
        (v.len() >= n).then_some(v)
    })
    .unwrap_or_else(find)
}

/// What one test user did: an allowed PUT and GET and an out-of-scope PUT,
/// with the signatures those requests carried.
struct Traffic {
    user: String,
    bucket: crate::harness::Bucket,
    creds: Creds,
    put: Response,
    get: Response,
    denied: Response,
    signatures: Vec<String>,
}

fn traffic(label: &str) -> Traffic {
    let h = harness();
    let bucket = h.bucket(label);
    let user = unique_name("auditor");
    let mut scopes = bucket_scope("list", &bucket.name);
    scopes.push(format!("read,write=s3://{}/allowed/*", bucket.name));
    let creds = h.mint(&user, &scopes, "1h");
    let base = format!("{}/{}", h.gw().endpoint(), bucket.name);
    let body = random_bytes(1000);
    let mut signatures = Vec::new();
    let mut request = |method: &str, key: &str, payload: &[u8]| {
        let (req, sig) = signed(
            &Signing::now(&creds),
            method,
            &format!("{base}/{key}"),
            &[],
            Payload::Hash(payload),
            payload.to_vec(),
        );
        signatures.push(sig);
        send_blocking(req)
    };
    let put = request("PUT", "allowed/a.txt", &body);
    assert_eq!(put.status, 200, "{}", put.text());
    let get = request("GET", "allowed/a.txt", b"");
    assert_eq!(get.status, 200, "{}", get.text());
    assert_eq!(get.body.as_ref(), &body[..]);
    let denied = request("PUT", "denied/b.txt", &body);
    denied.assert_error(403, "AccessDenied");
    Traffic {
        user,
        bucket,
        creds,
        put,
        get,
        denied,
        signatures,
    }
}

#[test]
fn audit_has_one_line_per_request_naming_who_what_which_object_decision_status_and_bytes() {
    needs_testbed!();
    let h = harness();
    let t = traffic("audit-lines");
    let lines = lines_of(h.gw(), &t.user, 3);
    assert_eq!(
        lines.len(),
        3,
        "expected 3 audit lines for {}: {lines:?}",
        t.user
    );
    let mut ids: Vec<&str> = lines.iter().map(|l| str_field(l, REQUEST_ID)).collect();
    ids.sort_unstable();
    ids.dedup();
    assert!(
        ids.len() == 3 && ids.iter().all(|id| !id.is_empty()),
        "each line needs its own request id: {lines:?}"
    );
    for (resp, op, key, decision, bytes_field) in [
        (
            &t.put,
            "PutObject",
            "allowed/a.txt",
            "allow",
            Some(BYTES_IN),
        ),
        (
            &t.get,
            "GetObject",
            "allowed/a.txt",
            "allow",
            Some(BYTES_OUT),
        ),
        (&t.denied, "PutObject", "denied/b.txt", "deny", None),
    ] {
        let matching: Vec<&Value> = lines
            .iter()
            .filter(|l| str_field(l, ACTION).contains(op) && str_field(l, KEY) == key)
            .collect();
        assert_eq!(matching.len(), 1, "one {op} {key} line: {lines:?}");
        let line = matching[0];
        assert_eq!(str_field(line, BUCKET), t.bucket.name, "bucket in {line}");
        assert!(
            str_field(line, DECISION)
                .to_ascii_lowercase()
                .contains(decision),
            "decision {decision} in {line}"
        );
        assert_eq!(
            line[STATUS].as_u64(),
            Some(u64::from(resp.status)),
            "status in {line}"
        );
        if let Some(field) = bytes_field {
            assert_eq!(line[field].as_u64(), Some(1000), "{field} in {line}");
        }
    }
    // The refusal's request id (in its XML and header) finds its line.
    let id = t.denied.request_id().expect("x-amz-request-id on an error");
    assert!(ids.contains(&id.as_str()), "{id} not audited: {lines:?}");
}

#[test]
fn every_response_carries_the_request_id_of_its_audit_line() {
    needs_testbed!();
    let h = harness();
    let t = traffic("audit-ids");
    let lines = lines_of(h.gw(), &t.user, 3);
    for (what, resp) in [("PUT", &t.put), ("GET", &t.get), ("denied PUT", &t.denied)] {
        let id = resp
            .request_id()
            .unwrap_or_else(|| panic!("the {what} response has no x-amz-request-id"));
        assert!(
            lines.iter().any(|l| str_field(l, REQUEST_ID) == id),
            "the {what} response's request id {id} names no audit line: {lines:?}"
        );
    }
}

/// Sends `creds`' signed GET of `bucket`/k, expects the refusal `code`,
/// and returns its audit line.
fn refused_get_line(creds: &Creds, bucket: &str, status: u16, code: &str) -> Value {
    let h = harness();
    let url = format!("{}/{bucket}/k", h.gw().endpoint());
    let (req, _) = signed(
        &Signing::now(creds),
        "GET",
        &url,
        &[],
        Payload::Hash(b""),
        Vec::new(),
    );
    let refused = send_blocking(req);
    refused.assert_error(status, code);
    let id = refused.request_id().expect("x-amz-request-id on an error");
    wait_for(Duration::from_secs(3), || {
        audit_lines(h.gw())
            .into_iter()
            .find(|l| str_field(l, REQUEST_ID) == id)
    })
    .unwrap_or_else(|| panic!("no audit line for refused request {id}"))
}

/// A request whose session cannot be opened (another session's token) is
/// audited naming the access key id it gave: who knocked, though no
/// session says who that is.
#[test]
fn a_request_whose_session_cannot_be_opened_names_the_access_key_it_gave() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("audit-swapped");
    let scope = bucket_scope("*", &bucket.name);
    let alice = h.mint(&unique_name("alice"), &scope, "1h");
    let bob = h.mint(&unique_name("bob"), &scope, "1h");
    let mixed = Creds {
        session_token: bob.session_token.clone(),
        ..alice.clone()
    };
    let line = refused_get_line(&mixed, &bucket.name, 403, "InvalidAccessKeyId");
    assert_eq!(
        str_field(&line, "access_key_id"),
        alice.access_key_id,
        "{line}"
    );
    assert_eq!(str_field(&line, DECISION), "deny", "{line}");
    assert_eq!(
        str_field(&line, IDENTITY),
        "",
        "no session, no identity: {line}"
    );
}

#[test]
fn a_request_with_a_wrong_secret_is_audited_as_a_denial() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("audit-forged");
    let user = unique_name("forger");
    let creds = h.mint(&user, &bucket_scope("*", &bucket.name), "1h");
    let forged = creds.with_forged_secret();
    assert_ne!(forged.secret_access_key, creds.secret_access_key);
    let line = refused_get_line(&forged, &bucket.name, 403, "SignatureDoesNotMatch");
    assert_eq!(line[STATUS].as_u64(), Some(403), "{line}");
    assert!(
        str_field(&line, DECISION)
            .to_ascii_lowercase()
            .contains("deny"),
        "{line}"
    );
}

#[test]
fn audit_file_never_contains_a_secret_a_session_token_or_a_signature() {
    needs_testbed!();
    let h = harness();
    let t = traffic("audit-secrets");
    // Let this traffic's lines land before reading the file.
    lines_of(h.gw(), &t.user, 3);
    let text = std::fs::read_to_string(&h.gw().audit).unwrap();
    let token = t.creds.session_token.as_deref().unwrap();
    assert!(
        !text.contains(&t.creds.secret_access_key),
        "the secret key is in the audit file"
    );
    assert!(
        !text.contains(&token[..40]),
        "the session token is in the audit file"
    );
    assert!(
        !text.contains(&token[token.len() - 40..]),
        "the session token is in the audit file"
    );
    for sig in &t.signatures {
        assert!(
            !text.contains(sig.as_str()),
            "a request signature is in the audit file"
        );
    }
    let store_secret = &h.store.creds.secret_access_key;
    assert!(
        !text.contains(store_secret.as_str()),
        "the upstream secret is in the audit file"
    );
}

#[test]
fn gateway_that_cannot_write_its_audit_refuses_requests_with_503() {
    needs_testbed!();
    let h = harness();
    // Every write to /dev/full fails with ENOSPC.
    let gw = h.extra_gateway("gw-full", std::path::Path::new("/dev/full"));
    let bucket = h.bucket("audit-full");
    let creds = crate::harness::mint_with(&gw.config, "u", &bucket_scope("*", &bucket.name), "1h");
    let put = |key: &str| {
        let url = format!("{}/{}/{key}", gw.endpoint(), bucket.name);
        let (req, _) = signed(
            &Signing::now(&creds),
            "PUT",
            &url,
            &[],
            Payload::Hash(b"x"),
            b"x".to_vec(),
        );
        send_blocking(req)
    };
    let ops = |path: &str| {
        crate::client::curl("GET", &format!("{}/_s3gate/{path}", gw.endpoint()), None).0
    };
    assert_eq!(ops("healthz"), 200);
    // The first record cannot be written; from then on the gateway is not
    // ready and refuses access rather than serve it unaudited.
    let _ = put("first");
    let not_ready = wait_for(Duration::from_secs(5), || {
        (ops("readyz") == 503).then_some(())
    });
    assert!(
        not_ready.is_some(),
        "readyz should turn 503 once the audit sink fails"
    );
    let resp = put("second");
    resp.assert_error(503, "ServiceUnavailable");
    assert!(crate::client::store_object(&bucket.name, "second").is_none());
    assert_eq!(ops("healthz"), 200, "still alive, only not ready");
}

#[test]
fn ops_endpoints_answer_healthz_and_readyz() {
    needs_testbed!();
    let h = harness();
    for path in ["healthz", "readyz"] {
        let (status, body) = crate::client::curl(
            "GET",
            &format!("{}/_s3gate/{path}", h.gw().endpoint()),
            None,
        );
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    }
}
