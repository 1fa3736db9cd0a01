//! Escalations tried as an attacker would, with stock clients: delegating
//! to oneself to pass a `delegated-by` grant, choosing another user's
//! agent's name, an `AssumeRole` whose body the signature does not cover,
//! identity attributes that move a grant, and a look-alike gateway. Each
//! is refused (or confined), and the refusal is audited.

use std::time::Duration;

use serde_json::Value;

use crate::audit::{audit_lines, audit_lines_once};
use crate::client::{boto3_assume_role, boto3_assume_role_env, store_put};
use crate::delegation::{
    child_creds, delegate, exported_creds, file_instances, get_via, revoke, s3gate_grant_via,
};
use crate::harness::{Bucket, Creds, Gateway, harness, mint_with, unique_name, wait_for};
use crate::identity::{audit_for, element, sts};
use crate::idp::TestIssuer;

/// A bucket with `shared/plan.txt` and `home/notes.txt`, and a gateway
/// whose policy lets `user:DEV` own `home/` and names
/// `delegated-by:user:DEV` on `shared/`, which DEV itself cannot read: the
/// shape of the shipped example that used to let DEV read `shared/` by
/// delegating to itself. Returns DEV's name and a session of DEV's.
fn self_delegation(label: &str) -> (Bucket, String, Gateway, Creds) {
    let h = harness();
    let b = h.bucket(label);
    store_put(&b.name, "shared/plan.txt", b"not for dev");
    store_put(&b.name, "home/notes.txt", b"dev's own");
    let dev = unique_name("dev");
    let gw = h.policy_gateway(
        label,
        &format!(
            r#"
[[grant]]
id = "dev-home"
principals = ["user:{dev}"]
actions = ["read", "write", "list"]
resources = ["s3://{bucket}/home/*"]

[[grant]]
id = "dev-agents-shared"
principals = ["delegated-by:user:{dev}"]
actions = ["read"]
resources = ["s3://{bucket}/shared/*"]
"#,
            bucket = b.name
        ),
    );
    let parent = mint_with(&gw.config, &dev, &["*=s3://*"], "1h");
    (b, dev, gw, parent)
}

/// Asserts a refusal of `in/…`-style reads: `AccessDenied`.
#[track_caller]
fn assert_denied(result: Result<String, String>) -> String {
    let err = result.expect_err("served, but it should have been refused");
    assert!(err.contains("AccessDenied"), "{err}");
    err
}

#[test]
fn self_delegation_through_s3gate_grant_reads_nothing_the_delegator_cannot() {
    needs_testbed!();
    let (b, dev, gw, parent) = self_delegation("esc-grant");
    let endpoint = gw.endpoint();
    assert_denied(get_via(&endpoint, &parent, &b.name, "shared/plan.txt"));

    let out = s3gate_grant_via(
        &endpoint,
        &parent,
        &[
            "--read",
            &format!("s3://{}/shared/", b.name),
            "--name",
            "me",
        ],
    )
    .ok();
    let child = exported_creds(&out.stdout);
    let err = assert_denied(get_via(&endpoint, &child, &b.name, "shared/plan.txt"));
    assert!(
        err.contains(&format!("user:{dev} may not s3:GetObject")),
        "{err}"
    );

    let line = wait_for(Duration::from_secs(5), || {
        audit_lines(&gw).into_iter().find(|l| {
            l["access_key_id"] == child.access_key_id.as_str() && l["operation"] == "GetObject"
        })
    })
    .expect("the child's read is audited");
    assert_eq!(line["decision"], "deny", "{line}");
    assert_eq!(
        line["chain"],
        serde_json::json!([format!("user:{dev}"), format!("delegated:user:{dev}/me")]),
        "{line}"
    );
}

