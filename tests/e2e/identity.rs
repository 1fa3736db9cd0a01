//! Callers prove who they are through s3gate's STS API and get sessions:
//! OIDC tokens from a real OpenID Provider used by stock clients with no
//! helper code, every refusal with its STS error and audit line, and AWS
//! principals through `s3gate credentials aws`.

use std::sync::OnceLock;
use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

use crate::audit::{audit_lines, audited_line};
use crate::client::{clean_command, run};
use crate::harness::{Gateway, REGION, harness, unique_name, wait_for};
use crate::idp::{SigningKey, TestIssuer, now_secs, provider, raw_token};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/s3gate-reader";

/// A gateway trusting the real provider and a [`TestIssuer`] (defaults:
/// 60 s cooldown, 1 h key cache).
struct Shared {
    issuer: TestIssuer,
    gw: Gateway,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let h = harness();
        let issuer = h.block_on(TestIssuer::start());
        let extra = format!("{}\n{}", provider().config(), issuer.config("60s", "1h"));
        let gw = h.gateway_with("gw-oidc", &extra);
        Shared { issuer, gw }
    })
}

/// POSTs an STS form to the gateway, unsigned, as the SDKs do for
/// `AssumeRoleWithWebIdentity`.
pub fn sts(gw: &Gateway, form: &[(&str, &str)]) -> (u16, String) {
    let mut cmd = clean_command("curl");
    cmd.args(["-sS", "-w", "\n%{http_code}"]);
    for (k, v) in form {
        cmd.args(["--data-urlencode", &format!("{k}={v}")]);
    }
    cmd.arg(gw.endpoint());
    let out = run(cmd, Duration::from_secs(30)).ok();
    let (body, status) = out.stdout.trim_end().rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_owned())
}

fn assume(gw: &Gateway, token: &str) -> (u16, String) {
    sts(
        gw,
        &[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", ROLE_ARN),
            ("RoleSessionName", "e2e"),
            ("WebIdentityToken", token),
        ],
    )
}

pub fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(&xml[start..end])
}

/// The gateway's audit line for a request id.
pub fn audit_for(gw: &Gateway, request_id: &str) -> Value {
    wait_for(Duration::from_secs(5), || {
        audit_lines(gw)
            .into_iter()
            .find(|l| l["request_id"] == request_id)
    })
    .unwrap_or_else(|| panic!("no audit line for request {request_id}"))
}

/// Asserts an STS refusal with `code`, in STS's shape, and its audit line.
#[track_caller]
fn assert_refused(gw: &Gateway, token: &str, code: &str) -> Value {
    let (status, body) = assume(gw, token);
    assert!(
        body.starts_with("<ErrorResponse") && body.contains(&format!("<Code>{code}</Code>")),
        "expected {code}, got {status}: {body}"
    );
    assert!((400..500).contains(&status), "{status}: {body}");
    let line = audit_for(gw, element(&body, "RequestId").unwrap());
    assert_eq!(line["api"], "sts", "{line}");
    assert_eq!(line["operation"], "AssumeRoleWithWebIdentity", "{line}");
    assert_eq!(line["decision"], "deny", "{line}");
    assert_eq!(line["error"], code, "{line}");
    assert_eq!(line["status"], status, "{line}");
    line
}

/// The environment a stock client needs for web identity: a token file,
/// a role ARN, the endpoint — nothing else.
fn web_identity_env(cmd: &mut std::process::Command, gw: &Gateway, token_file: &std::path::Path) {
    cmd.env("AWS_WEB_IDENTITY_TOKEN_FILE", token_file)
        .env("AWS_ROLE_ARN", ROLE_ARN)
        .env("AWS_ROLE_SESSION_NAME", "e2e-stock-client")
        .env("AWS_ENDPOINT_URL", gw.endpoint())
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_PAGER", "");
}

