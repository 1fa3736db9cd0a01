//! The shared testbed: servers started once per test process and reached
//! by every test through [`harness()`] and [`moto()`].
//!
//! The in-process servers (the embedded store and the gateways) run on a
//! dedicated multi-thread tokio runtime owned by a `static`, so they outlive
//! the test that happened to start them. Tests are plain `#[test]` functions
//! and use [`Harness::block_on`] for async work. moto is a separate process
//! started by `tests/run`; its address comes from `S3GATE_TEST_MOTO`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use crate::common::config::{
    Creds, OPEN_POLICY, REGION, VIRTUAL_HOST_DOMAIN, config_text, write_keyring, write_private,
};
pub use crate::common::ports::free_port;
pub use crate::common::random::{
    random_alnum, random_bytes, random_upper, sha256_hex, unique_name,
};

/// The verifying upstream: s3gate's embedded store.
pub struct Store {
    pub addr: SocketAddr,
    pub root: PathBuf,
    pub creds: Creds,
}

impl Store {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// An s3gate instance running in the harness runtime.
pub struct Gateway {
    pub addr: SocketAddr,
    /// The config file it was started from (`session mint --config` reads it).
    pub config: PathBuf,
    /// Its audit output file.
    pub audit: PathBuf,
    /// Its policy file (watched: rewrite it to change the policy).
    pub policy: PathBuf,
    _running: Mutex<s3gate::server::Running>,
}

impl Gateway {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts this gateway down (drains its connections) and waits.
    pub fn stop(self) {
        let running = self._running.into_inner().unwrap();
        harness().block_on(running.shutdown());
    }
}

pub struct Harness {
    rt: tokio::runtime::Runtime,
    /// Per-process scratch folder (configs, keyrings, audit files, store root).
    pub base: PathBuf,
    /// `$HOME` for the CLI clients, so no user config leaks into a test.
    pub home: PathBuf,
    pub venv: PathBuf,
    pub store: Store,
    /// s3gate in front of [`Harness::store`], started on first use (so the
    /// store-only checks run even when the gateway cannot start).
    gw: OnceLock<Gateway>,
    /// A config naming a keyring the gateways do not hold: sessions minted
    /// with it are foreign.
    pub foreign_config: PathBuf,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

/// The shared harness, started by the first test that asks for it.
pub fn harness() -> &'static Harness {
    HARNESS.get_or_init(Harness::start)
}

/// What `tests/run` exports: where moto, the OpenID Provider, its client
/// secret, the npm packages and the Python venv are.
const TESTBED_VARS: [&str; 5] = [
    "S3GATE_TEST_VENV",
    "S3GATE_TEST_MOTO",
    "S3GATE_TEST_OIDC",
    "S3GATE_TEST_OIDC_SECRET",
    "S3GATE_TEST_NODE",
];

/// Whether the testbed is here. Without it, outside CI a test is skipped
/// (so plain `cargo test` passes on a machine with nothing installed), and
/// the run says so once; in CI (`CI` set) the test fails, since there a
/// skipped tier would pass unseen.
pub fn testbed_present() -> bool {
    let missing: Vec<&str> = TESTBED_VARS
        .into_iter()
        .filter(|v| std::env::var_os(v).is_none_or(|s| s.is_empty()))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    assert!(
        !ci,
        "{} not set while CI is: the real-client tests must run in CI, through `tests/run`",
        missing.join(", ")
    );
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        // Straight to stderr: libtest hides what a passing test prints.
        let _ = writeln!(
            std::io::stderr(),
            "e2e: {} not set: skipping the tests that need the testbed (moto, the OpenID \
             Provider, the aws CLI, boto3, ...); `tests/run` installs it and runs them all",
            missing.join(", ")
        );
    });
    println!("skipped: needs the testbed");
    false
}

pub fn testbed_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the end-to-end tests with `tests/run`, which installs \
             the testbed (moto, awscli, boto3, rclone, s3cmd) and exports it; a test that \
             needs the testbed opens with `needs_testbed!();`, so that plain `cargo test` \
             skips it instead"
        )
    })
}

