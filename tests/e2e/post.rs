//! Browser form uploads (POST Object): forms built by boto3's
//! `generate_presigned_post` with s3gate session credentials, posted with
//! Python `requests` as a browser posts them, through s3gate to the
//! verifying store. Every success_action_* answer, each policy condition
//! violated once with nothing stored, the policy file and the session's
//! scope deciding on the final key, and one audit line per form; and a
//! form from `s3gate presign post` submitted by headless Chromium.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::audit::audit_lines_once;
use crate::client::{aws_env, boto3_script, clean_command, run, store_object};
use crate::harness::{Creds, VIRTUAL_HOST_DOMAIN, harness, mint_with, testbed_var, unique_name};

/// A session that may read, write and list under `bucket/up/` only.
fn uploader(bucket: &str, extra: &str) -> Creds {
    harness().mint(
        &unique_name("uploader"),
        &[
            format!("read,write,list{extra}=s3://{bucket}/up/*"),
            format!("list=s3://{bucket}"),
        ],
        "1h",
    )
}

fn run_forms(
    creds: &Creds,
    mode: &str,
    bucket: &str,
    other: &str,
) -> serde_json::Map<String, Value> {
    let h = harness();
    let out = boto3_script(
        &h.gw().endpoint(),
        creds,
        "boto3_post.py",
        &[mode, bucket, other],
        &[("E2E_VHOST_DOMAIN", VIRTUAL_HOST_DOMAIN)],
    )
    .ok();
    let v: Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    v.as_object().unwrap().clone()
}

fn text<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field].as_str().unwrap_or("")
}