/// Writes the token as a CI system or kubelet does — with a trailing
/// newline, which botocore sends verbatim.
fn token_file(dir: &std::path::Path, token: &str) -> std::path::PathBuf {
    let path = dir.join("token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    path
}

/// The S3 audit lines for `key`, once at least `at_least` of them are
/// written: a line is written after its response is sent, so a test that
/// reads the log right after its client returns must wait for it.
fn s3_lines_for_key(gw: &Gateway, key: &str, at_least: usize) -> Vec<Value> {
    let lines = || -> Vec<Value> {
        audit_lines(gw)
            .into_iter()
            .filter(|l| l["api"] == "s3" && l["key"] == key)
            .collect()
    };
    wait_for(Duration::from_secs(10), || {
        Some(lines()).filter(|found| found.len() >= at_least)
    })
    .unwrap_or_else(lines)
}

// ---------------------------------------------------------------------------
// Stock clients, zero helper code.

#[test]
fn aws_cli_with_a_machine_token_writes_and_reads_through_s3gate() {
    needs_testbed!();
    let h = harness();
    let gw = &shared().gw;
    let p = provider();
    let bucket = h.bucket("oidc-cli");
    let dir = h.tempdir();
    let token = token_file(dir.path(), &p.machine_token());
    let src = dir.path().join("in.txt");
    std::fs::write(&src, "hello from a machine token").unwrap();
    let key = unique_name("cli");
    let aws = |args: &[&str]| {
        let mut cmd = clean_command(h.venv_bin("aws"));
        web_identity_env(&mut cmd, gw, &token);
        cmd.args(args);
        run(cmd, Duration::from_secs(120)).ok()
    };
    aws(&[
        "s3",
        "cp",
        src.to_str().unwrap(),
        &format!("s3://{}/{key}", bucket.name),
    ]);
    let out = aws(&["s3", "cp", &format!("s3://{}/{key}", bucket.name), "-"]);
    assert_eq!(out.stdout, "hello from a machine token");
    let who = aws(&["sts", "get-caller-identity", "--output", "json"]);
    let v: Value = serde_json::from_str(&who.stdout).unwrap();
    assert_eq!(
        v["Arn"],
        "arn:aws:sts::000000000000:assumed-role/s3gate-oidc/s3gate-machine"
    );

    let lines = s3_lines_for_key(gw, &key, 2);
    assert!(lines.len() >= 2, "{lines:?}");
    for l in &lines {
        // Audit lines name principals as the policy does: oidc:ISSUER#SUB.
        assert_eq!(
            l["identity"],
            format!("oidc:{}#s3gate-machine", p.url).as_str(),
            "{l}"
        );
        assert_eq!(l["identity_method"], "oidc", "{l}");
        assert_eq!(l["issuer"], p.url.as_str(), "{l}");
        assert_eq!(l["decision"], "allow", "{l}");
    }
    let exchange = audited_line(gw, |l| {
        l["operation"] == "AssumeRoleWithWebIdentity" && l["session_id"] == lines[0]["session_id"]
    })
    .expect("the STS exchange is audited");
    assert_eq!(exchange["decision"], "allow");
    assert_eq!(exchange["issuer"], p.url.as_str());
}

#[test]
fn boto3_with_a_web_identity_token_file_writes_and_reads() {
    needs_testbed!();
    let h = harness();
    let gw = &shared().gw;
    let bucket = h.bucket("oidc-boto3");
    let dir = h.tempdir();
    let token = token_file(dir.path(), &provider().machine_token());
    let src = dir.path().join("in.bin");
    std::fs::write(&src, b"boto3 by web identity").unwrap();
    let dst = dir.path().join("out.bin");
    let key = unique_name("boto3");
    let boto3 = |op: &str, file: &std::path::Path| {
        let mut cmd = clean_command(h.venv_bin("python"));
        web_identity_env(&mut cmd, gw, &token);
        cmd.env("E2E_ENDPOINT", gw.endpoint())
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/e2e/boto3_client.py"
            ))
            .args([op, &bucket.name, &key])
            .arg(file);
        run(cmd, Duration::from_secs(120)).ok()
    };
    boto3("put", &src);
    boto3("get", &dst);
    assert_eq!(std::fs::read(&dst).unwrap(), b"boto3 by web identity");
    // The put and the get, each by the machine identity.
    let lines = s3_lines_for_key(gw, &key, 2);
    assert!(lines.len() >= 2, "{lines:?}");
    assert!(lines.iter().all(|l| {
        l["identity_method"] == "oidc"
            && l["identity"] == format!("oidc:{}#s3gate-machine", provider().url).as_str()
    }));
}

