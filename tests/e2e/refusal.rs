//! Refusals: each bad request answers S3's error code and status in S3's
//! XML shape, and leaves the store exactly as it was (checked directly with
//! the store's own keys).

use std::time::{Duration, SystemTime};

use crate::client::{aws, aws_with_config, curl, store_keys, store_object, store_put};
use crate::harness::{Creds, bucket_scope, harness, mint_with, random_bytes, unique_name};
use crate::sign::{Payload, Request, Signing, Streaming, send_blocking, signed, streaming_put};

/// A PUT of `body` signed by `signing`, to `bucket/key` on the gateway.
fn put(signing: &Signing<'_>, bucket: &str, key: &str, body: &[u8]) -> Request {
    let url = format!("{}/{bucket}/{key}", harness().gw().endpoint());
    signed(
        signing,
        "PUT",
        &url,
        &[],
        Payload::Hash(body),
        body.to_vec(),
    )
    .0
}

#[track_caller]
pub fn assert_absent(bucket: &str, key: &str) {
    assert_eq!(
        store_object(bucket, key).map(|d| d.len()),
        None,
        "{bucket}/{key} was stored although the request was refused"
    );
}

/// A bucket and a session allowed everything in it.
pub fn setup(label: &str) -> (crate::harness::Bucket, Creds) {
    let h = harness();
    let bucket = h.bucket(label);
    let creds = h.session_for(&bucket.name);
    (bucket, creds)
}

#[test]
fn wrong_secret_is_refused_with_signature_does_not_match_and_nothing_stored() {
    needs_testbed!();
    let (bucket, creds) = setup("wrong-secret");
    let forged = creds.with_forged_secret();
    assert_ne!(forged.secret_access_key, creds.secret_access_key);
    let resp = send_blocking(put(&Signing::now(&forged), &bucket.name, "k", b"data"));
    resp.assert_error(403, "SignatureDoesNotMatch");
    assert_absent(&bucket.name, "k");
}

#[test]
fn aws_cli_with_wrong_secret_reports_signature_does_not_match() {
    needs_testbed!();
    let h = harness();
    let (bucket, creds) = setup("cli-wrong-secret");
    let forged = Creds {
        secret_access_key: "0".repeat(creds.secret_access_key.len()),
        ..creds
    };
    let dir = h.tempdir();
    let (file, _) = crate::harness::random_file(dir.path(), "f", 100);
    let out = aws(
        &h.gw().endpoint(),
        &forged,
        &[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{}/k", bucket.name),
        ],
    )
    .failed();
    assert!(out.contains("SignatureDoesNotMatch"), "{out}");
    assert_absent(&bucket.name, "k");
}

/// Changes one base64 character in the middle of a token.
fn tamper_token(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn tampered_session_token_is_refused_with_invalid_token() {
    needs_testbed!();
    let (bucket, creds) = setup("tampered-token");
    let forged = Creds {
        session_token: creds.session_token.as_deref().map(tamper_token),
        ..creds.clone()
    };
    assert_ne!(forged.session_token, creds.session_token);
    let resp = send_blocking(put(&Signing::now(&forged), &bucket.name, "k", b"data"));
    resp.assert_error(400, "InvalidToken");
    assert_absent(&bucket.name, "k");
}

#[test]
fn token_sealed_by_a_foreign_keyring_is_refused_with_invalid_token() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("foreign");
    let foreign = mint_with(
        &h.foreign_config,
        "mallory",
        &bucket_scope("*", &bucket.name),
        "1h",
    );
    let resp = send_blocking(put(&Signing::now(&foreign), &bucket.name, "k", b"data"));
    resp.assert_error(400, "InvalidToken");
    assert_absent(&bucket.name, "k");
}

#[test]
fn token_presented_with_another_sessions_access_key_is_refused_with_invalid_access_key_id() {
    needs_testbed!();
    let (bucket, alice) = setup("swapped-token");
    let bob = harness().session_for(&bucket.name);
    let mixed = Creds {
        session_token: bob.session_token.clone(),
        ..alice
    };
    let resp = send_blocking(put(&Signing::now(&mixed), &bucket.name, "k", b"data"));
    resp.assert_error(403, "InvalidAccessKeyId");
    assert_absent(&bucket.name, "k");
}

