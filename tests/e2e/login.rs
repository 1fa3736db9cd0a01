//! People signing in: the portal in headless Chromium, `s3gate login` with
//! its browser step scripted, the device flow, and `s3gate configure`
//! writing a profile the aws CLI then uses — all against the real OpenID
//! Provider (node-oidc-provider, client `s3gate-portal`) started by
//! `tests/run`, and Debian's Chromium driven by playwright-core
//! (`tests/testbed/node/browser.mjs`).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::audit::audit_lines;
use crate::client::{clean_command, run};
use crate::harness::{
    Bucket, Gateway, config_text, harness, testbed_var, unique_name, wait_for, write_keyring,
    write_private,
};
use crate::idp::provider;

struct Shared {
    gw: Gateway,
    /// Alice's group `team-alice` may read and write here; `staff` may read.
    bucket: Bucket,
}

/// One gateway with `[login]` for the whole module: its public URL must be
/// known before it starts, so it listens on a port picked beforehand.
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let h = harness();
        let bucket = h.bucket("login");
        let policy = format!(
            r#"
[[grant]]
id = "staff-read"
principals = ["group:staff"]
actions = ["read", "list"]
resources = ["s3://{b}/*"]

[[grant]]
id = "team-alice-write"
principals = ["group:team-alice"]
actions = ["write", "delete"]
resources = ["s3://{b}/alice/*"]

[[deny]]
id = "no-secrets"
principals = ["*"]
actions = ["*"]
resources = ["s3://{b}/secret/*"]
"#,
            b = bucket.name
        );
        let gw = login_gateway("gw-login", &policy, "");
        Shared { gw, bucket }
    })
}

/// A gateway trusting the test IdP for web identity and browser sign-in;
/// `session` is added to its `[session]` section.
fn login_gateway(name: &str, policy: &str, session: &str) -> Gateway {
    login_gateway_with(name, policy, session, "")
}

/// Like [`login_gateway`], `s3` added to its `[s3]` section and `login` to
/// its `[login]`.
pub(crate) fn login_gateway_with(name: &str, policy: &str, session: &str, s3: &str) -> Gateway {
    let port = crate::harness::free_port();
    login_gateway_on(name, policy, session, s3, port, port, "")
}

/// Like [`login_gateway_with`], listening on `port` with its portal at
/// `localhost:{public_port}` (a balancer's, when they differ) and `extra`
/// appended to its config.
pub(crate) fn login_gateway_on(
    name: &str,
    policy: &str,
    session: &str,
    s3: &str,
    port: u16,
    public_port: u16,
    extra: &str,
) -> Gateway {
    let h = harness();
    let dir = h.base.join(unique_name(name));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.toml"), policy).unwrap();
    let keyring = write_keyring(&dir);
    let audit = dir.join("audit.log");
    let text = config_text(&h.store.endpoint(), &h.store.creds, &keyring, &audit)
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))
        .replace("[session]\n", &format!("[session]\n{session}"))
        .replace("[s3]\n", &format!("[s3]\n{s3}"));
    let text = format!(
        "{text}{}\n{extra}",
        login_sections(
            &format!("http://localhost:{public_port}"),
            &format!("http://127.0.0.1:{port}")
        )
    );
    let path = dir.join("s3gate.toml");
    write_private(&path, &text);
    h.gateway_from(&path)
}

/// The portal's address (`login.public_url`): the gateway's listener under
/// the name `localhost`, another origin for a browser than the S3 endpoint
/// (`127.0.0.1`, [`Gateway::endpoint`]).
pub(crate) fn portal(gw: &Gateway) -> String {
    format!("http://localhost:{}", gw.addr.port())
}

/// `[[identity.oidc]]` and `[login]` trusting the test IdP, for a portal
/// reached at `public_url` and S3 at `s3_url` (another host).
pub fn login_sections(public_url: &str, s3_url: &str) -> String {
    let p = provider();
    format!(
        "\n[[identity.oidc]]\nissuer = \"{url}\"\naudiences = [\"s3gate-portal\"]\n\n\
         [login]\nissuer = \"{url}\"\nclient_id = \"s3gate-portal\"\nclient_secret = \"{secret}\"\n\
         public_url = \"{public_url}\"\ns3_url = \"{s3_url}\"\n",
        url = p.url,
        secret = p.secret,
    )
}

