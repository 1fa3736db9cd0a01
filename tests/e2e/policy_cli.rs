//! `s3gate policy check` and `s3gate policy explain` as an operator runs
//! them: their output and exit codes. No servers needed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the s3gate binary: exit code, stdout, stderr.
pub fn s3gate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
        .display()
        .to_string()
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn policy_check_accepts_the_examples_and_reports_their_version() {
    for name in [
        "policy.dev.toml",
        "policy.single-account.toml",
        "policy.multi-account.toml",
    ] {
        let (code, out, err) = s3gate(&["policy", "check", &example(name)]);
        assert_eq!(code, 0, "{name}: {out}{err}");
        assert!(out.contains("valid, version "), "{out}");
    }
    // Every shipped example passes without a warning, even --strict.
    for name in [
        "policy.dev.toml",
        "policy.single-account.toml",
        "policy.multi-account.toml",
    ] {
        let (code, out, err) = s3gate(&["policy", "check", "--strict", &example(name)]);
        assert_eq!(code, 0, "{name}: {out}{err}");
        assert!(out.contains(", 0 warnings"), "{name}: {out}");
    }
    // `*` on `s3://*` (operations s3gate does not recognise included) is
    // valid, with a warning, which --strict turns into a failure.
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "[[grant]]\nid = \"all\"\nprincipals = [\"user:a\"]\nactions = [\"*\"]\nresources = [\"s3://*\"]\n",
    );
    let (_, out, _) = s3gate(&["policy", "check", path.to_str().unwrap()]);
    assert!(out.contains("every action"), "{out}");
    let (code, _, _) = s3gate(&["policy", "check", "--strict", path.to_str().unwrap()]);
    assert_eq!(code, 1);
}

#[test]
fn policy_check_refuses_a_bad_file_naming_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "[[grant]]\nid = \"g\"\nprincipals = [\"user:a\"]\nactions = [\"read\", \"s3:GetObjekt\"]\nresources = [\"s3://b/*\"]\n",
    );
    let (code, out, err) = s3gate(&["policy", "check", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!("{}:4:", path.display())),
        "no file:line: {err}"
    );
    assert!(err.contains("unknown action `s3:GetObjekt`"), "{err}");
    let path = write(
        dir.path(),
        "[[grant]]\nid = \"g\"\nprincipals = [\"user:a\"]\nactions = [\"read\"]\nresources = [\"s3://b/*\"]\nrole = \"arn:aws:iam::123:role/x\"\n",
    );
    let (code, _, err) = s3gate(&["policy", "check", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains(":6:") && err.contains("12 digits"), "{err}");
}

#[test]
fn policy_check_warns_about_a_grant_a_deny_makes_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "[[grant]]\nid = \"g\"\nprincipals = [\"user:a\"]\nactions = [\"read\"]\nresources = [\"s3://b/x/*\"]\n\n\
         [[deny]]\nid = \"d\"\nprincipals = [\"*\"]\nactions = [\"*\"]\nresources = [\"s3://b/*\"]\n",
    );
    let (code, out, _) = s3gate(&["policy", "check", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("rule `g`: can never allow anything: deny `d`"),
        "{out}"
    );
    assert!(out.contains("1 warnings"), "{out}");
}

#[test]
fn policy_explain_prints_the_decision_and_exits_0_allowed_1_denied_2_error() {
    let policy = example("policy.single-account.toml");
    let idp = "oidc:https://idp.example.com#248289761001";
    let (code, out, err) = s3gate(&[
        "policy",
        "explain",
        "--policy",
        &policy,
        "--as",
        idp,
        "--username",
        "jane",
        "s3:PutObject",
        "s3://corp-data/home/jane/notes.txt",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("ALLOW s3:PutObject on s3://corp-data/home/jane/notes.txt: allowed by grant `homes` (upstream role arn:aws:iam::123456789012:role/s3gate-corp-data)"),
        "{out}"
    );
    assert!(out.contains(&format!("identity: {idp}")), "{out}");
    assert!(
        out.contains("s3://corp-data/home/jane/*"),
        "grants under the role: {out}"
    );

    let (code, out, _) = s3gate(&[
        "policy",
        "explain",
        "--policy",
        &policy,
        "--as",
        idp,
        "--username",
        "jane",
        "s3:GetObject",
        "s3://corp-data/home/john/notes.txt",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("DENY s3:GetObject on s3://corp-data/home/john/notes.txt: no grant"),
        "{out}"
    );

    let (code, out, _) = s3gate(&[
        "policy",
        "explain",
        "--policy",
        &policy,
        "--as",
        idp,
        "--username",
        "jane",
        "s3:GetObject",
        "s3://corp-data/home/jane/secrets/k",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("denied by rule `no-secrets`"), "{out}");

    // Conditions: group, address and MFA come from the command line.
    let base = [
        "policy",
        "explain",
        "--policy",
        &policy,
        "--as",
        idp,
        "--group",
        "data-team",
    ];
    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        args.extend_from_slice(&["s3:PutObject", "s3://corp-data/shared/report.csv"]);
        s3gate(&args).0
    };
    assert_eq!(with(&["--source-ip", "10.1.2.3", "--mfa"]), 0);
    assert_eq!(with(&["--source-ip", "10.1.2.3"]), 1);
    assert_eq!(with(&["--source-ip", "192.0.2.1", "--mfa"]), 1);

    let aws_role = [
        "policy",
        "explain",
        "--policy",
        &policy,
        "--as",
        "aws:role/123456789012/nightly-export",
        "s3:PutObject",
        "s3://corp-exports/nightly-export/2026-11-27.csv",
    ];
    assert_eq!(s3gate(&aws_role).0, 0);

    for bad in [
        vec![
            "policy",
            "explain",
            "--policy",
            &policy,
            "--as",
            "jane",
            "s3:GetObject",
            "s3://b/k",
        ],
        vec![
            "policy",
            "explain",
            "--policy",
            &policy,
            "--as",
            "user:jane",
            "s3:Frob",
            "s3://b/k",
        ],
        vec![
            "policy",
            "explain",
            "--policy",
            "/nonexistent.toml",
            "--as",
            "user:jane",
            "s3:GetObject",
            "s3://b/k",
        ],
        vec![
            "policy",
            "explain",
            "--policy",
            &policy,
            "--as",
            "user:jane",
            "s3:GetObject",
            "b/k",
        ],
    ] {
        let (code, out, err) = s3gate(&bad);
        assert_eq!(code, 2, "{bad:?}: {out}{err}");
        assert!(!err.is_empty());
    }
}