#[test]
fn expired_session_is_refused_with_expired_token() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("expired");
    let creds = h.mint(
        &unique_name("brief"),
        &bucket_scope("*", &bucket.name),
        "2s",
    );
    std::thread::sleep(Duration::from_millis(3500));
    let resp = send_blocking(put(&Signing::now(&creds), &bucket.name, "k", b"data"));
    resp.assert_error(400, "ExpiredToken");
    assert_absent(&bucket.name, "k");
}

#[test]
fn request_signed_twenty_minutes_ago_is_refused_with_request_time_too_skewed() {
    needs_testbed!();
    let (bucket, creds) = setup("skewed");
    for skew in [-1200i64, 1200] {
        let time = if skew < 0 {
            SystemTime::now() - Duration::from_secs(skew.unsigned_abs())
        } else {
            SystemTime::now() + Duration::from_secs(skew.unsigned_abs())
        };
        let signing = Signing {
            creds: &creds,
            time,
            presign: None,
        };
        let resp = send_blocking(put(&signing, &bucket.name, "k", b"data"));
        resp.assert_error(403, "RequestTimeTooSkewed");
    }
    assert_absent(&bucket.name, "k");
}

#[test]
fn presigned_url_past_its_expiry_is_refused_with_access_denied() {
    needs_testbed!();
    let h = harness();
    let (bucket, creds) = setup("presign-expired");
    store_put(&bucket.name, "k", b"secret data");
    // Signed ten minutes ago, valid for one: expired, but within the skew window.
    let signing = Signing {
        creds: &creds,
        time: SystemTime::now() - Duration::from_secs(600),
        presign: Some(Duration::from_secs(60)),
    };
    let url = format!("{}/{}/k", h.gw().endpoint(), bucket.name);
    let (req, _) = signed(&signing, "GET", &url, &[], Payload::Unsigned, Vec::new());
    let (status, body) = curl("GET", &req.url, None);
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");
    assert!(text.to_ascii_lowercase().contains("expired"), "{text}");
    assert!(!text.contains("secret data"));
    // The same URL shape, fresh, works: the refusal was the expiry.
    let fresh = Signing {
        creds: &creds,
        time: SystemTime::now(),
        presign: Some(Duration::from_secs(60)),
    };
    let (req, _) = signed(&fresh, "GET", &url, &[], Payload::Unsigned, Vec::new());
    let (status, body) = curl("GET", &req.url, None);
    assert_eq!((status, &body[..]), (200, &b"secret data"[..]));
}

#[test]
fn presigned_url_valid_longer_than_seven_days_or_for_zero_seconds_is_refused_403() {
    needs_testbed!();
    let h = harness();
    let (bucket, creds) = setup("presign-long");
    // S3 answers both 403 (Ceph's s3-tests, written against AWS, assert it).
    for expires in [7 * 86400 + 1, 0] {
        let signing = Signing {
            creds: &creds,
            time: SystemTime::now(),
            presign: Some(Duration::from_secs(expires)),
        };
        let url = format!("{}/{}/k", h.gw().endpoint(), bucket.name);
        let (req, _) = signed(
            &signing,
            "PUT",
            &url,
            &[],
            Payload::Unsigned,
            b"data".to_vec(),
        );
        let resp = send_blocking(req);
        resp.assert_error(403, "AuthorizationQueryParametersError");
    }
    assert_absent(&bucket.name, "k");
}