#[test]
fn js_sdk_v3_with_a_web_identity_token_file_writes_and_reads() {
    needs_testbed!();
    let h = harness();
    let gw = &shared().gw;
    let node_dir = crate::harness::testbed_var("S3GATE_TEST_NODE");
    let bucket = h.bucket("oidc-js");
    let dir = h.tempdir();
    let token = token_file(dir.path(), &provider().machine_token());
    let key = unique_name("js");
    let mut cmd = clean_command("node");
    web_identity_env(&mut cmd, gw, &token);
    cmd.arg(format!("{node_dir}/s3-roundtrip.mjs")).args([
        &bucket.name,
        &key,
        "js sdk v3 by web identity",
    ]);
    let out = run(cmd, Duration::from_secs(120)).ok();
    assert_eq!(out.stdout, "js sdk v3 by web identity");
    let lines = s3_lines_for_key(gw, &key, 2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l["identity_method"] == "oidc"));
}

#[test]
fn a_person_logged_in_at_the_provider_carries_username_and_groups() {
    needs_testbed!();
    let h = harness();
    let gw = &shared().gw;
    let user = unique_name("alice");
    let id_token = provider().login_id_token(&user, h);
    let (status, body) = assume(gw, &id_token);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        element(&body, "SubjectFromWebIdentityToken"),
        Some(user.as_str())
    );
    assert_eq!(element(&body, "Audience"), Some("s3gate-login"));
    assert_eq!(element(&body, "Provider"), Some(provider().url.as_str()));
    let expiration = element(&body, "Expiration").unwrap();
    assert!(
        expiration.ends_with('Z') && expiration.len() == 20,
        "{expiration}"
    );
    let line = audit_for(gw, element(&body, "RequestId").unwrap());
    assert_eq!(line["decision"], "allow");
    assert_eq!(
        line["identity"],
        format!("oidc:{}#{user}", provider().url).as_str()
    );
    assert_eq!(line["username"], user.as_str());
    assert_eq!(line["groups"], json!(["staff", format!("team-{user}")]));
}

#[test]
fn duration_seconds_is_honoured_within_bounds() {
    needs_testbed!();
    let s = shared();
    let token = s.issuer.token("duration");
    let ask = |d: &str| {
        sts(
            &s.gw,
            &[
                ("Action", "AssumeRoleWithWebIdentity"),
                ("RoleArn", ROLE_ARN),
                ("RoleSessionName", "e2e"),
                ("DurationSeconds", d),
                ("WebIdentityToken", &token),
            ],
        )
    };
    let (status, body) = ask("900");
    assert_eq!(status, 200, "{body}");
    let exp = element(&body, "Expiration").unwrap();
    let t = time::OffsetDateTime::parse(exp, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp() as u64;
    assert!((now_secs() + 890..=now_secs() + 905).contains(&t), "{exp}");
    for bad in ["60", "86400", "soon"] {
        let (status, body) = ask(bad);
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("<Code>ValidationError</Code>"), "{body}");
    }
}

// ---------------------------------------------------------------------------
// Refusals: each with STS's error code and an audit line.

#[test]
fn alg_none_is_refused() {
    needs_testbed!();
    let s = shared();
    let t = raw_token(
        &json!({"alg": "none", "kid": "k1"}),
        &s.issuer.claims("none"),
        b"",
    );
    let line = assert_refused(&s.gw, &t, "InvalidIdentityToken");
    assert!(line["reason"].as_str().unwrap().contains("none"), "{line}");
}

