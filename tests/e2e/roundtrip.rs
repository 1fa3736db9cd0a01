//! Every stock client puts and gets a small and a 20 MiB object through
//! s3gate in front of the verifying embedded store, byte for byte. The store
//! is checked directly (with its own keys) so a test proves what was
//! stored, not just what came back.

use std::path::Path;

use crate::audit::actions_for_key;
use crate::client::{aws, boto3, rclone, s3cmd, sdk, store_object};
use crate::harness::{Creds, MIB, file_sha256, harness, random_file, sha256_hex};

const SMALL: usize = 3 * 1024 + 7;
const LARGE: usize = 20 * MIB;

/// Puts a random file with `put`, checks the store holds exactly its bytes,
/// gets it back with `get` and compares. Returns the bucket and key used.
fn roundtrip(
    label: &str,
    size: usize,
    put: impl Fn(&str, &Creds, &Path, &str, &str),
    get: impl Fn(&str, &Creds, &str, &str, &Path),
) {
    let h = harness();
    let bucket = h.bucket(label);
    let creds = h.session_for(&bucket.name);
    let dir = h.tempdir();
    let (file, sha) = random_file(dir.path(), "upload.bin", size);
    let key = format!("dir/{label} object.bin");
    let endpoint = h.gw().endpoint();

    put(&endpoint, &creds, &file, &bucket.name, &key);
    let stored = store_object(&bucket.name, &key).expect("the object is in the store");
    assert_eq!(stored.len(), size, "stored size");
    assert_eq!(
        sha256_hex(&stored),
        sha,
        "stored bytes differ from the upload"
    );

    let back = dir.path().join("download.bin");
    get(&endpoint, &creds, &bucket.name, &key, &back);
    assert_eq!(
        file_sha256(&back),
        sha,
        "downloaded bytes differ from the upload"
    );

    if size > 8 * MIB {
        let actions = actions_for_key(h.gw(), &bucket.name, &key);
        assert!(
            actions.iter().any(|a| a.contains("UploadPart")),
            "a {size}-byte upload should be multipart; audit shows {actions:?}"
        );
    }
}

fn aws_put(endpoint: &str, creds: &Creds, file: &Path, bucket: &str, key: &str) {
    aws(
        endpoint,
        creds,
        &[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{bucket}/{key}"),
        ],
    )
    .ok();
}

fn aws_get(endpoint: &str, creds: &Creds, bucket: &str, key: &str, out: &Path) {
    aws(
        endpoint,
        creds,
        &[
            "s3",
            "cp",
            &format!("s3://{bucket}/{key}"),
            out.to_str().unwrap(),
        ],
    )
    .ok();
}

#[test]
fn aws_cli_cp_small_object_roundtrips_byte_exact() {
    needs_testbed!();
    roundtrip("aws-small", SMALL, aws_put, aws_get);
}

#[test]
fn aws_cli_cp_20mib_multipart_roundtrips_byte_exact() {
    needs_testbed!();
    roundtrip("aws-large", LARGE, aws_put, aws_get);
}

#[test]
fn boto3_put_get_small_object_roundtrips_byte_exact() {
    needs_testbed!();
    roundtrip(
        "boto3-small",
        SMALL,
        |e, c, f, b, k| {
            boto3(e, c, "put", b, k, f.to_str()).ok();
        },
        |e, c, b, k, o| {
            boto3(e, c, "get", b, k, o.to_str()).ok();
        },
    );
}

#[test]
fn boto3_upload_file_20mib_multipart_roundtrips_byte_exact() {
    needs_testbed!();
    roundtrip(
        "boto3-large",
        LARGE,
        |e, c, f, b, k| {
            boto3(e, c, "upload", b, k, f.to_str()).ok();
        },
        |e, c, b, k, o| {
            boto3(e, c, "download", b, k, o.to_str()).ok();
        },
    );
}

fn rclone_put(endpoint: &str, creds: &Creds, file: &Path, bucket: &str, key: &str) {
    rclone(
        endpoint,
        creds,
        &[
            "copyto",
            file.to_str().unwrap(),
            &format!("gw:{bucket}/{key}"),
        ],
    )
    .ok();
}

fn rclone_get(endpoint: &str, creds: &Creds, bucket: &str, key: &str, out: &Path) {
    rclone(
        endpoint,
        creds,
        &[
            "copyto",
            &format!("gw:{bucket}/{key}"),
            out.to_str().unwrap(),
        ],
    )
    .ok();
}

#[test]
fn rclone_copyto_small_object_roundtrips_byte_exact() {
    needs_testbed!();
    roundtrip("rclone-small", SMALL, rclone_put, rclone_get);
}

#[test]
fn rclone_copyto_20mib_multipart_roundtrips_byte_exact() {
    needs_testbed!();
    roundtrip("rclone-large", LARGE, rclone_put, rclone_get);
}