#[test]
fn out_of_scope_key_is_access_denied_naming_action_resource_and_request_id() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("scope");
    let scopes = [format!("read,write=s3://{}/mine/*", bucket.name)];
    let creds = h.mint(&unique_name("scoped"), &scopes, "1h");
    let ok = send_blocking(put(&Signing::now(&creds), &bucket.name, "mine/a", b"ok"));
    assert_eq!(ok.status, 200, "in-scope PUT: {}", ok.text());

    let resp = send_blocking(put(&Signing::now(&creds), &bucket.name, "theirs/b", b"no"));
    resp.assert_error(403, "AccessDenied");
    let message = resp.message();
    assert!(
        message.contains("PutObject"),
        "message names no action: {message}"
    );
    assert!(
        message.contains(&format!("{}/theirs/b", bucket.name)),
        "message names no resource: {message}"
    );
    let id = resp.request_id().expect("x-amz-request-id header");
    assert!(
        message.contains(&id),
        "message names no request id ({id}): {message}"
    );
    assert_absent(&bucket.name, "theirs/b");
    assert_eq!(store_keys(&bucket.name), ["mine/a"]);
}

#[test]
fn aws_cli_upload_outside_the_session_scope_fails_with_access_denied() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("cli-scope");
    let scopes = [format!("read=s3://{}/*", bucket.name)];
    let creds = h.mint(&unique_name("reader"), &scopes, "1h");
    let dir = h.tempdir();
    let (file, _) = crate::harness::random_file(dir.path(), "f", 100);
    let out = aws(
        &h.gw().endpoint(),
        &creds,
        &[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{}/k", bucket.name),
        ],
    )
    .failed();
    assert!(out.contains("AccessDenied"), "{out}");
    assert_absent(&bucket.name, "k");
}

#[test]
fn tampered_body_under_a_signed_hash_is_refused_and_nothing_is_created_or_changed() {
    needs_testbed!();
    let (bucket, creds) = setup("tampered-body");
    let original = random_bytes(300_000);
    store_put(&bucket.name, "existing", &original);
    let signed_body = random_bytes(300_000);
    let mut sent = signed_body.clone();
    let last = sent.len() - 1;
    sent[last] ^= 0x01;

    for key in ["new", "existing"] {
        let url = format!("{}/{}/{key}", harness().gw().endpoint(), bucket.name);
        let (req, _) = signed(
            &Signing::now(&creds),
            "PUT",
            &url,
            &[],
            Payload::Hash(&signed_body),
            sent.clone(),
        );
        send_blocking(req).assert_error(400, "XAmzContentSHA256Mismatch");
    }
    assert_absent(&bucket.name, "new");
    assert!(
        store_object(&bucket.name, "existing").unwrap() == original,
        "the existing object was changed by a refused PUT"
    );
}

#[test]
fn tampered_chunk_in_a_signed_stream_is_refused_and_nothing_is_created_or_changed() {
    needs_testbed!();
    let (bucket, creds) = setup("tampered-chunk");
    let original = random_bytes(100_000);
    store_put(&bucket.name, "existing", &original);
    let data = random_bytes(1024 * 1024);
    let chunk = 64 * 1024;
    for key in ["new", "existing"] {
        let url = format!("{}/{}/{key}", harness().gw().endpoint(), bucket.name);
        // The last chunk is the forged one: everything before it verifies.
        let req = streaming_put(
            &creds,
            &url,
            &data,
            chunk,
            Streaming::Signed,
            Some(data.len() - 10),
        );
        send_blocking(req).assert_error(403, "SignatureDoesNotMatch");
    }
    assert_absent(&bucket.name, "new");
    assert!(
        store_object(&bucket.name, "existing").unwrap() == original,
        "the existing object was changed by a refused PUT"
    );
}

#[test]
fn signature_v2_authorization_header_is_refused_with_a_message_naming_sigv4() {
    needs_testbed!();
    let (bucket, creds) = setup("sigv2");
    let url = format!("{}/{}/k", harness().gw().endpoint(), bucket.name);
    let date = httpdate_now();
    let req = Request {
        method: "PUT".into(),
        url,
        headers: vec![
            ("date".into(), date),
            (
                "authorization".into(),
                format!("AWS {}:frJIUN8DYpKDtOLCwo//yllqDzg=", creds.access_key_id),
            ),
            (
                "x-amz-security-token".into(),
                creds.session_token.clone().unwrap(),
            ),
        ],
        body: b"data".to_vec(),
    };
    let resp = send_blocking(req);
    assert!(
        matches!(resp.status, 400 | 403),
        "a V2 request must be refused: {} {}",
        resp.status,
        resp.text()
    );
    assert_says_sigv4(&resp.message());
    assert_absent(&bucket.name, "k");
}

