//! Delegation: a session holder hands out a narrower, shorter child session
//! through s3gate's STS `AssumeRole` (boto3's plain `sts.assume_role`, and
//! `s3gate grant`), and the child can do its subset only.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::audit::{audit_lines, audited_line};
use crate::client::{aws, boto3_assume_role, store_object, store_put};
use crate::harness::{Creds, Gateway, bucket_scope, harness, unique_name, wait_for};

/// A child session from boto3, or the STS error code it got.
fn assume(parent: &Creds, name: &str, policy: Option<&str>, duration: Option<u64>) -> Value {
    let h = harness();
    let out = boto3_assume_role(&h.gw().endpoint(), parent, name, policy, duration);
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "assume_role printed no JSON ({e}): {out:?}",
            out = out.stderr
        )
    })
}

pub fn child_creds(answer: &Value) -> Creds {
    let field = |k: &str| {
        answer[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k} in {answer}"))
            .to_owned()
    };
    Creds {
        access_key_id: field("AccessKeyId"),
        secret_access_key: field("SecretAccessKey"),
        session_token: Some(field("SessionToken")),
    }
}

/// An IAM session policy allowing `actions` on `resources`.
fn allow(actions: &[&str], resources: &[&str]) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}],
    })
    .to_string()
}

fn expiration(v: &Value) -> time::OffsetDateTime {
    let text = v["Expiration"].as_str().unwrap();
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("Expiration {text}: {e}"))
}

/// A bucket with `in/a.txt` and `other/b.txt`.
fn fixture(label: &str) -> crate::harness::Bucket {
    let b = harness().bucket(label);
    store_put(&b.name, "in/a.txt", b"inside");
    store_put(&b.name, "other/b.txt", b"outside");
    b
}

fn get(creds: &Creds, bucket: &str, key: &str) -> crate::client::Output {
    aws(
        &harness().gw().endpoint(),
        creds,
        &["s3", "cp", &format!("s3://{bucket}/{key}"), "-"],
    )
}

fn put(creds: &Creds, bucket: &str, key: &str) -> crate::client::Output {
    let dir = harness().tempdir();
    let file = dir.path().join("up.txt");
    std::fs::write(&file, b"from the child").unwrap();
    aws(
        &harness().gw().endpoint(),
        creds,
        &[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{bucket}/{key}"),
        ],
    )
}

#[test]
fn boto3_assume_role_child_can_do_its_subset_only() {
    needs_testbed!();
    let h = harness();
    let b = fixture("deleg-subset");
    let parent = h.mint(&unique_name("alice"), &bucket_scope("*", &b.name), "1h");
    let policy = allow(
        &["s3:GetObject", "s3:ListBucket"],
        &[&format!("arn:aws:s3:::{}/in/*", b.name)],
    );
    let answer = assume(&parent, "agent-7", Some(&policy), Some(900));
    assert!(
        answer["Arn"].as_str().unwrap().ends_with("/agent-7"),
        "{answer}"
    );
    let child = child_creds(&answer);

    assert_eq!(get(&child, &b.name, "in/a.txt").ok().stdout, "inside");
    let listed = aws(
        &h.gw().endpoint(),
        &child,
        &["s3", "ls", &format!("s3://{}/in/", b.name)],
    )
    .ok();
    assert!(listed.stdout.contains("a.txt"), "{}", listed.stdout);

    let err = get(&child, &b.name, "other/b.txt").failed();
    assert!(err.contains("AccessDenied") || err.contains("403"), "{err}");
    let err = put(&child, &b.name, "in/new.txt").failed();
    assert!(err.contains("AccessDenied"), "{err}");
    assert!(store_object(&b.name, "in/new.txt").is_none());
    // The parent keeps its own rights.
    put(&parent, &b.name, "other/parent.txt").ok();
}

