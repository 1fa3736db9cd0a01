//! AWS principals get sessions by proving their identity with a signed
//! `sts:GetCallerIdentity`, with moto in auth mode as the STS that checks
//! the signature and names the caller; and s3gate itself runs on ECS
//! container credentials with no keys in its config.
//!
//! The ECS agent cannot run here: [`ContainerCredentials`] stands in for
//! its loopback credentials endpoint, serving the moto IAM user's keys.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use serde_json::Value;

use crate::client::{ChildGuard, clean_command, run, store_put};
use crate::harness::{Gateway, REGION, harness, moto, unique_name, wait_for};
use crate::identity::{audit_for, element, sts};
use crate::idp::ContainerCredentials;

pub const SERVER_ID: &str = "e2e-gateway";
/// moto's account.
const ACCOUNT: &str = "123456789012";

fn aws_config(allowed_account: &str) -> String {
    format!(
        "[identity.aws]\nserver_id = \"{SERVER_ID}\"\nsts_endpoint = \"{}\"\nallowed_accounts = [\"{allowed_account}\"]\nallow_iam_users = true\n",
        moto().endpoint
    )
}

pub fn gw() -> &'static Gateway {
    static GW: OnceLock<Gateway> = OnceLock::new();
    GW.get_or_init(|| harness().gateway_with("gw-aws", &aws_config(ACCOUNT)))
}

fn moto_credentials() -> Credentials {
    let m = moto();
    Credentials::new(
        &m.creds.access_key_id,
        &m.creds.secret_access_key,
        None,
        None,
        "moto",
    )
}

/// Temporary credentials for a task role (moto's `writer` role, allowed
/// `s3:*`), from moto's STS: what the ECS agent would hold for a task.
fn task_role_credentials(session: &str) -> (String, String, String) {
    let m = moto();
    let out = crate::client::aws(
        &m.endpoint,
        &m.creds,
        &[
            "sts",
            "assume-role",
            "--role-arn",
            &m.writer_role_arn,
            "--role-session-name",
            session,
            "--output",
            "json",
        ],
    )
    .ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let c = &v["Credentials"];
    let field = |k: &str| c[k].as_str().unwrap().to_owned();
    (
        field("AccessKeyId"),
        field("SecretAccessKey"),
        field("SessionToken"),
    )
}

pub fn task_role_endpoint(session: &str) -> ContainerCredentials {
    let (id, secret, token) = task_role_credentials(session);
    ContainerCredentials::start(harness(), &id, &secret, Some(&token))
}

/// The moto IAM user's ARN, as STS names it.
fn user_arn() -> String {
    let m = moto();
    let out = crate::client::aws(
        &m.endpoint,
        &m.creds,
        &["sts", "get-caller-identity", "--output", "json"],
    )
    .ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    v["Arn"].as_str().unwrap().to_owned()
}

/// Sends signed headers in s3gate's AWS-identity action.
fn exchange(gw: &Gateway, headers: &str) -> (u16, String) {
    sts(
        gw,
        &[
            ("Action", "AssumeRoleWithAwsIdentity"),
            ("Version", "2011-06-15"),
            ("CallerIdentityHeaders", headers),
        ],
    )
}

fn signed(endpoint: &str, server_id: &str, at: SystemTime, body: &str) -> String {
    s3gate::identity::aws::sign_sts_post(endpoint, REGION, server_id, &moto_credentials(), at, body)
        .unwrap()
}

const GET_CALLER_IDENTITY: &str = s3gate::identity::aws::GET_CALLER_IDENTITY_BODY;

#[track_caller]
fn assert_refused(gw: &Gateway, headers: &str, code: &str) -> Value {
    let (status, body) = exchange(gw, headers);
    assert!(
        body.contains(&format!("<Code>{code}</Code>")),
        "expected {code}, got {status}: {body}"
    );
    let line = audit_for(gw, element(&body, "RequestId").unwrap());
    assert_eq!(line["operation"], "AssumeRoleWithAwsIdentity", "{line}");
    assert_eq!(line["decision"], "deny", "{line}");
    assert_eq!(line["error"], code, "{line}");
    line
}

#[test]
fn a_signed_get_caller_identity_yields_a_session_naming_the_aws_principal() {
    needs_testbed!();
    let headers = signed(
        &moto().endpoint,
        SERVER_ID,
        SystemTime::now(),
        GET_CALLER_IDENTITY,
    );
    let (status, body) = exchange(gw(), &headers);
    assert_eq!(status, 200, "{body}");
    let arn = user_arn();
    assert_eq!(element(&body, "SourceArn"), Some(arn.as_str()));
    let line = audit_for(gw(), element(&body, "RequestId").unwrap());
    assert_eq!(line["decision"], "allow", "{line}");
    assert_eq!(line["identity_method"], "aws", "{line}");
    assert_eq!(line["identity"], format!("aws:{arn}").as_str(), "{line}");
    assert_eq!(line["aws_account"], ACCOUNT, "{line}");
}

