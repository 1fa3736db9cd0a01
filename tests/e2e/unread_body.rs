//! A request body left unread, whatever the answer's status. A client that
//! sent `Expect: 100-continue` and gets a final answer before `100
//! Continue` skips its body and sends its next request on the same
//! connection: the gateway must then say `Connection: close` (and close),
//! or the next request's first bytes are taken for the skipped body and the
//! rest parsed as a request of its own. Every answer here is read off the
//! socket, as a client would, with the next request already on the wire
//! (as it is when the gateway is slow to turn to the connection again).
//! And a body that *was* read to its end leaves nothing behind: a refusal
//! after it keeps the connection.

use crate::client::store_put;
use crate::harness::{Gateway, harness, random_bytes};
use crate::login::{login_gateway_with, portal};
use crate::refusal::setup;
use crate::sign::{Payload, Signing, Streaming, raw_head, signed, streaming_put, xml_tag};

/// One answer as read off the socket.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// It said `Connection: close`.
    pub(crate) close: bool,
    pub(crate) body: String,
}

/// Writes `wire` on a new connection to `gw`, reads until the gateway
/// closes it, and splits what came back into answers (interim `1xx`
/// answers left out) and whatever did not parse as one.
pub(crate) fn converse(gw: &Gateway, wire: &[u8]) -> (Vec<Answer>, String) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(gw.addr).unwrap();
    // A guard against hanging the suite, not an assertion on timing.
    s.set_read_timeout(Some(std::time::Duration::from_secs(90)))
        .unwrap();
    s.write_all(wire).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok();
    let mut rest = String::from_utf8_lossy(&raw).into_owned();
    let mut answers = Vec::new();
    while let Some((head, after)) = rest.split_once("\r\n\r\n") {
        let Some(status) = head
            .strip_prefix("HTTP/1.1 ")
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse::<u16>().ok())
        else {
            break;
        };
        let header = |name: &str| {
            head.lines().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
            })
        };
        let length = header("content-length").map_or(0, |v| v.parse().unwrap());
        let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let (body, after) = after.split_at(length.min(after.len()));
        if status >= 200 {
            answers.push(Answer {
                status,
                close,
                body: body.to_owned(),
            });
        }
        rest = after.to_owned();
    }
    (answers, rest)
}

/// The request that follows on the same connection: the health page,
/// answered `200 ok` by every gateway.
pub(crate) const NEXT: &str =
    "GET /_s3gate/healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

/// `head` (ending in its last header line) as a client that keeps the
/// connection sends it: without `connection: close`.
fn keep_alive(head: &str) -> String {
    head.strip_suffix("connection: close\r\n")
        .unwrap_or(head)
        .to_owned()
}

/// Sends `head` with `Expect: 100-continue` and a six-byte body it never
/// sends, then [`NEXT`]. The client must see the first answer with
/// `status`, and then either the connection ends, the first answer having
/// said so, or the next request answered as itself. What it saw instead.
fn next_request_swallowed(route: &str, gw: &Gateway, head: &str, status: u16) -> Option<String> {
    let wire = format!("{head}expect: 100-continue\r\ncontent-length: 6\r\n\r\n{NEXT}");
    let (answers, rest) = converse(gw, wire.as_bytes());
    let first_ok = answers.first().is_some_and(|a| a.status == status);
    let closed = answers.len() == 1 && answers[0].close && rest.is_empty();
    let next_answered = answers
        .get(1)
        .is_some_and(|a| a.status == 200 && a.body == "ok\n");
    (!first_ok || !(closed || next_answered)).then(|| format!("{route}: {answers:?} then {rest:?}"))
}

