//! Hostile input at the edge: requests no stock client sends, built by hand
//! (raw HTTP where even a hand signer's HTTP library would fix them up).
//! Each asserts the status and S3 code, that nothing was created or
//! changed on the store, and that the gateway still serves a plain request
//! afterwards.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::client::{store_keys, store_object, store_put};
use crate::harness::{
    Creds, bucket_scope, config_text, harness, mint_with, random_bytes, write_keyring,
    write_private,
};
use crate::refusal::{assert_absent, setup};
use crate::sign::{
    Payload, Signing, Streaming, raw_head, send_blocking, send_raw, signed, signed_get, signed_in,
    streaming_put, xml_tag,
};

fn url(bucket: &str, key: &str) -> String {
    format!("{}/{bucket}/{key}", harness().gw().endpoint())
}

/// A PUT of `body` to `bucket/key` on the gateway, `UNSIGNED-PAYLOAD`,
/// with `headers` signed too.
fn unsigned_put(
    creds: &Creds,
    bucket: &str,
    key: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> crate::sign::Request {
    signed(
        &Signing::now(creds),
        "PUT",
        &url(bucket, key),
        headers,
        Payload::Unsigned,
        body.to_vec(),
    )
    .0
}

/// The gateway still answers a plain signed GET of an object it holds.
#[track_caller]
fn assert_healthy(bucket: &str, creds: &Creds) {
    store_put(bucket, "health", b"ok");
    let req = signed_get(creds, &url(bucket, "health"));
    let resp = send_blocking(req);
    assert_eq!(
        (resp.status, &resp.body[..]),
        (200, &b"ok"[..]),
        "{}",
        resp.text()
    );
}

fn md5_b64(data: &[u8]) -> String {
    use md5::Digest;
    STANDARD.encode(md5::Md5::digest(data))
}

// ---------------------------------------------------------------------------
// Integrity: s3gate checks Content-MD5 and x-amz-checksum-* itself.

#[test]
fn put_whose_body_fails_its_content_md5_is_bad_digest_and_creates_or_changes_nothing() {
    needs_testbed!();
    let (bucket, creds) = setup("bad-md5");
    let original = random_bytes(1000);
    store_put(&bucket.name, "existing", &original);
    let body = random_bytes(200_000);
    let wrong = md5_b64(b"some other body");
    for payload in ["unsigned", "hash"] {
        for key in ["new", "existing"] {
            let (req, _) = signed(
                &Signing::now(&creds),
                "PUT",
                &url(&bucket.name, key),
                &[("content-md5", &wrong)],
                if payload == "hash" {
                    Payload::Hash(&body)
                } else {
                    Payload::Unsigned
                },
                body.clone(),
            );
            send_blocking(req).assert_error(400, "BadDigest");
        }
    }
    assert_absent(&bucket.name, "new");
    assert!(store_object(&bucket.name, "existing").unwrap() == original);
    // The same PUT with the right digest is stored.
    let req = unsigned_put(
        &creds,
        &bucket.name,
        "new",
        &[("content-md5", &md5_b64(&body))],
        &body,
    );
    assert_eq!(send_blocking(req).status, 200);
    assert!(store_object(&bucket.name, "new").unwrap() == body);
    assert_healthy(&bucket.name, &creds);
}

#[test]
fn put_whose_body_fails_its_checksum_header_is_bad_digest_and_creates_nothing() {
    needs_testbed!();
    let (bucket, creds) = setup("bad-checksum");
    let body = random_bytes(100_000);
    let wrong = crate::sign::crc32_base64(b"not the body");
    let req = unsigned_put(
        &creds,
        &bucket.name,
        "k",
        &[("x-amz-checksum-crc32", &wrong)],
        &body,
    );
    let resp = send_blocking(req);
    resp.assert_error(400, "BadDigest");
    assert!(resp.message().contains("CRC32"), "{}", resp.text());
    assert_absent(&bucket.name, "k");
    assert_healthy(&bucket.name, &creds);
}

#[test]
fn empty_or_non_base64_content_md5_is_invalid_digest() {
    needs_testbed!();
    let (bucket, creds) = setup("invalid-md5");
    for value in ["", "not*base64", "YWJj"] {
        let req = unsigned_put(
            &creds,
            &bucket.name,
            "k",
            &[("content-md5", value)],
            b"data",
        );
        send_blocking(req).assert_error(400, "InvalidDigest");
    }
    assert_absent(&bucket.name, "k");
    assert_healthy(&bucket.name, &creds);
}

// ---------------------------------------------------------------------------
// Upstream framing.

/// What [`recording_store`] answers by default: `200 ok`, announcing a
/// hop-by-hop header of its own.
const OK_WITH_HOP_HEADER: &str =
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: x-store-hop\r\nx-store-hop: 1\r\n\r\nok";

/// A loopback "store" that answers every request with `answer` (a whole
/// HTTP/1.1 response) and keeps each request head it received.
fn recording_store(
    answer: &'static str,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = harness();
    let listener = h
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    h.spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 4);
                        seen.lock().unwrap().push(head);
                        if s.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), heads)
}