impl Harness {
    fn start() -> Self {
        // As main.rs does: ring and aws-lc-rs are both linked in, and the
        // gateway's outbound TLS clients need one chosen.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let venv = PathBuf::from(testbed_var("S3GATE_TEST_VENV"));
        assert!(
            venv.join("bin/aws").exists(),
            "no aws CLI in S3GATE_TEST_VENV={}: run `tests/run`",
            venv.display()
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name("e2e-servers")
            .enable_all()
            .build()
            .expect("harness runtime");

        let base = scratch_dir();
        let home = base.join("home");
        std::fs::create_dir_all(&home).unwrap();

        // (a) the store, with keys of its own that only the gateway and the
        // tests' direct checks know.
        let root = base.join("store");
        std::fs::create_dir_all(&root).unwrap();
        let store_creds = Creds {
            access_key_id: format!("STORE{}", random_upper(15)),
            secret_access_key: random_alnum(40),
            session_token: None,
        };
        let (addr, _store_task) = rt
            .block_on(s3gate::dev::start_store(
                "127.0.0.1:0".parse().unwrap(),
                &root,
                &store_creds.access_key_id,
                &store_creds.secret_access_key,
            ))
            .expect("start the embedded store");
        let store = Store {
            addr,
            root,
            creds: store_creds,
        };

        let foreign_dir = base.join("foreign");
        std::fs::create_dir_all(&foreign_dir).unwrap();
        let foreign_config = write_config(
            &foreign_dir,
            &store.endpoint(),
            &store.creds,
            &write_keyring(&foreign_dir),
            &foreign_dir.join("audit.log"),
            "",
        );

        Harness {
            rt,
            base,
            home,
            venv,
            store,
            gw: OnceLock::new(),
            foreign_config,
        }
    }

    /// Runs async work (SDK calls, hand-crafted requests) on the harness runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Runs a server-side task (a relay, a fake peer) on the harness runtime.
    pub fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.rt.spawn(f)
    }

    /// (b) the gateway in front of the store.
    pub fn gw(&self) -> &Gateway {
        self.gw.get_or_init(|| {
            start_gateway(
                &self.rt,
                &self.base,
                "gw",
                &self.store.endpoint(),
                &self.store.creds,
                None,
            )
        })
    }

    /// Another gateway in front of the store, auditing to `audit`.
    pub fn extra_gateway(&self, name: &str, audit: &Path) -> Gateway {
        let name = unique_name(name);
        start_gateway(
            &self.rt,
            &self.base,
            &name,
            &self.store.endpoint(),
            &self.store.creds,
            Some(audit),
        )
    }

    /// A gateway from a config file the test wrote (see [`config_text`]);
    /// its folder gets [`OPEN_POLICY`] unless it has a policy already.
    pub fn gateway_from(&self, config_path: &Path) -> Gateway {
        let policy = ensure_policy(config_path.parent().unwrap());
        let config = s3gate::config::Config::load(config_path)
            .unwrap_or_else(|e| panic!("gateway config {}: {e}", config_path.display()));
        let audit = match &config.audit.output {
            s3gate::config::AuditOutput::File(p) => p.clone(),
            _ => PathBuf::new(),
        };
        run_gateway(&self.rt, config_path.to_owned(), audit, policy)
    }

    /// A gateway in front of the store deciding by `policy` (TOML text),
    /// auditing to its own file.
    pub fn policy_gateway(&self, name: &str, policy: &str) -> Gateway {
        self.policy_gateway_with(name, policy, "")
    }

    /// [`Harness::policy_gateway`] whose config ends with `extra`.
    pub fn policy_gateway_with(&self, name: &str, policy: &str, extra: &str) -> Gateway {
        start_gateway_with(
            &self.rt,
            &self.base,
            &unique_name(name),
            &self.store.endpoint(),
            &self.store.creds,
            None,
            policy,
            extra,
        )
    }

    /// A gateway in front of the store whose config ends with `extra`
    /// (e.g. `[identity]` sections).
    pub fn gateway_with(&self, name: &str, extra: &str) -> Gateway {
        start_gateway_with(
            &self.rt,
            &self.base,
            &unique_name(name),
            &self.store.endpoint(),
            &self.store.creds,
            None,
            OPEN_POLICY,
            extra,
        )
    }

    /// A fresh bucket on the store, removed when the guard drops.
    pub fn bucket(&self, label: &str) -> Bucket {
        let name = unique_name(label);
        let path = self.store.root.join(&name);
        std::fs::create_dir(&path).unwrap();
        Bucket { name, path }
    }