#[test]
fn self_delegation_through_boto3_assume_role_reads_nothing_the_delegator_cannot() {
    needs_testbed!();
    let (b, _, gw, parent) = self_delegation("esc-boto3");
    let endpoint = gw.endpoint();
    let out = boto3_assume_role(&endpoint, &parent, "helper", None, None).ok();
    let child = child_creds(&serde_json::from_str(out.stdout.trim()).unwrap());
    assert_denied(get_via(&endpoint, &child, &b.name, "shared/plan.txt"));
    // The delegated-by grant holds dev's agents to it: not even dev's own
    // home, which dev reads.
    assert_eq!(
        get_via(&endpoint, &parent, &b.name, "home/notes.txt").unwrap(),
        "dev's own"
    );
    let err = assert_denied(get_via(&endpoint, &child, &b.name, "home/notes.txt"));
    assert!(err.contains("dev-agents-shared"), "{err}");
    // Delegating is a right of its own: dev has it, its agent does not,
    // since no rule gives agents s3gate:Delegate.
    let out = boto3_assume_role(&endpoint, &child, "sub", None, None);
    assert!(!out.status.success(), "the agent delegated: {}", out.stdout);
    let err: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(err["Error"], "AccessDenied", "{err}");
    assert!(
        err["Message"].as_str().unwrap().contains("s3gate:Delegate"),
        "{err}"
    );
}

#[test]
fn another_users_agent_of_the_same_name_is_not_revoked_with_mine() {
    needs_testbed!();
    let h = harness();
    let b = h.bucket("esc-names");
    store_put(&b.name, "in/a.txt", b"inside");
    let dir = h.tempdir();
    let (one, two) = file_instances(dir.path(), "1s");
    let alice = unique_name("alice");
    let mallory = unique_name("mallory");
    let scope = [format!("*=s3://{}/*", b.name)];
    let alices = delegate(
        &one.endpoint(),
        &mint_with(&one.config, &alice, &scope, "1h"),
        "agent-7",
    );
    let mallorys = delegate(
        &one.endpoint(),
        &mint_with(&one.config, &mallory, &scope, "1h"),
        "agent-7",
    );
    for creds in [&alices, &mallorys] {
        assert_eq!(
            get_via(&one.endpoint(), creds, &b.name, "in/a.txt").unwrap(),
            "inside"
        );
    }
    // Alice revokes her agent by the name the audit log shows for it.
    let chains: Vec<Value> = audit_lines_once(&one, |ls| {
        ls.iter()
            .any(|l| l["access_key_id"] == alices.access_key_id.as_str())
    })
    .into_iter()
    .filter(|l| l["access_key_id"] == alices.access_key_id.as_str())
    .map(|l| l["chain"].clone())
    .collect();
    let name = format!("delegated:user:{alice}/agent-7");
    assert!(chains.iter().any(|c| c[1] == name.as_str()), "{chains:?}");
    revoke(&one.config, &["--identity", &name, "--reason", "done"]).ok();
    let err = wait_for(Duration::from_secs(4), || {
        get_via(&one.endpoint(), &alices, &b.name, "in/a.txt").err()
    })
    .expect("alice's agent still served after its revocation");
    assert!(err.contains(&name), "{err}");
    // Mallory's agent of the same name is another principal.
    assert_eq!(
        get_via(&one.endpoint(), &mallorys, &b.name, "in/a.txt").unwrap(),
        "inside"
    );
    one.stop();
    two.stop();
}

#[test]
fn an_assume_role_whose_body_is_not_signed_is_refused() {
    needs_testbed!();
    let h = harness();
    let b = h.bucket("esc-unsigned");
    let parent = h.session_for(&b.name);
    let out = boto3_assume_role_env(
        &h.gw().endpoint(),
        &parent,
        "unsigned",
        None,
        None,
        &[("E2E_UNSIGNED_PAYLOAD", "1")],
    );
    assert!(!out.status.success(), "issued: {}", out.stdout);
    let err: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(err["Error"], "AccessDenied", "{err}");
    assert!(
        err["Message"]
            .as_str()
            .unwrap()
            .contains("UNSIGNED-PAYLOAD"),
        "{err}"
    );
    let line = wait_for(Duration::from_secs(5), || {
        audit_lines(h.gw()).into_iter().find(|l| {
            l["operation"] == "AssumeRole" && l["access_key_id"] == parent.access_key_id.as_str()
        })
    })
    .expect("the refusal is audited");
    assert_eq!(line["decision"], "deny", "{line}");
    // The same request with its body signed is served.
    boto3_assume_role(&h.gw().endpoint(), &parent, "signed", None, None).ok();
}