#[test]
fn asking_for_more_than_the_parent_holds_yields_the_parents_scope_at_most() {
    needs_testbed!();
    let h = harness();
    let b = fixture("deleg-exceed");
    let parent = h.mint(
        &unique_name("alice"),
        &[format!("read,list=s3://{}/in/*", b.name)],
        "1h",
    );
    let answer = assume(&parent, "greedy", Some(&allow(&["s3:*"], &["*"])), None);
    let child = child_creds(&answer);
    assert_eq!(get(&child, &b.name, "in/a.txt").ok().stdout, "inside");
    let err = get(&child, &b.name, "other/b.txt").failed();
    assert!(err.contains("AccessDenied") || err.contains("403"), "{err}");
    let err = put(&child, &b.name, "in/new.txt").failed();
    assert!(err.contains("AccessDenied"), "{err}");
    assert!(store_object(&b.name, "in/new.txt").is_none());

    // A grandchild asking for everything again is held to both.
    let grand = child_creds(&assume(
        &child,
        "greedier",
        Some(&allow(&["s3:*"], &["*"])),
        None,
    ));
    assert_eq!(get(&grand, &b.name, "in/a.txt").ok().stdout, "inside");
    let err = put(&grand, &b.name, "in/new.txt").failed();
    assert!(err.contains("AccessDenied"), "{err}");
}