#[test]
fn framing_and_hop_by_hop_headers_are_derived_per_hop_not_passed_through() {
    needs_testbed!();
    let h = harness();
    let (store, heads) = recording_store(OK_WITH_HOP_HEADER);
    let dir = h.tempdir();
    let (gw, config) = crate::ops::gateway_to(dir.path(), &store, "");
    let creds = mint_with(&config, "framer", &bucket_scope("*", "bkt"), "1h");
    let req = signed_get(&creds, &format!("{}/bkt/k", gw.endpoint()));
    let head = raw_head(
        &req,
        &[],
        &[
            ("content-length", "100"),
            ("x-hop", "1"),
            ("connection", "x-hop"),
        ],
    );
    let resp = send_raw(&gw.endpoint(), &head, b"");
    assert_eq!(
        (resp.status, &resp.body[..]),
        (200, &b"ok"[..]),
        "{}",
        resp.text()
    );
    assert!(
        resp.headers.get("x-store-hop").is_none(),
        "the store's Connection-named header reached the caller: {:?}",
        resp.headers
    );
    let heads = heads.lock().unwrap().clone();
    let forwarded = heads
        .iter()
        .find(|h| h.starts_with("GET /bkt/k"))
        .unwrap_or_else(|| panic!("no GET reached the store: {heads:?}"))
        .to_ascii_lowercase();
    assert!(
        !forwarded.contains("\r\ncontent-length:"),
        "a bodyless GET was forwarded with a Content-Length: {forwarded}"
    );
    assert!(
        !forwarded.contains("\r\nx-hop:"),
        "a Connection-named header was forwarded: {forwarded}"
    );
    gw.stop();
}

#[test]
fn store_refusing_the_gateways_own_signature_is_502_without_the_stores_details() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("store-refuses");
    store_put(&bucket.name, "k", b"data");
    let dir = h.tempdir();
    for (label, creds) in [
        (
            "wrong-secret",
            Creds {
                secret_access_key: "not-the-store-secret".into(),
                ..h.store.creds.clone()
            },
        ),
        (
            "unknown-key",
            Creds {
                access_key_id: "AKIDUNKNOWNTOSTORE".into(),
                ..h.store.creds.clone()
            },
        ),
    ] {
        let sub = dir.path().join(label);
        std::fs::create_dir_all(&sub).unwrap();
        let keyring = write_keyring(&sub);
        let config = sub.join("s3gate.toml");
        write_private(
            &config,
            &config_text(
                &h.store.endpoint(),
                &creds,
                &keyring,
                &sub.join("audit.log"),
            ),
        );
        let gw = h.gateway_from(&config);
        let caller = mint_with(&config, "alice", &bucket_scope("*", &bucket.name), "1h");
        let req = signed_get(&caller, &format!("{}/{}/k", gw.endpoint(), bucket.name));
        let resp = send_blocking(req);
        resp.assert_error(502, "BadGateway");
        let text = resp.text();
        assert!(!text.contains(&creds.access_key_id), "{label}: {text}");
        assert!(!text.contains("CanonicalRequest"), "{label}: {text}");
        assert!(!text.contains("StringToSign"), "{label}: {text}");
        gw.stop();
    }
    assert_eq!(store_keys(&bucket.name), vec!["k".to_owned()]);
}

// ---------------------------------------------------------------------------
// Strict SigV4 and request shape.