#[test]
fn signed_for_another_server_id_is_refused() {
    needs_testbed!();
    let headers = signed(
        &moto().endpoint,
        "another-gateway",
        SystemTime::now(),
        GET_CALLER_IDENTITY,
    );
    let line = assert_refused(gw(), &headers, "InvalidIdentityToken");
    assert!(
        line["reason"].as_str().unwrap().contains("server id"),
        "{line}"
    );
}

#[test]
fn without_the_server_id_header_is_refused() {
    needs_testbed!();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let headers = signed(
        &moto().endpoint,
        SERVER_ID,
        SystemTime::now(),
        GET_CALLER_IDENTITY,
    );
    let mut map: serde_json::Map<String, Value> =
        serde_json::from_slice(&b64.decode(headers).unwrap()).unwrap();
    map.remove("x-s3gate-server-id");
    let line = assert_refused(
        gw(),
        &b64.encode(serde_json::to_vec(&map).unwrap()),
        "InvalidIdentityToken",
    );
    assert!(
        line["reason"].as_str().unwrap().contains("server-id"),
        "{line}"
    );
}

#[test]
fn a_stale_signature_is_refused() {
    needs_testbed!();
    let at = SystemTime::now() - Duration::from_secs(600);
    let line = assert_refused(
        gw(),
        &signed(&moto().endpoint, SERVER_ID, at, GET_CALLER_IDENTITY),
        "InvalidIdentityToken",
    );
    assert!(
        line["reason"].as_str().unwrap().contains("window"),
        "{line}"
    );
}

#[test]
fn a_request_signed_for_another_action_is_refused_by_sts() {
    needs_testbed!();
    // s3gate sends its own fixed body, so STS sees a signature that does
    // not match and refuses.
    let headers = signed(
        &moto().endpoint,
        SERVER_ID,
        SystemTime::now(),
        "Action=GetSessionToken&Version=2011-06-15",
    );
    let line = assert_refused(gw(), &headers, "InvalidIdentityToken");
    assert!(
        line["reason"].as_str().unwrap().contains("STS refused"),
        "{line}"
    );
}

#[test]
fn a_request_signed_for_another_host_is_refused_by_sts() {
    needs_testbed!();
    // Signed for a host the caller chose; s3gate still sends it only to its
    // configured STS, where the signature does not match.
    let elsewhere = moto().endpoint.replace("127.0.0.1", "localhost");
    let headers = signed(
        &elsewhere,
        SERVER_ID,
        SystemTime::now(),
        GET_CALLER_IDENTITY,
    );
    let line = assert_refused(gw(), &headers, "InvalidIdentityToken");
    assert!(
        line["reason"].as_str().unwrap().contains("STS refused"),
        "{line}"
    );
}

#[test]
fn an_aws_account_not_allowed_is_refused() {
    needs_testbed!();
    let gw = harness().gateway_with("gw-aws-other", &aws_config("111111111111"));
    let headers = signed(
        &moto().endpoint,
        SERVER_ID,
        SystemTime::now(),
        GET_CALLER_IDENTITY,
    );
    let line = assert_refused(&gw, &headers, "AccessDenied");
    assert!(line["reason"].as_str().unwrap().contains(ACCOUNT), "{line}");
}

