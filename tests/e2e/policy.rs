//! The policy file through s3gate with real clients: every resource an
//! operation touches is checked, refusals explain themselves and change
//! nothing upstream (checked on the store directly), two identities on one
//! gateway each get exactly their grants, `s3gate policy explain` agrees,
//! and an edited policy takes effect on the next request — on a watched
//! file, and on SIGHUP.
//!
//! Sessions here are minted with the scope `*=s3://*`, so the policy alone
//! decides.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::client::{ChildGuard, aws, store_keys, store_object, store_put};
use crate::harness::{Creds, Gateway, harness, mint_with, unique_name, wait_for};
use crate::sign::{Payload, Response, Signing, send_blocking, signed};

const ALL: &[&str] = &["*=s3://*"];

fn mint(gw: &Gateway, user: &str) -> Creds {
    mint_with(&gw.config, user, ALL, "1h")
}

/// A header-signed request with a hashed body (shared by other modules).
pub fn request(gw: &Gateway, creds: &Creds, method: &str, path: &str, body: &[u8]) -> Response {
    let url = format!("{}/{path}", gw.endpoint());
    let (req, _) = signed(
        &Signing::now(creds),
        method,
        &url,
        &[],
        Payload::Hash(body),
        body.to_vec(),
    );
    send_blocking(req)
}

/// The refusal message says what was refused, on what, for whom, why, and
/// under which request id.
#[track_caller]
fn assert_explains(out: &str, parts: &[&str]) {
    assert!(out.contains("AccessDenied"), "not AccessDenied: {out}");
    for p in parts {
        assert!(out.contains(p), "the refusal does not say `{p}`: {out}");
    }
}

#[test]
fn copy_from_a_denied_source_is_refused_and_nothing_is_written() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("pol-copy");
    let b = &bucket.name;
    let alice = unique_name("alice");
    let gw = h.policy_gateway(
        "pol-copy",
        &format!(
            r#"
[[grant]]
id = "alice-own"
principals = ["user:{alice}"]
actions = ["read", "write", "list"]
resources = ["s3://{b}/{alice}/*"]
"#
        ),
    );
    store_put(b, "bob/secret", b"bob's secret");
    store_put(b, &format!("{alice}/mine"), b"alice's");
    let creds = mint(&gw, &alice);
    // Within her prefix, the copy works (source and destination granted).
    aws(
        &gw.endpoint(),
        &creds,
        &[
            "s3api",
            "copy-object",
            "--bucket",
            b,
            "--key",
            &format!("{alice}/copy"),
            "--copy-source",
            &format!("{b}/{alice}/mine"),
        ],
    )
    .ok();
    let out = aws(
        &gw.endpoint(),
        &creds,
        &[
            "s3api",
            "copy-object",
            "--bucket",
            b,
            "--key",
            &format!("{alice}/stolen"),
            "--copy-source",
            &format!("{b}/bob/secret"),
        ],
    )
    .failed();
    assert_explains(
        &out,
        &[
            "GetObject",
            &format!("s3://{b}/bob/secret"),
            &format!("user:{alice}"),
            "no grant",
        ],
    );
    assert_eq!(store_object(b, &format!("{alice}/stolen")), None);
    assert_eq!(
        store_object(b, &format!("{alice}/copy")).as_deref(),
        Some(&b"alice's"[..])
    );
}

#[test]
fn delete_objects_with_one_denied_key_deletes_nothing() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("pol-delete");
    let b = &bucket.name;
    let user = unique_name("cleaner");
    let gw = h.policy_gateway(
        "pol-delete",
        &format!(
            r#"
[[grant]]
id = "tmp-cleanup"
principals = ["user:{user}"]
actions = ["delete", "list", "read"]
resources = ["s3://{b}/tmp/*"]
"#
        ),
    );
    for k in ["tmp/a", "tmp/b", "keep/c"] {
        store_put(b, k, b"x");
    }
    let creds = mint(&gw, &user);
    let out = aws(
        &gw.endpoint(),
        &creds,
        &[
            "s3api",
            "delete-objects",
            "--bucket",
            b,
            "--delete",
            r#"{"Objects":[{"Key":"tmp/a"},{"Key":"keep/c"},{"Key":"tmp/b"}]}"#,
        ],
    )
    .failed();
    assert_explains(
        &out,
        &["DeleteObject", &format!("s3://{b}/keep/c"), "no grant"],
    );
    let mut keys = store_keys(b);
    keys.sort();
    assert_eq!(
        keys,
        ["keep/c", "tmp/a", "tmp/b"],
        "a refused batch deletes nothing"
    );
    // The same batch without the denied key goes through.
    aws(
        &gw.endpoint(),
        &creds,
        &[
            "s3api",
            "delete-objects",
            "--bucket",
            b,
            "--delete",
            r#"{"Objects":[{"Key":"tmp/a"},{"Key":"tmp/b"}]}"#,
        ],
    )
    .ok();
    assert_eq!(store_keys(b), ["keep/c"]);
}

