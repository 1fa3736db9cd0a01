//! The stock clients, configured the way their users configure them: the
//! aws CLI and boto3 from the testbed venv, rclone by `RCLONE_CONFIG_*`
//! variables, s3cmd by a config file, curl for presigned URLs, and the Rust
//! SDK. Every child process runs with a clean environment (no user config,
//! no retries that would hide a failure) and a timeout, and is killed by
//! its PID if the test ends first.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub use crate::common::client::sdk;
use crate::harness::{Creds, REGION, harness};

/// What a finished client printed.
#[derive(Debug)]
pub struct Output {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Panics with the client's own words unless it exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(
            self.status.success(),
            "{} failed ({}):\nstdout: {}\nstderr: {}",
            self.what,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless the client failed, and returns everything it printed.
    #[track_caller]
    pub fn failed(self) -> String {
        assert!(
            !self.status.success(),
            "{} succeeded but should have been refused:\nstdout: {}\nstderr: {}",
            self.what,
            self.stdout,
            self.stderr
        );
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Kills a child by its PID when dropped (a test that panics still cleans up).
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A command with an empty environment but for `PATH`, `HOME` and the locale.
pub fn clean_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &harness().home)
        .env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null());
    cmd
}

/// Runs a command to completion (at most `timeout`), capturing its output.
pub fn run(mut cmd: Command, timeout: Duration) -> Output {
    let what = format!("{cmd:?}")
        .split(" \"")
        .next()
        .unwrap_or("command")
        .to_owned();
    let what = format!(
        "{} {}",
        what,
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let dir = harness().tempdir();
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    cmd.stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut child = ChildGuard(
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}")),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            drop(child);
            panic!(
                "{what} did not finish within {timeout:?}; stderr so far: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        what,
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);

pub fn aws_env(cmd: &mut Command, endpoint: &str, creds: &Creds) {
    cmd.env("AWS_ACCESS_KEY_ID", &creds.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &creds.secret_access_key)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_RETRY_MODE", "standard")
        .env("AWS_PAGER", "");
    if let Some(token) = &creds.session_token {
        cmd.env("AWS_SESSION_TOKEN", token);
    }
}

/// The aws CLI config that makes `s3 presign` use SigV4 (v1's default is V2).
pub const AWS_CONFIG_S3V4: &str =
    "[default]\ns3 =\n  signature_version = s3v4\n  addressing_style = path\n";

/// The aws CLI (v1) from the venv, with `AWS_CONFIG_FILE` holding `config`.
pub fn aws_with_config(endpoint: &str, creds: &Creds, config: &str, args: &[&str]) -> Output {
    let h = harness();
    let dir = h.tempdir();
    let config_path = dir.path().join("config");
    std::fs::write(&config_path, config).unwrap();
    let mut cmd = clean_command(h.venv_bin("aws"));
    aws_env(&mut cmd, endpoint, creds);
    cmd.env("AWS_CONFIG_FILE", &config_path).args(args);
    run(cmd, CLIENT_TIMEOUT)
}

/// The aws CLI with the SigV4 config every user of s3gate needs.
pub fn aws(endpoint: &str, creds: &Creds, args: &[&str]) -> Output {
    aws_with_config(endpoint, creds, AWS_CONFIG_S3V4, args)
}

/// `tests/e2e/boto3_client.py OP BUCKET KEY [ARG]` with the venv's python.
pub fn boto3(
    endpoint: &str,
    creds: &Creds,
    op: &str,
    bucket: &str,
    key: &str,
    arg: Option<&str>,
) -> Output {
    let mut args = vec![op, bucket, key];
    args.extend(arg);
    boto3_script(endpoint, creds, "boto3_client.py", &args, &[])
}

/// A boto3 script of `tests/e2e/` with the venv's python, `E2E_ENDPOINT`
/// and the credentials in the environment, plus `env`.
pub fn boto3_script(
    endpoint: &str,
    creds: &Creds,
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let h = harness();
    let mut cmd = clean_command(h.venv_bin("python"));
    aws_env(&mut cmd, endpoint, creds);
    cmd.env("E2E_ENDPOINT", endpoint)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .envs(env.iter().copied())
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/e2e")
                .join(script),
        )
        .args(args);
    run(cmd, CLIENT_TIMEOUT)
}

/// rclone with a remote `gw:` defined by environment variables. Uploads
/// above 5 MiB go multipart; `--s3-no-head` skips its post-upload HEAD.
pub fn rclone(endpoint: &str, creds: &Creds, args: &[&str]) -> Output {
    let h = harness();
    let dir = h.tempdir();
    let empty_config = dir.path().join("rclone.conf");
    std::fs::write(&empty_config, "").unwrap();
    let mut cmd = clean_command("rclone");
    // rclone refuses to start with an AWS_CA_BUNDLE it cannot use: the clean
    // environment has none.
    cmd.env("RCLONE_CONFIG", &empty_config)
        .env("RCLONE_CONFIG_GW_TYPE", "s3")
        .env("RCLONE_CONFIG_GW_PROVIDER", "Other")
        .env("RCLONE_CONFIG_GW_ENDPOINT", endpoint)
        .env("RCLONE_CONFIG_GW_REGION", REGION)
        .env("RCLONE_CONFIG_GW_FORCE_PATH_STYLE", "true")
        .env("RCLONE_CONFIG_GW_ACCESS_KEY_ID", &creds.access_key_id)
        .env(
            "RCLONE_CONFIG_GW_SECRET_ACCESS_KEY",
            &creds.secret_access_key,
        );
    if let Some(token) = &creds.session_token {
        cmd.env("RCLONE_CONFIG_GW_SESSION_TOKEN", token);
    }
    cmd.args([
        "--s3-no-head",
        "--s3-no-check-bucket",
        "--s3-upload-cutoff",
        "5M",
        "--s3-chunk-size",
        "5M",
        "--low-level-retries",
        "1",
        "--retries",
        "1",
    ])
    .args(args);
    run(cmd, CLIENT_TIMEOUT)
}

/// s3cmd with a generated config file (SigV4, plain HTTP, path style).
/// Uploads above 5 MiB go multipart.
pub fn s3cmd(endpoint: &str, creds: &Creds, args: &[&str]) -> Output {
    let h = harness();
    let dir = h.tempdir();
    let config = dir.path().join("s3cfg");
    let host = endpoint.trim_start_matches("http://");
    let mut text = format!(
        "[default]\naccess_key = {}\nsecret_key = {}\nhost_base = {host}\nhost_bucket = {host}\n\
         use_https = False\nsignature_v2 = False\nbucket_location = {REGION}\n\
         multipart_chunk_size_mb = 5\n",
        creds.access_key_id, creds.secret_access_key
    );
    if let Some(token) = &creds.session_token {
        text.push_str(&format!("access_token = {token}\n"));
    }
    std::fs::write(&config, text).unwrap();
    let mut cmd = clean_command("s3cmd");
    cmd.arg("-c").arg(&config).args(args);
    run(cmd, CLIENT_TIMEOUT)
}

/// curl on a (presigned) URL: returns the HTTP status and the body.
pub fn curl(method: &str, url: &str, upload: Option<&Path>) -> (u16, Vec<u8>) {
    let dir = harness().tempdir();
    let body = dir.path().join("body");
    let mut cmd = clean_command("curl");
    cmd.args(["-sS", "-X", method, "-o"])
        .arg(&body)
        .args(["-w", "%{http_code}"]);
    if let Some(file) = upload {
        cmd.arg("--upload-file").arg(file);
    }
    cmd.arg(url);
    let out = run(cmd, CLIENT_TIMEOUT).ok();
    let status: u16 = out.stdout.trim().parse().unwrap();
    (status, std::fs::read(&body).unwrap_or_default())
}

/// Direct access to the store with its own keys: the independent check of
/// what s3gate did or did not leave behind.
pub fn store_client() -> aws_sdk_s3::Client {
    let h = harness();
    sdk(&h.store.endpoint(), &h.store.creds)
}

/// The object's bytes as the store holds them, or `None` if there is none.
pub fn store_object(bucket: &str, key: &str) -> Option<Vec<u8>> {
    let h = harness();
    h.block_on(async {
        match store_client()
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Some(out.body.collect().await.unwrap().into_bytes().to_vec()),
            Err(e) => {
                let svc = e.into_service_error();
                assert!(
                    svc.is_no_such_key(),
                    "direct GET from the store failed: {svc:?}"
                );
                None
            }
        }
    })
}