fn node_dir() -> PathBuf {
    PathBuf::from(testbed_var("S3GATE_TEST_NODE"))
}

/// `node browser.mjs ARGS…`: Chromium through the sign-in.
pub(crate) fn browser(args: &[&str]) -> String {
    let mut cmd = clean_command("node");
    cmd.arg(node_dir().join("browser.mjs")).args(args);
    run(cmd, Duration::from_secs(90)).ok().stdout
}

/// A `$BROWSER` for `s3gate login`: signs in as `user` and presses Allow.
fn browser_script(dir: &Path, user: &str) -> PathBuf {
    browser_script_clicking(dir, user, "approve")
}

/// Like [`browser_script`], pressing the button with id `click`.
fn browser_script_clicking(dir: &Path, user: &str, click: &str) -> PathBuf {
    let path = dir.join("browser.sh");
    let log = dir.join("browser.log");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nS3GATE_TEST_USER={user} S3GATE_TEST_CLICK={click} exec node {} cli \"$1\" >{} 2>&1\n",
            node_dir().join("browser.mjs").display(),
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The aws CLI with only the given environment.
fn aws(env: &[(&str, &str)], args: &[&str]) -> crate::client::Output {
    let mut cmd = clean_command(harness().venv_bin("aws"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args);
    run(cmd, Duration::from_secs(120))
}

/// Where screenshots are kept after the run.
fn artifact(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn wait_audit(gw: &Gateway, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait_for(Duration::from_secs(10), || {
        audit_lines(gw).into_iter().find(|l| pred(l))
    })
    .unwrap_or_else(|| panic!("no audit line for {what}"))
}

#[test]
fn the_portal_signs_a_person_in_and_shows_who_they_are_and_what_they_may_reach() {
    needs_testbed!();
    let s = shared();
    let p = provider();
    let shot = artifact("portal.png");
    let _ = std::fs::remove_file(&shot);
    let out = browser(&[
        "portal",
        &format!("{}/_s3gate/", portal(&s.gw)),
        shot.to_str().unwrap(),
        "alice",
    ]);
    let page: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(page["heading"], "Signed in as alice");
    assert_eq!(page["principal"], format!("oidc:{}#alice", p.url).as_str());
    let groups = page["groups"].as_str().unwrap();
    assert!(
        groups.contains("staff") && groups.contains("team-alice"),
        "{groups}"
    );
    let grants = page["grants"].as_str().unwrap();
    let b = &s.bucket.name;
    assert!(grants.contains(&format!("s3://{b}/*")), "{grants}");
    assert!(grants.contains(&format!("s3://{b}/alice/*")), "{grants}");
    assert!(grants.contains("staff-read") && grants.contains("team-alice-write"));
    assert!(
        grants.contains(&format!("s3://{b}/secret/*")),
        "the deny is shown: {grants}"
    );
    assert!(page["expiry"].as_str().unwrap().contains("in 60 min"));

    // The screenshot is a real PNG of the page, kept for people to look at.
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        png.len()
    );

    // The environment lines work with a stock client: what the policy
    // grants alice, and nothing more.
    let env_text = page["env"].as_str().unwrap();
    let vars: Vec<(String, String)> = env_text
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(vars.len(), 5, "{env_text}");
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let dir = harness().tempdir();
    let file = dir.path().join("note.txt");
    std::fs::write(&file, "from the portal").unwrap();
    aws(
        &env,
        &[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{b}/alice/note.txt"),
        ],
    )
    .ok();
    let listed = aws(&env, &["s3", "ls", &format!("s3://{b}/alice/")]).ok();
    assert!(listed.stdout.contains("note.txt"));
    let refused = aws(
        &env,
        &[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{b}/other.txt"),
        ],
    );
    assert!(!refused.status.success() && refused.stderr.contains("AccessDenied"));

    let who = format!("oidc:{}#alice", p.url);
    wait_audit(&s.gw, "the login", |l| {
        l["operation"] == "Login" && l["decision"] == "allow" && l["identity"] == who.as_str()
    });
    wait_audit(&s.gw, "the portal's credentials", |l| {
        l["operation"] == "Portal" && l["decision"] == "allow" && l["identity"] == who.as_str()
    });
}

#[test]
fn configure_then_the_aws_cli_signs_in_through_the_browser_once() {
    needs_testbed!();
    let h = harness();
    let s = shared();
    let p = provider();
    let dir = h.tempdir();
    let config = dir.path().join("aws-config");
    std::fs::write(&config, "[default]\nregion = eu-west-3\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = clean_command(env!("CARGO_BIN_EXE_s3gate"));
    cmd.args([
        "configure",
        "--gateway",
        &portal(&s.gw),
        "--endpoint-url",
        &s.gw.endpoint(),
        "--profile",
        "corp",
    ])
    .args(["--config-file", config.to_str().unwrap()]);
    let out = run(cmd, Duration::from_secs(30)).ok();
    assert!(
        out.stderr.contains("aws --profile corp s3 ls"),
        "{}",
        out.stderr
    );
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "configure keeps the file's permissions");
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(
        written.starts_with("[default]\nregion = eu-west-3\n"),
        "{written}"
    );
    assert!(written.contains(&format!(
        "[profile corp]\ncredential_process = {} credentials sso --gateway {}\nendpoint_url = {}\n",
        env!("CARGO_BIN_EXE_s3gate"),
        portal(&s.gw),
        s.gw.endpoint()
    )));

    // The first aws command has no session: credential_process opens the
    // browser (scripted), which signs in and presses Allow.
    let cache = dir.path().join("cache");
    let script = browser_script(dir.path(), "alice");
    let cache_str = cache.to_str().unwrap();
    let config_str = config.to_str().unwrap();
    let script_str = script.to_str().unwrap();
    let env = [
        ("AWS_CONFIG_FILE", config_str),
        ("XDG_CACHE_HOME", cache_str),
        ("BROWSER", script_str),
    ];
    let b = &s.bucket.name;
    let file = dir.path().join("report.csv");
    std::fs::write(&file, "a,b\n1,2\n").unwrap();
    let key = format!("s3://{b}/alice/{}", unique_name("report"));
    aws(
        &env,
        &[
            "--profile",
            "corp",
            "s3",
            "cp",
            file.to_str().unwrap(),
            &key,
        ],
    )
    .ok();

    // The session is cached, owner-only: the next command needs no browser.
    let cached: Vec<_> = std::fs::read_dir(cache.join("s3gate"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(cached.len(), 1);
    assert_eq!(
        cached[0].metadata().unwrap().permissions().mode() & 0o777,
        0o600
    );
    let no_browser = [
        ("AWS_CONFIG_FILE", config_str),
        ("XDG_CACHE_HOME", cache_str),
        ("BROWSER", "/bin/false"),
    ];
    let back = dir.path().join("back.csv");
    aws(
        &no_browser,
        &[
            "--profile",
            "corp",
            "s3",
            "cp",
            &key,
            back.to_str().unwrap(),
        ],
    )
    .ok();
    assert_eq!(std::fs::read(&back).unwrap(), b"a,b\n1,2\n");

    // Signed out: the cached session is gone, so the next command would
    // have to sign in again (here the browser cannot start: it fails).
    let mut cmd = clean_command(env!("CARGO_BIN_EXE_s3gate"));
    cmd.env("XDG_CACHE_HOME", &cache)
        .args(["logout", "--gateway", &portal(&s.gw)]);
    let out = run(cmd, Duration::from_secs(30)).ok();
    assert!(out.stderr.contains("Signed out"), "{}", out.stderr);
    assert_eq!(std::fs::read_dir(cache.join("s3gate")).unwrap().count(), 0);
    let mut cmd = clean_command(env!("CARGO_BIN_EXE_s3gate"));
    cmd.env("XDG_CACHE_HOME", &cache).args([
        "credentials",
        "sso",
        "--gateway",
        &portal(&s.gw),
        "--timeout",
        "2s",
    ]);
    let out = run(cmd, Duration::from_secs(30));
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("no sign-in within 2s"),
        "{}",
        out.stderr
    );

    let who = format!("oidc:{}#alice", p.url);
    wait_audit(&s.gw, "the CLI's one-time code", |l| {
        l["operation"] == "CliLogin" && l["decision"] == "allow" && l["identity"] == who.as_str()
    });
    wait_audit(&s.gw, "the CLI's credentials", |l| {
        l["operation"] == "CliToken" && l["decision"] == "allow" && l["identity"] == who.as_str()
    });
    wait_audit(&s.gw, "the upload under alice's name", |l| {
        l["api"] == "s3" && l["operation"] == "PutObject" && l["identity"] == who.as_str()
    });
}

#[test]
fn the_device_flow_signs_in_a_terminal_with_a_code_typed_elsewhere() {
    needs_testbed!();
    let h = harness();
    let s = shared();
    let dir = h.tempdir();
    let mut cmd = clean_command(env!("CARGO_BIN_EXE_s3gate"));
    cmd.args(["login", "--device", "--print", "--timeout", "60s"])
        .args(["--gateway", &portal(&s.gw)])
        .args(["--cache-dir", dir.path().to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut shown = String::new();
    let code = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "no code shown: {shown}"
        );
        shown.push_str(&line);
        let t = line.trim();
        if t.len() == 9 && t.as_bytes()[4] == b'-' {
            break t.to_owned();
        }
    };
    assert!(shown.contains("/_s3gate/device"), "{shown}");
    // A link carrying a code (as a phisher would send one) fills nothing
    // in: the person types the code their own terminal shows.
    let done = browser(&[
        "device",
        &format!("{}/_s3gate/device?user_code={code}", portal(&s.gw)),
        &code,
    ]);
    assert!(
        done.contains("prefilled=\n"),
        "the form was pre-filled: {done}"
    );
    // Before approving, the page shows what is approved: this code, when
    // and from where it was asked for, and what the device may then do.
    let shown = done
        .lines()
        .find_map(|l| l.strip_prefix("device="))
        .unwrap_or_else(|| panic!("no approval page: {done}"))
        // As rendered: the headings' case is the stylesheet's.
        .to_lowercase();
    assert!(shown.contains(&code.to_lowercase()), "{shown}");
    assert!(shown.contains("min ago"), "{shown}");
    assert!(shown.contains("from address 127.0.0.1"), "{shown}");
    assert!(shown.contains("program s3gate-cli/"), "{shown}");
    let grants = done
        .lines()
        .find_map(|l| l.strip_prefix("grants="))
        .unwrap_or_else(|| panic!("no grants shown: {done}"));
    assert!(
        grants.contains(&format!("s3://{}/*", s.bucket.name)) && grants.contains("staff-read"),
        "{grants}"
    );
    assert!(done.contains("is signed in"), "{done}");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let creds: Value = serde_json::from_str(out.trim()).unwrap();
    let b = &s.bucket.name;
    let env = [
        ("AWS_ACCESS_KEY_ID", creds["AccessKeyId"].as_str().unwrap()),
        (
            "AWS_SECRET_ACCESS_KEY",
            creds["SecretAccessKey"].as_str().unwrap(),
        ),
        ("AWS_SESSION_TOKEN", creds["SessionToken"].as_str().unwrap()),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ];
    let endpoint = s.gw.endpoint();
    aws(
        &env,
        &[
            "--endpoint-url",
            &endpoint,
            "s3",
            "ls",
            &format!("s3://{b}/"),
        ],
    )
    .ok();
    wait_audit(&s.gw, "the device approval", |l| {
        l["operation"] == "DeviceLogin" && l["decision"] == "allow"
    });
}

/// Serves one loopback callback and returns its query (as `s3gate login`
/// would receive it).
fn catch_callback(listener: std::net::TcpListener) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let page = "<p id=\"message\">caught</p>";
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
            page.len()
        )
        .unwrap();
        line.split(' ').nth(1).unwrap_or("").to_owned()
    })
}