#[test]
fn form_uploads_answer_as_s3_does_and_each_broken_condition_stores_nothing() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("post");
    let other = h.bucket("post-other");
    let creds = uploader(&bucket.name, "");
    let out = run_forms(&creds, "conditions", &bucket.name, &other.name);
    let case = |name: &str| -> &Value {
        out.get(name)
            .unwrap_or_else(|| panic!("no case {name}: {out:?}"))
    };

    // Success: the file stored under the key with ${filename} substituted.
    for (name, status) in [
        ("ok_virtual_host", 204),
        ("ok_checksum", 204),
        ("ok_204", 204),
        ("ok_200", 200),
        ("ok_201", 201),
        ("ok_303", 303),
    ] {
        let c = case(name);
        assert_eq!(c["status"], status, "{name}: {c}");
        let key = format!("up/{name}.txt");
        assert_eq!(text(c, "key"), key);
        assert_eq!(
            store_object(&bucket.name, &key).as_deref(),
            Some(b"hello form".as_slice()),
            "{name}: not stored"
        );
        assert!(text(c, "etag").starts_with('"'), "{name}: no ETag: {c}");
    }
    let created = text(case("ok_201"), "body");
    assert!(created.contains("<PostResponse>"), "{created}");
    assert!(
        created.contains(&format!("<Bucket>{}</Bucket>", bucket.name)),
        "{created}"
    );
    assert!(created.contains("<Key>up/ok_201.txt</Key>"), "{created}");
    let location = text(case("ok_303"), "location");
    assert!(
        location.starts_with(&format!(
            "http://app.example/done?from=form&bucket={}&key=up%2Fok_303.txt&etag=%22",
            bucket.name
        )),
        "{location}"
    );
    assert_eq!(
        text(case("ok_fields"), "stored"),
        "text/plain|blue|team=blue"
    );

    // Refusals: S3's code, and nothing stored.
    for (name, status, code) in [
        ("wrong_checksum", 400, "BadDigest"),
        ("key_outside_prefix", 403, "AccessDenied"),
        ("too_large", 400, "EntityTooLarge"),
        ("too_small", 400, "EntityTooSmall"),
        ("content_type", 403, "AccessDenied"),
        ("meta_value", 403, "AccessDenied"),
        ("extra_field", 403, "AccessDenied"),
        ("success_status", 403, "AccessDenied"),
        ("success_redirect", 403, "AccessDenied"),
        ("tagging", 403, "AccessDenied"),
        ("bucket", 403, "AccessDenied"),
        ("expired", 403, "AccessDenied"),
        ("too_long", 403, "AccessDenied"),
        ("tampered_policy", 403, "SignatureDoesNotMatch"),
        ("no_session_token", 403, "InvalidAccessKeyId"),
        ("policy_file_scope", 403, "AccessDenied"),
        ("no_policy", 403, "AccessDenied"),
        ("file_not_last", 400, "MalformedPOSTRequest"),
        ("not_multipart", 412, "PreconditionFailed"),
    ] {
        let c = case(name);
        assert_eq!(
            (c["status"].as_u64(), text(c, "code")),
            (Some(status), code),
            "{name}: {c}"
        );
        let key = text(c, "key");
        for b in [&bucket.name, &other.name] {
            assert_eq!(store_object(b, key), None, "{name}: {b}/{key} was stored");
        }
    }
    let why = |name: &str| text(case(name), "body").to_owned();
    assert!(
        why("expired").contains("Policy expired"),
        "{}",
        why("expired")
    );
    assert!(
        why("too_long").contains("more than 7 days"),
        "{}",
        why("too_long")
    );
    assert!(
        why("extra_field").contains("Extra input fields: x-amz-meta-extra"),
        "{}",
        why("extra_field")
    );
    assert!(
        why("meta_value").contains("$x-amz-meta-color"),
        "{}",
        why("meta_value")
    );
    assert!(
        why("policy_file_scope").contains("s3:PutObject"),
        "{}",
        why("policy_file_scope")
    );

    // One audit line per form, naming the final key and the decision.
    let lines = audit_lines_once(h.gw(), |ls| {
        ["up/ok_204.txt", "up/too_large.txt", "policy_file_scope.txt"]
            .iter()
            .all(|key| {
                ls.iter().any(|l| {
                    l["operation"] == "PostObject"
                        && l["bucket"] == bucket.name.as_str()
                        && l["key"] == *key
                })
            })
    });
    let posts: Vec<&Value> = lines
        .iter()
        .filter(|l| l["operation"] == "PostObject" && l["bucket"] == bucket.name.as_str())
        .collect();
    let line = |key: &str| {
        posts
            .iter()
            .find(|l| l["key"] == key)
            .unwrap_or_else(|| panic!("no PostObject audit line for {key}: {posts:?}"))
    };
    assert_eq!(line("up/ok_204.txt")["decision"], "allow");
    assert_eq!(line("up/ok_204.txt")["status"], 204);
    assert_eq!(line("up/too_large.txt")["decision"], "deny");
    assert_eq!(line("policy_file_scope.txt")["decision"], "deny");
}

#[test]
fn a_form_field_implying_another_action_needs_that_action_too() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("post-acl");
    let narrow = run_forms(
        &uploader(&bucket.name, ""),
        "acl",
        &bucket.name,
        &bucket.name,
    );
    let c = &narrow["acl_needs_put_object_acl"];
    assert_eq!(
        (c["status"].as_u64(), text(c, "code")),
        (Some(403), "AccessDenied"),
        "{c}"
    );
    assert!(text(c, "body").contains("s3:PutObjectAcl"), "{c}");
    assert_eq!(store_object(&bucket.name, "up/acl.txt"), None);
    let wide = run_forms(
        &uploader(&bucket.name, ",s3:PutObjectAcl"),
        "acl",
        &bucket.name,
        &bucket.name,
    );
    let c = &wide["acl_needs_put_object_acl"];
    assert_eq!(c["status"], 204, "{c}");
    assert!(store_object(&bucket.name, "up/acl.txt").is_some());
}

/// `s3gate presign post` for `bucket/up/`, signed with `creds` from the
/// environment, written to a file: the form a web app hands a page.
fn presigned_form(creds: &Creds, bucket: &str, range: &str, dir: &std::path::Path) -> PathBuf {
    let h = harness();
    let mut cmd = clean_command(env!("CARGO_BIN_EXE_s3gate"));
    aws_env(&mut cmd, &h.gw().endpoint(), creds);
    cmd.args(["presign", "post", &format!("s3://{bucket}/up/")])
        .args(["--gateway", &h.gw().endpoint(), "--expires", "10m"])
        .args(["--content-length-range", range]);
    let out = run(cmd, Duration::from_secs(30)).ok();
    let form: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    assert_eq!(form["fields"]["key"], "up/${filename}", "{form}");
    let path = dir.join("form.json");
    std::fs::write(&path, out.stdout).unwrap();
    path
}

