//! Scale-out: three s3gate instances behave as one service.
//!
//! First stateless (one keyring): the test itself sends request `i` to
//! instance `i % 3`, through a key rotation done the ECS way — change the
//! keyring secret, then replace every task. Then with shared state: three
//! `s3gate serve` processes behind a real HAProxy (Debian's, round-robin,
//! health-checking `/_s3gate/readyz`), sharing moto's DynamoDB table
//! (`[shared] backend = "dynamodb"`) and a revocation file: quotas exact
//! across the three, device and CLI sign-in finished on any instance, a
//! revocation seen by all, a key rotation rolled through the instances
//! one at a time or picked up by the running instances within the keyring
//! poll (a broken keyring file refused by each, the keys kept), and an
//! instance stopped under load losing nothing the balancer sent it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::client::{ChildGuard, boto3_assume_role_with_quota, clean_command, store_put};
use crate::delegation::{child_creds, delegate, metric, revoke};
use crate::harness::{
    Creds, Gateway, bucket_scope, config_text, ensure_policy, free_port, harness, mint_with, moto,
    unique_name, wait_for, write_keyring, write_private,
};
use crate::login::{browser, login_sections, one_time_code, post_form};
use crate::ops::{gateway_config, try_status};
use crate::sign::{Payload, Response, Signing, send_blocking, signed};

fn start_all(configs: &[PathBuf]) -> Vec<Gateway> {
    configs.iter().map(|c| harness().gateway_from(c)).collect()
}

fn stop_all(gws: Vec<Gateway>) {
    for gw in gws {
        gw.stop();
    }
}

fn request(gw: &Gateway, creds: &Creds, method: &str, path: &str, body: &[u8]) -> Response {
    request_to(&gw.endpoint(), creds, method, path, body)
}

/// A SigV4-signed request to `endpoint` (an instance or the balancer).
fn request_to(endpoint: &str, creds: &Creds, method: &str, path: &str, body: &[u8]) -> Response {
    let (req, _) = signed(
        &Signing::now(creds),
        method,
        &format!("{endpoint}{path}"),
        &[],
        Payload::Hash(body),
        body.to_vec(),
    );
    send_blocking(req)
}

/// Round-robin: each session puts one object through each instance and
/// reads every object back through every instance.
fn round_robin(gws: &[Gateway], creds: &Creds, bucket: &str, tag: &str) {
    for (i, gw) in gws.iter().enumerate() {
        let r = request(
            gw,
            creds,
            "PUT",
            &format!("/{bucket}/{tag}-{i}"),
            tag.as_bytes(),
        );
        assert_eq!(r.status, 200, "PUT through instance {i}: {}", r.text());
    }
    for (i, gw) in gws.iter().enumerate() {
        for j in 0..gws.len() {
            let r = request(gw, creds, "GET", &format!("/{bucket}/{tag}-{j}"), b"");
            assert_eq!(
                (r.status, r.body.as_ref()),
                (200, tag.as_bytes()),
                "GET {tag}-{j} through instance {i}: {}",
                r.text()
            );
        }
    }
}

fn rotate(keyring: &Path, id: &str) {
    keyring_cli(keyring, &["rotate", "--id", id]);
}

/// `s3gate keyring COMMAND --file KEYRING ARGS…`, which must succeed.
fn keyring_cli(keyring: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["keyring", args[0], "--file"])
        .arg(keyring)
        .args(&args[1..])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Removes a key from a keyring file, as an operator retiring it would.
fn retire(keyring: &Path, id: &str) {
    let text = std::fs::read_to_string(keyring).unwrap();
    let mut doc: toml::Table = toml::from_str(&text).unwrap();
    let keys = doc.get_mut("keys").unwrap().as_array_mut().unwrap();
    let before = keys.len();
    keys.retain(|k| k.get("id").and_then(|v| v.as_str()) != Some(id));
    assert_eq!(keys.len(), before - 1, "no key {id} in the keyring");
    crate::harness::write_private(keyring, &toml::to_string(&doc).unwrap());
}

