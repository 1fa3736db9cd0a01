//! The whole request is authorized: headers that make the store do more
//! than the request line says (ACLs, grants, object lock) need the action
//! they imply, keys a store could resolve to another key (`..`) are refused,
//! and s3gate's own objects are out of the data plane's reach.
//!
//! The sessions here are narrow (a writer without `s3:PutObjectAcl`) and
//! the clients are stock: the aws CLI and boto3. Each refusal is checked on
//! the store itself (nothing written) and in the audit line.

use crate::audit::audit_lines;
use crate::client::{aws, boto3, store_object, store_put};
use crate::harness::{Creds, harness, unique_name};
use crate::sign::{Payload, Signing, send_blocking, signed};

/// A writer on `bucket/*` that may read there too, with `extra` actions.
fn writer(bucket: &str, extra: &str) -> Creds {
    let actions = if extra.is_empty() {
        "read,write,list".to_owned()
    } else {
        format!("read,write,list,{extra}")
    };
    harness().mint(
        &unique_name("writer"),
        &[
            format!("{actions}=s3://{bucket}/*"),
            format!("list=s3://{bucket}"),
        ],
        "1h",
    )
}

/// The client's output names AccessDenied and the implied action, nothing
/// was stored, and the audit line gives the same reason.
#[track_caller]
fn assert_refused_for(out: &str, action: &str, bucket: &str, key: &str) {
    assert!(out.contains("AccessDenied"), "{out}");
    assert!(
        out.contains(&format!("s3:{action}")),
        "the refusal should name s3:{action}: {out}"
    );
    assert_eq!(
        store_object(bucket, key),
        None,
        "{bucket}/{key} was stored although the request was refused"
    );
    let lines = audit_lines(harness().gw());
    let line = lines
        .iter()
        .rev()
        .find(|l| l["bucket"] == bucket && l["key"] == key)
        .unwrap_or_else(|| panic!("no audit line for {bucket}/{key}"));
    assert_eq!(line["decision"], "deny", "{line}");
    assert!(
        line["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&format!("s3:{action}"))),
        "the audit reason should name s3:{action}: {line}"
    );
}

fn small_file(dir: &std::path::Path) -> String {
    let path = dir.join("body");
    std::fs::write(&path, b"s3gate").unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn aws_cli_upload_with_a_public_acl_needs_put_object_acl() {
    let h = harness();
    let bucket = h.bucket("acl-cli");
    let dir = h.tempdir();
    let file = small_file(dir.path());
    let creds = writer(&bucket.name, "");
    let put = |creds: &Creds, key: &str, acl_args: &[&str]| {
        let mut args = vec![
            "s3api",
            "put-object",
            "--bucket",
            &bucket.name,
            "--key",
            key,
            "--body",
            &file,
        ];
        args.extend_from_slice(acl_args);
        aws(&h.gw().endpoint(), creds, &args)
    };

    let out = put(&creds, "public", &["--acl", "public-read"]).failed();
    assert_refused_for(&out, "PutObjectAcl", &bucket.name, "public");
    let out = put(&creds, "granted", &["--grant-full-control", "id=attacker"]).failed();
    assert_refused_for(&out, "PutObjectAcl", &bucket.name, "granted");

    // The same writer without the header, and a session holding the
    // implied action, upload as before.
    put(&creds, "plain", &[]).ok();
    assert_eq!(
        store_object(&bucket.name, "plain").as_deref(),
        Some(&b"s3gate"[..])
    );
    let acl_writer = writer(&bucket.name, "s3:PutObjectAcl");
    put(&acl_writer, "public", &["--acl", "public-read"]).ok();
    assert_eq!(
        store_object(&bucket.name, "public").as_deref(),
        Some(&b"s3gate"[..])
    );
}

#[test]
fn boto3_upload_with_acl_grants_or_object_lock_needs_the_implied_action() {
    let h = harness();
    let bucket = h.bucket("implied-boto3");
    let creds = writer(&bucket.name, "");
    let gw = h.gw().endpoint();
    for (key, params, action) in [
        ("acl", r#"{"ACL": "public-read"}"#, "PutObjectAcl"),
        (
            "grant",
            r#"{"GrantFullControl": "id=attacker"}"#,
            "PutObjectAcl",
        ),
        (
            "locked",
            r#"{"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": "2099-01-01T00:00:00Z"}"#,
            "PutObjectRetention",
        ),
        (
            "held",
            r#"{"ObjectLockLegalHoldStatus": "ON"}"#,
            "PutObjectLegalHold",
        ),
        (
            "tagged",
            r#"{"Tagging": "owner=attacker"}"#,
            "PutObjectTagging",
        ),
    ] {
        // `write` holds PutObjectTagging; the tagging case checks a session
        // whose scope has PutObject alone.
        let creds = if action == "PutObjectTagging" {
            h.mint(
                &unique_name("putter"),
                &[format!("s3:PutObject=s3://{}/*", bucket.name)],
                "1h",
            )
        } else {
            creds.clone()
        };
        let out = boto3(&gw, &creds, "put-with", &bucket.name, key, Some(params)).failed();
        assert_refused_for(&out, action, &bucket.name, key);
    }
    // With the implied action granted, the ACL upload is allowed.
    let acl_writer = writer(&bucket.name, "s3:PutObjectAcl");
    boto3(
        &gw,
        &acl_writer,
        "put-with",
        &bucket.name,
        "acl",
        Some(r#"{"ACL": "public-read"}"#),
    )
    .ok();
    assert_eq!(
        store_object(&bucket.name, "acl").as_deref(),
        Some(&b"s3gate"[..])
    );
}

#[test]
fn a_presigned_url_with_a_hoisted_acl_parameter_needs_put_object_acl() {
    let h = harness();
    let bucket = h.bucket("implied-presign");
    let creds = writer(&bucket.name, "");
    let url = format!(
        "{}/{}/k?x-amz-acl=public-read",
        h.gw().endpoint(),
        bucket.name
    );
    let signing = Signing {
        presign: Some(std::time::Duration::from_secs(300)),
        ..Signing::now(&creds)
    };
    let (req, _) = signed(&signing, "PUT", &url, &[], Payload::Unsigned, b"x".to_vec());
    let resp = send_blocking(req);
    resp.assert_error(403, "AccessDenied");
    assert!(
        resp.message().contains("s3:PutObjectAcl"),
        "{}",
        resp.text()
    );
    assert_eq!(store_object(&bucket.name, "k"), None);
}

#[test]
fn an_unknown_amz_header_is_refused_not_forwarded() {
    let h = harness();
    let bucket = h.bucket("implied-unknown");
    let creds = h.session_for(&bucket.name);
    let url = format!("{}/{}/k", h.gw().endpoint(), bucket.name);
    let (req, _) = signed(
        &Signing::now(&creds),
        "PUT",
        &url,
        &[("x-amz-frobnicate", "1")],
        Payload::Hash(b"x"),
        b"x".to_vec(),
    );
    let resp = send_blocking(req);
    resp.assert_error(400, "InvalidArgument");
    assert!(
        resp.message().contains("x-amz-frobnicate"),
        "{}",
        resp.text()
    );
    assert_eq!(store_object(&bucket.name, "k"), None);
}

#[test]
fn copy_sources_with_dot_segments_are_refused() {
    let h = harness();
    let bucket = h.bucket("dots");
    store_put(&bucket.name, "other", b"secret");
    // The caller may read and write `dst/` only.
    let creds = h.mint(
        &unique_name("dotter"),
        &[format!("read,write=s3://{}/dst/*", bucket.name)],
        "1h",
    );
    let gw = h.gw().endpoint();
    let source = format!("{}/dst/../other", bucket.name);
    let out = boto3(&gw, &creds, "copy", &bucket.name, "dst/copy", Some(&source)).failed();
    assert!(out.contains("InvalidArgument"), "{out}");
    assert_eq!(
        store_object(&bucket.name, "dst/copy"),
        None,
        "the copy landed"
    );

    let out = aws(
        &gw,
        &creds,
        &[
            "s3api",
            "copy-object",
            "--bucket",
            &bucket.name,
            "--key",
            "dst/copy2",
            "--copy-source",
            &format!("{}/dst/./../other", bucket.name),
        ],
    )
    .failed();
    assert!(out.contains("InvalidArgument"), "{out}");
    assert_eq!(
        store_object(&bucket.name, "dst/copy2"),
        None,
        "the copy landed"
    );

    // Percent-encoded dots are dots once decoded.
    let url = format!("{gw}/{}/dst/copy3", bucket.name);
    let encoded = format!("/{}/dst/%2E%2E/other", bucket.name);
    let (req, _) = signed(
        &Signing::now(&creds),
        "PUT",
        &url,
        &[("x-amz-copy-source", &encoded)],
        Payload::Hash(b""),
        Vec::new(),
    );
    send_blocking(req).assert_error(400, "InvalidArgument");
    assert_eq!(
        store_object(&bucket.name, "dst/copy3"),
        None,
        "the copy landed"
    );
}

#[test]
fn keys_with_dot_segments_are_refused() {
    let h = harness();
    let bucket = h.bucket("dot-keys");
    store_put(&bucket.name, "other", b"secret");
    let creds = h.mint(
        &unique_name("dotter"),
        &[format!("read,write,delete=s3://{}/dst/*", bucket.name)],
        "1h",
    );
    for (method, key) in [
        ("GET", "dst/../other"),
        ("PUT", "dst/%2E%2E/other"),
        ("DELETE", "dst/../other"),
    ] {
        let url = format!("{}/{}/{key}", h.gw().endpoint(), bucket.name);
        let (req, _) = signed(
            &Signing::now(&creds),
            method,
            &url,
            &[],
            Payload::Hash(b""),
            Vec::new(),
        );
        let resp = send_blocking(req);
        resp.assert_error(400, "InvalidArgument");
        assert!(resp.message().contains("s3gate"), "{}", resp.text());
    }
    // A DeleteObjects batch naming one such key is refused whole.
    store_put(&bucket.name, "dst/mine", b"mine");
    let out = boto3(
        &h.gw().endpoint(),
        &creds,
        "delete-many",
        &bucket.name,
        "dst/mine",
        Some(r#"["dst/../other"]"#),
    )
    .failed();
    assert!(out.contains("InvalidArgument"), "{out}");
    assert_eq!(
        store_object(&bucket.name, "other").as_deref(),
        Some(&b"secret"[..])
    );
    assert_eq!(
        store_object(&bucket.name, "dst/mine").as_deref(),
        Some(&b"mine"[..])
    );
}
