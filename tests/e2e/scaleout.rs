//! Stateless scale-out: three s3gate instances holding one keyring behave
//! as one service behind a round-robin balancer (here: the test, sending
//! request `i` to instance `i % 3`), through a key rotation done the ECS way
//! — change the keyring secret, then replace every task.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Creds, Gateway, bucket_scope, harness, mint_with, write_keyring};
use crate::ops::gateway_config;
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
    let (req, _) = signed(
        &Signing::now(creds),
        method,
        &format!("{}{path}", gw.endpoint()),
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
    let out = Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["keyring", "rotate", "--file"])
        .arg(keyring)
        .args(["--id", id])
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
        let lines = crate::audit::audit_lines(gw);
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