#[test]
fn listing_a_broader_prefix_than_granted_is_refused() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("pol-list");
    let b = &bucket.name;
    let alice = unique_name("alice");
    let gw = h.policy_gateway(
        "pol-list",
        &format!(
            r#"
[[grant]]
id = "home"
principals = ["user:*"]
actions = ["read", "list"]
resources = ["s3://{b}/home/${{identity.username}}/*"]
"#
        ),
    );
    store_put(b, &format!("home/{alice}/notes.txt"), b"n");
    store_put(b, "home/bob/diary.txt", b"d");
    let creds = mint(&gw, &alice);
    let ls = aws(
        &gw.endpoint(),
        &creds,
        &["s3", "ls", &format!("s3://{b}/home/{alice}/")],
    )
    .ok();
    assert!(ls.stdout.contains("notes.txt"), "{}", ls.stdout);
    let out = aws(
        &gw.endpoint(),
        &creds,
        &["s3", "ls", &format!("s3://{b}/home/")],
    )
    .failed();
    assert_explains(
        &out,
        &["ListBucket", &format!("s3://{b}/home/"), "no grant"],
    );
    assert!(!out.contains("diary"), "{out}");
    let out = aws(&gw.endpoint(), &creds, &["s3", "ls", &format!("s3://{b}")]).failed();
    assert_explains(&out, &["ListBucket", &format!("s3://{b}/")]);
    // Another user's home, by the same variable, is not alice's.
    let out = aws(
        &gw.endpoint(),
        &creds,
        &["s3", "cp", &format!("s3://{b}/home/bob/diary.txt"), "-"],
    )
    .failed();
    assert!(out.contains("AccessDenied") || out.contains("403"), "{out}");
}

#[test]
fn unknown_sub_resource_is_refused_even_with_every_named_group() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("pol-unknown");
    let b = &bucket.name;
    let user = unique_name("writer");
    let gw = h.policy_gateway(
        "pol-unknown",
        &format!(
            r#"
[[grant]]
id = "all-groups"
principals = ["user:{user}"]
actions = ["read", "write", "list", "delete"]
resources = ["s3://{b}", "s3://{b}/*"]
"#
        ),
    );
    store_put(b, "k", b"original");
    let creds = mint(&gw, &user);
    let out = aws(
        &gw.endpoint(),
        &creds,
        &[
            "s3api",
            "put-object-retention",
            "--bucket",
            b,
            "--key",
            "k",
            "--retention",
            "Mode=GOVERNANCE,RetainUntilDate=2030-01-01T00:00:00Z",
        ],
    )
    .failed();
    assert_explains(
        &out,
        &["Unclassified", &format!("s3://{b}/k"), "does not recognise"],
    );
    let resp = request(&gw, &creds, "PUT", &format!("{b}/k?torrent"), b"changed");
    resp.assert_error(403, "AccessDenied");
    assert!(
        resp.message().contains("does not recognise"),
        "{}",
        resp.message()
    );
    assert_eq!(store_object(b, "k").as_deref(), Some(&b"original"[..]));
}