#[test]
fn three_instances_sharing_a_keyring_serve_any_session_through_a_key_rotation() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("scaleout");
    let dir = h.tempdir();
    let keyring = write_keyring(dir.path());
    let configs: Vec<PathBuf> = (0..3)
        .map(|i| {
            let d = dir.path().join(format!("instance{i}"));
            std::fs::create_dir_all(&d).unwrap();
            gateway_config(&d, &keyring, "")
        })
        .collect();
    let scope = bucket_scope("*", &bucket.name);

    let gws = start_all(&configs);
    // Minted once (through instance 0's config), accepted by all three.
    let old = mint_with(&configs[0], "alice", &scope, "1h");
    round_robin(&gws, &old, &bucket.name, "before");
    // Each instance audited its own share of the traffic.
    for gw in &gws {
        let lines = crate::audit::audit_lines_once(gw, |ls| {
            ls.iter().any(|l| l["identity"] == "user:alice")
        });
        assert!(
            lines.iter().any(|l| l["identity"] == "user:alice"),
            "{lines:?}"
        );
    }

    // Rotation: a new key is added (the old one kept) and every task is
    // replaced. Live sessions keep working; new ones are sealed by k2.
    rotate(&keyring, "k2");
    stop_all(gws);
    let gws = start_all(&configs);
    let new = mint_with(&configs[1], "bob", &scope, "1h");
    round_robin(&gws, &old, &bucket.name, "during-old");
    round_robin(&gws, &new, &bucket.name, "during-new");

    // Retiring the old key ends the sessions it sealed, on every instance.
    retire(&keyring, "k1");
    stop_all(gws);
    let gws = start_all(&configs);
    for (i, gw) in gws.iter().enumerate() {
        let r = request(gw, &old, "GET", &format!("/{}/before-0", bucket.name), b"");
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidToken"),
            "old session through instance {i}: {}",
            r.text()
        );
    }
    round_robin(&gws, &new, &bucket.name, "after");
    stop_all(gws);
}

// ---------------------------------------------------------------------------
// Behind a real balancer, with shared state.

/// One `s3gate serve` process of a [`Cluster`].
struct Instance {
    port: u16,
    config: PathBuf,
    audit: PathBuf,
    process: ChildGuard,
}

impl Instance {
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn audit_lines(&self) -> Vec<Value> {
        crate::common::client::audit_file_lines(&self.audit)
    }

    /// What the process logged (for a failing assertion's message).
    fn log(&self) -> String {
        std::fs::read_to_string(self.config.with_file_name("stderr")).unwrap_or_default()
    }
}

/// Three `s3gate serve` processes behind HAProxy round-robin, sharing a
/// keyring, a revocation file and moto's DynamoDB table; their upstream
/// is the harness's embedded store.
struct Cluster {
    instances: Vec<Instance>,
    keyring: PathBuf,
    lb_port: u16,
    _haproxy: ChildGuard,
    _dir: tempfile::TempDir,
}

/// Debian's HAProxy (`tests/run` installs it).
fn haproxy_bin() -> &'static str {
    ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("haproxy is not installed (tests/run installs Debian's haproxy)")
}