#[test]
fn signature_for_a_region_the_gateway_does_not_serve_names_the_expected_region() {
    needs_testbed!();
    let (bucket, creds) = setup("wrong-region");
    for presign in [None, Some(std::time::Duration::from_secs(300))] {
        let signing = Signing {
            presign,
            ..Signing::now(&creds)
        };
        let (req, _) = signed_in(
            &signing,
            "ap-south-2",
            "PUT",
            &url(&bucket.name, "k"),
            &[],
            Payload::Unsigned,
            b"data".to_vec(),
        );
        let resp = send_blocking(req);
        let code = if presign.is_some() {
            "AuthorizationQueryParametersError"
        } else {
            "AuthorizationHeaderMalformed"
        };
        resp.assert_error(400, code);
        assert!(
            resp.message()
                .replace("&apos;", "'")
                .contains("'ap-south-2' is wrong; expecting 'us-east-1'"),
            "{}",
            resp.text()
        );
        assert_eq!(
            xml_tag(&resp.text(), "Region").as_deref(),
            Some("us-east-1")
        );
    }
    assert_absent(&bucket.name, "k");
    assert_healthy(&bucket.name, &creds);
}

#[test]
fn uppercase_hex_signature_is_malformed() {
    needs_testbed!();
    let (bucket, creds) = setup("upper-sig");
    let (mut req, signature) = signed(
        &Signing::now(&creds),
        "PUT",
        &url(&bucket.name, "k"),
        &[],
        Payload::Unsigned,
        b"data".to_vec(),
    );
    for (name, value) in &mut req.headers {
        if name == "authorization" {
            *value = value.replace(&signature, &signature.to_uppercase());
        }
    }
    send_blocking(req).assert_error(400, "AuthorizationHeaderMalformed");
    assert_absent(&bucket.name, "k");
    assert_healthy(&bucket.name, &creds);
}

#[test]
fn put_without_content_length_is_411_missing_content_length() {
    needs_testbed!();
    let (bucket, creds) = setup("no-length");
    for key in ["put", "part"] {
        let target = if key == "part" {
            format!("{}?partNumber=1&uploadId=abc", url(&bucket.name, key))
        } else {
            url(&bucket.name, key)
        };
        let (req, _) = signed(
            &Signing::now(&creds),
            "PUT",
            &target,
            &[],
            Payload::Unsigned,
            Vec::new(),
        );
        let head = raw_head(
            &req,
            &["content-length"],
            &[("transfer-encoding", "chunked")],
        );
        let resp = send_raw(&harness().gw().endpoint(), &head, b"4\r\ndata\r\n0\r\n\r\n");
        resp.assert_error(411, "MissingContentLength");
        assert_absent(&bucket.name, key);
    }
    assert_healthy(&bucket.name, &creds);
}

#[test]
fn user_metadata_over_two_kib_is_metadata_too_large() {
    needs_testbed!();
    let (bucket, creds) = setup("big-meta");
    let value = "m".repeat(2100);
    let req = unsigned_put(
        &creds,
        &bucket.name,
        "k",
        &[("x-amz-meta-big", &value)],
        b"data",
    );
    send_blocking(req).assert_error(400, "MetadataTooLarge");
    assert_absent(&bucket.name, "k");
    assert_healthy(&bucket.name, &creds);
}

#[test]
fn host_with_a_scheme_userinfo_or_garbage_is_400() {
    needs_testbed!();
    let (bucket, creds) = setup("bad-host");
    let gw = harness().gw().endpoint();
    let authority = gw.strip_prefix("http://").unwrap();
    for host in [
        format!("user@{authority}"),
        format!("http://{authority}"),
        format!("{authority}/x"),
        "a b".to_owned(),
    ] {
        let req = unsigned_put(&creds, &bucket.name, "k", &[], b"data");
        let head = raw_head(
            &req,
            &["host", "content-length"],
            &[("host", &host), ("content-length", "4")],
        );
        send_raw(&gw, &head, b"data").assert_error(400, "InvalidArgument");
    }
    assert_absent(&bucket.name, "k");
    assert_healthy(&bucket.name, &creds);
}