/// Puts an object straight into the store (bypassing s3gate).
pub fn store_put(bucket: &str, key: &str, data: &[u8]) {
    let h = harness();
    h.block_on(async {
        store_client()
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(data.to_vec().into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("direct PUT to the store: {e:?}"));
    });
}

/// Keys in a bucket, listed straight from the store.
pub fn store_keys(bucket: &str) -> Vec<String> {
    let h = harness();
    h.block_on(async {
        let out = store_client()
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("direct list of the store: {e:?}"));
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    })
}

/// `tests/e2e/boto3_assume_role.py`: boto3's `sts.assume_role` signed with
/// `creds`, asking for session `name` with an optional inline policy.
pub fn boto3_assume_role(
    endpoint: &str,
    creds: &Creds,
    name: &str,
    policy: Option<&str>,
    duration: Option<u64>,
) -> Output {
    boto3_assume_role_with_quota(endpoint, creds, name, policy, duration, "")
}

/// [`boto3_assume_role`] adding s3gate's quota parameters (`quota`, a form
/// such as `MaxRequests=2`) in a botocore `before-sign` handler.
pub fn boto3_assume_role_with_quota(
    endpoint: &str,
    creds: &Creds,
    name: &str,
    policy: Option<&str>,
    duration: Option<u64>,
    quota: &str,
) -> Output {
    boto3_assume_role_env(
        endpoint,
        creds,
        name,
        policy,
        duration,
        &[("E2E_QUOTA", quota)],
    )
}

/// [`boto3_assume_role`] with the script's options in `env`
/// (`E2E_QUOTA`, `E2E_UNSIGNED_PAYLOAD`).
pub fn boto3_assume_role_env(
    endpoint: &str,
    creds: &Creds,
    name: &str,
    policy: Option<&str>,
    duration: Option<u64>,
    env: &[(&str, &str)],
) -> Output {
    let h = harness();
    let mut cmd = clean_command(h.venv_bin("python"));
    aws_env(&mut cmd, endpoint, creds);
    cmd.envs(env.iter().copied());
    cmd.env("E2E_ENDPOINT", endpoint)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/e2e/boto3_assume_role.py"
        ))
        .args([name, policy.unwrap_or("-")]);
    if let Some(d) = duration {
        cmd.arg(d.to_string());
    }
    run(cmd, CLIENT_TIMEOUT)
}