/// HAProxy on config `cfg` (written into `dir`, its log beside it), once
/// it answers `/_s3gate/healthz` on `127.0.0.1:{port}`.
pub(crate) fn haproxy(dir: &Path, cfg: &str, port: u16) -> ChildGuard {
    let cfg_path = dir.join("haproxy.cfg");
    std::fs::write(&cfg_path, cfg).unwrap();
    let haproxy = ChildGuard(
        clean_command(haproxy_bin())
            .args(["-db", "-f"])
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("haproxy.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let lb_addr = format!("127.0.0.1:{port}");
    wait_for(Duration::from_secs(10), || {
        (try_status(&lb_addr, "healthz") == Some(200)).then_some(())
    })
    .expect("haproxy never answered");
    haproxy
}

/// `s3gate serve --config CONFIG`, its stderr beside the config.
fn serve(config: &Path) -> ChildGuard {
    let m = moto();
    // s3gate's own AWS identity for DynamoDB: the default chain, here the
    // moto IAM user's keys in the environment.
    let process = clean_command(env!("CARGO_BIN_EXE_s3gate"))
        .args(["serve", "--config"])
        .arg(config)
        .env("AWS_ACCESS_KEY_ID", &m.creds.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &m.creds.secret_access_key)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(config.with_file_name("stderr")).unwrap())
        .spawn()
        .unwrap();
    ChildGuard(process)
}

impl Instance {
    /// Starts `s3gate serve` in `dir` (its own folder) on a free port,
    /// sharing `keyring` and `revocations`, its state in `shared` (a
    /// `[shared]` section), with `extra` appended to its config; waits until
    /// it is ready.
    fn start(
        dir: &Path,
        keyring: &Path,
        revocations: &Path,
        shared: &str,
        extra: &str,
    ) -> Instance {
        let h = harness();
        std::fs::create_dir_all(dir).unwrap();
        ensure_policy(dir);
        let port = free_port();
        let audit = dir.join("audit.log");
        let text = config_text(&h.store.endpoint(), &h.store.creds, keyring, &audit)
            .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))
            .replace(
                "[session]\n",
                &format!(
                    "[session]\nrevocation_file = \"{}\"\nrevocation_poll = \"1s\"\n\
                     keyring_poll = \"1s\"\n",
                    revocations.display()
                ),
            );
        let text = format!(
            "{text}\n[server]\nshutdown_delay = \"1s\"\ndrain_timeout = \"30s\"\n\n{shared}\n{extra}"
        );
        let config = dir.join("s3gate.toml");
        write_private(&config, &text);
        let instance = Instance {
            port,
            process: serve(&config),
            config,
            audit,
        };
        instance.wait_ready();
        instance
    }

    /// A replacement process on the same config and port (a task replaced).
    fn restart(&mut self) {
        self.process = serve(&self.config);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let addr = format!("127.0.0.1:{}", self.port);
        wait_for(Duration::from_secs(20), || {
            (try_status(&addr, "readyz") == Some(200)).then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "{} never became ready: {}",
                self.config.display(),
                self.log()
            )
        });
    }

    /// SIGTERM, then its exit status once it has drained.
    fn stop(&mut self) -> std::process::ExitStatus {
        let kill = Command::new("kill")
            .args(["-TERM", &self.process.0.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        wait_for(Duration::from_secs(60), || {
            self.process.0.try_wait().unwrap()
        })
        .expect("an instance never exited after SIGTERM")
    }
}

/// `[shared]` on moto's DynamoDB table (at `endpoint`), leasing quota
/// blocks of 2, so an instance leases several times per test.
fn dynamodb_section(endpoint: &str) -> String {
    format!(
        "[shared]\nbackend = \"dynamodb\"\ntable = \"{}\"\nendpoint_url = \"{endpoint}\"\n\
         region = \"us-east-1\"\nquota_block = 2\n",
        moto().shared_table
    )
}

impl Cluster {
    /// Starts the three instances (`extra` appended to each config, given
    /// the balancer's URL), each once ready, then the balancer.
    fn start(extra: impl Fn(&str) -> String) -> Cluster {
        let h = harness();
        let dir = h.tempdir();
        let keyring = write_keyring(dir.path());
        let revocations = dir.path().join("revocations.jsonl");
        let lb_port = free_port();
        let extra = extra(&format!("http://127.0.0.1:{lb_port}"));
        let shared = dynamodb_section(&moto().endpoint);
        let instances: Vec<Instance> = (0..3)
            .map(|i| {
                let d = dir.path().join(format!("instance{i}"));
                Instance::start(&d, &keyring, &revocations, &shared, &extra)
            })
            .collect();
        let servers: String = instances
            .iter()
            .enumerate()
            .map(|(i, inst)| format!("    server s{i} 127.0.0.1:{} check\n", inst.port))
            .collect();
        // Round-robin per request; a fresh server connection per request
        // (http-server-close), so a refused connect is retried on another
        // instance (retries + redispatch), as an ALB does for a target that
        // left; readyz decides who is in rotation.
        let cfg = format!(
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 60s\n\
             \x20   timeout server 60s\n    retries 3\n    option redispatch 1\n\
             \x20   option http-server-close\n\n\
             frontend s3gate\n    bind 127.0.0.1:{lb_port}\n    default_backend instances\n\n\
             backend instances\n    balance roundrobin\n    option httpchk GET /_s3gate/readyz\n\
             \x20   http-check expect status 200\n\
             \x20   default-server inter 200ms fall 1 rise 1\n{servers}"
        );
        let haproxy = haproxy(dir.path(), &cfg, lb_port);
        Cluster {
            instances,
            keyring,
            lb_port,
            _haproxy: haproxy,
            _dir: dir,
        }
    }

    /// The balancer's URL: what clients use.
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.lb_port)
    }

    /// How many audit lines of each instance `pred` matches, once their
    /// sum reaches `total` (records are written after their responses, in
    /// batches), or as they are after `AUDIT_WAIT`.
    fn audited(&self, total: usize, pred: impl Fn(&Value) -> bool) -> Vec<usize> {
        let deadline = std::time::Instant::now() + crate::common::client::AUDIT_WAIT;
        loop {
            let counts: Vec<usize> = self
                .instances
                .iter()
                .map(|i| i.audit_lines().iter().filter(|l| pred(l)).count())
                .collect();
            if counts.iter().sum::<usize>() >= total || std::time::Instant::now() >= deadline {
                return counts;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// A child session of `parent` with `quota` (STS form, e.g.
/// `MaxRequests=7`), obtained through `endpoint`.
fn quota_child(endpoint: &str, parent: &Creds, quota: &str) -> Creds {
    let out = boto3_assume_role_with_quota(endpoint, parent, "agent-q", None, None, quota).ok();
    child_creds(&serde_json::from_str(out.stdout.trim()).unwrap())
}

#[test]
fn behind_haproxy_a_quota_is_exact_across_three_instances_and_a_revocation_reaches_all() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("scale-quota");
    store_put(&bucket.name, "in/a.txt", b"inside");
    let cluster = Cluster::start(|_| String::new());
    let lb = cluster.endpoint();
    let parent = mint_with(
        &cluster.instances[0].config,
        &unique_name("alice"),
        &bucket_scope("*", &bucket.name),
        "1h",
    );
    let child = quota_child(&lb, &parent, "MaxRequests=7");

    // Three times the quota, round-robin over three instances: each alone
    // would allow 7, so per-instance counting would serve all 21.
    let path = format!("/{}/in/a.txt", bucket.name);
    let answers: Vec<Response> = (0..21)
        .map(|_| request_to(&lb, &child, "GET", &path, b""))
        .collect();
    let served = answers.iter().filter(|r| r.status == 200).count();
    let texts: Vec<String> = answers.iter().map(Response::text).collect();
    assert_eq!(
        served,
        7,
        "served {served} of a quota of 7: {texts:?}\n{}",
        cluster.instances[0].log()
    );
    for r in answers.iter().filter(|r| r.status != 200) {
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AccessDenied"),
            "{}",
            r.text()
        );
        assert!(r.text().contains("7 of 7 requests used"), "{}", r.text());
    }
    // The balancer spread them: every instance served and refused some.
    let is_child = |l: &Value| l["access_key_id"] == child.access_key_id.as_str();
    let allowed = cluster.audited(7, |l| {
        is_child(l) && l["operation"] == "GetObject" && l["decision"] == "allow"
    });
    assert!(
        allowed.iter().all(|&n| n > 0),
        "served per instance: {allowed:?}"
    );
    assert_eq!(allowed.iter().sum::<usize>(), 7, "{allowed:?}");
    let refused = cluster.audited(14, |l| is_child(l) && l["decision"] == "deny");
    assert!(
        refused.iter().all(|&n| n > 0),
        "refused per instance: {refused:?}"
    );

    // A revocation written once is seen by every instance within the poll.
    let session_id = wait_for(crate::common::client::AUDIT_WAIT, || {
        cluster
            .instances
            .iter()
            .flat_map(Instance::audit_lines)
            .find(|l| l["access_key_id"] == parent.access_key_id.as_str())
    })
    .and_then(|l| l["session_id"].as_str().map(str::to_owned))
    .expect("no audit line names the parent's session");
    assert_eq!(request_to(&lb, &parent, "GET", &path, b"").status, 200);
    revoke(
        &cluster.instances[1].config,
        &["--session", &session_id, "--reason", "scale-out test"],
    )
    .ok();
    for (i, inst) in cluster.instances.iter().enumerate() {
        let refused = wait_for(Duration::from_secs(10), || {
            let r = request_to(&inst.endpoint(), &parent, "GET", &path, b"");
            (r.status == 403).then_some(r)
        })
        .unwrap_or_else(|| panic!("instance {i} still serves a revoked session"));
        assert!(
            refused.text().contains("scale-out test"),
            "{}",
            refused.text()
        );
    }
}

/// Credentials from a sign-in's JSON answer.
fn signed_in(body: &str) -> Creds {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    Creds {
        access_key_id: v["AccessKeyId"].as_str().unwrap().to_owned(),
        secret_access_key: v["SecretAccessKey"].as_str().unwrap().to_owned(),
        session_token: v["SessionToken"].as_str().map(str::to_owned),
    }
}

#[test]
fn behind_haproxy_sign_ins_finish_on_any_instance_and_a_code_is_traded_once() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("scale-login");
    store_put(&bucket.name, "a.txt", b"inside");
    // The portal on the balancer's address under the name `localhost`, S3
    // under `127.0.0.1`: two origins, as the portal requires.
    let portal_of = |lb: &str| lb.replace("127.0.0.1", "localhost");
    let cluster = Cluster::start(|lb| login_sections(&portal_of(lb), lb));
    let lb = cluster.endpoint();
    let portal = portal_of(&lb);
    // Straight to one instance, as the balancer would send it: with the
    // portal's Host, which is what the instance serves the portal on.
    let portal_host = format!("Host: {}", portal.trim_start_matches("http://"));
    let token_at =
        |i: usize, what: &str| format!("{}/_s3gate/{what}", cluster.instances[i].endpoint());

    // Device sign-in, started and approved through the balancer.
    let (status, body) = post_form(&format!("{portal}/_s3gate/device/start"), &[], &[]);
    assert_eq!(status, 200, "{body}");
    let start: Value = serde_json::from_str(&body).unwrap();
    let device_code = start["device_code"].as_str().unwrap();
    let user_code = start["user_code"].as_str().unwrap();
    let done = browser(&["device", &format!("{portal}/_s3gate/device"), user_code]);
    assert!(done.contains("is signed in"), "{done}");
    let approvals = cluster.audited(1, |l| {
        l["operation"] == "DeviceLogin" && l["decision"] == "allow"
    });
    let approver = approvals
        .iter()
        .position(|&n| n == 1)
        .unwrap_or_else(|| panic!("approvals per instance: {approvals:?}"));
    // The first poll, on an instance that did not record the approval,
    // finishes the sign-in.
    let other = (approver + 1) % 3;
    let (status, body) = post_form(
        &token_at(other, "device/token"),
        &[("device_code", device_code)],
        &[&portal_host],
    );
    assert_eq!(
        status, 200,
        "poll on instance {other} (approved on {approver}): {body}"
    );
    let device = signed_in(&body);
    let r = request_to(&lb, &device, "GET", &format!("/{}/a.txt", bucket.name), b"");
    assert_eq!(
        (r.status, r.body.as_ref()),
        (200, b"inside".as_ref()),
        "{}",
        r.text()
    );
    // Handed out once: the instance that recorded it has nothing left.
    let (status, body) = post_form(
        &token_at(approver, "device/token"),
        &[("device_code", device_code)],
        &[&portal_host],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("authorization_pending"), "{body}");

    // CLI sign-in: the one-time code, traded on one instance, is refused
    // when replayed to each of the others.
    let (code, verifier) = one_time_code(&portal);
    let form = [
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, body) = post_form(&token_at(0, "cli/token"), &form, &[&portal_host]);
    assert_eq!(status, 200, "{body}");
    signed_in(&body);
    for i in [1, 2] {
        let (status, body) = post_form(&token_at(i, "cli/token"), &form, &[&portal_host]);
        assert_eq!(status, 400, "replayed to instance {i}: {body}");
        assert!(
            body.contains("already used"),
            "replayed to instance {i}: {body}"
        );
    }
}

