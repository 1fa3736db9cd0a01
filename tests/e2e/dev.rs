//! `s3gate dev`, as the README's first command: start it, paste the lines it
//! prints, and use the aws CLI at once.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::client::{ChildGuard, clean_command, run};
use crate::harness::{MIB, file_sha256, harness, random_file, wait_for};

/// `export NAME=VALUE` lines, quotes removed.
fn parse_env_lines(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                .unwrap_or(v);
            (k.trim().to_owned(), v.to_owned())
        })
        .collect()
}

fn aws_from_env(env: &HashMap<String, String>, args: &[&str]) -> crate::client::Output {
    let mut cmd = clean_command(harness().venv_bin("aws"));
    cmd.envs(env)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .args(args);
    run(cmd, Duration::from_secs(180))
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn s3gate_dev_prints_env_lines_that_make_aws_cli_cp_ls_and_sync_work() {
    needs_testbed!();
    let h = harness();
    let dir = h.tempdir();
    let env_file = dir.path().join("s3gate.env");
    let listen = format!("127.0.0.1:{}", crate::harness::free_port());
    let stdout_path = dir.path().join("dev.stdout");
    let child = Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["dev", "--listen", &listen, "--data"])
        .arg(dir.path().join("data"))
        .arg("--env-file")
        .arg(&env_file)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(dir.path().join("dev.stderr")).unwrap())
        .spawn()
        .expect("start s3gate dev");
    let mut child = ChildGuard(child);

    let env = wait_for(Duration::from_secs(30), || {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!(
                "s3gate dev exited ({status}): {}",
                std::fs::read_to_string(dir.path().join("dev.stderr")).unwrap_or_default()
            );
        }
        let env = parse_env_lines(&std::fs::read_to_string(&env_file).ok()?);
        let up = std::net::TcpStream::connect(&listen).is_ok();
        (up && env.contains_key("AWS_SESSION_TOKEN")).then_some(env)
    })
    .expect("s3gate dev wrote its --env-file and listens within 30 s");
    for k in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
    ] {
        assert!(
            env.contains_key(k),
            "{k} missing from the env file: {env:?}"
        );
    }
    assert_eq!(env["AWS_ENDPOINT_URL"], format!("http://{listen}"));
    // It holds the session's secret key: for its owner's eyes only.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&env_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the env file's mode is {mode:o}");
    // The terminal shows the same lines (on stdout or stderr) to paste.
    let terminal = std::fs::read_to_string(&stdout_path).unwrap()
        + &std::fs::read_to_string(dir.path().join("dev.stderr")).unwrap();
    assert_eq!(
        parse_env_lines(&terminal),
        env,
        "s3gate dev should print the export lines it wrote to --env-file"
    );

    // cp up and back, multipart.
    let (file, sha) = random_file(dir.path(), "big.bin", 12 * MIB);
    aws_from_env(&env, &["s3", "cp", p(&file), "s3://dev/big.bin"]).ok();
    let back = dir.path().join("big.back");
    aws_from_env(&env, &["s3", "cp", "s3://dev/big.bin", p(&back)]).ok();
    assert_eq!(file_sha256(&back), sha);
    let ls = aws_from_env(&env, &["s3", "ls", "s3://dev/"]).ok();
    assert!(
        ls.stdout.contains(&format!("{} big.bin", 12 * MIB)),
        "{}",
        ls.stdout
    );

    // sync a folder up and into another folder.
    let up = dir.path().join("up");
    std::fs::create_dir_all(up.join("nested")).unwrap();
    let files = [
        random_file(&up, "a.txt", 10),
        random_file(&up, "b.bin", 300_000),
        random_file(&up.join("nested"), "c.bin", 5000),
    ];
    aws_from_env(&env, &["s3", "sync", p(&up), "s3://dev/synced/"]).ok();
    let down = dir.path().join("down");
    aws_from_env(&env, &["s3", "sync", "s3://dev/synced/", p(&down)]).ok();
    for (path, sha) in &files {
        let rel = path.strip_prefix(&up).unwrap();
        assert_eq!(&file_sha256(&down.join(rel)), sha, "{}", rel.display());
    }
    let ls = aws_from_env(&env, &["s3", "ls", "--recursive", "s3://dev/synced/"]).ok();
    assert_eq!(ls.stdout.lines().count(), 3, "{}", ls.stdout);

    // Audit lines go to stdout.
    let printed = std::fs::read_to_string(&stdout_path).unwrap();
    assert!(
        printed
            .lines()
            .filter(|l| l.starts_with('{'))
            .any(|l| l.contains("big.bin") && (l.contains("PutObject") || l.contains("UploadPart"))),
        "no audit line for the upload on stdout: {printed}"
    );
    drop(child);
}

#[test]
fn sigterm_lets_s3gate_dev_finish_an_upload_in_flight_then_exit_0() {
    needs_testbed!();
    let h = harness();
    let dir = h.tempdir();
    let env_file = dir.path().join("s3gate.env");
    let listen = format!("127.0.0.1:{}", crate::harness::free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["dev", "--listen", &listen, "--data"])
        .arg(dir.path().join("data"))
        .arg("--env-file")
        .arg(&env_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("dev.stderr")).unwrap())
        .spawn()
        .expect("start s3gate dev");
    let mut child = ChildGuard(child);
    let env = wait_for(Duration::from_secs(30), || {
        let env = parse_env_lines(&std::fs::read_to_string(&env_file).ok()?);
        let up = std::net::TcpStream::connect(&listen).is_ok();
        (up && env.contains_key("AWS_SESSION_TOKEN")).then_some(env)
    })
    .expect("s3gate dev listens within 30 s");
    let creds = crate::harness::Creds {
        access_key_id: env["AWS_ACCESS_KEY_ID"].clone(),
        secret_access_key: env["AWS_SECRET_ACCESS_KEY"].clone(),
        session_token: Some(env["AWS_SESSION_TOKEN"].clone()),
    };
    let signing = crate::sign::Signing {
        creds: &creds,
        time: std::time::SystemTime::now(),
        presign: Some(Duration::from_secs(600)),
    };
    let url = crate::sign::signed(
        &signing,
        "PUT",
        &format!("http://{listen}/dev/slow.bin"),
        &[],
        crate::sign::Payload::Unsigned,
        Vec::new(),
    )
    .0
    .url;
    // ~2 MB/s: the upload takes about four seconds.
    let (file, _) = random_file(dir.path(), "slow.bin", 8 * MIB);
    let mut curl = clean_command("curl");
    curl.args([
        "-sS",
        "--fail",
        "--limit-rate",
        "2M",
        "-o",
        "/dev/null",
        "-X",
        "PUT",
    ])
    .arg("--upload-file")
    .arg(&file)
    .arg(&url);
    let mut upload = ChildGuard(curl.stdout(Stdio::null()).spawn().unwrap());
    std::thread::sleep(Duration::from_millis(1500));
    let term = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let uploaded = upload.0.wait().unwrap();
    assert!(
        uploaded.success(),
        "the upload in flight was cut: {uploaded}"
    );
    let exited = wait_for(Duration::from_secs(30), || child.0.try_wait().unwrap())
        .expect("s3gate dev exits once drained");
    assert!(
        exited.success(),
        "s3gate dev exited {exited} on SIGTERM: {}",
        std::fs::read_to_string(dir.path().join("dev.stderr")).unwrap_or_default()
    );
}