fn s3cmd_put(endpoint: &str, creds: &Creds, file: &Path, bucket: &str, key: &str) {
    s3cmd(
        endpoint,
        creds,
        &[
            "put",
            file.to_str().unwrap(),
            &format!("s3://{bucket}/{key}"),
        ],
    )
    .ok();
}

fn s3cmd_get(endpoint: &str, creds: &Creds, bucket: &str, key: &str, out: &Path) {
    s3cmd(
        endpoint,
        creds,
        &[
            "get",
            "--force",
            &format!("s3://{bucket}/{key}"),
            out.to_str().unwrap(),
        ],
    )
    .ok();
}

#[test]
fn s3cmd_put_get_small_object_roundtrips_byte_exact() {
    needs_testbed!();
    roundtrip("s3cmd-small", SMALL, s3cmd_put, s3cmd_get);
}

#[test]
fn s3cmd_put_get_20mib_multipart_roundtrips_byte_exact() {
    needs_testbed!();
    roundtrip("s3cmd-large", LARGE, s3cmd_put, s3cmd_get);
}

fn sdk_get(endpoint: &str, creds: &Creds, bucket: &str, key: &str, out: &Path) {
    let data = harness().block_on(async {
        sdk(endpoint, creds)
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("SDK GetObject: {e:?}"))
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes()
    });
    std::fs::write(out, data).unwrap();
}

#[test]
fn rust_sdk_put_get_small_object_roundtrips_byte_exact() {
    needs_testbed!();
    roundtrip(
        "sdk-small",
        SMALL,
        |e, c, f, b, k| {
            let data = std::fs::read(f).unwrap();
            harness().block_on(async {
                sdk(e, c)
                    .put_object()
                    .bucket(b)
                    .key(k)
                    .body(data.into())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("SDK PutObject: {e:?}"));
            });
        },
        sdk_get,
    );
}

#[test]
fn rust_sdk_multipart_upload_20mib_roundtrips_byte_exact() {
    needs_testbed!();
    roundtrip(
        "sdk-large",
        LARGE,
        |e, c, f, b, k| {
            let data = std::fs::read(f).unwrap();
            harness().block_on(async {
                let client = sdk(e, c);
                let upload = client
                    .create_multipart_upload()
                    .bucket(b)
                    .key(k)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("CreateMultipartUpload: {e:?}"));
                let upload_id = upload.upload_id().unwrap();
                let mut parts = Vec::new();
                for (i, piece) in data.chunks(8 * MIB).enumerate() {
                    let n = i32::try_from(i + 1).unwrap();
                    let part = client
                        .upload_part()
                        .bucket(b)
                        .key(k)
                        .upload_id(upload_id)
                        .part_number(n)
                        .body(piece.to_vec().into())
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("UploadPart {n}: {e:?}"));
                    parts.push(
                        aws_sdk_s3::types::CompletedPart::builder()
                            .part_number(n)
                            .e_tag(part.e_tag().unwrap())
                            .build(),
                    );
                }
                client
                    .complete_multipart_upload()
                    .bucket(b)
                    .key(k)
                    .upload_id(upload_id)
                    .multipart_upload(
                        aws_sdk_s3::types::CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("CompleteMultipartUpload: {e:?}"));
            });
        },
        sdk_get,
    );
}

/// The clients are configured right: each roundtrips against the store
/// directly with the store's keys. (If this fails, fix the harness before
/// believing any failure through s3gate.)
#[test]
fn every_client_roundtrips_directly_against_the_store() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("direct");
    let endpoint = h.store.endpoint();
    let creds = h.store.creds.clone();
    let dir = h.tempdir();
    let (file, sha) = random_file(dir.path(), "f.bin", SMALL);
    type Put = fn(&str, &Creds, &Path, &str, &str);
    type Get = fn(&str, &Creds, &str, &str, &Path);
    let clients: [(&str, Put, Get); 4] = [
        ("aws", aws_put, aws_get),
        ("rclone", rclone_put, rclone_get),
        ("s3cmd", s3cmd_put, s3cmd_get),
        (
            "boto3",
            |e, c, f, b, k| {
                boto3(e, c, "put", b, k, f.to_str()).ok();
            },
            |e, c, b, k, o| {
                boto3(e, c, "get", b, k, o.to_str()).ok();
            },
        ),
    ];
    for (name, put, get) in clients {
        let key = format!("{name}/obj");
        put(&endpoint, &creds, &file, &bucket.name, &key);
        let back = dir.path().join(format!("{name}.back"));
        get(&endpoint, &creds, &bucket.name, &key, &back);
        assert_eq!(file_sha256(&back), sha, "{name}");
    }
}