#[test]
fn aws_cli_presign_without_s3v4_config_gives_a_url_refused_with_a_message_naming_sigv4() {
    needs_testbed!();
    let h = harness();
    let (bucket, creds) = setup("sigv2-presign");
    store_put(&bucket.name, "k", b"secret data");
    // aws CLI v1's default for `s3 presign` is Signature V2.
    let out = aws_with_config(
        &h.gw().endpoint(),
        &creds,
        "[default]\n",
        &["s3", "presign", &format!("s3://{}/k", bucket.name)],
    )
    .ok();
    let url = out.stdout.trim();
    assert!(
        url.contains("Signature=") && !url.contains("X-Amz-"),
        "not a V2 URL: {url}"
    );
    let (status, body) = curl("GET", url, None);
    let text = String::from_utf8_lossy(&body);
    assert!(matches!(status, 400 | 403), "{status}: {text}");
    assert!(!text.contains("secret data"));
    let message = crate::sign::xml_tag(&text, "Message").unwrap_or_default();
    assert_says_sigv4(&message);
    // With the documented config line the same command yields a working URL.
    let out = aws(
        &h.gw().endpoint(),
        &creds,
        &["s3", "presign", &format!("s3://{}/k", bucket.name)],
    )
    .ok();
    let (status, body) = curl("GET", out.stdout.trim(), None);
    assert_eq!((status, &body[..]), (200, &b"secret data"[..]));
}

#[track_caller]
fn assert_says_sigv4(message: &str) {
    let m = message.to_ascii_lowercase();
    assert!(
        m.contains("sigv4") || m.contains("aws4-hmac-sha256") || m.contains("signature version 4"),
        "the refusal should tell the user to use SigV4: {message:?}"
    );
}

fn httpdate_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.format(&time::format_description::well_known::Rfc2822)
        .unwrap()
}

#[test]
fn presigned_url_stops_working_when_its_session_expires() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("presign-session");
    store_put(&bucket.name, "k", b"secret data");
    let creds = h.mint(
        &unique_name("brief"),
        &bucket_scope("*", &bucket.name),
        "3s",
    );
    // The URL claims an hour; the session behind it lives three seconds.
    let signing = Signing {
        creds: &creds,
        time: SystemTime::now(),
        presign: Some(Duration::from_secs(3600)),
    };
    let url = format!("{}/{}/k", h.gw().endpoint(), bucket.name);
    let (req, _) = signed(&signing, "GET", &url, &[], Payload::Unsigned, Vec::new());
    let (status, body) = curl("GET", &req.url, None);
    assert_eq!((status, &body[..]), (200, &b"secret data"[..]));
    std::thread::sleep(Duration::from_millis(4000));
    let (status, body) = curl("GET", &req.url, None);
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("<Code>ExpiredToken</Code>"), "{text}");
}

#[test]
fn dot_dot_key_allowed_in_one_bucket_cannot_reach_another_through_the_embedded_store() {
    needs_testbed!();
    // S3 keys are literal: `../other/evil` is a key in bucket `mine`, and
    // that is what the scope check sees. The embedded store keeps keys as
    // data, never as paths: the key is refused (by the gateway) or stored
    // in `mine` exactly, and `other` is never reached.
    let h = harness();
    let mine = h.bucket("dotdot-mine");
    let other = h.bucket("dotdot-other");
    let creds = h.mint(
        &unique_name("dotdot"),
        &bucket_scope("write", &mine.name),
        "1h",
    );
    for key in [
        format!("../{}/evil", other.name),
        format!("..%2F{}%2Fevil", other.name),
    ] {
        let resp = send_blocking(put(&Signing::now(&creds), &mine.name, &key, b"evil"));
        if resp.status != 200 {
            resp.assert_error(400, "InvalidArgument");
        }
    }
    assert_absent(&other.name, "evil");
    assert!(store_keys(&other.name).is_empty());
    for key in store_keys(&mine.name) {
        assert!(key.starts_with("../"), "stored as {key:?}");
    }
}