#[test]
fn denied_head_answers_the_same_whether_the_object_exists_or_not() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("pol-head");
    let b = &bucket.name;
    let user = unique_name("prober");
    let gw = h.policy_gateway(
        "pol-head",
        &format!(
            "[[grant]]\nid = \"pub\"\nprincipals = [\"user:{user}\"]\nactions = [\"read\"]\nresources = [\"s3://{b}/pub/*\"]\n"
        ),
    );
    store_put(b, "priv/exists", b"x");
    let creds = mint(&gw, &user);
    let exists = request(&gw, &creds, "HEAD", &format!("{b}/priv/exists"), b"");
    let missing = request(&gw, &creds, "HEAD", &format!("{b}/priv/missing"), b"");
    assert_eq!((exists.status, missing.status), (403, 403));
    for h in ["content-length", "etag", "last-modified"] {
        assert_eq!(exists.headers.get(h), missing.headers.get(h), "{h}");
    }
    let get_exists = request(&gw, &creds, "GET", &format!("{b}/priv/exists"), b"");
    let get_missing = request(&gw, &creds, "GET", &format!("{b}/priv/missing"), b"");
    assert_eq!(get_exists.code(), "AccessDenied");
    assert_eq!(get_missing.code(), "AccessDenied");
    // Conditional requests, whose answers (304, 412) would tell: the same.
    for cond in [
        ("if-none-match", "*"),
        ("if-match", "\"nope\""),
        ("if-modified-since", "Sat, 01 Jan 2000 00:00:00 GMT"),
    ] {
        let statuses: Vec<(u16, String)> = ["exists", "missing"]
            .iter()
            .map(|k| {
                let url = format!("{}/{b}/priv/{k}", gw.endpoint());
                let (req, _) = signed(
                    &Signing::now(&creds),
                    "GET",
                    &url,
                    &[cond],
                    Payload::Unsigned,
                    Vec::new(),
                );
                let r = send_blocking(req);
                (r.status, r.code())
            })
            .collect();
        assert_eq!(
            statuses,
            [(403, "AccessDenied".into()), (403, "AccessDenied".into())],
            "{cond:?}"
        );
    }
    // Each was refused by the policy itself (not by a store answer).
    let lines = audit_lines(&gw, &format!("user:{user}"), 10);
    assert_eq!(lines.len(), 10);
    for l in &lines {
        assert_eq!(
            (
                l["decision"].as_str(),
                l["rule"].as_str(),
                l["error"].as_str()
            ),
            (Some("deny"), Some("no grant"), Some("AccessDenied")),
            "{l}"
        );
    }
}

/// Runs `s3gate policy explain` and returns (exit code, stdout).
fn explain(policy: &std::path::Path, who: &str, action: &str, resource: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["policy", "explain", "--policy"])
        .arg(policy)
        .args(["--as", who, action, resource])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn audit_lines(gw: &Gateway, identity: &str, n: usize) -> Vec<Value> {
    let find = || {
        std::fs::read_to_string(&gw.audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["identity"] == identity)
            .collect::<Vec<_>>()
    };
    wait_for(Duration::from_secs(3), || {
        let v = find();
        (v.len() >= n).then_some(v)
    })
    .unwrap_or_else(find)
}

