//! Request framing on the caller's side, against the running gateway: a
//! request whose body could be framed two ways (the shape of request
//! smuggling through a front end that picks the other way) is refused in
//! S3's shape, audited, and the connection closes without reading on; a head that
//! is not HTTP/1.1 (a bare LF included) gets S3's `BadRequest`; requests pipelined on one
//! connection are answered in order.

use crate::harness::harness;
use crate::unread_body::{NEXT, converse};

/// What a front end would take for a second request if it framed the
/// first one by its other header: here it is the health page, which must
/// not be answered.
#[test]
fn a_body_framed_two_ways_is_refused_and_nothing_after_it_is_served() {
    needs_testbed!();
    let gw = harness().gw();
    for (head, code) in [
        (
            "POST /b/k HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n",
            "InvalidRequest",
        ),
        (
            "POST /b/k HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n",
            "InvalidRequest",
        ),
        (
            "POST /b/k HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 0\r\n\r\n",
            "InvalidRequest",
        ),
        (
            "POST /b/k HTTP/1.0\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n",
            "InvalidRequest",
        ),
        (
            "POST /b/k HTTP/1.1\r\nhost: x\r\ntransfer-encoding: identity, chunked\r\n\r\n",
            "NotImplemented",
        ),
        (
            "POST /b/k HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ntransfer-encoding: x\r\n\r\n",
            "InvalidRequest",
        ),
    ] {
        let wire = format!("{head}0\r\n\r\n{NEXT}");
        let (answers, rest) = converse(gw, wire.as_bytes());
        assert_eq!(answers.len(), 1, "{head:?}: {answers:?} then {rest:?}");
        let a = &answers[0];
        assert!(a.status == 400 || a.status == 501, "{head:?}: {a:?}");
        assert!(
            a.body.contains(&format!("<Code>{code}</Code>")),
            "{head:?}: {a:?}"
        );
        assert!(a.close, "{head:?}: {a:?}");
        assert!(rest.is_empty(), "{head:?}: then {rest:?}");
        // Audited as a denial, under the id the answer gives.
        let id = crate::identity::element(&a.body, "RequestId").expect("a request id");
        let line = crate::identity::audit_for(gw, id);
        assert_eq!(line["decision"], "deny", "{line}");
        assert_eq!(line["error"], code, "{line}");
        assert_eq!(line["status"], a.status, "{line}");
        assert!(
            line["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("request head refused")),
            "{line}"
        );
    }
}

#[test]
fn a_head_that_is_not_http11_gets_s3s_bad_request() {
    needs_testbed!();
    let gw = harness().gw();
    for head in [
        "GET /_s3gate/healthz HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /_s3gate/healthz HTTP/1.1\r\nx : y\r\n\r\n",
        "GET /_s3gate/healthz HTTP/1.1\r\nx: a\r\n folded\r\n\r\n",
        "GET /_s3gate/healthz HTTP/3.0\r\n\r\n",
        // A bare LF ends a line for some readers and not for others: here
        // it would hide a `Transfer-Encoding` inside `x`'s value.
        "GET /_s3gate/healthz HTTP/1.1\r\nx: a\ntransfer-encoding: chunked\r\n\r\n",
    ] {
        let (answers, rest) = converse(gw, format!("{head}{NEXT}").as_bytes());
        assert_eq!(answers.len(), 1, "{head:?}: {answers:?} then {rest:?}");
        assert_eq!(answers[0].status, 400, "{head:?}: {answers:?}");
        assert!(
            answers[0].body.contains("<Code>BadRequest</Code>"),
            "{head:?}: {answers:?}"
        );
        assert!(answers[0].close, "{head:?}: {answers:?}");
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    needs_testbed!();
    let gw = harness().gw();
    let keep = "GET /_s3gate/healthz HTTP/1.1\r\nhost: x\r\n\r\n";
    let anonymous = "GET /no-such-bucket/k HTTP/1.1\r\nhost: x\r\n\r\n";
    let wire = format!("{keep}{anonymous}{keep}{NEXT}");
    let (answers, rest) = converse(gw, wire.as_bytes());
    let statuses: Vec<_> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 403, 200, 200], "{answers:?} then {rest:?}");
    assert!(
        answers[1].body.contains("<Code>AccessDenied</Code>"),
        "{answers:?}"
    );
    assert!(answers[..3].iter().all(|a| !a.close), "{answers:?}");
    assert!(rest.is_empty(), "{rest:?}");
}

/// HTTP/2 without TLS, as a client that knows the server speaks it opens
/// it (the preface first): served by hyper's HTTP/2, beside our HTTP/1.
#[test]
fn http2_with_prior_knowledge_is_served_on_the_plain_listener() {
    needs_testbed!();
    let gw = harness().gw();
    let mut cmd = crate::client::clean_command("curl");
    cmd.args([
        "-sS",
        "--http2-prior-knowledge",
        "-w",
        " %{http_code} %{http_version}",
    ])
    .arg(format!("{}/_s3gate/healthz", gw.endpoint()));
    let out = crate::client::run(cmd, std::time::Duration::from_secs(60));
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout.trim_end(), "ok\n 200 2");
}