#[test]
fn a_child_never_outlives_its_parent() {
    needs_testbed!();
    let h = harness();
    let b = fixture("deleg-expiry");
    // Mint through the CLI to learn the parent's expiry.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["session", "mint", "--config"])
        .arg(&h.gw().config)
        .args(["--user", &unique_name("brief"), "--ttl", "12s"])
        .args(["--scope", &format!("*=s3://{}/*", b.name)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let parent_json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let parent = child_creds(&parent_json);
    let parent_expiry = expiration(&parent_json);

    // It asks for an hour and gets at most the parent's remaining seconds.
    let answer = assume(&parent, "agent-short", None, Some(3600));
    let child = child_creds(&answer);
    assert!(
        expiration(&answer) <= parent_expiry,
        "child {} outlives parent {parent_expiry}",
        answer["Expiration"]
    );
    assert_eq!(get(&child, &b.name, "in/a.txt").ok().stdout, "inside");

    // A GET (not the CLI's `s3 cp` HEAD) so the error's code is readable.
    let dir = h.tempdir();
    let sink = dir.path().join("out");
    let refused = wait_for(Duration::from_secs(30), || {
        let out = aws(
            &h.gw().endpoint(),
            &child,
            &[
                "s3api",
                "get-object",
                "--bucket",
                &b.name,
                "--key",
                "in/a.txt",
                sink.to_str().unwrap(),
            ],
        );
        (!out.status.success()).then(|| format!("{}\n{}", out.stdout, out.stderr))
    })
    .expect("the child still works after its parent expired");
    assert!(refused.contains("ExpiredToken"), "{refused}");
    assert!(
        time::OffsetDateTime::now_utc() >= expiration(&answer),
        "refused before its expiry: {refused}"
    );
}

#[test]
fn every_audit_line_of_the_child_names_the_chain() {
    needs_testbed!();
    let h = harness();
    let b = fixture("deleg-audit");
    let alice = unique_name("alice");
    let parent = h.mint(&alice, &bucket_scope("*", &b.name), "1h");
    let read_only = allow(&["s3:GetObject"], &[&format!("arn:aws:s3:::{}/*", b.name)]);
    let child = child_creds(&assume(&parent, "agent-audit", Some(&read_only), None));
    get(&child, &b.name, "in/a.txt").ok();
    put(&child, &b.name, "in/denied.txt").failed();
    let expected = vec![
        format!("user:{alice}"),
        format!("delegated:user:{alice}/agent-audit"),
    ];
    let lines = wait_for(Duration::from_secs(5), || {
        let lines: Vec<Value> = audit_lines(h.gw())
            .into_iter()
            .filter(|l| l["access_key_id"] == child.access_key_id.as_str())
            .collect();
        (lines.len() >= 2).then_some(lines)
    })
    .expect("no audit lines for the child");
    for line in &lines {
        let chain: Vec<String> = serde_json::from_value(line["chain"].clone()).unwrap();
        assert_eq!(chain, expected, "{line}");
        assert_eq!(line["identity"], format!("user:{alice}"), "{line}");
    }
    assert!(lines.iter().any(|l| l["decision"] == "allow"), "{lines:?}");
    assert!(lines.iter().any(|l| l["decision"] == "deny"), "{lines:?}");
}

#[test]
fn delegation_depth_is_bounded() {
    needs_testbed!();
    let h = harness();
    let b = fixture("deleg-depth");
    let mut creds = h.mint(&unique_name("root"), &bucket_scope("*", &b.name), "1h");
    // The chain holds the root and each delegated session: 7 levels fit.
    for level in 1..=7 {
        let answer = assume(&creds, &format!("level-{level}"), None, None);
        assert!(answer["Error"].is_null(), "level {level}: {answer}");
        creds = child_creds(&answer);
    }
    assert_eq!(get(&creds, &b.name, "in/a.txt").ok().stdout, "inside");
    let answer = assume(&creds, "level-8", None, None);
    assert_eq!(answer["Error"], "ValidationError", "{answer}");
    assert!(
        answer["Message"].as_str().unwrap().contains("deep"),
        "{answer}"
    );
}

#[test]
fn a_policy_s3gate_cannot_honour_exactly_is_refused() {
    needs_testbed!();
    let h = harness();
    let parent = h.mint(&unique_name("alice"), &bucket_scope("*", "x"), "1h");
    for (policy, says) in [
        (
            r#"{"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#,
            "Deny",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#,
            "Condition",
        ),
        ("{not json", "JSON"),
    ] {
        let answer = assume(&parent, "bad-policy", Some(policy), None);
        assert_eq!(answer["Error"], "MalformedPolicyDocument", "{answer}");
        assert!(
            answer["Message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
}

/// Runs `s3gate grant` with `parent`'s session in the environment.
pub fn s3gate_grant(parent: &Creds, args: &[&str]) -> crate::client::Output {
    s3gate_grant_via(&harness().gw().endpoint(), parent, args)
}

/// [`s3gate_grant`] against the gateway at `endpoint`.
pub fn s3gate_grant_via(endpoint: &str, parent: &Creds, args: &[&str]) -> crate::client::Output {
    let mut cmd = crate::client::clean_command(env!("CARGO_BIN_EXE_s3gate"));
    cmd.env("AWS_ACCESS_KEY_ID", &parent.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &parent.secret_access_key)
        .env(
            "AWS_SESSION_TOKEN",
            parent.session_token.as_deref().unwrap(),
        )
        .args(["grant", "--gateway", endpoint])
        .args(args);
    crate::client::run(cmd, Duration::from_secs(30))
}

/// The value of `export K=V` in what `s3gate grant` printed: what a user
/// pastes.
pub fn exported(stdout: &str, k: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("export {k}=")))
        .unwrap_or_else(|| panic!("no {k} in {stdout}"))
        .to_owned()
}

/// The credentials `s3gate grant` printed as `export` lines.
pub fn exported_creds(stdout: &str) -> Creds {
    Creds {
        access_key_id: exported(stdout, "AWS_ACCESS_KEY_ID"),
        secret_access_key: exported(stdout, "AWS_SECRET_ACCESS_KEY"),
        session_token: Some(exported(stdout, "AWS_SESSION_TOKEN")),
    }
}

#[test]
fn s3gate_grant_prints_env_lines_the_aws_cli_uses_within_the_grant() {
    needs_testbed!();
    let h = harness();
    let b = fixture("deleg-grant");
    let alice = unique_name("alice");
    let parent = h.mint(&alice, &bucket_scope("*", &b.name), "1h");
    let out = s3gate_grant(
        &parent,
        &[
            "--read",
            &format!("s3://{}/in/", b.name),
            "--write",
            &format!("s3://{}/out/", b.name),
            "--ttl",
            "15m",
            "--name",
            "agent-7",
        ],
    )
    .ok();
    assert_eq!(exported(&out.stdout, "AWS_ENDPOINT_URL"), h.gw().endpoint());
    let child = exported_creds(&out.stdout);
    assert_ne!(child.access_key_id, parent.access_key_id);

    assert_eq!(get(&child, &b.name, "in/a.txt").ok().stdout, "inside");
    put(&child, &b.name, "out/result.txt").ok();
    assert_eq!(
        store_object(&b.name, "out/result.txt").as_deref(),
        Some(&b"from the child"[..])
    );
    let err = get(&child, &b.name, "other/b.txt").failed();
    assert!(err.contains("AccessDenied") || err.contains("403"), "{err}");
    let err = put(&child, &b.name, "in/overwrite.txt").failed();
    assert!(err.contains("AccessDenied"), "{err}");
    assert!(store_object(&b.name, "in/overwrite.txt").is_none());

    // The child's requests are audited under alice, with the chain.
    let line = wait_for(Duration::from_secs(5), || {
        audit_lines(h.gw())
            .into_iter()
            .find(|l| l["access_key_id"] == child.access_key_id.as_str())
    })
    .expect("no audit line for the granted session");
    assert_eq!(line["identity"], format!("user:{alice}"), "{line}");
    assert_eq!(
        line["chain"],
        serde_json::json!([
            format!("user:{alice}"),
            format!("delegated:user:{alice}/agent-7")
        ]),
        "{line}"
    );

    // credential_process JSON too.
    let json = s3gate_grant(
        &parent,
        &[
            "--read",
            &format!("s3://{}/in/", b.name),
            "--name",
            "agent-8",
            "--format",
            "json",
        ],
    )
    .ok();
    let v: Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(v["Version"], 1, "{v}");
    assert_eq!(
        get(&child_creds(&v), &b.name, "in/a.txt").ok().stdout,
        "inside"
    );
}

#[test]
fn s3gate_grant_without_a_session_says_which_variable_is_missing() {
    needs_testbed!();
    let h = harness();
    let mut cmd = crate::client::clean_command(env!("CARGO_BIN_EXE_s3gate"));
    cmd.args(["grant", "--gateway", &h.gw().endpoint()]).args([
        "--read",
        "s3://b/p/",
        "--name",
        "agent-9",
    ]);
    let err = crate::client::run(cmd, Duration::from_secs(30)).failed();
    assert!(err.contains("AWS_ACCESS_KEY_ID is not set"), "{err}");
}

// Revocation across instances.

/// `aws s3api get-object` through `endpoint`: the content, or everything
/// the CLI printed on refusal.
pub fn get_via(endpoint: &str, creds: &Creds, bucket: &str, key: &str) -> Result<String, String> {
    let dir = harness().tempdir();
    let sink = dir.path().join("out");
    let out = aws(
        endpoint,
        creds,
        &[
            "s3api",
            "get-object",
            "--bucket",
            bucket,
            "--key",
            key,
            sink.to_str().unwrap(),
        ],
    );
    if out.status.success() {
        Ok(std::fs::read_to_string(&sink).unwrap())
    } else {
        Err(format!("{}\n{}", out.stdout, out.stderr))
    }
}

/// Two gateways sharing a fresh keyring (so each opens the other's
/// sessions), with `session` appended to their `[session]` sections.
fn two_instances(dir: &std::path::Path, session: &str) -> (Gateway, Gateway) {
    use crate::harness::{config_text, write_keyring};
    let h = harness();
    let keyring = write_keyring(dir);
    let gateway = |name: &str| {
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let text = config_text(
            &h.store.endpoint(),
            &h.store.creds,
            &keyring,
            &sub.join("audit.log"),
        )
        .replace("[session]\n", &format!("[session]\n{session}\n"));
        let config = sub.join("s3gate.toml");
        crate::harness::write_private(&config, &text);
        h.gateway_from(&config)
    };
    (gateway("one"), gateway("two"))
}

/// Every gateway serves `in/a.txt` of `bucket` to every session.
fn assert_served(gateways: &[&Gateway], sessions: &[&Creds], bucket: &str) {
    for gw in gateways {
        for creds in sessions {
            assert_eq!(
                get_via(&gw.endpoint(), creds, bucket, "in/a.txt").unwrap(),
                "inside"
            );
        }
    }
}

/// Every gateway refuses every session within 4 s (a 1 s poll, with room
/// for a loaded machine), with AccessDenied saying `why`.
fn assert_refused(gateways: &[&Gateway], sessions: &[&Creds], bucket: &str, why: &str) {
    for gw in gateways {
        for creds in sessions {
            let err = wait_for(Duration::from_secs(4), || {
                get_via(&gw.endpoint(), creds, bucket, "in/a.txt").err()
            })
            .unwrap_or_else(|| panic!("still served on {} after revocation", gw.endpoint()));
            assert!(err.contains("AccessDenied"), "{err}");
            assert!(err.contains(why), "{err}");
        }
    }
}

/// [`two_instances`] sharing `dir/revocations.jsonl`, re-read every `poll`.
pub fn file_instances(dir: &std::path::Path, poll: &str) -> (Gateway, Gateway) {
    let file = dir.join("revocations.jsonl");
    two_instances(
        dir,
        &format!(
            "revocation_file = \"{}\"\nrevocation_poll = \"{poll}\"",
            file.display()
        ),
    )
}

/// Runs `s3gate revoke --config CONFIG ARGS`; its output.
pub fn revoke(config: &std::path::Path, args: &[&str]) -> crate::client::Output {
    let mut cmd = crate::client::clean_command(env!("CARGO_BIN_EXE_s3gate"));
    cmd.args(["revoke", "--config"]).arg(config).args(args);
    crate::client::run(cmd, Duration::from_secs(30))
}

/// A child session of `parent` from `endpoint`'s STS AssumeRole.
pub fn delegate(endpoint: &str, parent: &Creds, name: &str) -> Creds {
    let out = boto3_assume_role(endpoint, parent, name, None, None).ok();
    child_creds(&serde_json::from_str(out.stdout.trim()).unwrap())
}

#[test]
fn revoking_on_one_instance_refuses_the_session_and_its_children_on_both() {
    needs_testbed!();
    use crate::harness::mint_with;
    let h = harness();
    let b = fixture("deleg-revoke");
    let dir = h.tempdir();
    let (one, two) = file_instances(dir.path(), "2s");
    let alice = unique_name("alice");
    let parent = mint_with(&one.config, &alice, &bucket_scope("*", &b.name), "1h");
    let bob = mint_with(
        &one.config,
        &unique_name("bob"),
        &bucket_scope("*", &b.name),
        "1h",
    );
    let child = delegate(&one.endpoint(), &parent, "agent-r");
    assert_served(&[&one, &two], &[&parent, &child, &bob], &b.name);
    // The parent's session id, as an operator finds it: in the audit.
    let session_id = audited_line(&one, |l| {
        l["access_key_id"] == parent.access_key_id.as_str()
    })
    .and_then(|l| l["session_id"].as_str().map(str::to_owned))
    .expect("no audit line names the parent's session");

    let revoke = |args: &[&str]| {
        revoke(&one.config, args).ok();
    };
    revoke(&["--session", &session_id, "--reason", "laptop stolen"]);
    let revoked_at = std::time::Instant::now();
    // On the other instance: no request started later than the poll
    // interval (2 s, plus 1 s for the file write and the tick) is served.
    loop {
        let started = std::time::Instant::now();
        match get_via(&two.endpoint(), &child, &b.name, "in/a.txt") {
            Err(_) => break,
            Ok(_) => assert!(
                started.duration_since(revoked_at) < Duration::from_secs(3),
                "the child was still served {:?} after revocation",
                started.duration_since(revoked_at)
            ),
        }
    }
    for gw in [&one, &two] {
        for creds in [&parent, &child] {
            let err = wait_for(Duration::from_secs(6), || {
                get_via(&gw.endpoint(), creds, &b.name, "in/a.txt").err()
            })
            .unwrap_or_else(|| panic!("still served on {} after revocation", gw.endpoint()));
            assert!(err.contains("AccessDenied"), "{err}");
            assert!(err.contains("revoked: laptop stolen"), "{err}");
        }
        // Others are untouched.
        assert_eq!(
            get_via(&gw.endpoint(), &bob, &b.name, "in/a.txt").unwrap(),
            "inside"
        );
    }
    // A revoked session cannot delegate either.
    let out = boto3_assume_role(&two.endpoint(), &parent, "agent-late", None, None);
    assert!(out.stdout.contains("AccessDenied"), "{}", out.stdout);

    // By principal: every session of it.
    let bob_name = audited_line(&one, |l| l["access_key_id"] == bob.access_key_id.as_str())
        .and_then(|l| l["identity"].as_str().map(str::to_owned))
        .unwrap();
    revoke(&["--identity", &bob_name]);
    let err = wait_for(Duration::from_secs(6), || {
        get_via(&two.endpoint(), &bob, &b.name, "in/a.txt").err()
    })
    .expect("bob still served after revoking the principal");
    assert!(err.contains("revoked"), "{err}");
    one.stop();
    two.stop();
}

#[test]
fn revoking_what_a_principal_delegated_spares_its_own_sessions_on_both() {
    needs_testbed!();
    use crate::harness::mint_with;
    let h = harness();
    let b = fixture("deleg-revoke-by");
    let dir = h.tempdir();
    let (one, two) = file_instances(dir.path(), "1s");
    let alice = unique_name("alice");
    let own = mint_with(&one.config, &alice, &bucket_scope("*", &b.name), "1h");
    let agent = delegate(&one.endpoint(), &own, "agent-by");
    let sub = delegate(&two.endpoint(), &agent, "sub-by");
    assert_served(&[&one, &two], &[&own, &agent, &sub], &b.name);
    let out = revoke(
        &two.config,
        &[
            "--delegated-by",
            &format!("user:{alice}"),
            "--reason",
            "agent tokens leaked",
        ],
    )
    .ok();
    assert!(out.stderr.contains("delegated by"), "{}", out.stderr);
    let why = format!("every session delegated by user:{alice} was revoked: agent tokens leaked");
    assert_refused(&[&one, &two], &[&agent, &sub], &b.name, &why);
    // Alice herself keeps working.
    assert_served(&[&one, &two], &[&own], &b.name);
    // A session she delegates after the revocation is refused too — at
    // the delegation itself, on either instance: the entry names the
    // delegator, not the sessions that existed then.
    for gw in [&one, &two] {
        let late = boto3_assume_role(&gw.endpoint(), &own, "agent-late", None, None);
        // The script prints STS's error as JSON and exits 3.
        assert!(!late.status.success(), "{}", late.stdout);
        let err: Value = serde_json::from_str(late.stdout.trim()).unwrap();
        assert_eq!(err["Error"], "AccessDenied");
        let message = err["Message"].as_str().unwrap();
        assert!(message.contains("would be revoked"), "{message}");
    }
    one.stop();
    two.stop();
}

/// `s3gate_revocation_reads_total{result="error"}` of this test process.
/// The value of one metric `series` (name and labels) on the instance at
/// `endpoint`, if it shows it.
pub fn metric(endpoint: &str, series: &str) -> Option<u64> {
    let (status, body) = crate::client::curl("GET", &format!("{endpoint}/_s3gate/metrics"), None);
    assert_eq!(status, 200);
    String::from_utf8(body)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn revocation_read_errors(gw: &Gateway) -> u64 {
    metric(
        &gw.endpoint(),
        "s3gate_revocation_reads_total{result=\"error\"}",
    )
    .expect("no revocation read metric")
}

#[test]
fn revoking_through_an_s3_object_list_refuses_on_both_and_a_failed_read_unrevokes_nothing() {
    needs_testbed!();
    use crate::harness::mint_with;
    let h = harness();
    let b = fixture("deleg-revoke-s3");
    // The list lives in a bucket of its own on the same store, and does not
    // exist yet: an empty list.
    let ops = h.bucket("revlist");
    let key = "s3gate/revocations.jsonl";
    let dir = h.tempdir();
    let (one, two) = two_instances(
        dir.path(),
        &format!(
            "revocation_url = \"s3://{}/{key}\"\nrevocation_poll = \"1s\"",
            ops.name
        ),
    );
    let alice = unique_name("alice");
    let parent = mint_with(&one.config, &alice, &bucket_scope("*", &b.name), "1h");
    let child = delegate(&one.endpoint(), &parent, "agent-s3");
    let grandchild = delegate(&two.endpoint(), &child, "sub-s3");
    let bob = mint_with(
        &two.config,
        &unique_name("bob"),
        &bucket_scope("*", &b.name),
        "1h",
    );
    assert_served(
        &[&one, &two],
        &[&parent, &child, &grandchild, &bob],
        &b.name,
    );
    let session_id = audited_line(&one, |l| {
        l["access_key_id"] == parent.access_key_id.as_str()
    })
    .and_then(|l| l["session_id"].as_str().map(str::to_owned))
    .expect("no audit line names the parent's session");

    // Revoked through instance one's config: the object is created.
    revoke(
        &one.config,
        &["--session", &session_id, "--reason", "laptop stolen"],
    )
    .ok();
    let list = String::from_utf8(store_object(&ops.name, key).expect("no list object")).unwrap();
    assert!(list.contains(&session_id), "{list}");
    let why = format!("session {session_id} was revoked: laptop stolen");
    assert_refused(&[&one, &two], &[&parent], &b.name, &why);
    let why = format!("delegating session {session_id} was revoked: laptop stolen");
    assert_refused(&[&one, &two], &[&child, &grandchild], &b.name, &why);
    assert_served(&[&one, &two], &[&bob], &b.name);

    // A second revocation, through instance two's config, rewrites the
    // object over the ETag it read: both entries stay.
    let bob_name = audited_line(&two, |l| l["access_key_id"] == bob.access_key_id.as_str())
        .and_then(|l| l["identity"].as_str().map(str::to_owned))
        .unwrap();
    revoke(&two.config, &["--identity", &bob_name]).ok();
    let list = String::from_utf8(store_object(&ops.name, key).unwrap()).unwrap();
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(
        list.contains(&session_id) && list.contains(&bob_name),
        "{list}"
    );
    assert_refused(
        &[&one, &two],
        &[&bob],
        &b.name,
        &format!("principal {bob_name} was revoked"),
    );

    // The object becomes unreadable (over the size cap): both instances
    // count failed reads and keep refusing what they refused.
    let errors = revocation_read_errors(&one);
    store_put(&ops.name, key, &vec![b'\n'; 9 << 20]);
    wait_for(Duration::from_secs(6), || {
        (revocation_read_errors(&one) >= errors + 2).then_some(())
    })
    .expect("no failed read of the oversized list counted");
    for creds in [&parent, &grandchild, &bob] {
        for gw in [&one, &two] {
            let err = get_via(&gw.endpoint(), creds, &b.name, "in/a.txt").unwrap_err();
            assert!(err.contains("revoked"), "{err}");
        }
    }
    // And `s3gate revoke` refuses to add to a list it cannot read.
    let err = revoke(&one.config, &["--identity", "user:carol"]).failed();
    assert!(err.contains("larger than"), "{err}");
    one.stop();
    two.stop();
}

#[test]
fn the_list_object_is_written_only_over_the_etag_it_was_read_with() {
    needs_testbed!();
    use s3gate::upstream::Upstream;
    use s3gate::upstream::object::{Condition, Fetched, Stored};
    async fn get(up: &Upstream, bucket: &str, seen: Option<String>, now: SystemTime) -> Fetched {
        up.get_own_object(bucket, "l", seen.as_deref(), 1024, now)
            .await
            .unwrap()
    }
    async fn put(
        up: &Upstream,
        bucket: &str,
        text: &'static str,
        condition: Condition<'_>,
        now: SystemTime,
    ) -> Stored {
        up.put_own_object(bucket, "l", text.into(), condition, now)
            .await
            .unwrap()
    }
    let h = harness();
    let bucket = h.bucket("revlist-cas");
    let config = s3gate::config::Config::parse(
        &crate::harness::config_text(
            &h.store.endpoint(),
            &h.store.creds,
            std::path::Path::new("k.toml"),
            std::path::Path::new("audit.log"),
        ),
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    h.block_on(async {
        let up = Upstream::new(&config.upstream).await.unwrap();
        let now = SystemTime::now();
        let get = |seen: Option<String>| get(&up, &bucket.name, seen, now);
        let put = |text, condition| put(&up, &bucket.name, text, condition, now);
        assert_eq!(get(None).await, Fetched::Missing);
        assert_eq!(put("a\n", Condition::IfAbsent).await, Stored::Written);
        // Someone else created it first.
        assert_eq!(put("b\n", Condition::IfAbsent).await, Stored::Conflict);
        let Fetched::Found {
            body,
            etag: Some(first),
        } = get(None).await
        else {
            panic!("no ETag")
        };
        assert_eq!(&body[..], b"a\n");
        assert_eq!(get(Some(first.clone())).await, Fetched::Unchanged);
        assert_eq!(
            put("a\nc\n", Condition::IfMatch(&first)).await,
            Stored::Written
        );
        // A writer holding the old ETag lost the race.
        assert_eq!(
            put("a\nd\n", Condition::IfMatch(&first)).await,
            Stored::Conflict
        );
        let Fetched::Found { body, .. } = get(Some(first)).await else {
            panic!("a changed object read as unchanged")
        };
        assert_eq!(&body[..], b"a\nc\n");
        // Over the cap: an error, not a truncated list.
        let err = up
            .get_own_object(&bucket.name, "l", None, 2, now)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("larger than 2 bytes"), "{err}");
    });
}