pub fn post_form(url: &str, form: &[(&str, &str)], headers: &[&str]) -> (u16, String) {
    let mut cmd = clean_command("curl");
    cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", "POST"]);
    for (k, v) in form {
        cmd.args(["--data-urlencode", &format!("{k}={v}")]);
    }
    for h in headers {
        cmd.args(["-H", h]);
    }
    cmd.arg(url);
    let out = run(cmd, Duration::from_secs(30)).ok().stdout;
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_owned())
}

/// `s3gate login`'s browser half against `endpoint`: a person signs in and
/// allows the CLI, whose loopback listener catches the one-time code. The
/// code and the PKCE verifier it is bound to.
pub fn one_time_code(endpoint: &str) -> (String, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let caught = catch_callback(listener);
    let verifier = crate::harness::random_alnum(50);
    let challenge = s3gate::login::pkce_challenge(&verifier);
    let state = crate::harness::random_alnum(24);
    let url = format!("{endpoint}/_s3gate/cli?port={port}&state={state}&challenge={challenge}");
    assert!(browser(&["cli", &url]).contains("caught"));
    let query = caught.join().unwrap();
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get("state"), state);
    (get("code"), verifier)
}

#[test]
fn a_one_time_code_buys_credentials_once_and_only_with_its_verifier() {
    needs_testbed!();
    let s = shared();
    let (code, verifier) = one_time_code(&portal(&s.gw));
    let token_url = format!("{}/_s3gate/cli/token", portal(&s.gw));

    let (status, body) = post_form(
        &token_url,
        &[("code", &code), ("code_verifier", "wrong")],
        &[],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("verifier does not match"), "{body}");
    let (status, body) = post_form(
        &token_url,
        &[("code", &code), ("code_verifier", &verifier)],
        &[],
    );
    assert_eq!(status, 200, "{body}");
    let creds: Value = serde_json::from_str(&body).unwrap();
    assert!(creds["AccessKeyId"].as_str().unwrap().starts_with("SGIA"));
    let (status, body) = post_form(
        &token_url,
        &[("code", &code), ("code_verifier", &verifier)],
        &[],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("already used"), "{body}");
    wait_audit(&s.gw, "the replayed code", |l| {
        l["operation"] == "CliToken"
            && l["decision"] == "deny"
            && l["reason"] == "the code was already used"
    });
}