#[test]
fn sts_request_with_a_host_that_is_not_a_host_is_400() {
    needs_testbed!();
    let gw = harness().gw().endpoint();
    let authority = gw.strip_prefix("http://").unwrap();
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    for host in [format!("user@{authority}"), format!("http://{authority}")] {
        let head = format!(
            "POST / HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/x-www-form-urlencoded\r\n\
             content-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        let resp = send_raw(&gw, &head, body);
        assert_eq!(
            (resp.status, resp.code().as_str()),
            (400, "ValidationError"),
            "{host}: {}",
            resp.text()
        );
    }
}

#[test]
fn broken_aws_chunked_framing_is_invalid_argument_and_creates_nothing() {
    needs_testbed!();
    let (bucket, creds) = setup("bad-framing");
    let data = random_bytes(10_000);
    let mut req = streaming_put(
        &creds,
        &url(&bucket.name, "k"),
        &data,
        4096,
        Streaming::Signed,
        None,
    );
    // The first chunk's size is no longer hex.
    req.body[0] = b'z';
    send_blocking(req).assert_error(400, "InvalidArgument");
    assert_absent(&bucket.name, "k");
    assert_healthy(&bucket.name, &creds);
}

#[test]
fn reserved_read_only_endpoints_answer_405_to_other_methods() {
    needs_testbed!();
    let gw = harness().gw().endpoint();
    for (method, page) in [
        ("POST", "healthz"),
        ("PUT", "readyz"),
        ("DELETE", "metrics"),
        ("PATCH", "aws-identity"),
    ] {
        let head = format!(
            "{method} /_s3gate/{page} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n"
        );
        let resp = send_raw(&gw, &head, b"");
        assert_eq!(
            resp.status,
            405,
            "{method} /_s3gate/{page}: {}",
            resp.text()
        );
        assert_eq!(resp.headers.get("allow").unwrap(), "GET, HEAD");
    }
    let head = "GET /_s3gate/healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n";
    assert_eq!(send_raw(&gw, head, b"").status, 200);
}

/// A store's refusal of s3gate's own signature, sent chunked (no length),
/// as S3 often sends its errors, carrying what must never be echoed.
const CHUNKED_SIGNATURE_REFUSAL: &str = "HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\n\
    transfer-encoding: chunked\r\n\r\n\
    c2\r\n<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message>\
    <AWSAccessKeyId>AKIDOFTHESTORE</AWSAccessKeyId><CanonicalRequest>GET /bkt/k</CanonicalRequest>\
    <RequestId>STOREID</RequestId></Error>\r\n0\r\n\r\n";

/// The store's own denial of the request (not of s3gate's key), chunked.
const CHUNKED_ACCESS_DENIED: &str = "HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\n\
    transfer-encoding: chunked\r\n\r\n\
    5f\r\n<Error><Code>AccessDenied</Code><Message>denied</Message><RequestId>STOREID</RequestId></Error>\r\n0\r\n\r\n";

#[test]
fn a_chunked_store_refusal_of_the_gateways_signature_is_502_and_a_denial_passes_through() {
    needs_testbed!();
    let h = harness();
    let dir = h.tempdir();
    for (label, answer) in [
        ("refusal", CHUNKED_SIGNATURE_REFUSAL),
        ("denial", CHUNKED_ACCESS_DENIED),
    ] {
        let (store, _) = recording_store(answer);
        let sub = dir.path().join(label);
        std::fs::create_dir_all(&sub).unwrap();
        let (gw, config) = crate::ops::gateway_to(&sub, &store, "");
        let creds = mint_with(&config, "chunky", &bucket_scope("*", "bkt"), "1h");
        let req = signed_get(&creds, &format!("{}/bkt/k", gw.endpoint()));
        let resp = send_blocking(req);
        if label == "refusal" {
            resp.assert_error(502, "BadGateway");
            let text = resp.text();
            assert!(!text.contains("AKIDOFTHESTORE"), "{text}");
            assert!(!text.contains("CanonicalRequest"), "{text}");
        } else {
            resp.assert_error(403, "AccessDenied");
            assert_eq!(resp.message(), "denied");
        }
        gw.stop();
    }
}

/// A body that stops coming is cut once a window passes without its
/// minimum (`[server] body_rate_window`, shortened here) with S3's
/// `400 RequestTimeout`, and the store never commits the object: the
/// upstream request is cut short of its `Content-Length`.
#[test]
fn a_stalled_request_body_is_request_timeout_and_creates_nothing() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("stalled");
    let gw = h.gateway_with("gw-stall", "[server]\nbody_rate_window = \"1s\"\n");
    let creds = mint_with(
        &gw.config,
        "staller",
        &bucket_scope("*", &bucket.name),
        "1h",
    );
    let (req, _) = signed(
        &Signing::now(&creds),
        "PUT",
        &format!("{}/{}/stalled", gw.endpoint(), bucket.name),
        &[],
        Payload::Unsigned,
        Vec::new(),
    );
    let head = raw_head(&req, &["content-length"], &[("content-length", "100")]);
    // Ten of the hundred bytes announced, then nothing (the socket stays
    // open: send_raw waits for the answer).
    let resp = send_raw(&gw.endpoint(), &head, b"only ten b");
    resp.assert_error(400, "RequestTimeout");
    assert_absent(&bucket.name, "stalled");
    // The gateway goes on serving.
    let (put, _) = signed(
        &Signing::now(&creds),
        "PUT",
        &format!("{}/{}/after", gw.endpoint(), bucket.name),
        &[],
        Payload::Unsigned,
        b"fine".to_vec(),
    );
    assert_eq!(send_blocking(put).status, 200);
}

