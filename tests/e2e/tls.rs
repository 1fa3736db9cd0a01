//! TLS on both sides: s3gate serving HTTPS from PEM files (with HTTP/2 by
//! ALPN, and the certificate reloaded when the files change), and s3gate
//! reaching an https upstream through a custom CA bundle.
//!
//! Certificates are made at test time with the openssl CLI (Debian's);
//! nothing private is committed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::client::{clean_command, run, store_object};
use crate::harness::{
    MIB, bucket_scope, config_text, harness, mint_with, random_bytes, sha256_hex, wait_for,
    write_keyring, write_private,
};
use crate::sign::{Payload, Signing, send_blocking, signed, signed_get};

/// A self-signed certificate for 127.0.0.1, written as `<name>.crt` and
/// `<name>.key` in `dir`.
fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", &format!("/CN={name}")])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// A private CA and a server certificate it issued for 127.0.0.1:
/// (CA certificate, server certificate, server key).
fn private_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509"])
        .args(ec)
        .args(["-days", "1", "-subj", "/CN=s3gate test CA", "-keyout"])
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.crt"));
    assert!(cmd.output().unwrap().status.success());
    let mut cmd = Command::new("openssl");
    cmd.args(["req"])
        .args(ec)
        .args(["-subj", "/CN=upstream", "-keyout"])
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr"));
    assert!(cmd.output().unwrap().status.success());
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let mut cmd = Command::new("openssl");
    cmd.args(["x509", "-req", "-days", "1", "-in"])
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.crt"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(p("ext.cnf"))
        .arg("-out")
        .arg(p("server.crt"));
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (p("ca.crt"), p("server.crt"), p("server.key"))
}

/// curl over HTTPS trusting only `ca`: (exit ok, HTTP status, HTTP version).
fn curl_tls(ca: &Path, args: &[&str]) -> (bool, String) {
    let mut cmd = clean_command("curl");
    cmd.args(["-sS", "--http2", "--cacert"])
        .arg(ca)
        .args(["-w", "%{http_code} %{http_version}"])
        .args(args);
    let out = run(cmd, Duration::from_secs(60));
    (out.status.success(), out.stdout.trim().to_owned())
}