#[test]
fn without_a_signed_in_browser_nothing_is_handed_out() {
    needs_testbed!();
    let s = shared();
    let base = portal(&s.gw);
    // The portal sends a stranger (or a forged cookie) to sign in.
    for cookie in ["", "s3gate_session=AQtrMQ-forged"] {
        let mut cmd = clean_command("curl");
        cmd.args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
        ]);
        if !cookie.is_empty() {
            cmd.args(["-H", &format!("Cookie: {cookie}")]);
        }
        cmd.arg(format!("{base}/_s3gate/"));
        let out = run(cmd, Duration::from_secs(30)).ok().stdout;
        assert_eq!(out, format!("303 {base}/_s3gate/login?next=%2F_s3gate%2F"));
    }
    // Login goes to the provider with PKCE, state and nonce, and seals
    // them into an HttpOnly, SameSite=Lax cookie.
    let mut cmd = clean_command("curl");
    cmd.args(["-sS", "-D", "-", "-o", "/dev/null"])
        .arg(format!("{base}/_s3gate/login?next=https://evil.example/"));
    let headers = run(cmd, Duration::from_secs(30)).ok().stdout;
    let location = headers
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap();
    assert!(
        location.starts_with(&format!("{}/auth?", provider().url)),
        "{location}"
    );
    for part in [
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "client_id=s3gate-portal",
    ] {
        assert!(location.contains(part), "{location}");
    }
    assert!(
        !location.contains(&provider().secret),
        "the client secret stays on the server"
    );
    let cookie = headers
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    // A callback this browser did not start is refused, and audited.
    let mut cmd = clean_command("curl");
    cmd.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{base}/_s3gate/callback?code=abc&state=xyz"));
    assert_eq!(run(cmd, Duration::from_secs(30)).ok().stdout, "400");
    wait_audit(&s.gw, "the stray callback", |l| {
        l["operation"] == "Login" && l["decision"] == "deny" && l["error"] == "InvalidToken"
    });

    // Approving a CLI or a device needs a signed-in browser and a
    // same-origin post.
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let form = [
        ("port", "50000"),
        ("state", "0123456789abcdefXYZ"),
        ("challenge", challenge),
    ];
    let (status, _) = post_form(&format!("{base}/_s3gate/cli"), &form, &[]);
    assert_eq!(status, 403);
    let (status, _) = post_form(
        &format!("{base}/_s3gate/device"),
        &[("user_code", "BCDF-GHJK")],
        &["Origin: https://evil.example"],
    );
    assert_eq!(status, 403);
    wait_audit(&s.gw, "the cross-site approval", |l| {
        l["operation"] == "DeviceLogin"
            && l["decision"] == "deny"
            && l["reason"]
                .as_str()
                .is_some_and(|r| r.contains("Origin `https://evil.example`"))
    });
    // An unapproved device code waits; a forged one is refused.
    let (status, body) = post_form(&format!("{base}/_s3gate/device/start"), &[], &[]);
    assert_eq!(status, 200);
    let start: Value = serde_json::from_str(&body).unwrap();
    assert!(
        start.get("verification_uri_complete").is_none(),
        "no link that carries the code: {start}"
    );
    let device_code = start["device_code"].as_str().unwrap();
    let (status, body) = post_form(
        &format!("{base}/_s3gate/device/token"),
        &[("device_code", device_code)],
        &[],
    );
    assert_eq!(
        (status, body.contains("authorization_pending")),
        (400, true),
        "{body}"
    );
    let (status, body) = post_form(
        &format!("{base}/_s3gate/device/token"),
        &[("device_code", "forged")],
        &[],
    );
    assert_eq!(
        (status, body.contains("invalid_grant")),
        (400, true),
        "{body}"
    );
}