/// A DeleteObjects body announced larger than 1000 keys can be is refused
/// from its `Content-Length`, before a byte of it is read (the caller here
/// sends none: the old gateway waited for them).
#[test]
fn delete_objects_announced_over_the_cap_is_refused_before_reading_it() {
    needs_testbed!();
    let (bucket, creds) = setup("delcap-announced");
    store_put(&bucket.name, "keep", b"k");
    let (req, _) = signed(
        &Signing::now(&creds),
        "POST",
        &format!("{}/{}?delete", harness().gw().endpoint(), bucket.name),
        &[],
        Payload::Unsigned,
        Vec::new(),
    );
    let head = raw_head(&req, &["content-length"], &[("content-length", "3000000")]);
    let resp = send_raw(&harness().gw().endpoint(), &head, b"");
    resp.assert_error(400, "MalformedXML");
    assert!(store_object(&bucket.name, "keep").is_some());
    assert_healthy(&bucket.name, &creds);
}

/// A refusal that leaves the request's body unread leaves the client able
/// to go on. botocore sends `Expect: 100-continue` and, on a final answer,
/// skips the body and sends its next request on the same connection: the
/// gateway must say `Connection: close` and close it, never take the next
/// request's first bytes for the skipped body and refuse the rest as
/// garbage (a bare `400`, which boto3 reported for a plain key). The next
/// request is on the wire here before the refusal is written, as it is
/// when the gateway is slow to turn to the connection again.
#[test]
fn a_refusal_that_leaves_the_body_unread_does_not_swallow_the_next_request() {
    needs_testbed!();
    let (bucket, creds) = setup("unread-body");
    let keep_alive = |req: &crate::sign::Request| {
        let head = raw_head(req, &["content-length"], &[("content-length", "6")]);
        head.strip_suffix("connection: close\r\n")
            .map(str::to_owned)
            .unwrap()
    };
    let dots = unsigned_put(
        &creds,
        &bucket.name,
        "c/..",
        &[("expect", "100-continue")],
        b"body 4",
    );
    let plain = unsigned_put(&creds, &bucket.name, "c", &[], b"body 5");
    let wire = format!("{}\r\n{}", keep_alive(&dots), keep_alive(&plain));
    let raw = {
        use std::io::{Read as _, Write as _};
        let endpoint = harness().gw().endpoint();
        let mut s =
            std::net::TcpStream::connect(endpoint.strip_prefix("http://").unwrap()).unwrap();
        // A guard against hanging the suite, not an assertion on timing.
        s.set_read_timeout(Some(std::time::Duration::from_secs(90)))
            .unwrap();
        s.write_all(wire.as_bytes()).unwrap();
        s.write_all(b"\r\nbody 5").unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).ok();
        String::from_utf8_lossy(&raw).into_owned()
    };
    let (first, rest) = raw.split_once("</Error>").unwrap_or((&raw, ""));
    assert!(
        first.starts_with("HTTP/1.1 400") && first.contains("<Code>InvalidArgument</Code>"),
        "{raw}"
    );
    // Either the connection ends after a refusal that says so, or the next
    // request is answered as itself.
    let closed = first
        .to_ascii_lowercase()
        .contains("\r\nconnection: close\r\n")
        && rest.is_empty();
    assert!(closed || rest.starts_with("HTTP/1.1 200"), "{raw}");
    assert_absent(&bucket.name, "c/..");
}