#[test]
fn two_identities_on_one_gateway_each_do_exactly_what_the_policy_says() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("pol-two");
    let b = &bucket.name;
    let alice = unique_name("alice");
    let bob = unique_name("bob");
    let gw = h.policy_gateway(
        "pol-two",
        &format!(
            r#"
version = "two-users"

[[grant]]
id = "alice-home"
principals = ["user:{alice}"]
actions = ["read", "write", "list", "delete"]
resources = ["s3://{b}/alice/*"]

[[grant]]
id = "bob-reads"
principals = ["user:{bob}"]
actions = ["read", "list"]
resources = ["s3://{b}/*"]

[[deny]]
id = "bob-not-private"
principals = ["user:{bob}"]
actions = ["*"]
resources = ["s3://{b}/alice/private/*"]
"#
        ),
    );
    let (ca, cb) = (mint(&gw, &alice), mint(&gw, &bob));
    let dir = h.tempdir();
    let file = dir.path().join("f");
    std::fs::write(&file, b"hello").unwrap();
    let f = file.to_str().unwrap();
    let ep = gw.endpoint();
    // (identity, creds, aws args, allowed, what the explain/denial names)
    type Case<'a> = (&'a str, &'a Creds, Vec<String>, bool, &'a str, String);
    let cases: Vec<Case<'_>> = vec![
        (
            &alice,
            &ca,
            vec![
                "s3".into(),
                "cp".into(),
                f.into(),
                format!("s3://{b}/alice/x"),
            ],
            true,
            "s3:PutObject",
            format!("s3://{b}/alice/x"),
        ),
        (
            &alice,
            &ca,
            vec![
                "s3".into(),
                "cp".into(),
                f.into(),
                format!("s3://{b}/alice/private/p"),
            ],
            true,
            "s3:PutObject",
            format!("s3://{b}/alice/private/p"),
        ),
        (
            &alice,
            &ca,
            vec![
                "s3".into(),
                "cp".into(),
                f.into(),
                format!("s3://{b}/bob/x"),
            ],
            false,
            "s3:PutObject",
            format!("s3://{b}/bob/x"),
        ),
        (
            &bob,
            &cb,
            vec![
                "s3".into(),
                "cp".into(),
                format!("s3://{b}/alice/x"),
                "-".into(),
            ],
            true,
            "s3:GetObject",
            format!("s3://{b}/alice/x"),
        ),
        (
            &bob,
            &cb,
            vec![
                "s3".into(),
                "cp".into(),
                format!("s3://{b}/alice/private/p"),
                "-".into(),
            ],
            false,
            "s3:GetObject",
            format!("s3://{b}/alice/private/p"),
        ),
        (
            &bob,
            &cb,
            vec![
                "s3".into(),
                "cp".into(),
                f.into(),
                format!("s3://{b}/bob/x"),
            ],
            false,
            "s3:PutObject",
            format!("s3://{b}/bob/x"),
        ),
        (
            &bob,
            &cb,
            vec!["s3".into(), "rm".into(), format!("s3://{b}/alice/x")],
            false,
            "s3:DeleteObject",
            format!("s3://{b}/alice/x"),
        ),
        (
            &alice,
            &ca,
            vec![
                "s3".into(),
                "rm".into(),
                format!("s3://{b}/alice/private/p"),
            ],
            true,
            "s3:DeleteObject",
            format!("s3://{b}/alice/private/p"),
        ),
    ];
    for (who, creds, args, allowed, action, resource) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = aws(&ep, creds, &args);
        assert_eq!(
            out.status.success(),
            *allowed,
            "{who} {args:?}: {}{}",
            out.stdout,
            out.stderr
        );
        let (code, text) = explain(&gw.policy, &format!("user:{who}"), action, resource);
        assert_eq!(
            code,
            if *allowed { 0 } else { 1 },
            "explain {who} {action} {resource}: {text}"
        );
        if !allowed {
            // A download starts with HEAD, whose refusal has no body.
            let said = format!("{}{}", out.stdout, out.stderr);
            assert!(
                said.contains("AccessDenied") || said.contains("(403)"),
                "{said}"
            );
        }
    }
    assert_eq!(store_object(b, "bob/x"), None);
    assert_eq!(store_object(b, "alice/x").as_deref(), Some(&b"hello"[..]));
    assert_eq!(store_object(b, "alice/private/p"), None, "alice deleted it");
    // The named deny says so; the audit line carries the rule and version.
    let (_, text) = explain(
        &gw.policy,
        &format!("user:{bob}"),
        "s3:GetObject",
        &format!("s3://{b}/alice/private/p"),
    );
    assert!(text.contains("denied by rule `bob-not-private`"), "{text}");
    let lines = audit_lines(&gw, &format!("user:{bob}"), 4);
    let rules: Vec<&str> = lines.iter().filter_map(|l| l["rule"].as_str()).collect();
    assert!(rules.contains(&"bob-reads"), "{rules:?}");
    assert!(rules.contains(&"bob-not-private"), "{rules:?}");
    assert!(rules.contains(&"no grant"), "{rules:?}");
    for l in &lines {
        assert!(
            l["policy_version"]
                .as_str()
                .unwrap_or("")
                .starts_with("two-users/"),
            "{l}"
        );
    }
}

#[test]
fn an_edited_policy_file_takes_effect_on_the_next_request_and_a_bad_one_is_refused() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("pol-reload");
    let b = &bucket.name;
    let alice = unique_name("alice");
    let grant = |who: &str| {
        format!(
            "[[grant]]\nid = \"g\"\nprincipals = [\"user:{who}\"]\nactions = [\"read\"]\nresources = [\"s3://{b}/*\"]\n"
        )
    };
    let gw = h.policy_gateway("pol-reload", &grant(&alice));
    store_put(b, "k", b"data");
    let creds = mint(&gw, &alice);
    let get = || request(&gw, &creds, "GET", &format!("{b}/k"), b"");
    assert_eq!(get().status, 200);

    // An invalid edit is refused; the old policy goes on allowing.
    std::fs::write(
        &gw.policy,
        "[[grant]]\nid = \"g\"\nprincipals = [\"nobody\"]\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(get().status, 200, "a bad file must not replace the policy");

    // Removing the grant ends access for this live session.
    std::fs::write(&gw.policy, grant("someone-else")).unwrap();
    let denied = wait_for(Duration::from_secs(5), || {
        let r = get();
        (r.status == 403).then_some(r)
    })
    .expect("the removed grant still allows after 5 s");
    denied.assert_error(403, "AccessDenied");
    assert!(
        denied.message().contains("no grant"),
        "{}",
        denied.message()
    );
}

