//! The whole request is authorized: headers that make the store do more
//! than the request line says (ACLs, grants, object lock) need the action
//! they imply, keys a store could resolve to another key (`..`) are refused,
//! and s3gate's own objects are out of the data plane's reach.
//!
//! The sessions here are narrow (a writer without `s3:PutObjectAcl`) and
//! the clients are stock: the aws CLI and boto3. Each refusal is checked on
//! the store itself (nothing written) and in the audit line.

use std::time::Duration;

use crate::audit::audit_lines_once;
use crate::client::{aws, boto3, curl, store_object, store_put};
use crate::harness::{
    Creds, Gateway, bucket_scope, config_text, harness, mint_with, unique_name, wait_for,
    write_keyring, write_private,
};
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
    let lines = audit_lines_once(harness().gw(), |ls| {
        ls.iter().any(|l| l["bucket"] == bucket && l["key"] == key)
    });
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
    needs_testbed!();
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
    let out = put(&acl_writer, "public", &["--acl", "public-read"]);
    assert_passed_to_store(&out);
}

/// s3gate let the request through: the answer is the embedded store's own
/// (it keeps no ACLs, and says so with NotImplemented), not s3gate's
/// AccessDenied.
#[track_caller]
fn assert_passed_to_store(out: &crate::client::Output) {
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        out.status.success() || text.contains("NotImplemented"),
        "expected success or the store's NotImplemented: {text}"
    );
    assert!(!text.contains("AccessDenied"), "{text}");
}

