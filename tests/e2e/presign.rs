//! `s3gate presign get|put`: links a person hands out, signed with their
//! own session, used by curl (no credentials of its own), and never
//! longer-lived than that session. (A presigned URL whose session has
//! expired is refused with `ExpiredToken`:
//! `refusal::presigned_url_stops_working_when_its_session_expires`.)

use std::time::Duration;

use crate::client::{clean_command, curl, run, store_object, store_put};
use crate::harness::{Gateway, bucket_scope, harness, random_file};

/// A session minted for `gw` as `session mint` prints it (with its
/// `Expiration`), as the environment a person's shell would hold.
fn session_env(gw: &Gateway, user: &str, scopes: &[String], ttl: &str) -> Vec<(String, String)> {
    let mut cmd = clean_command(env!("CARGO_BIN_EXE_s3gate"));
    cmd.args(["session", "mint", "--config"])
        .arg(&gw.config)
        .args(["--user", user, "--ttl", ttl]);
    for s in scopes {
        cmd.args(["--scope", s]);
    }
    let out = run(cmd, Duration::from_secs(30)).ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    [
        ("AWS_ACCESS_KEY_ID", "AccessKeyId"),
        ("AWS_SECRET_ACCESS_KEY", "SecretAccessKey"),
        ("AWS_SESSION_TOKEN", "SessionToken"),
        ("AWS_CREDENTIAL_EXPIRATION", "Expiration"),
    ]
    .into_iter()
    .map(|(var, field)| (var.to_owned(), v[field].as_str().unwrap().to_owned()))
    .collect()
}

/// Runs `s3gate presign ARGS` with `env`: (URL, what it said on stderr).
fn presign(gw: &Gateway, env: &[(String, String)], args: &[&str]) -> (String, String) {
    let mut cmd = clean_command(env!("CARGO_BIN_EXE_s3gate"));
    cmd.arg("presign")
        .args(args)
        .args(["--gateway", &gw.endpoint()]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(cmd, Duration::from_secs(30)).ok();
    (out.stdout.trim().to_owned(), out.stderr)
}

fn expires_param(url: &str) -> u64 {
    url.split(['?', '&'])
        .find_map(|p| p.strip_prefix("X-Amz-Expires="))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn presigned_links_work_for_curl_and_never_outlive_the_session() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("presign-cli");
    let b = &bucket.name;
    store_put(b, "reports/q3 summary.txt", b"the numbers");
    let gw = h.gw();
    let env = session_env(gw, "carol", &bucket_scope("*", b), "1h");

    // Asked for two hours from a one-hour session: clipped, and said so.
    let object = format!("s3://{b}/reports/q3 summary.txt");
    let (url, said) = presign(gw, &env, &["get", &object, "--expires", "2h"]);
    assert!(said.contains("past your session's expiry"), "{said}");
    let expires = expires_param(&url);
    assert!(expires <= 3600 && expires > 3000, "{url}");
    let (status, body) = curl("GET", &url, None);
    assert_eq!((status, body.as_slice()), (200, &b"the numbers"[..]));

    // Within the session: as asked, nothing said.
    let upload = format!("s3://{b}/inbox/from-dave.bin");
    let (url, said) = presign(gw, &env, &["put", &upload, "--expires", "10m"]);
    assert_eq!(expires_param(&url), 600);
    assert!(!said.contains("expiry"), "{said}");
    let dir = h.tempdir();
    let (file, _) = random_file(dir.path(), "up.bin", 70_000);
    let (status, _) = curl("PUT", &url, Some(&file));
    assert_eq!(status, 200);
    assert_eq!(
        store_object(b, "inbox/from-dave.bin").unwrap(),
        std::fs::read(&file).unwrap()
    );

    // The link carries its signer's rights, no more: a reader's PUT link
    // is refused and stores nothing.
    let reader = session_env(gw, "rita", &[format!("read=s3://{b}/*")], "1h");
    let (url, _) = presign(gw, &reader, &["put", &format!("s3://{b}/x.bin")]);
    let (status, body) = curl("PUT", &url, Some(&file));
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert_eq!(store_object(b, "x.bin"), None);

    // A link altered to reach another key is refused.
    let (url, _) = presign(gw, &env, &["get", &object]);
    let tampered = url.replace("/reports/", "/inbox/");
    let (status, body) = curl("GET", &tampered, None);
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("SignatureDoesNotMatch"));
}