#[test]
fn an_unreachable_shared_table_refuses_quotad_requests_and_sign_ins_but_nothing_else() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("scale-down");
    store_put(&bucket.name, "in/a.txt", b"inside");
    let dir = h.tempdir();
    let keyring = write_keyring(dir.path());
    // Nothing listens there: every call to the table fails to connect.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let instance = Instance::start(
        &dir.path().join("instance"),
        &keyring,
        &dir.path().join("revocations.jsonl"),
        &dynamodb_section(&closed),
        &login_sections("http://localhost:9", "http://127.0.0.1:9"),
    );
    let endpoint = instance.endpoint();
    let parent = mint_with(
        &instance.config,
        &unique_name("alice"),
        &bucket_scope("*", &bucket.name),
        "1h",
    );
    let path = format!("/{}/in/a.txt", bucket.name);
    // Without a quota nothing needs the table.
    assert_eq!(
        request_to(&endpoint, &parent, "GET", &path, b"").status,
        200
    );
    let child = quota_child(&endpoint, &parent, "MaxRequests=5");
    let r = request_to(&endpoint, &child, "GET", &path, b"");
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "ServiceUnavailable"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("quota cannot be checked"), "{}", r.text());
    // Device sign-in: the code is sealed, so it starts; a poll cannot
    // read approvals, and says so.
    // The portal is served on its own host only (`localhost:9` here).
    let (status, body) = post_form(
        &format!("{endpoint}/_s3gate/device/start"),
        &[],
        &["Host: localhost:9"],
    );
    assert_eq!(status, 200, "{body}");
    let start: Value = serde_json::from_str(&body).unwrap();
    let (status, body) = post_form(
        &format!("{endpoint}/_s3gate/device/token"),
        &[("device_code", start["device_code"].as_str().unwrap())],
        &["Host: localhost:9"],
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("temporarily_unavailable"), "{body}");
    assert!(body.contains("device sign-in is unavailable"), "{body}");
    // Operators see it in the metrics (and the log says why).
    let (status, metrics) =
        crate::client::curl("GET", &format!("{endpoint}/_s3gate/metrics"), None);
    assert_eq!(status, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("s3gate_shared_state_calls_total{result=\"error\"} 2"),
        "{metrics}"
    );
    assert!(
        instance.log().contains("quota lease failed")
            && instance.log().contains("Connection refused"),
        "{}",
        instance.log()
    );
}