#[test]
fn a_gateway_without_login_has_no_sign_in_pages() {
    needs_testbed!();
    let gw = harness().gw();
    let mut cmd = clean_command("curl");
    cmd.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}/_s3gate/login", gw.endpoint()));
    assert_eq!(run(cmd, Duration::from_secs(30)).ok().stdout, "404");
}

#[test]
fn reserved_portal_pages_answer_405_to_methods_they_do_not_serve() {
    let gw = &shared().gw;
    // The portal's own host (`login.public_url`), where its pages live.
    let host = portal(gw).trim_start_matches("http://").to_owned();
    for (method, page, allow) in [
        ("DELETE", "login", "GET"),
        ("POST", "callback", "GET"),
        ("GET", "logout", "POST"),
        ("PUT", "device", "GET, POST"),
        ("GET", "device/token", "POST"),
    ] {
        let head = format!(
            "{method} /_s3gate/{page} HTTP/1.1\r\nhost: {host}\r\ncontent-length: 0\r\nconnection: close\r\n"
        );
        let resp = crate::sign::send_raw(&gw.endpoint(), &head, b"");
        assert_eq!(resp.status, 405, "{method} /_s3gate/{page}");
        assert_eq!(resp.headers.get("allow").unwrap(), allow, "{page}");
    }
    let head =
        format!("GET /_s3gate/no-such-page HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    assert_eq!(
        crate::sign::send_raw(&gw.endpoint(), &head, b"").status,
        404
    );
}