    /// A fresh folder for a test's files, removed when the guard drops.
    pub fn tempdir(&self) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("t-")
            .tempdir_in(&self.base)
            .unwrap()
    }

    /// A gateway whose config has `upstreams` (the `[upstream]` and any
    /// `[[upstreams]]` sections) and the harness's own listen, keyring,
    /// audit and virtual-host settings.
    pub fn gateway_with_upstreams(&self, name: &str, upstreams: &str) -> Gateway {
        let name = unique_name(name);
        let dir = self.base.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let keyring = write_keyring(&dir);
        let audit = dir.join("audit.log");
        let config_path = dir.join("s3gate.toml");
        let policy_path = dir.join("policy.toml");
        std::fs::write(&policy_path, OPEN_POLICY).unwrap();
        let text = format!(
            "listen = \"127.0.0.1:0\"\n\n[session]\nkeyring = \"{}\"\n\n[audit]\noutput = \"{}\"\n\n\
             [s3]\nvirtual_host_domains = [\"{VIRTUAL_HOST_DOMAIN}\"]\n\n\
             [policy]\nfile = \"policy.toml\"\n\n{upstreams}",
            keyring.display(),
            audit.display(),
        );
        write_private(&config_path, &text);
        run_gateway(&self.rt, config_path, audit, policy_path)
    }

    /// Mints a session through the gateway's CLI, as an operator would.
    pub fn mint<S: AsRef<str>>(&self, user: &str, scopes: &[S], ttl: &str) -> Creds {
        mint_with(&self.gw().config, user, scopes, ttl)
    }

    /// A session allowed everything in `bucket` (and nothing else).
    pub fn session_for(&self, bucket: &str) -> Creds {
        self.mint(&unique_name("user"), &bucket_scope("*", bucket), "1h")
    }

    pub fn venv_bin(&self, name: &str) -> PathBuf {
        self.venv.join("bin").join(name)
    }
}

/// Scopes granting `actions` on a bucket itself and every key in it.
pub fn bucket_scope(actions: &str, bucket: &str) -> Vec<String> {
    vec![
        format!("{actions}=s3://{bucket}"),
        format!("{actions}=s3://{bucket}/*"),
    ]
}

/// Runs `s3gate session mint` against a config file.
pub fn mint_with<S: AsRef<str>>(config: &Path, user: &str, scopes: &[S], ttl: &str) -> Creds {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3gate"));
    cmd.args(["session", "mint", "--config"])
        .arg(config)
        .args(["--user", user, "--ttl", ttl]);
    for s in scopes {
        cmd.args(["--scope", s.as_ref()]);
    }
    let out = cmd.output().expect("run s3gate session mint");
    assert!(
        out.status.success(),
        "s3gate session mint failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "session mint printed no credential_process JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(v["Version"], 1, "credential_process Version: {v}");
    assert!(v["Expiration"].is_string(), "no Expiration: {v}");
    let field = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("no {k} in {v}"))
            .to_owned()
    };
    Creds {
        access_key_id: field("AccessKeyId"),
        secret_access_key: field("SecretAccessKey"),
        session_token: Some(field("SessionToken")),
    }
}

/// A bucket that exists for one test.
pub struct Bucket {
    pub name: String,
    path: PathBuf,
}

impl Drop for Bucket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `dir/policy.toml` (what [`config_text`] names), written as
/// [`OPEN_POLICY`] if it does not exist yet.
pub fn ensure_policy(dir: &Path) -> PathBuf {
    let path = dir.join("policy.toml");
    if !path.exists() {
        std::fs::write(&path, OPEN_POLICY).unwrap();
    }
    path
}

/// Writes a config for a gateway in `dir` and starts it on a free port.
fn start_gateway(
    rt: &tokio::runtime::Runtime,
    base: &Path,
    name: &str,
    upstream: &str,
    creds: &Creds,
    audit: Option<&Path>,
) -> Gateway {
    start_gateway_with(rt, base, name, upstream, creds, audit, OPEN_POLICY, "")
}

#[allow(
    clippy::too_many_arguments,
    reason = "a test fixture's knobs, named at each call"
)]
fn start_gateway_with(
    rt: &tokio::runtime::Runtime,
    base: &Path,
    name: &str,
    upstream: &str,
    creds: &Creds,
    audit: Option<&Path>,
    policy: &str,
    extra: &str,
) -> Gateway {
    let dir = base.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let keyring = write_keyring(&dir);
    let audit = audit.map_or_else(|| dir.join("audit.log"), Path::to_path_buf);
    let policy_path = dir.join("policy.toml");
    std::fs::write(&policy_path, policy).unwrap();
    let config_path = write_config(&dir, upstream, creds, &keyring, &audit, extra);
    run_gateway(rt, config_path, audit, policy_path)
}

