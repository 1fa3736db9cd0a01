//! Quotas for delegated sessions: `s3gate grant --max-requests/--max-bytes…`
//! gives an agent a session that the gateway stops, with `AccessDenied`
//! naming the quota and a deny line in the audit log, once it has made its
//! requests, read its bytes or would write past its bytes — and delegating
//! further does not escape it.

use std::time::Duration;

use serde_json::Value;

use crate::audit::audit_lines;
use crate::client::{Output, aws, boto3, boto3_assume_role_with_quota, store_object, store_put};
use crate::delegation::{child_creds, exported_creds, get_via, s3gate_grant};
use crate::harness::{Creds, bucket_scope, harness, unique_name, wait_for};

/// `s3gate grant` from `parent` of reading `bucket/in/` (and writing
/// `bucket/out/` if `write`), named `name`, with the `quota` options; the
/// child's credentials.
fn grant(parent: &Creds, bucket: &str, write: bool, name: &str, quota: &[&str]) -> Creds {
    let (read, out) = (format!("s3://{bucket}/in/"), format!("s3://{bucket}/out/"));
    let mut args = vec!["--read", &read, "--name", name];
    if write {
        args.extend(["--write", &out]);
    }
    args.extend(quota);
    exported_creds(&s3gate_grant(parent, &args).ok().stdout)
}

/// `aws s3api get-object` (one GET, so one request counted): the content,
/// or everything the CLI printed on refusal.
fn get(creds: &Creds, bucket: &str, key: &str) -> Result<String, String> {
    get_via(&harness().gw().endpoint(), creds, bucket, key)
}

/// boto3's `get_object` of `bucket/in/a.txt`: the content, or everything
/// it printed on refusal.
fn boto3_get(creds: &Creds, bucket: &str) -> Result<Vec<u8>, String> {
    let dir = harness().tempdir();
    let sink = dir.path().join("out");
    let endpoint = harness().gw().endpoint();
    let out = boto3(&endpoint, creds, "get", bucket, "in/a.txt", sink.to_str());
    if out.status.success() {
        Ok(std::fs::read(&sink).unwrap())
    } else {
        Err(out.failed())
    }
}

/// `aws s3api put-object` of `n` bytes: one PUT.
fn put(creds: &Creds, bucket: &str, key: &str, n: usize) -> Output {
    let dir = harness().tempdir();
    let file = dir.path().join("body");
    std::fs::write(&file, vec![b'x'; n]).unwrap();
    aws(
        &harness().gw().endpoint(),
        creds,
        &[
            "s3api",
            "put-object",
            "--bucket",
            bucket,
            "--key",
            key,
            "--body",
            file.to_str().unwrap(),
        ],
    )
}

/// The first audit line of `creds`' session that is a denial.
fn deny_line(creds: &Creds) -> Value {
    let h = harness();
    wait_for(Duration::from_secs(5), || {
        audit_lines(h.gw())
            .into_iter()
            .find(|l| l["access_key_id"] == creds.access_key_id.as_str() && l["decision"] == "deny")
    })
    .expect("no deny line in the audit log")
}

#[test]
fn the_request_past_max_requests_is_refused_with_access_denied_and_audited() {
    needs_testbed!();
    let h = harness();
    let b = h.bucket("quota-req");
    store_put(&b.name, "in/a.txt", b"inside");
    let alice = unique_name("alice");
    let parent = h.mint(&alice, &bucket_scope("*", &b.name), "1h");
    let child = grant(&parent, &b.name, false, "agent-q", &["--max-requests", "3"]);
    // Two with the aws CLI and one with boto3: each is one request.
    for _ in 0..2 {
        assert_eq!(get(&child, &b.name, "in/a.txt").unwrap(), "inside");
    }
    assert_eq!(boto3_get(&child, &b.name).unwrap(), b"inside");

    for refused in [
        get(&child, &b.name, "in/a.txt").unwrap_err(),
        boto3_get(&child, &b.name).unwrap_err(),
    ] {
        assert!(refused.contains("AccessDenied"), "{refused}");
        assert!(
            refused.contains("/agent-q: 3 of 3 requests used"),
            "{refused}"
        );
    }
    // Refusals are not counted: still 3 of 3, and the parent is unlimited.
    get(&parent, &b.name, "in/a.txt").unwrap();

    let line = deny_line(&child);
    assert_eq!(line["status"], 403, "{line}");
    assert_eq!(line["error"], "AccessDenied", "{line}");
    assert_eq!(line["rule"], "session quota", "{line}");
    assert_eq!(line["identity"], format!("user:{alice}"), "{line}");
    assert!(
        line["reason"]
            .as_str()
            .unwrap()
            .contains("3 of 3 requests used"),
        "{line}"
    );
}

