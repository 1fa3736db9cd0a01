//! The STS query API on s3gate's port: what a session is, asked the way
//! tools ask it.

use crate::client::{aws, run};
use crate::harness::{bucket_scope, harness, unique_name};

#[test]
fn aws_sts_get_caller_identity_names_the_session_user() {
    needs_testbed!();
    let h = harness();
    let user = unique_name("whoami");
    let creds = h.mint(&user, &bucket_scope("read", "nothing"), "1h");
    let out = aws(
        &h.gw().endpoint(),
        &creds,
        &["sts", "get-caller-identity", "--output", "json"],
    )
    .ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v["Arn"].as_str().unwrap(),
        format!("arn:aws:sts::000000000000:assumed-role/s3gate-mint/{user}")
    );
    assert_eq!(
        v["UserId"].as_str().unwrap(),
        format!("{}:{user}", creds.access_key_id)
    );
}

#[test]
fn get_caller_identity_with_a_wrong_secret_is_refused_in_sts_shape() {
    needs_testbed!();
    let h = harness();
    let mut creds = h.mint(&unique_name("whoami-bad"), &bucket_scope("read", "x"), "1h");
    creds.secret_access_key = "A".repeat(40);
    let out = aws(&h.gw().endpoint(), &creds, &["sts", "get-caller-identity"]);
    let err = out.failed();
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
}

#[test]
fn unknown_sts_action_is_refused_with_invalid_action() {
    needs_testbed!();
    let h = harness();
    let mut cmd = crate::client::clean_command("curl");
    cmd.args([
        "-s",
        "-w",
        "\n%{http_code}",
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
        "--data",
        "Action=GetSessionToken&Version=2011-06-15",
        &h.gw().endpoint(),
    ]);
    let out = run(cmd, std::time::Duration::from_secs(30)).ok();
    assert!(
        out.stdout.contains("<Code>InvalidAction</Code>"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("<ErrorResponse"), "{}", out.stdout);
    assert!(out.stdout.trim_end().ends_with("400"), "{}", out.stdout);
}