/// The done-when case: an ECS task with only its task role reads an object
/// with the aws CLI, configured by a profile and the environment the ECS
/// agent sets; the audit line names the task's AWS identity.
#[test]
fn aws_cli_on_an_ecs_task_reads_through_a_credential_process_profile() {
    needs_testbed!();
    let h = harness();
    let m = moto();
    let gw = gw();
    let session = unique_name("task");
    let task_role = task_role_endpoint(&session);
    let bucket = h.bucket("ecs-task");
    let key = unique_name("report");
    store_put(&bucket.name, &key, b"for the task");
    let dir = h.tempdir();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[default]\ncredential_process = {} credentials aws --gateway {} --server-id {SERVER_ID}\ns3 =\n  addressing_style = path\n",
            env!("CARGO_BIN_EXE_s3gate"),
            gw.endpoint()
        ),
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let aws = |args: &[&str]| {
        let mut cmd = clean_command(h.venv_bin("aws"));
        cmd.env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_ENDPOINT_URL", gw.endpoint())
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &task_role.url)
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", &task_role.token)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("XDG_CACHE_HOME", &cache)
            .args(args);
        run(cmd, Duration::from_secs(120)).ok()
    };
    let out = aws(&["s3", "cp", &format!("s3://{}/{key}", bucket.name), "-"]);
    assert_eq!(out.stdout, "for the task");
    let asked = task_role.requests.load(std::sync::atomic::Ordering::SeqCst);
    assert!(asked >= 1, "the task role was never asked");

    let role = m.writer_role_arn.rsplit('/').next().unwrap();
    let line = wait_for(Duration::from_secs(5), || {
        crate::audit::audit_lines(gw)
            .into_iter()
            .find(|l| l["operation"] == "GetObject" && l["key"] == key.as_str())
    })
    .expect("the read is audited");
    assert_eq!(line["identity_method"], "aws", "{line}");
    // An assumed role is named by its role, as the policy names principals.
    assert_eq!(
        line["identity"],
        format!("aws:role/{ACCOUNT}/{role}").as_str(),
        "{line}"
    );
    assert!(
        line["aws_session"]
            .as_str()
            .unwrap_or("")
            .contains(&session),
        "{line}"
    );
    assert_eq!(line["aws_account"], ACCOUNT, "{line}");
    assert_eq!(line["aws_role"], role, "{line}");
    assert_eq!(line["aws_session"], session.as_str(), "{line}");

    // The session is cached (owner-only) and reused: no new signature.
    let cached: Vec<_> = std::fs::read_dir(cache.join("s3gate"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(cached.len(), 1);
    use std::os::unix::fs::PermissionsExt;
    let mode = cached[0].metadata().unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    aws(&["s3", "cp", &format!("s3://{}/{key}", bucket.name), "-"]);
    assert_eq!(
        task_role.requests.load(std::sync::atomic::Ordering::SeqCst),
        asked,
        "the cached session was not reused"
    );
}

/// s3gate on ECS: no keys in its config; its upstream calls are signed with
/// the task role from the container credentials endpoint, which moto in
/// auth mode accepts only if they are the IAM user's real keys.
#[test]
fn s3gate_signs_upstream_with_container_credentials_and_no_keys_in_its_config() {
    needs_testbed!();
    let h = harness();
    let m = moto();
    let task_role = task_role_endpoint(&unique_name("gateway-task"));
    let dir = h.tempdir();
    let bin = env!("CARGO_BIN_EXE_s3gate");
    let keyring = dir.path().join("keyring.toml");
    let mut cmd = clean_command(bin);
    cmd.args(["keyring", "new", "--out"]).arg(&keyring);
    run(cmd, Duration::from_secs(30)).ok();
    let port = crate::harness::free_port();
    let audit = dir.path().join("audit.log");
    let config = dir.path().join("s3gate.toml");
    std::fs::write(dir.path().join("policy.toml"), crate::harness::OPEN_POLICY).unwrap();
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\n[upstream]\nendpoint = \"{}\"\nregion = \"{REGION}\"\n[session]\nkeyring = \"{}\"\n[audit]\noutput = \"{}\"\n[policy]\nfile = \"policy.toml\"\n",
            m.endpoint,
            keyring.display(),
            audit.display()
        ),
    )
    .unwrap();
    let mut serve = clean_command(bin);
    serve
        .args(["serve", "--config"])
        .arg(&config)
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &task_role.url)
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", &task_role.token)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap());
    let _child = ChildGuard(serve.spawn().unwrap());
    let endpoint = format!("http://127.0.0.1:{port}");
    wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("s3gate serve did not start");

    let bucket = unique_name("ecs-gw");
    let creds = crate::harness::mint_with(
        &config,
        "ecs-user",
        &crate::harness::bucket_scope("*", &bucket),
        "1h",
    );
    let src = dir.path().join("in.txt");
    std::fs::write(&src, "signed by the task role").unwrap();
    crate::client::aws(&endpoint, &creds, &["s3", "mb", &format!("s3://{bucket}")]).ok();
    crate::client::aws(
        &endpoint,
        &creds,
        &[
            "s3",
            "cp",
            src.to_str().unwrap(),
            &format!("s3://{bucket}/k"),
        ],
    )
    .ok();
    // Read back directly from moto with the IAM user's keys.
    let out = crate::client::aws(
        &m.endpoint,
        &m.creds,
        &["s3", "cp", &format!("s3://{bucket}/k"), "-"],
    )
    .ok();
    assert_eq!(out.stdout, "signed by the task role");
    assert!(
        task_role.requests.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "s3gate never asked the container credentials endpoint"
    );
}