/// Success answers that never read the body the request declared: the
/// health page, an S3 GET (its body is not sent upstream), the portal's
/// device-code start and its redirect to sign in. Before, only an answer
/// outside 2xx said `Connection: close` (the redirect did): after the
/// others, the next request's first bytes were taken for the skipped body
/// and the rest refused as garbage (a bare `400`).
#[test]
fn a_success_that_leaves_the_body_unread_does_not_swallow_the_next_request() {
    needs_testbed!();
    let gw = harness().gw();
    let mut swallowed = Vec::new();
    swallowed.extend(next_request_swallowed(
        "GET healthz",
        gw,
        "GET /_s3gate/healthz HTTP/1.1\r\nhost: x\r\n",
        200,
    ));

    let (bucket, creds) = setup("unread-ok");
    store_put(&bucket.name, "obj", b"stored");
    let (get, _) = signed(
        &Signing::now(&creds),
        "GET",
        &format!("{}/{}/obj", gw.endpoint(), bucket.name),
        &[],
        Payload::Hash(b""),
        Vec::new(),
    );
    let get = keep_alive(&raw_head(&get, &[], &[]));
    swallowed.extend(next_request_swallowed("S3 GetObject", gw, &get, 200));

    let portal_gw = login_gateway_with("gw-unread", "", "", "");
    let host = portal(&portal_gw);
    let host = host.strip_prefix("http://").unwrap();
    swallowed.extend(next_request_swallowed(
        "POST device/start",
        &portal_gw,
        &format!("POST /_s3gate/device/start HTTP/1.1\r\nhost: {host}\r\n"),
        200,
    ));
    swallowed.extend(next_request_swallowed(
        "GET portal",
        &portal_gw,
        &format!("GET /_s3gate/ HTTP/1.1\r\nhost: {host}\r\n"),
        303,
    ));
    assert!(swallowed.is_empty(), "{swallowed:#?}");
}

/// Refusals that come after the body was read to its end (a PUT whose
/// body fails its Content-MD5, an STS exchange the gateway refuses) leave
/// nothing unread: the connection stays open and the next request is
/// answered on it. So do the PUTs that are stored. Before, every refusal of
/// a request with a body closed the connection.
#[test]
fn a_refusal_after_the_body_was_read_keeps_the_connection() {
    needs_testbed!();
    let gw = harness().gw();
    let (bucket, creds) = setup("read-refused");
    let url = |key: &str| format!("{}/{}/{key}", gw.endpoint(), bucket.name);
    let wire = |req: &crate::sign::Request| {
        let head = keep_alive(&raw_head(req, &["content-length"], &[]));
        let mut wire = format!("{head}content-length: {}\r\n\r\n", req.body.len()).into_bytes();
        wire.extend_from_slice(&req.body);
        wire
    };
    let put = |key: &str, headers: &[(&str, &str)]| {
        let (req, _) = signed(
            &Signing::now(&creds),
            "PUT",
            &url(key),
            headers,
            Payload::Unsigned,
            b"body 1".to_vec(),
        );
        wire(&req)
    };
    let wrong_md5 = "1B2M2Y8AsgTpgAmY7PhCfg=="; // the empty body's
    let sts_form = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15\
                    &RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr\
                    &RoleSessionName=probe&WebIdentityToken=not-a-token";
    let sts = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         content-length: {}\r\n\r\n{sts_form}",
        sts_form.len()
    )
    .into_bytes();
    let chunked = streaming_put(
        &creds,
        &url("chunked"),
        &random_bytes(3000),
        1024,
        Streaming::SignedTrailer,
        None,
    );
    let mut closed = Vec::new();
    for (case, first, status, code) in [
        (
            "bad digest",
            put("digest", &[("content-md5", wrong_md5)]),
            400,
            Some("BadDigest"),
        ),
        // No issuer is configured: the token is refused after the form
        // was read.
        ("STS web identity", sts, 403, Some("AccessDenied")),
        ("stored", put("stored", &[]), 200, None),
        ("stored from aws-chunked", wire(&chunked), 200, None),
    ] {
        let (answers, rest) = converse(gw, &[first, NEXT.as_bytes().to_vec()].concat());
        let answered = answers.first().is_some_and(|a| {
            a.status == status
                && code.is_none_or(|c| xml_tag(&a.body, "Code").as_deref() == Some(c))
                && !a.close
        });
        let next = answers
            .get(1)
            .is_some_and(|a| a.status == 200 && a.body == "ok\n");
        if !(answered && next) {
            closed.push(format!("{case}: {answers:?} then {rest:?}"));
        }
    }
    assert!(closed.is_empty(), "{closed:#?}");
}