/// A workload pointed at a gateway whose announcement names another
/// server id (a look-alike relaying to the real one would announce the
/// real one's) signs nothing: `s3gate credentials aws` pins the id to the
/// gateway URL's host, or to `--server-id`.
#[test]
fn the_aws_helper_refuses_a_gateway_announcing_another_server_id() {
    needs_testbed!();
    use crate::aws_identity::{SERVER_ID, gw, task_role_endpoint};
    let h = harness();
    let gw = gw();
    let task_role = task_role_endpoint(&unique_name("relayed"));
    let dir = h.tempdir();
    let helper = |extra: &[&str]| {
        let mut cmd = crate::client::clean_command(env!("CARGO_BIN_EXE_s3gate"));
        cmd.args(["credentials", "aws", "--no-cache", "--gateway"])
            .arg(gw.endpoint())
            .args(extra)
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &task_role.url)
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", &task_role.token)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("XDG_CACHE_HOME", dir.path());
        crate::client::run(cmd, Duration::from_secs(60))
    };
    // The gateway at 127.0.0.1 announces `e2e-gateway`: not its host.
    let err = helper(&[]).failed();
    assert!(
        err.contains(&format!("announces server id `{SERVER_ID}`")),
        "{err}"
    );
    assert_eq!(
        task_role.requests.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the workload's credentials were fetched to sign for another gateway"
    );
    // Pinned to another id: refused too.
    let err = helper(&["--server-id", "real-gateway"]).failed();
    assert!(err.contains("`real-gateway`"), "{err}");
    // Pinned to what this gateway is: a session.
    let out = helper(&["--server-id", SERVER_ID]).ok();
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["Version"], 1, "{v}");
}

// Identity attributes: only verified, issuer-scoped ones decide.

/// A gateway trusting a test issuer (whose operator names
/// `preferred_username` as the username claim), with home prefixes by
/// username and a deny for one email domain; and the issuer.
fn attribute_gateway(bucket: &str) -> (Gateway, TestIssuer) {
    let h = harness();
    let issuer = h.block_on(TestIssuer::start());
    let extra = format!(
        "{}username_claim = \"preferred_username\"\n",
        issuer.config("60s", "1h")
    );
    let gw = h.policy_gateway_with(
        "esc-attrs",
        &format!(
            r#"
[[grant]]
id = "homes"
principals = ["oidc:{url}#*"]
actions = ["read", "write"]
resources = ["s3://{bucket}/home/${{identity.username}}/*"]

[[grant]]
id = "public"
principals = ["oidc:{url}#*"]
actions = ["read"]
resources = ["s3://{bucket}/public/*"]

[[deny]]
id = "no-contractors"
principals = ["email:*@contractor.example"]
actions = ["*"]
resources = ["s3://{bucket}/*"]
"#,
            url = issuer.url
        ),
        &extra,
    );
    (gw, issuer)
}

/// `AssumeRoleWithWebIdentity` with `claims` signed by `issuer`: the
/// session, or the STS error body.
fn web_session(gw: &Gateway, issuer: &TestIssuer, claims: &Value) -> Result<Creds, String> {
    let token = issuer.key.sign(jsonwebtoken::Header::default(), claims);
    let (status, body) = sts(
        gw,
        &[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", "arn:aws:iam::123456789012:role/s3gate"),
            ("RoleSessionName", "esc"),
            ("WebIdentityToken", &token),
        ],
    );
    if status != 200 {
        return Err(body);
    }
    let field = |k: &str| element(&body, k).unwrap().to_owned();
    Ok(Creds {
        access_key_id: field("AccessKeyId"),
        secret_access_key: field("SecretAccessKey"),
        session_token: Some(field("SessionToken")),
    })
}