#[test]
fn a_bytes_written_quota_refuses_the_upload_that_would_pass_it_and_stores_nothing() {
    needs_testbed!();
    let h = harness();
    let b = h.bucket("quota-write");
    let parent = h.session_for(&b.name);
    let child = grant(&parent, &b.name, true, "agent-w", &["--max-bytes", "1KiB"]);
    put(&child, &b.name, "out/one", 600).ok();
    let refused = put(&child, &b.name, "out/two", 600).failed();
    assert!(refused.contains("AccessDenied"), "{refused}");
    assert!(
        refused.contains(
            "/agent-w: 600 of 1024 bytes written used, \
             this request needs 600 more"
        ),
        "{refused}"
    );
    assert!(store_object(&b.name, "out/two").is_none());
    // What still fits goes through.
    put(&child, &b.name, "out/three", 424).ok();
    assert_eq!(store_object(&b.name, "out/three").unwrap().len(), 424);
    assert!(
        put(&child, &b.name, "out/four", 1)
            .failed()
            .contains("AccessDenied")
    );
    assert!(store_object(&b.name, "out/four").is_none());
    let line = deny_line(&child);
    assert_eq!(line["operation"], "PutObject", "{line}");
    assert_eq!(line["key"], "out/two", "{line}");
}

#[test]
fn a_bytes_read_quota_stops_reads_after_the_limit_but_not_writes() {
    needs_testbed!();
    let h = harness();
    let b = h.bucket("quota-read");
    store_put(&b.name, "in/big.bin", &[7u8; 1000]);
    let parent = h.session_for(&b.name);
    let child = grant(
        &parent,
        &b.name,
        true,
        "agent-r",
        &["--max-bytes-read", "1500"],
    );
    get(&child, &b.name, "in/big.bin").unwrap();
    // Below the limit when it starts: this one completes, and crosses it.
    get(&child, &b.name, "in/big.bin").unwrap();
    let refused = get(&child, &b.name, "in/big.bin").unwrap_err();
    assert!(refused.contains("AccessDenied"), "{refused}");
    assert!(
        refused.contains("/agent-r: 2000 of 1500 bytes read used"),
        "{refused}"
    );
    // Listing reads too; writing does not.
    let listed = aws(
        &h.gw().endpoint(),
        &child,
        &["s3", "ls", &format!("s3://{}/in/", b.name)],
    )
    .failed();
    assert!(listed.contains("AccessDenied"), "{listed}");
    put(&child, &b.name, "out/result", 10).ok();
    assert!(store_object(&b.name, "out/result").is_some());
}

#[test]
fn a_grandchild_cannot_exceed_its_parents_quota() {
    needs_testbed!();
    let h = harness();
    let b = h.bucket("quota-chain");
    store_put(&b.name, "in/a.txt", b"inside");
    let alice = h.session_for(&b.name);
    let agent = grant(&alice, &b.name, false, "agent-p", &["--max-requests", "3"]);
    // It asks for more than the agent holds, and delegates on without any.
    let sub = grant(&agent, &b.name, false, "sub-1", &["--max-requests", "100"]);
    let subsub = grant(&sub, &b.name, false, "sub-2", &[]);
    get(&sub, &b.name, "in/a.txt").unwrap();
    get(&subsub, &b.name, "in/a.txt").unwrap();
    get(&agent, &b.name, "in/a.txt").unwrap();
    // Three requests in the agent's tree: each of them is refused now.
    for creds in [&subsub, &sub, &agent] {
        let refused = get(creds, &b.name, "in/a.txt").unwrap_err();
        assert!(
            refused.contains("/agent-p: 3 of 3 requests used"),
            "{refused}"
        );
    }
    // The gateway says what binds each grant: the asked-for 100 is held
    // to the agent's 3, and sub-2 is bound without asking.
    for name in ["sub-1", "sub-2"] {
        let line = wait_for(Duration::from_secs(5), || {
            audit_lines(h.gw()).into_iter().find(|l| {
                l["api"] == "sts"
                    && l["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains(&format!("/{name})")))
            })
        })
        .expect("no audit line for the grant");
        assert!(
            line["reason"]
                .as_str()
                .unwrap()
                .contains("quota 3 requests,"),
            "{line}"
        );
    }
    let line = deny_line(&subsub);
    assert_eq!(
        line["chain"].as_array().unwrap().len(),
        4,
        "user, agent-p, sub-1, sub-2: {line}"
    );
    // Alice herself is not bound by what she gave away.
    get(&alice, &b.name, "in/a.txt").unwrap();
}