/// The issue's "done when": a person configures once and copies a file
/// after a browser sign-in; hands an agent a 15-minute, read-only,
/// one-prefix credential with `s3gate grant` (from that same sign-in);
/// sees the agent's requests in the audit log under their own name; and
/// cuts it off with `s3gate revoke`, while their own access goes on.
#[test]
fn a_person_signs_in_once_grants_an_agent_read_access_watches_it_and_revokes_it() {
    needs_testbed!();
    let h = harness();
    let p = provider();
    let bucket = h.bucket("done");
    let b = &bucket.name;
    let dir = h.tempdir();
    let revocations = dir.path().join("revoked.jsonl");
    let policy = format!(
        "[[grant]]\nid = \"team-alice\"\nprincipals = [\"group:team-alice\"]\n\
         actions = [\"read\", \"list\", \"write\"]\nresources = [\"s3://{b}/*\"]\n"
    );
    let gw = login_gateway(
        "gw-done",
        &policy,
        &format!(
            "revocation_file = \"{}\"\nrevocation_poll = \"1s\"\n",
            revocations.display()
        ),
    );
    let endpoint = gw.endpoint();
    let portal = portal(&gw);

    // Once: configure; the first command signs in through the browser.
    let config = dir.path().join("aws-config");
    let mut cmd = clean_command(env!("CARGO_BIN_EXE_s3gate"));
    cmd.args([
        "configure",
        "--gateway",
        &portal,
        "--endpoint-url",
        &endpoint,
    ])
    .args(["--profile", "corp"])
    .args(["--config-file", config.to_str().unwrap()]);
    run(cmd, Duration::from_secs(30)).ok();
    let cache = dir.path().join("cache");
    let script = browser_script(dir.path(), "alice");
    let person = [
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("XDG_CACHE_HOME", cache.to_str().unwrap()),
        ("BROWSER", script.to_str().unwrap()),
    ];
    let file = dir.path().join("q3.csv");
    std::fs::write(&file, "quarter,revenue\nq3,42\n").unwrap();
    let report = format!("s3://{b}/reports/q3.csv");
    let other = format!("s3://{b}/private/notes.txt");
    for dest in [&report, &other] {
        let src = file.to_str().unwrap();
        aws(&person, &["--profile", "corp", "s3", "cp", src, dest]).ok();
    }

    // The grant, from the signed-in session (no AWS_* variables needed).
    let mut cmd = clean_command(env!("CARGO_BIN_EXE_s3gate"));
    cmd.env("XDG_CACHE_HOME", &cache)
        .args(["grant", "--gateway", &portal, "--endpoint-url", &endpoint])
        .args([
            "--read",
            &format!("s3://{b}/reports/"),
            "--ttl",
            "15m",
            "--name",
            "agent-7",
        ]);
    let lines = run(cmd, Duration::from_secs(30)).ok().stdout;
    let vars: Vec<(String, String)> = lines
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches(['\'', '"']).to_owned()))
        .collect();
    let mut agent: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    agent.push(("AWS_DEFAULT_REGION", "us-east-1"));
    agent.push(("AWS_ENDPOINT_URL", &endpoint));
    assert!(
        agent.iter().any(|(k, _)| *k == "AWS_SESSION_TOKEN"),
        "{lines}"
    );

    // The agent reads its prefix, and nothing else.
    let got = aws(&agent, &["s3", "cp", &report, "-"]).ok();
    assert_eq!(got.stdout, "quarter,revenue\nq3,42\n");
    let write = aws(
        &agent,
        &[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{b}/reports/x.csv"),
        ],
    );
    assert!(
        !write.status.success() && write.stderr.contains("AccessDenied"),
        "{}",
        write.stderr
    );
    let elsewhere = aws(&agent, &["s3", "cp", &other, "-"]);
    assert!(!elsewhere.status.success(), "{}", elsewhere.stdout);

    // The audit log shows the agent's reads under alice, through agent-7.
    let alice = format!("oidc:{}#alice", p.url);
    let line = wait_audit(&gw, "the agent's read", |l| {
        l["operation"] == "GetObject"
            && l["decision"] == "allow"
            && l["chain"][1] == format!("delegated:oidc:{}#alice/agent-7", p.url).as_str()
    });
    assert_eq!(line["identity"], alice.as_str());
    assert_eq!(line["chain"][0], alice.as_str());

    // Revoked: the agent is refused within the poll; alice is not.
    let mut cmd = clean_command(env!("CARGO_BIN_EXE_s3gate"));
    cmd.args(["revoke", "--config", gw.config.to_str().unwrap()])
        .args([
            "--identity",
            &format!("delegated:oidc:{}#alice/agent-7", p.url),
            "--reason",
            "task finished",
        ]);
    run(cmd, Duration::from_secs(30)).ok();
    let key = "reports/q3.csv";
    let refused = wait_for(Duration::from_secs(10), || {
        let out = aws(
            &agent,
            &[
                "s3api",
                "get-object",
                "--bucket",
                b,
                "--key",
                key,
                "/dev/null",
            ],
        );
        (!out.status.success()).then_some(out.stderr)
    })
    .expect("the agent is still served after the poll interval");
    assert!(
        refused.contains("AccessDenied") && refused.contains("task finished"),
        "{refused}"
    );
    let mine = aws(&person, &["--profile", "corp", "s3", "cp", &report, "-"]).ok();
    assert_eq!(mine.stdout, "quarter,revenue\nq3,42\n");
}