#[test]
fn behind_haproxy_an_instance_stopped_under_load_loses_no_request() {
    needs_testbed!();
    const CLIENTS: usize = 4;
    const EACH: usize = 25;
    let h = harness();
    let bucket = Arc::new(h.bucket("scale-drain"));
    let mut cluster = Cluster::start(|_| String::new());
    let lb = cluster.endpoint();
    let creds = Arc::new(mint_with(
        &cluster.instances[0].config,
        &unique_name("loader"),
        &bucket_scope("*", &bucket.name),
        "1h",
    ));
    let body = |c: usize, k: usize| format!("{c}-{k}:").repeat(4096).into_bytes();
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (lb, creds, bucket, done) =
                (lb.clone(), creds.clone(), bucket.clone(), done.clone());
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|k| {
                        let path = format!("/{}/load/{c}-{k}", bucket.name);
                        let r = request_to(&lb, &creds, "PUT", &path, &body(c, k));
                        done.fetch_add(1, Ordering::SeqCst);
                        (path, r.status, r.text())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    // Under load: a fifth of the requests answered, SIGTERM to instance 1.
    wait_for(Duration::from_secs(60), || {
        (done.load(Ordering::SeqCst) >= CLIENTS * EACH / 5).then_some(())
    })
    .expect("the load never got going");
    let stopped = &mut cluster.instances[1];
    let exit = stopped.stop();
    let answers: Vec<(String, u16, String)> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert_eq!(answers.len(), CLIENTS * EACH);
    for (path, status, text) in &answers {
        assert_eq!(*status, 200, "PUT {path}: {text}");
    }

    assert_eq!(exit.code(), Some(0), "{}", stopped.log());
    // Every request it was sent, it answered: each PUT it audited was
    // stored, and it was sent some.
    let puts: Vec<Value> = stopped
        .audit_lines()
        .into_iter()
        .filter(|l| l["operation"] == "PutObject")
        .collect();
    assert!(!puts.is_empty(), "instance 1 was sent nothing");
    assert!(puts.iter().all(|l| l["status"] == 200), "{puts:?}");
    // Every object is there, byte-exact, read back through the balancer.
    for c in 0..CLIENTS {
        for k in 0..EACH {
            let r = request_to(
                &lb,
                &creds,
                "GET",
                &format!("/{}/load/{c}-{k}", bucket.name),
                b"",
            );
            assert_eq!(r.status, 200, "{}", r.text());
            assert!(
                r.body.as_ref() == body(c, k).as_slice(),
                "load/{c}-{k} differs"
            );
        }
    }
}

#[test]
fn behind_haproxy_a_key_rotation_rolls_through_the_instances_without_a_failed_request() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("scale-rotate");
    store_put(&bucket.name, "a.txt", b"inside");
    let mut cluster = Cluster::start(|_| String::new());
    let lb = cluster.endpoint();
    let path = format!("/{}/a.txt", bucket.name);
    let scope = bucket_scope("*", &bucket.name);
    let old = mint_with(&cluster.instances[0].config, "alice", &scope, "1h");
    let served = |creds: &Creds, endpoint: &str| {
        let r = request_to(endpoint, creds, "GET", &path, b"");
        assert_eq!(
            (r.status, r.body.as_ref()),
            (200, b"inside".as_ref()),
            "{}",
            r.text()
        );
    };
    // The ECS way: a new key in the keyring, then every task replaced,
    // one at a time. While one is down the balancer serves from the others.
    rotate(&cluster.keyring, "k2");
    for i in 0..cluster.instances.len() {
        let exit = cluster.instances[i].stop();
        assert_eq!(exit.code(), Some(0), "{}", cluster.instances[i].log());
        for _ in 0..6 {
            served(&old, &lb);
        }
        cluster.instances[i].restart();
    }
    // Sealed by the new key through one instance's config, accepted by all,
    // as the old key's sessions still are.
    let new = mint_with(&cluster.instances[2].config, "bob", &scope, "1h");
    for inst in &cluster.instances {
        served(&old, &inst.endpoint());
        served(&new, &inst.endpoint());
    }
}