/// Replaces a file atomically, as a certificate renewal tool does.
fn replace(from: &Path, to: &Path) {
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

#[test]
fn https_with_http2_serves_put_and_get_and_reloads_a_renewed_certificate() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("tls");
    let dir = h.tempdir();
    let (first_cert, first_key) = self_signed(dir.path(), "first");
    let (second_cert, second_key) = self_signed(dir.path(), "second");
    let live_cert = dir.path().join("live.crt");
    let live_key = dir.path().join("live.key");
    replace(&first_cert, &live_cert);
    replace(&first_key, &live_key);
    let keyring = write_keyring(dir.path());
    let text = config_text(
        &h.store.endpoint(),
        &h.store.creds,
        &keyring,
        &dir.path().join("audit.log"),
    ) + &format!(
        "\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        live_cert.display(),
        live_key.display()
    );
    let config = dir.path().join("s3gate.toml");
    write_private(&config, &text);
    let gw = h.gateway_from(&config);
    let endpoint = format!("https://127.0.0.1:{}", gw.addr.port());
    let creds = mint_with(&config, "tls-user", &bucket_scope("*", &bucket.name), "1h");
    let presign = |method: &str, key: &str| {
        let s = Signing {
            creds: &creds,
            time: SystemTime::now(),
            presign: Some(Duration::from_secs(600)),
        };
        signed(
            &s,
            method,
            &format!("{endpoint}/{}/{key}", bucket.name),
            &[],
            Payload::Unsigned,
            Vec::new(),
        )
        .0
        .url
    };

    // PUT and GET over TLS, negotiated to HTTP/2.
    let data = random_bytes(3 * MIB);
    let up = dir.path().join("up.bin");
    std::fs::write(&up, &data).unwrap();
    let (ok, out) = curl_tls(
        &first_cert,
        &[
            "-X",
            "PUT",
            "--upload-file",
            up.to_str().unwrap(),
            &presign("PUT", "obj"),
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(out, "200 2", "PUT status and HTTP version");
    assert_eq!(
        store_object(&bucket.name, "obj").map(|b| sha256_hex(&b)),
        Some(sha256_hex(&data))
    );
    let down = dir.path().join("down.bin");
    let (ok, out) = curl_tls(
        &first_cert,
        &["-o", down.to_str().unwrap(), &presign("GET", "obj")],
    );
    assert!(ok, "{out}");
    assert_eq!(out, "200 2", "GET status and HTTP version");
    assert_eq!(
        sha256_hex(&std::fs::read(&down).unwrap()),
        sha256_hex(&data)
    );
    // A client that trusts another certificate refuses the connection.
    let (ok, _) = curl_tls(
        &second_cert,
        &["-o", "/dev/null", &format!("{endpoint}/_s3gate/healthz")],
    );
    assert!(!ok, "curl trusted a certificate it was not given");

    // Renewal: new files in place; s3gate serves them without a restart.
    replace(&second_key, &live_key);
    replace(&second_cert, &live_cert);
    let reloaded = wait_for(Duration::from_secs(20), || {
        let (ok, out) = curl_tls(
            &second_cert,
            &["-o", "/dev/null", &format!("{endpoint}/_s3gate/healthz")],
        );
        (ok && out == "200 2").then_some(())
    });
    assert!(
        reloaded.is_some(),
        "the renewed certificate was not served within 20 s"
    );
    let (ok, out) = curl_tls(
        &second_cert,
        &["-o", down.to_str().unwrap(), &presign("GET", "obj")],
    );
    assert!(ok && out == "200 2", "{out}");
}

#[test]
fn an_https_upstream_behind_a_private_ca_is_reached_with_upstream_ca_bundle() {
    needs_testbed!();
    let h = harness();
    let dir = h.tempdir();
    let (ca, cert, key) = private_ca(dir.path());
    // The https upstream: an s3gate with TLS. It accepts only its own
    // sessions, so a request re-signed with other keys gets its S3 error
    // back — proof the TLS connection to it worked.
    let front_dir = dir.path().join("front");
    std::fs::create_dir_all(&front_dir).unwrap();
    let keyring = write_keyring(&front_dir);
    let text = config_text(
        &h.store.endpoint(),
        &h.store.creds,
        &keyring,
        &front_dir.join("audit.log"),
    ) + &format!(
        "\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let front_config = front_dir.join("s3gate.toml");
    write_private(&front_config, &text);
    let front = h.gateway_from(&front_config);
    let upstream = format!("https://127.0.0.1:{}", front.addr.port());

    let through = |label: &str, ca: Option<&Path>| {
        let d = dir.path().join(label);
        std::fs::create_dir_all(&d).unwrap();
        let keyring = write_keyring(&d);
        let mut text = config_text(&upstream, &h.store.creds, &keyring, &d.join("audit.log"));
        if let Some(ca) = ca {
            text = text.replace(
                "[upstream]\n",
                &format!("[upstream]\nca_bundle = \"{}\"\n", ca.display()),
            );
        }
        let config = d.join("s3gate.toml");
        write_private(&config, &text);
        let gw = h.gateway_from(&config);
        let creds = mint_with(&config, "u", &bucket_scope("*", "bkt"), "1h");
        // Three in turn: the second and third go on the TLS connection
        // the first gave back to the pool.
        (0..3)
            .map(|_| send_blocking(signed_get(&creds, &format!("{}/bkt/k", gw.endpoint()))))
            .collect::<Vec<_>>()
    };
    // With the bundle: TLS works, and the upstream answers: it refuses
    // s3gate's own key, which is the gateway's fault (502), not a refusal
    // of the caller.
    for with_ca in through("with-ca", Some(&ca)) {
        with_ca.assert_error(502, "BadGateway");
        assert!(
            with_ca.message().contains("refused s3gate"),
            "{}",
            with_ca.text()
        );
    }
    // Without it: the platform roots do not know this CA.
    let without_ca = through("without-ca", None).swap_remove(0);
    without_ca.assert_error(502, "BadGateway");
    assert!(
        without_ca.message().contains("could not be reached"),
        "{}",
        without_ca.text()
    );
}

#[test]
fn a_listener_key_other_users_can_read_is_refused_at_start() {
    needs_testbed!();
    use std::os::unix::fs::PermissionsExt;
    let h = harness();
    let dir = h.tempdir();
    let (cert, key) = self_signed(dir.path(), "open");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = config_text(
        &h.store.endpoint(),
        &h.store.creds,
        &write_keyring(dir.path()),
        &dir.path().join("audit.log"),
    ) + &format!(
        "\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let config = dir.path().join("s3gate.toml");
    write_private(&config, &text);
    std::fs::write(dir.path().join("policy.toml"), crate::harness::OPEN_POLICY).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start s3gate serve");
    let exited = wait_for(Duration::from_secs(20), || child.try_wait().ok().flatten());
    if exited.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("s3gate started with a TLS key readable by every user");
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("chmod 600"), "{stderr}");
}