#[test]
fn cancelling_in_the_browser_stops_the_waiting_cli_at_once() {
    needs_testbed!();
    let h = harness();
    let s = shared();
    let dir = h.tempdir();
    let script = browser_script_clicking(dir.path(), "alice", "cancel");
    let mut cmd = clean_command(env!("CARGO_BIN_EXE_s3gate"));
    cmd.env("BROWSER", &script)
        .args(["login", "--gateway", &portal(&s.gw), "--timeout", "5m"])
        .args(["--cache-dir", dir.path().to_str().unwrap()]);
    // Well within the 5 minutes it would otherwise wait.
    let out = run(cmd, Duration::from_secs(60));
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("refused in the browser"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("sso-"))
            })
            .count(),
        0,
        "nothing cached"
    );
    wait_audit(&s.gw, "the cancelled CLI sign-in", |l| {
        l["operation"] == "CliLogin"
            && l["decision"] == "deny"
            && l["reason"] == "the person cancelled the CLI sign-in"
    });
}

#[test]
fn an_unreachable_identity_provider_gets_a_clear_page_not_a_hang() {
    needs_testbed!();
    let h = harness();
    let dead = format!("http://127.0.0.1:{}", crate::harness::free_port());
    let dir = h.base.join(unique_name("gw-idp-down"));
    std::fs::create_dir_all(&dir).unwrap();
    let keyring = write_keyring(&dir);
    let audit = dir.join("audit.log");
    let port = crate::harness::free_port();
    let text = format!(
        "{}\n[[identity.oidc]]\nissuer = \"{dead}\"\naudiences = [\"s3gate\"]\n\n\
         [login]\nissuer = \"{dead}\"\nclient_id = \"s3gate\"\n\
         public_url = \"http://localhost:{port}\"\ns3_url = \"http://127.0.0.1:{port}\"\n\
         timeout = \"2s\"\n",
        config_text(&h.store.endpoint(), &h.store.creds, &keyring, &audit)
            .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))
    );
    let path = dir.join("s3gate.toml");
    write_private(&path, &text);
    let gw = h.gateway_from(&path);
    let mut cmd = clean_command("curl");
    cmd.args(["-sS", "-w", "\n%{http_code}"])
        .arg(format!("{}/_s3gate/login", portal(&gw)));
    let out = run(cmd, Duration::from_secs(30)).ok().stdout;
    let (page, status) = out.rsplit_once('\n').unwrap();
    assert_eq!(status, "502", "{page}");
    assert!(page.contains("Sign-in unavailable"), "{page}");
    assert!(page.contains("cannot be reached"), "{page}");
    gw.stop();
}