#[test]
fn a_username_with_a_slash_gets_no_session_and_no_one_elses_home() {
    needs_testbed!();
    let h = harness();
    let b = h.bucket("esc-slash");
    store_put(&b.name, "home/bob/shared/plan.txt", b"bob's");
    let (gw, issuer) = attribute_gateway(&b.name);
    let mut claims = issuer.claims(&unique_name("mallory"));
    claims["preferred_username"] = "bob/shared".into();
    let body = web_session(&gw, &issuer, &claims).expect_err("a session was issued");
    assert!(body.contains("<Code>InvalidIdentityToken</Code>"), "{body}");
    assert!(body.contains("holds `/`"), "{body}");
    let line = audit_for(&gw, element(&body, "RequestId").unwrap());
    assert_eq!(line["decision"], "deny", "{line}");
    // A plain name still gets its home.
    let mut claims = issuer.claims(&unique_name("carol"));
    claims["preferred_username"] = "carol".into();
    // (with a verified address: the email deny fails closed without one)
    claims["email"] = "carol@corp.example".into();
    claims["email_verified"] = true.into();
    let carol = web_session(&gw, &issuer, &claims).unwrap();
    store_put(&b.name, "home/carol/a.txt", b"carol's");
    assert_eq!(
        get_via(&gw.endpoint(), &carol, &b.name, "home/carol/a.txt").unwrap(),
        "carol's"
    );
}

#[test]
fn an_email_deny_fires_for_a_verified_address_and_fails_closed_without_one() {
    needs_testbed!();
    let h = harness();
    let b = h.bucket("esc-email");
    store_put(&b.name, "public/a.txt", b"public");
    let (gw, issuer) = attribute_gateway(&b.name);
    let session = |email: &str, verified: Value| {
        let mut claims = issuer.claims(&unique_name("u"));
        claims["preferred_username"] = unique_name("u").into();
        claims["email"] = email.into();
        claims["email_verified"] = verified;
        web_session(&gw, &issuer, &claims).unwrap()
    };
    let staff = session("ann@corp.example", true.into());
    assert_eq!(
        get_via(&gw.endpoint(), &staff, &b.name, "public/a.txt").unwrap(),
        "public"
    );
    let contractor = session("eve@contractor.example", true.into());
    let err = assert_denied(get_via(
        &gw.endpoint(),
        &contractor,
        &b.name,
        "public/a.txt",
    ));
    assert!(err.contains("no-contractors"), "{err}");
    // Unverified: the address is unknown, so the deny still applies.
    let unverified = session("eve@corp.example", false.into());
    let err = assert_denied(get_via(
        &gw.endpoint(),
        &unverified,
        &b.name,
        "public/a.txt",
    ));
    assert!(err.contains("no-contractors"), "{err}");
    let line = wait_for(Duration::from_secs(5), || {
        audit_lines(&gw).into_iter().find(|l| {
            l["access_key_id"] == contractor.access_key_id.as_str() && l["operation"] == "GetObject"
        })
    })
    .expect("the refusal is audited");
    assert_eq!(line["rule"], "no-contractors", "{line}");
}

// The client address behind a load balancer.