/// Headless Chromium choosing `file` in a page's form and pressing Upload.
fn browser_upload(form: &std::path::Path, file: &std::path::Path) -> Value {
    let mut cmd = clean_command("node");
    cmd.arg(PathBuf::from(testbed_var("S3GATE_TEST_NODE")).join("upload-form.mjs"))
        .arg(form)
        .arg(file);
    let out = run(cmd, Duration::from_secs(90)).ok();
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[test]
fn a_browser_uploads_through_a_form_from_s3gate_presign_post() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("post-browser");
    let dir = h.tempdir();
    let form = presigned_form(
        &uploader(&bucket.name, ""),
        &bucket.name,
        "1,1000",
        dir.path(),
    );

    let photo = dir.path().join("photo one.txt");
    std::fs::write(&photo, b"a person's upload").unwrap();
    let answer = browser_upload(&form, &photo);
    assert_eq!(answer["status"], 204, "{answer}");
    assert_eq!(
        store_object(&bucket.name, "up/photo one.txt").as_deref(),
        Some(b"a person's upload".as_slice())
    );

    // Past the form's content-length-range: refused, nothing stored.
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 1001]).unwrap();
    let answer = browser_upload(&form, &big);
    assert_eq!(answer["status"], 400, "{answer}");
    assert_eq!(store_object(&bucket.name, "up/big.bin"), None);
}

/// Behind a trusted proxy a form is judged by the address the proxy
/// forwards, as every other request is: the PutObject a form stands for is
/// rebuilt by s3gate, and once carried none of the proxy's headers, so a
/// `source_cidr` grant was decided on the proxy's own address.
#[test]
fn behind_a_trusted_proxy_a_form_is_judged_by_the_forwarded_address() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("post-xff");
    let user = unique_name("office");
    let policy = format!(
        r#"
[[grant]]
id = "uploads-from-the-office"
principals = ["user:{user}"]
actions = ["write"]
resources = ["s3://{}/up/*"]
conditions = {{ source_cidr = ["198.51.100.0/24"] }}
"#,
        bucket.name
    );
    // The test is the load balancer: it connects from 127.0.0.1.
    let gw = h.policy_gateway_with(
        "post-xff",
        &policy,
        "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
    );
    let creds = mint_with(&gw.config, &user, &["*=s3://*"], "1h");
    let mut cmd = clean_command(env!("CARGO_BIN_EXE_s3gate"));
    aws_env(&mut cmd, &gw.endpoint(), &creds);
    cmd.args(["presign", "post", &format!("s3://{}/up/", bucket.name)])
        .args(["--gateway", &gw.endpoint(), "--expires", "10m"]);
    let out = run(cmd, Duration::from_secs(30)).ok();
    let form: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    let dir = h.tempdir();
    let post = |file: &str, forwarded_for: &str| -> String {
        let path = dir.path().join(file);
        std::fs::write(&path, b"from a desk").unwrap();
        let mut curl = clean_command("curl");
        curl.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(["-H", &format!("x-forwarded-for: {forwarded_for}")]);
        for (name, value) in form["fields"].as_object().unwrap() {
            curl.args([
                "--form-string",
                &format!("{name}={}", value.as_str().unwrap()),
            ]);
        }
        curl.args(["-F", &format!("file=@{}", path.display())])
            .arg(form["url"].as_str().unwrap());
        run(curl, Duration::from_secs(30)).ok().stdout
    };
    assert_eq!(post("in.txt", "198.51.100.7"), "204");
    assert_eq!(
        store_object(&bucket.name, "up/in.txt").as_deref(),
        Some(b"from a desk".as_slice())
    );
    assert_eq!(post("out.txt", "203.0.113.9"), "403");
    assert_eq!(store_object(&bucket.name, "up/out.txt"), None);
}