#[test]
fn boto3_assume_role_asks_for_a_quota_the_gateway_enforces() {
    needs_testbed!();
    let h = harness();
    let b = h.bucket("quota-boto3");
    store_put(&b.name, "in/a.txt", b"inside");
    let parent = h.session_for(&b.name);
    let assume = |quota: &str| {
        let out =
            boto3_assume_role_with_quota(&h.gw().endpoint(), &parent, "agent-b", None, None, quota);
        serde_json::from_str::<Value>(out.stdout.trim())
            .unwrap_or_else(|e| panic!("no JSON ({e}): {out:?}"))
    };
    let child = child_creds(&assume("MaxRequests=2&MaxBytesRead=1MiB"));
    for _ in 0..2 {
        assert_eq!(boto3_get(&child, &b.name).unwrap(), b"inside");
    }
    let refused = boto3_get(&child, &b.name).unwrap_err();
    assert!(refused.contains("AccessDenied"), "{refused}");
    assert!(
        refused.contains("/agent-b: 2 of 2 requests used"),
        "{refused}"
    );
    let answer = assume("MaxBytesWritten=much");
    assert_eq!(answer["Error"], "ValidationError", "{answer}");
    assert!(
        answer["Message"]
            .as_str()
            .unwrap()
            .starts_with("MaxBytesWritten: `much` is not a size"),
        "{answer}"
    );
}

#[test]
fn a_malformed_quota_is_refused_by_the_gateway_and_the_cli() {
    needs_testbed!();
    let h = harness();
    let parent = h.session_for(&unique_name("quota-bad"));
    let args = |extra: &[&'static str]| {
        let mut v = vec!["--read", "s3://b/p/", "--name", "agent-x"];
        v.extend_from_slice(extra);
        v
    };
    let err = s3gate_grant(&parent, &args(&["--max-requests", "0"])).failed();
    assert!(err.contains("ValidationError"), "{err}");
    assert!(err.contains("MaxRequests: `0` is below 1"), "{err}");
    let err = s3gate_grant(&parent, &args(&["--max-bytes", "ten"])).failed();
    assert!(err.contains("`ten` is not a size like"), "{err}");
}

#[test]
fn each_instance_counts_its_own_as_documented() {
    needs_testbed!();
    use crate::harness::{config_text, mint_with, write_keyring, write_private};
    let h = harness();
    let b = h.bucket("quota-instances");
    store_put(&b.name, "in/a.txt", b"inside");
    let dir = h.tempdir();
    let keyring = write_keyring(dir.path());
    let gateway = |name: &str| {
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let config = sub.join("s3gate.toml");
        let text = config_text(
            &h.store.endpoint(),
            &h.store.creds,
            &keyring,
            &sub.join("audit.log"),
        );
        write_private(&config, &text);
        h.gateway_from(&config)
    };
    let (one, two) = (gateway("one"), gateway("two"));
    let parent = mint_with(
        &one.config,
        &unique_name("alice"),
        &bucket_scope("*", &b.name),
        "1h",
    );
    let out = boto3_assume_role_with_quota(
        &one.endpoint(),
        &parent,
        "agent-i",
        None,
        None,
        "MaxRequests=1",
    )
    .ok();
    let child = child_creds(&serde_json::from_str(out.stdout.trim()).unwrap());
    // One request on each instance: neither knows of the other's.
    for gw in [&one, &two] {
        assert_eq!(
            get_via(&gw.endpoint(), &child, &b.name, "in/a.txt").unwrap(),
            "inside"
        );
    }
    for gw in [&one, &two] {
        let refused = get_via(&gw.endpoint(), &child, &b.name, "in/a.txt").unwrap_err();
        assert!(refused.contains("1 of 1 requests used"), "{refused}");
    }
    one.stop();
    two.stop();
}