#[test]
fn source_cidr_reads_x_forwarded_for_only_from_a_trusted_proxy() {
    needs_testbed!();
    use crate::sign::{Payload, Signing, send_blocking, signed};
    let h = harness();
    let b = h.bucket("esc-xff");
    store_put(&b.name, "office/a.txt", b"office only");
    let user = unique_name("worker");
    let policy = format!(
        r#"
[[grant]]
id = "from-the-office"
principals = ["user:{user}"]
actions = ["read"]
resources = ["s3://{}/office/*"]
conditions = {{ source_cidr = ["198.51.100.0/24"] }}
"#,
        b.name
    );
    // The test is the load balancer: it connects from 127.0.0.1.
    let behind = h.policy_gateway_with(
        "esc-xff",
        &policy,
        "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
    );
    let exposed = h.policy_gateway("esc-xff-exposed", &policy);
    let get = |gw: &Gateway, xff: &str| {
        let creds = mint_with(&gw.config, &user, &["*=s3://*"], "1h");
        let url = format!("{}/{}/office/a.txt", gw.endpoint(), b.name);
        let (req, _) = signed(
            &Signing::now(&creds),
            "GET",
            &url,
            &[("x-forwarded-for", xff)],
            Payload::Hash(b""),
            Vec::new(),
        );
        send_blocking(req)
    };
    let from_office = get(&behind, "198.51.100.7");
    assert_eq!(from_office.status, 200, "{}", from_office.text());
    let line = wait_for(Duration::from_secs(5), || {
        audit_lines(&behind)
            .into_iter()
            .find(|l| l["operation"] == "GetObject" && l["decision"] == "allow")
    })
    .expect("the allowed read is audited");
    assert_eq!(line["source_ip"], "198.51.100.7", "{line}");
    assert!(
        line["client"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{line}"
    );
    // A client prepending the office address is seen at its own.
    get(&behind, "198.51.100.7, 203.0.113.9").assert_error(403, "AccessDenied");
    // A trusted hop passing on something that is no address: unknown,
    // refused rather than decided without an address.
    let unknown = get(&behind, "198.51.100.7, not-an-address");
    unknown.assert_error(403, "AccessDenied");
    assert!(
        unknown.message().contains("address is unknown"),
        "{}",
        unknown.text()
    );
    // Without trusted proxies the header is the client's word: ignored.
    get(&exposed, "198.51.100.7").assert_error(403, "AccessDenied");
}

/// `policy check` flags the self-delegation shape, and `policy explain`
/// decides a delegated session as the gateway does.
#[test]
fn policy_check_and_explain_see_through_self_delegation() {
    needs_testbed!();
    let h = harness();
    let dir = h.tempdir();
    let file = dir.path().join("policy.toml");
    std::fs::write(
        &file,
        r#"
[[grant]]
id = "dev-home"
principals = ["user:dev"]
actions = ["read"]
resources = ["s3://dev/home/*"]

[[grant]]
id = "dev-agents-shared"
principals = ["delegated-by:user:dev"]
actions = ["read"]
resources = ["s3://dev/shared/*"]
"#,
    )
    .unwrap();
    let s3gate = |args: &[&str]| {
        let mut cmd = crate::client::clean_command(env!("CARGO_BIN_EXE_s3gate"));
        cmd.arg("policy").args(args);
        crate::client::run(cmd, Duration::from_secs(30))
    };
    let check = s3gate(&["check", file.to_str().unwrap()]).ok();
    let warnings = format!("{}{}", check.stdout, check.stderr);
    assert!(
        warnings.contains("`dev-agents-shared`") && warnings.contains("no grant to user:dev"),
        "{warnings}"
    );
    let explain = |resource: &str| {
        s3gate(&[
            "explain",
            "--policy",
            file.to_str().unwrap(),
            "--as",
            "user:dev",
            "--delegated",
            "me",
            "s3:GetObject",
            resource,
        ])
    };
    let out = explain("s3://dev/shared/plan.txt");
    assert!(!out.status.success(), "{}", out.stdout);
    assert!(out.stdout.starts_with("DENY"), "{}", out.stdout);
    assert!(
        out.stdout.contains("session:  delegated:user:dev/me"),
        "{}",
        out.stdout
    );
}
