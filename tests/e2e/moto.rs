//! s3gate in front of moto in auth mode: moto recomputes every SigV4
//! signature with the IAM user's secret, so each success here proves that
//! s3gate's re-signed request is valid for a verifier it does not share
//! code with.

use crate::client::{aws, boto3, curl};
use crate::harness::{MIB, bucket_scope, file_sha256, harness, moto, random_file, unique_name};

/// A bucket created directly on moto with the IAM user's keys.
fn moto_bucket(label: &str) -> String {
    let m = moto();
    let name = unique_name(label);
    aws(
        &m.endpoint,
        &m.creds,
        &["s3api", "create-bucket", "--bucket", &name],
    )
    .ok();
    name
}

/// The keys moto holds for `bucket`, listed directly with the IAM user's keys.
fn moto_keys(bucket: &str) -> Vec<String> {
    let m = moto();
    let out = aws(
        &m.endpoint,
        &m.creds,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            bucket,
            "--query",
            "Contents[].Key",
            "--output",
            "json",
        ],
    )
    .ok();
    serde_json::from_str::<Option<Vec<String>>>(out.stdout.trim())
        .unwrap_or_else(|e| panic!("list output {:?}: {e}", out.stdout))
        .unwrap_or_default()
}

#[test]
fn moto_auth_mode_is_on_so_a_wrong_secret_is_refused_directly() {
    needs_testbed!();
    let m = moto();
    let forged = crate::harness::Creds {
        secret_access_key: "0".repeat(40),
        ..m.creds.clone()
    };
    let out = aws(&m.endpoint, &forged, &["s3api", "list-buckets"]).failed();
    assert!(out.contains("SignatureDoesNotMatch"), "{out}");
}

#[test]
fn aws_cli_through_s3gate_to_moto_puts_lists_gets_and_deletes() {
    needs_testbed!();
    let h = harness();
    let m = moto();
    let bucket = moto_bucket("cli");
    let creds = m.mint(&unique_name("cli-user"), &bucket_scope("*", &bucket));
    let ep = m.gw().endpoint();
    let dir = h.tempdir();
    let (small, small_sha) = random_file(dir.path(), "small.bin", 5000);
    let (large, large_sha) = random_file(dir.path(), "large.bin", 20 * MIB);
    let s = |k: &str| format!("s3://{bucket}/{k}");

    aws(
        &ep,
        &creds,
        &["s3", "cp", small.to_str().unwrap(), &s("docs/small.bin")],
    )
    .ok();
    aws(
        &ep,
        &creds,
        &["s3", "cp", large.to_str().unwrap(), &s("docs/large.bin")],
    )
    .ok();
    assert_eq!(moto_keys(&bucket), ["docs/large.bin", "docs/small.bin"]);

    let ls = aws(&ep, &creds, &["s3", "ls", &s("docs/")]).ok();
    assert!(ls.stdout.contains("5000 small.bin"), "{}", ls.stdout);
    assert!(
        ls.stdout.contains(&format!("{} large.bin", 20 * MIB)),
        "{}",
        ls.stdout
    );

    for (key, sha) in [
        ("docs/small.bin", &small_sha),
        ("docs/large.bin", &large_sha),
    ] {
        let back = dir.path().join("back");
        aws(&ep, &creds, &["s3", "cp", &s(key), back.to_str().unwrap()]).ok();
        assert_eq!(&file_sha256(&back), sha, "{key}");
    }

    aws(&ep, &creds, &["s3", "rm", &s("docs/small.bin")]).ok();
    assert_eq!(moto_keys(&bucket), ["docs/large.bin"]);
}

#[test]
fn boto3_through_s3gate_to_moto_puts_lists_gets_and_deletes() {
    needs_testbed!();
    let h = harness();
    let m = moto();
    let bucket = moto_bucket("boto3");
    let creds = m.mint(&unique_name("boto3-user"), &bucket_scope("*", &bucket));
    let ep = m.gw().endpoint();
    let dir = h.tempdir();
    let (small, small_sha) = random_file(dir.path(), "small.bin", 5000);
    let (large, large_sha) = random_file(dir.path(), "large.bin", 20 * MIB);

    boto3(&ep, &creds, "put", &bucket, "b/small", small.to_str()).ok();
    boto3(&ep, &creds, "upload", &bucket, "b/large", large.to_str()).ok();
    let listed = boto3(&ep, &creds, "list", &bucket, "b/", None).ok();
    let keys: Vec<String> = serde_json::from_str(listed.stdout.trim()).unwrap();
    assert_eq!(keys, ["b/large", "b/small"]);

    let back = dir.path().join("back");
    boto3(&ep, &creds, "get", &bucket, "b/small", back.to_str()).ok();
    assert_eq!(file_sha256(&back), small_sha);
    boto3(&ep, &creds, "download", &bucket, "b/large", back.to_str()).ok();
    assert_eq!(file_sha256(&back), large_sha);

    boto3(&ep, &creds, "delete", &bucket, "b/small", None).ok();
    assert_eq!(moto_keys(&bucket), ["b/large"]);
}

#[test]
fn presigned_get_and_put_through_s3gate_work_against_moto_in_auth_mode() {
    needs_testbed!();
    // moto cannot verify presigned URLs in auth mode (it answers 500); s3gate
    // verifies the caller's presigned URL and re-signs with a header, so
    // presigned access works in front of it anyway.
    let h = harness();
    let m = moto();
    let bucket = moto_bucket("presign");
    let creds = m.mint(&unique_name("presign-user"), &bucket_scope("*", &bucket));
    let ep = m.gw().endpoint();
    let dir = h.tempdir();
    let (file, sha) = random_file(dir.path(), "up.bin", 70_000);

    let url = boto3(&ep, &creds, "presign-put", &bucket, "p/obj", Some("300")).ok();
    let (status, body) = curl("PUT", url.stdout.trim(), Some(&file));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(moto_keys(&bucket), ["p/obj"]);

    let url = aws(
        &ep,
        &creds,
        &["s3", "presign", &format!("s3://{bucket}/p/obj")],
    )
    .ok();
    let (status, body) = curl("GET", url.stdout.trim(), None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(crate::harness::sha256_hex(&body), sha);
}