/// The id of the key that sealed a session: the token's envelope header
/// (version, key-id length, key id) is in clear, as an operator reads it.
fn sealed_by(creds: &Creds) -> String {
    use base64::Engine as _;
    let token = creds.session_token.as_deref().unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .unwrap();
    let len = usize::from(raw[1]);
    String::from_utf8(raw[2..2 + len].to_vec()).unwrap()
}

#[test]
fn behind_haproxy_a_keyring_rotation_reaches_every_running_instance_within_the_poll() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("scale-keyring");
    store_put(&bucket.name, "a.txt", b"inside");
    let cluster = Cluster::start(|_| String::new());
    let lb = cluster.endpoint();
    let path = format!("/{}/a.txt", bucket.name);
    let scope = bucket_scope("*", &bucket.name);
    let served = |creds: &Creds, endpoint: &str, what: &str| {
        let r = request_to(endpoint, creds, "GET", &path, b"");
        assert_eq!(
            (r.status, r.body.as_ref()),
            (200, b"inside".as_ref()),
            "{what} through {endpoint}: {}",
            r.text()
        );
    };
    let old = mint_with(&cluster.instances[0].config, "alice", &scope, "1h");
    let old_child = delegate(&cluster.instances[1].endpoint(), &old, "before");
    assert_eq!(
        (sealed_by(&old), sealed_by(&old_child)),
        ("k1".into(), "k1".into())
    );

    // The shared file rotated under the three running instances: none is
    // restarted. Each, within its poll, seals what it mints with k2.
    rotate(&cluster.keyring, "k2");
    let rotated = std::fs::read_to_string(&cluster.keyring).unwrap();
    let minted_after: Vec<Creds> = cluster
        .instances
        .iter()
        .map(|inst| {
            wait_for(Duration::from_secs(30), || {
                let child = delegate(&inst.endpoint(), &old, "after");
                (sealed_by(&child) == "k2").then_some(child)
            })
            .unwrap_or_else(|| panic!("{} never sealed with k2: {}", inst.endpoint(), inst.log()))
        })
        .collect();
    let everyone = |when: &str| {
        for inst in &cluster.instances {
            let at = inst.endpoint();
            served(&old, &at, &format!("{when}: the k1 session"));
            served(&old_child, &at, &format!("{when}: the k1 child"));
            for (i, new) in minted_after.iter().enumerate() {
                served(
                    new,
                    &at,
                    &format!("{when}: the k2 child minted on instance {i}"),
                );
            }
        }
        for new in &minted_after {
            served(
                new,
                &lb,
                &format!("{when}: a k2 child through the balancer"),
            );
        }
    };
    everyone("after the rotation");

    // A broken file (not a keyring, then empty) is refused by each
    // instance, counted, and the keys in force stay: everything is served,
    // and new sessions are still sealed with k2.
    for (n, broken) in [(1, "{\"keys\": \"not toml\"}\n"), (2, "")] {
        write_private(&cluster.keyring, broken);
        for inst in &cluster.instances {
            let errors = "s3gate_keyring_reloads_total{result=\"error\"}";
            wait_for(Duration::from_secs(30), || {
                (metric(&inst.endpoint(), errors) == Some(n)).then_some(())
            })
            .unwrap_or_else(|| {
                panic!(
                    "{} never refused {broken:?}: {}",
                    inst.endpoint(),
                    inst.log()
                )
            });
            assert!(
                inst.log()
                    .contains("keyring reload refused; keeping the current keyring"),
                "{}",
                inst.log()
            );
            assert_eq!(sealed_by(&delegate(&inst.endpoint(), &old, "broken")), "k2");
        }
        everyone(&format!("with the broken keyring {broken:?}"));
    }
    // The file mended: one more good reload on each, nothing lost.
    write_private(&cluster.keyring, &rotated);
    let reloaded = |n: u64, what: &str| {
        for inst in &cluster.instances {
            let reloads = "s3gate_keyring_reloads_total{result=\"ok\"}";
            wait_for(Duration::from_secs(30), || {
                (metric(&inst.endpoint(), reloads) == Some(n)).then_some(())
            })
            .unwrap_or_else(|| panic!("{} never reloaded {what}", inst.endpoint()));
        }
    };
    reloaded(2, "the mended file");
    everyone("after the file is mended");

    // A staged rotation: k3 opens everywhere before anyone mints with it.
    keyring_cli(&cluster.keyring, &["rotate", "--staged", "--id", "k3"]);
    reloaded(3, "the staged key");
    for inst in &cluster.instances {
        let child = delegate(&inst.endpoint(), &old, "staged");
        assert_eq!(sealed_by(&child), "k2", "a staged key does not mint");
    }
    keyring_cli(&cluster.keyring, &["promote", "--id", "k3"]);
    reloaded(4, "the promoted key");
    let promoted: Vec<Creds> = cluster
        .instances
        .iter()
        .map(|inst| delegate(&inst.endpoint(), &old, "promoted"))
        .collect();
    for (i, new) in promoted.iter().enumerate() {
        assert_eq!(sealed_by(new), "k3", "minted on instance {i}");
        for inst in &cluster.instances {
            served(
                new,
                &inst.endpoint(),
                &format!("the k3 child of instance {i}"),
            );
        }
    }
    everyone("after the staged rotation");
}