#[test]
fn hs256_signed_with_the_issuers_public_key_is_refused() {
    needs_testbed!();
    let s = shared();
    let header = json!({"alg": "HS256", "kid": "k1", "typ": "JWT"});
    let claims = s.issuer.claims("hmac");
    let unsigned = raw_token(&header, &claims, b"");
    let unsigned = unsigned.trim_end_matches('.');
    let sig = jsonwebtoken::crypto::sign(
        unsigned.as_bytes(),
        &EncodingKey::from_secret(&s.issuer.key.public_point),
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap();
    assert_refused(&s.gw, &format!("{unsigned}.{sig}"), "InvalidIdentityToken");
}

#[test]
fn a_token_claiming_another_configured_issuer_is_refused() {
    needs_testbed!();
    // Signed with the test issuer's key, claiming the real provider.
    let s = shared();
    let mut claims = s.issuer.claims("imposter");
    claims["iss"] = json!(provider().url);
    let t = s.issuer.key.sign(Header::default(), &claims);
    assert_refused(&s.gw, &t, "InvalidIdentityToken");
}

#[test]
fn wrong_audience_is_refused() {
    needs_testbed!();
    let s = shared();
    let mut claims = s.issuer.claims("aud");
    claims["aud"] = json!("urn:some-other-service");
    let line = assert_refused(
        &s.gw,
        &s.issuer.key.sign(Header::default(), &claims),
        "InvalidIdentityToken",
    );
    assert!(line["reason"].as_str().unwrap().contains("aud"), "{line}");
}

#[test]
fn an_expired_token_is_refused_with_expired_token_exception() {
    needs_testbed!();
    let s = shared();
    let mut claims = s.issuer.claims("late");
    claims["exp"] = json!(now_secs() - 3600);
    claims["iat"] = json!(now_secs() - 7200);
    claims["nbf"] = json!(now_secs() - 7200);
    assert_refused(
        &s.gw,
        &s.issuer.key.sign(Header::default(), &claims),
        "ExpiredTokenException",
    );
}

#[test]
fn nbf_in_the_future_is_refused() {
    needs_testbed!();
    let s = shared();
    let mut claims = s.issuer.claims("early");
    claims["nbf"] = json!(now_secs() + 3600);
    assert_refused(
        &s.gw,
        &s.issuer.key.sign(Header::default(), &claims),
        "InvalidIdentityToken",
    );
}

#[test]
fn exp_as_a_string_is_refused() {
    needs_testbed!();
    let s = shared();
    let mut claims = s.issuer.claims("stringly");
    claims["exp"] = json!((now_secs() + 300).to_string());
    let line = assert_refused(
        &s.gw,
        &s.issuer.key.sign(Header::default(), &claims),
        "InvalidIdentityToken",
    );
    assert!(line["reason"].as_str().unwrap().contains("exp"), "{line}");
}

#[test]
fn a_jku_pointing_elsewhere_is_never_fetched() {
    needs_testbed!();
    let h = harness();
    let s = shared();
    let attacker = h.block_on(TestIssuer::start());
    let header = Header {
        kid: Some(attacker.key.kid.clone() + "-evil"),
        jku: Some(format!("{}/jwks", attacker.url)),
        ..Default::default()
    };
    let t = attacker.key.sign(header, &s.issuer.claims("jku"));
    assert_refused(&s.gw, &t, "InvalidIdentityToken");
    assert_eq!(attacker.fetches(), 0, "the token's jku was fetched");
}

#[test]
fn an_unconfigured_issuer_is_refused() {
    needs_testbed!();
    let h = harness();
    let s = shared();
    let stranger = h.block_on(TestIssuer::start());
    let line = assert_refused(&s.gw, &stranger.token("stranger"), "InvalidIdentityToken");
    assert!(
        line["reason"].as_str().unwrap().contains("not configured"),
        "{line}"
    );
    assert_eq!(stranger.fetches(), 0);
}

#[test]
fn an_unknown_kid_refreshes_once_and_a_flood_costs_one_fetch() {
    needs_testbed!();
    let h = harness();
    let issuer = h.block_on(TestIssuer::start());
    let gw = h.gateway_with("gw-kid", &issuer.config("60s", "1h"));
    // Warm: the first token fetches the keys once.
    let (status, body) = assume(&gw, &issuer.token("warm"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(issuer.fetches(), 1);

    // A token with an unknown kid: one refetch, then refused.
    let rogue = SigningKey::generate("rogue-0");
    let claims = issuer.claims("rogue");
    let line = assert_refused(
        &gw,
        &rogue.sign(Header::default(), &claims),
        "InvalidIdentityToken",
    );
    assert!(line["reason"].as_str().unwrap().contains("kid"), "{line}");
    assert_eq!(issuer.fetches(), 2);

    // A flood of made-up kids within the cooldown: no more fetches.
    for i in 1..=20 {
        let header = Header {
            kid: Some(format!("rogue-{i}")),
            ..Default::default()
        };
        let (status, _) = assume(&gw, &rogue.sign(header, &claims));
        assert_eq!(status, 400);
    }
    assert_eq!(issuer.fetches(), 2, "the flood caused JWKS fetches");

    // The honest issuer still works meanwhile.
    let (status, body) = assume(&gw, &issuer.token("still-fine"));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_rotated_key_is_picked_up_by_one_refetch() {
    needs_testbed!();
    let h = harness();
    let issuer = h.block_on(TestIssuer::start());
    // No cooldown: a rotation is honoured at once.
    let gw = h.gateway_with("gw-rotate", &issuer.config("0s", "1h"));
    assert_eq!(assume(&gw, &issuer.token("before")).0, 200);
    let next = SigningKey::generate("k2");
    issuer.publish(&next);
    let (status, body) = assume(&gw, &next.sign(Header::default(), &issuer.claims("after")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(issuer.fetches(), 2);
}

#[test]
fn an_idp_that_is_down_keeps_working_from_cache_and_a_cold_start_says_so() {
    needs_testbed!();
    let h = harness();
    let issuer = h.block_on(TestIssuer::start());
    let warm = h.gateway_with("gw-warm", &issuer.config("60s", "1h"));
    assert_eq!(assume(&warm, &issuer.token("before")).0, 200);
    issuer.set_up(false);
    // Cached keys keep verifying new tokens.
    let (status, body) = assume(&warm, &issuer.token("during-outage"));
    assert_eq!(status, 200, "{body}");
    // A gateway that never saw the keys cannot verify anything.
    let cold = h.gateway_with("gw-cold", &issuer.config("60s", "1h"));
    assert_refused(&cold, &issuer.token("cold"), "IDPCommunicationError");
}

#[test]
fn once_cached_keys_expire_new_tokens_are_refused_but_verified_ones_stay_known() {
    needs_testbed!();
    let h = harness();
    let issuer = h.block_on(TestIssuer::start());
    let gw = h.gateway_with("gw-ttl", &issuer.config("1s", "2s"));
    let known = issuer.token("known");
    assert_eq!(assume(&gw, &known).0, 200);
    issuer.set_up(false);
    std::thread::sleep(Duration::from_millis(2500));
    assert_refused(&gw, &issuer.token("after-expiry"), "IDPCommunicationError");
    // The verified token is cached by its hash until its exp: presenting it
    // again (with botocore's trailing newline) needs no keys.
    let (status, body) = assume(&gw, &format!("{known}\n"));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn no_configured_issuer_means_access_denied() {
    needs_testbed!();
    let h = harness();
    let issuer = h.block_on(TestIssuer::start());
    assert_refused(h.gw(), &issuer.token("nobody"), "AccessDenied");
}

/// The Rust SDK's default chain reads the web identity from the process
/// environment, which a test cannot set for itself without racing other
/// tests: so this test runs [`rust_sdk_child_client`] in a child process
/// of this same test binary, configured only by environment variables.
#[test]
fn rust_sdk_with_a_web_identity_token_file_writes_and_reads() {
    needs_testbed!();
    let h = harness();
    let gw = &shared().gw;
    let bucket = h.bucket("oidc-rust");
    let dir = h.tempdir();
    let token = token_file(dir.path(), &provider().machine_token());
    let key = unique_name("rust");
    let mut cmd = clean_command(std::env::current_exe().unwrap());
    web_identity_env(&mut cmd, gw, &token);
    cmd.env("E2E_CHILD_BUCKET", &bucket.name)
        .env("E2E_CHILD_KEY", &key)
        .args([
            "--exact",
            "identity::rust_sdk_child_client",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
    let out = run(cmd, Duration::from_secs(120)).ok();
    assert!(
        out.stdout.contains("BODY:rust sdk by web identity"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    let lines = s3_lines_for_key(gw, &key, 2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l["identity_method"] == "oidc"));
}

/// The child side of the test above: the stock Rust SDK, default chain.
#[test]
#[ignore = "run as a child process by rust_sdk_with_a_web_identity_token_file_writes_and_reads"]
fn rust_sdk_child_client() {
    let (Ok(bucket), Ok(key)) = (
        std::env::var("E2E_CHILD_BUCKET"),
        std::env::var("E2E_CHILD_KEY"),
    ) else {
        return;
    };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body = rt.block_on(async {
        let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        );
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(
                b"rust sdk by web identity",
            ))
            .send()
            .await
            .unwrap();
        let got = s3
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        got.body.collect().await.unwrap().into_bytes()
    });
    println!("BODY:{}", String::from_utf8_lossy(&body));
}