#[test]
fn sighup_reloads_an_unwatched_policy_and_the_keyring_in_a_running_s3gate_serve() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("pol-hup");
    let b = &bucket.name;
    let alice = unique_name("alice");
    let grant = |who: &str| {
        format!(
            "[[grant]]\nid = \"g\"\nprincipals = [\"user:{who}\"]\nactions = [\"read\"]\nresources = [\"s3://{b}/*\"]\n"
        )
    };
    // A config like the harness gateway's, on a known port, unwatched.
    let template = h.policy_gateway("pol-hup-template", "");
    let dir = h.tempdir();
    let port = crate::harness::free_port();
    // Its own keyring, polled too rarely to matter: a change waits for SIGHUP.
    let template_keyring = template.config.with_file_name("keyring.toml");
    let keyring = dir.path().join("keyring.toml");
    std::fs::copy(&template_keyring, &keyring).unwrap();
    let config = std::fs::read_to_string(&template.config)
        .unwrap()
        .replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
        .replace(
            &template_keyring.display().to_string(),
            &keyring.display().to_string(),
        )
        .replace("[session]\n", "[session]\nkeyring_poll = \"1h\"\n")
        .replace(
            &template.audit.display().to_string(),
            &dir.path().join("audit.log").display().to_string(),
        )
        .replace(
            "file = \"policy.toml\"",
            "file = \"policy.toml\"\nwatch = false",
        );
    let config_path = dir.path().join("s3gate.toml");
    // It holds the store's keys: s3gate reads it only if private.
    crate::harness::write_private(&config_path, &config);
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, grant(&alice)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["serve", "--config"])
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.stderr")).unwrap())
        .spawn()
        .unwrap();
    let child = ChildGuard(child);
    wait_for(Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("s3gate serve listens");
    store_put(b, "k", b"data");
    let creds = mint_with(&config_path, &alice, ALL, "1h");
    let url = format!("http://127.0.0.1:{port}/{b}/k");
    let get_as = |creds: &Creds| {
        let (req, _) = signed(
            &Signing::now(creds),
            "GET",
            &url,
            &[],
            Payload::Unsigned,
            Vec::new(),
        );
        send_blocking(req).status
    };
    let get = || get_as(&creds);
    assert_eq!(get(), 200);
    std::fs::write(&policy, grant("someone-else")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(get(), 200, "unwatched: the edit waits for SIGHUP");
    // A key added to the keyring file: a session sealed by it (the CLI
    // mints with the file's newest key) opens once SIGHUP reloads it.
    let rotate = Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["keyring", "rotate", "--id", "k2", "--file"])
        .arg(&keyring)
        .output()
        .unwrap();
    assert!(rotate.status.success(), "{rotate:?}");
    let other = mint_with(&config_path, "someone-else", ALL, "1h");
    assert_ne!(get_as(&other), 200, "the new key waits for SIGHUP");
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_for(Duration::from_secs(5), || (get() == 403).then_some(403));
    let stderr = std::fs::read_to_string(dir.path().join("serve.stderr")).unwrap_or_default();
    assert_eq!(status, Some(403), "SIGHUP did not reload: {stderr}");
    assert!(stderr.contains("policy reloaded"), "{stderr}");
    let opened = wait_for(Duration::from_secs(5), || {
        (get_as(&other) == 200).then_some(())
    });
    let stderr = std::fs::read_to_string(dir.path().join("serve.stderr")).unwrap_or_default();
    assert!(
        opened.is_some(),
        "SIGHUP did not reload the keyring: {stderr}"
    );
    assert!(stderr.contains("keyring reloaded"), "{stderr}");
}

#[test]
fn s3gate_serve_refuses_to_start_without_a_policy() {
    needs_testbed!();
    let h = harness();
    let template = h.policy_gateway("pol-none-template", "");
    let dir = h.tempdir();
    let config = std::fs::read_to_string(&template.config)
        .unwrap()
        .replace("[policy]\nfile = \"policy.toml\"\n", "");
    let config_path = dir.path().join("s3gate.toml");
    // It holds the store's keys: s3gate reads it only if private.
    crate::harness::write_private(&config_path, &config);
    let out = Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["serve", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no [policy] file"), "{err}");
}