/// Starts a gateway from a config file on the harness runtime.
fn run_gateway(
    rt: &tokio::runtime::Runtime,
    config_path: PathBuf,
    audit: PathBuf,
    policy_path: PathBuf,
) -> Gateway {
    let config = s3gate::config::Config::load(&config_path)
        .unwrap_or_else(|e| panic!("gateway config {}: {e}", config_path.display()));
    let running = rt
        .block_on(s3gate::server::start(config))
        .unwrap_or_else(|e| panic!("start s3gate from {}: {e:#}", config_path.display()));
    Gateway {
        addr: running.addr,
        config: config_path,
        audit,
        policy: policy_path,
        _running: Mutex::new(running),
    }
}

fn write_config(
    dir: &Path,
    upstream: &str,
    creds: &Creds,
    keyring: &Path,
    audit: &Path,
    extra: &str,
) -> PathBuf {
    let path = dir.join("s3gate.toml");
    let mut text = config_text(upstream, creds, keyring, audit);
    text.push_str(extra);
    write_private(&path, &text);
    path
}

/// `CARGO_TARGET_TMPDIR/e2e-<pid>`; folders of earlier runs whose process is
/// gone are removed first (a `static` is never dropped, so nothing else would).
fn scratch_dir() -> PathBuf {
    let parent = Path::new(env!("CARGO_TARGET_TMPDIR"));
    if let Ok(entries) = std::fs::read_dir(parent) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("e2e-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = parent.join(format!("e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `n` random bytes in a file in `dir`; returns its path and SHA-256.
pub fn random_file(dir: &Path, name: &str, n: usize) -> (PathBuf, String) {
    let data = random_bytes(n);
    let path = dir.join(name);
    std::fs::write(&path, &data).unwrap();
    (path, sha256_hex(&data))
}

pub fn file_sha256(path: &Path) -> String {
    let data = std::fs::read(path)
        .unwrap_or_else(|e| panic!("read {} (was it downloaded?): {e}", path.display()));
    sha256_hex(&data)
}

pub const MIB: usize = 1024 * 1024;

/// Polls `f` until it returns `Some`, for at most `timeout`.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// moto: the second upstream, in auth mode.

/// moto with an IAM user allowed `s3:*`, auth mode on, and an s3gate in
/// front of it holding that user's keys.
pub struct Moto {
    pub endpoint: String,
    /// The IAM user's keys, for direct checks against moto.
    pub creds: Creds,
    /// A role the user may assume, allowed `s3:*`.
    pub writer_role_arn: String,
    /// A role the user may assume, allowed only GetObject and ListBucket.
    pub reader_role_arn: String,
    /// The DynamoDB table for `[shared]`, which the user may read and write.
    pub shared_table: String,
    gw: OnceLock<Gateway>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

pub fn moto() -> &'static Moto {
    MOTO.get_or_init(Moto::start)
}

impl Moto {
    fn start() -> Self {
        let h = harness();
        let endpoint = testbed_var("S3GATE_TEST_MOTO");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/moto_bootstrap.py");
        let out = Command::new(h.venv_bin("python"))
            .arg(script)
            .arg(&endpoint)
            .arg(unique_name("s3gate-e2e"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &h.home)
            .output()
            .expect("run moto_bootstrap.py");
        assert!(
            out.status.success(),
            "moto bootstrap failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let creds = Creds {
            access_key_id: v["AccessKeyId"].as_str().unwrap().to_owned(),
            secret_access_key: v["SecretAccessKey"].as_str().unwrap().to_owned(),
            session_token: None,
        };
        Moto {
            endpoint,
            creds,
            writer_role_arn: v["WriterRoleArn"].as_str().unwrap().to_owned(),
            reader_role_arn: v["ReaderRoleArn"].as_str().unwrap().to_owned(),
            shared_table: v["SharedTable"].as_str().unwrap().to_owned(),
            gw: OnceLock::new(),
        }
    }

    /// s3gate in front of moto, holding the IAM user's keys.
    pub fn gw(&self) -> &Gateway {
        self.gw.get_or_init(|| {
            let h = harness();
            start_gateway(&h.rt, &h.base, "gw-moto", &self.endpoint, &self.creds, None)
        })
    }

    pub fn mint(&self, user: &str, scopes: &[String]) -> Creds {
        mint_with(&self.gw().config, user, scopes, "1h")
    }
}