#[test]
fn boto3_upload_with_acl_grants_or_object_lock_needs_the_implied_action() {
    needs_testbed!();
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
        // A caller-chosen KMS key (here another account's) needs a grant
        // whose `encryption.kms_keys` lists it; the test policy has none.
        (
            "foreign-key",
            r#"{"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "arn:aws:kms:us-east-1:999999999999:key/x"}"#,
            "PutObject",
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
    // With the implied action granted, s3gate allows the ACL upload (the
    // embedded store then answers for ACLs itself).
    let acl_writer = writer(&bucket.name, "s3:PutObjectAcl");
    let out = boto3(
        &gw,
        &acl_writer,
        "put-with",
        &bucket.name,
        "acl",
        Some(r#"{"ACL": "public-read"}"#),
    );
    assert_passed_to_store(&out);
}

#[test]
fn a_presigned_url_with_a_hoisted_acl_parameter_needs_put_object_acl() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("implied-presign");
    let creds = writer(&bucket.name, "");
    let url = format!(
        "{}/{}/k?x-amz-acl=public-read",
        h.gw().endpoint(),
        bucket.name
    );
    let signing = Signing {
        presign: Some(Duration::from_secs(300)),
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
    needs_testbed!();
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
    needs_testbed!();
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
    needs_testbed!();
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

/// A gateway in front of the store whose revocation list is the object
/// `s3://BUCKET/KEY`, polled every second.
fn gateway_with_list(dir: &std::path::Path, bucket: &str, key: &str) -> Gateway {
    let h = harness();
    let keyring = write_keyring(dir);
    let text = config_text(
        &h.store.endpoint(),
        &h.store.creds,
        &keyring,
        &dir.join("audit.log"),
    )
    .replace(
        "[session]\n",
        &format!("[session]\nrevocation_url = \"s3://{bucket}/{key}\"\nrevocation_poll = \"1s\"\n"),
    );
    let config = dir.join("s3gate.toml");
    write_private(&config, &text);
    h.gateway_from(&config)
}

/// GET of `bucket/key` through `gw`: the body, or the client's output.
fn get(gw: &Gateway, creds: &Creds, bucket: &str, key: &str) -> Result<String, String> {
    let dir = harness().tempdir();
    let out = dir.path().join("out");
    let o = boto3(
        &gw.endpoint(),
        creds,
        "get",
        bucket,
        key,
        Some(out.to_str().unwrap()),
    );
    if o.status.success() {
        Ok(std::fs::read_to_string(&out).unwrap())
    } else {
        Err(format!("{}\n{}", o.stdout, o.stderr))
    }
}

#[test]
fn the_revocation_list_is_out_of_reach_and_its_loss_keeps_it_and_fails_readyz() {
    needs_testbed!();
    let h = harness();
    let data = h.bucket("own-data");
    store_put(&data.name, "k", b"data");
    let ops = h.bucket("own-list");
    let key = "s3gate/revocations.jsonl";
    let mallory = unique_name("mallory");
    let list = format!("{{\"identity\":\"user:{mallory}\",\"until\":4000000000}}\n");
    store_put(&ops.name, key, list.as_bytes());
    let dir = h.tempdir();
    let gw = gateway_with_list(dir.path(), &ops.name, key);
    let mallory = mint_with(&gw.config, &mallory, &bucket_scope("*", &data.name), "1h");
    assert!(
        get(&gw, &mallory, &data.name, "k")
            .unwrap_err()
            .contains("revoked")
    );

    // A caller allowed everything on both buckets cannot delete, overwrite,
    // read or copy the list, nor expire it with a lifecycle rule.
    let mut scope = bucket_scope("*", &ops.name);
    scope.extend(bucket_scope("*", &data.name));
    let admin = mint_with(&gw.config, &unique_name("admin"), &scope, "1h");
    let url = format!("s3://{}/{key}", ops.name);
    let file = small_file(dir.path());
    for args in [
        vec!["s3", "rm", url.as_str()],
        vec!["s3", "cp", file.as_str(), url.as_str()],
        vec![
            "s3api",
            "put-bucket-lifecycle-configuration",
            "--bucket",
            &ops.name,
            "--lifecycle-configuration",
            r#"{"Rules":[{"ID":"x","Status":"Enabled","Filter":{"Prefix":""},"Expiration":{"Days":1}}]}"#,
        ],
    ] {
        let out = aws(&gw.endpoint(), &admin, &args).failed();
        assert!(out.contains("AccessDenied"), "{args:?}: {out}");
        assert!(out.contains("revocation list"), "{args:?}: {out}");
    }
    assert!(
        get(&gw, &admin, &ops.name, key)
            .unwrap_err()
            .contains("AccessDenied")
    );
    let source = format!("{}/{key}", ops.name);
    let out = boto3(
        &gw.endpoint(),
        &admin,
        "copy",
        &data.name,
        "stolen",
        Some(&source),
    )
    .failed();
    assert!(out.contains("AccessDenied"), "{out}");
    let out = boto3(
        &gw.endpoint(),
        &admin,
        "delete-many",
        &ops.name,
        "unrelated",
        Some(&format!("[\"{key}\"]")),
    )
    .failed();
    assert!(out.contains("AccessDenied"), "{out}");
    assert_eq!(
        store_object(&ops.name, key).as_deref(),
        Some(list.as_bytes())
    );
    assert_eq!(store_object(&data.name, "stolen"), None);
    // Next to it, the bucket is the caller's as granted.
    aws(
        &gw.endpoint(),
        &admin,
        &["s3", "cp", &file, &format!("s3://{}/mine", ops.name)],
    )
    .ok();

    // The list vanishes behind s3gate's back: the last list stays in
    // force, the metric says so, and readyz fails after the grace polls.
    h.block_on(async {
        crate::client::store_client()
            .delete_object()
            .bucket(&ops.name)
            .key(key)
            .send()
            .await
            .unwrap()
    });
    let readyz = || curl("GET", &format!("{}/_s3gate/readyz", gw.endpoint()), None);
    let (status, body) = wait_for(Duration::from_secs(20), || {
        let (status, body) = readyz();
        (status == 503).then_some((status, body))
    })
    .unwrap_or_else(readyz);
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("revocation list missing"));
    let (_, metrics) = curl("GET", &format!("{}/_s3gate/metrics", gw.endpoint()), None);
    assert!(
        String::from_utf8_lossy(&metrics).contains("s3gate_revocation_list_missing 1"),
        "{}",
        String::from_utf8_lossy(&metrics)
    );
    assert!(
        get(&gw, &mallory, &data.name, "k")
            .unwrap_err()
            .contains("revoked")
    );
    gw.stop();
}
