//! The embedded store (`s3gate dev`, `s3gate store`) behind s3gate, as a
//! user's clients see it: every key S3 accepts round-trips exactly and
//! lists in S3's order (boto3, the aws CLI, rclone); a write that fails a
//! check or is cut off leaves nothing; versioning and conditional requests
//! behave as on S3.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::client::{ChildGuard, aws, boto3_script, rclone};
use crate::harness::{Creds, MIB, harness, random_alnum, random_upper, wait_for};
use crate::sign::{Payload, Signing, signed};

/// Keys S3 accepts that a store mapping keys onto paths loses or confuses.
fn nasty_keys() -> Vec<String> {
    let long = format!("{}/{}", "l".repeat(500), "m".repeat(523));
    assert_eq!(long.len(), 1024);
    [
        "a/b",
        "a//b",
        "d",
        "d/e",
        "a/b/",
        "folder/",
        "/leading",
        "a%2Fb",
        "a%25b",
        "a+b",
        "a b",
        "trailing space ",
        "unicodé/日本/ü",
        "x?y#z&w=1",
        "tab\there",
        long.as_str(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn sorted(mut keys: Vec<String>) -> Vec<String> {
    // S3 lists in UTF-8 byte order, which is `str`'s order.
    keys.sort();
    keys
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn boto3_json(creds: &Creds, mode: &str, bucket: &str, env: &[(&str, &str)]) -> Value {
    let out = boto3_script(
        &harness().gw().endpoint(),
        creds,
        "boto3_store.py",
        &[mode, bucket],
        env,
    )
    .ok();
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[test]
fn nasty_keys_round_trip_exactly_and_list_in_order_with_boto3() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("nasty-boto3");
    let creds = h.session_for(&bucket.name);
    let mut keys = nasty_keys();
    keys.push("nul\u{0}byte".to_owned());
    let json = serde_json::to_string(&keys).unwrap();
    let out = boto3_json(&creds, "keys", &bucket.name, &[("E2E_KEYS", &json)]);
    let puts = strings(&out["put"]);
    assert_eq!(puts.len(), keys.len(), "puts: {puts:?}");
    assert!(puts.iter().all(|p| p == "ok"), "puts: {puts:?}");
    let bodies = strings(&out["get"]);
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(bodies[i], format!("body {i}"), "GET of {key:?}");
    }
    let want = sorted(keys);
    assert_eq!(strings(&out["list_v2"]), want, "ListObjectsV2");
    assert_eq!(strings(&out["list_v1"]), want, "ListObjects");
    assert_eq!(strings(&out["versions"]), want, "ListObjectVersions");
}

#[test]
fn dot_segment_keys_are_never_resolved_as_paths() {
    needs_testbed!();
    // The gateway may refuse `.`/`..` segments; if a key gets through, the
    // store must keep it as the exact key, never as `b` or `c`.
    let h = harness();
    let bucket = h.bucket("dots");
    let creds = h.session_for(&bucket.name);
    let keys: Vec<String> = ["b", "a/../b", "./b", "a/./b", "c/..", "c"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let json = serde_json::to_string(&keys).unwrap();
    let out = boto3_json(&creds, "keys", &bucket.name, &[("E2E_KEYS", &json)]);
    let puts = strings(&out["put"]);
    let bodies = strings(&out["get"]);
    let mut stored = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        if puts[i] == "ok" {
            assert_eq!(bodies[i], format!("body {i}"), "GET of {key:?}");
            stored.push(key.clone());
        } else {
            assert_eq!(puts[i], "InvalidArgument", "PUT of {key:?}");
        }
    }
    assert_eq!(
        bodies[0], "body 0",
        "`b` was overwritten through a dot segment"
    );
    assert_eq!(strings(&out["list_v2"]), sorted(stored));
}

#[test]
fn nasty_keys_round_trip_exactly_with_the_aws_cli() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("nasty-cli");
    let creds = h.session_for(&bucket.name);
    let gw = h.gw().endpoint();
    let dir = h.tempdir();
    let keys = nasty_keys();
    for (i, key) in keys.iter().enumerate() {
        let file = dir.path().join(format!("in{i}"));
        std::fs::write(&file, format!("cli {i}")).unwrap();
        let args = [
            "s3api",
            "put-object",
            "--bucket",
            &bucket.name,
            "--key",
            key,
            "--body",
            file.to_str().unwrap(),
        ];
        aws(&gw, &creds, &args).ok();
    }
    // The CLI's own listing (encoding-type=url under the hood), paginated.
    let listed = aws(
        &gw,
        &creds,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            &bucket.name,
            "--page-size",
            "4",
            "--query",
            "Contents[].Key",
            "--output",
            "json",
        ],
    )
    .ok();
    let listed: Vec<String> = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed, sorted(keys.clone()));
    for (i, key) in keys.iter().enumerate() {
        let back = dir.path().join(format!("out{i}"));
        let args = [
            "s3api",
            "get-object",
            "--bucket",
            &bucket.name,
            "--key",
            key,
            back.to_str().unwrap(),
        ];
        aws(&gw, &creds, &args).ok();
        assert_eq!(
            std::fs::read_to_string(&back).unwrap(),
            format!("cli {i}"),
            "{key:?}"
        );
    }
}

#[test]
fn keys_rclone_can_name_round_trip_exactly_with_rclone() {
    needs_testbed!();
    // rclone cleans its own paths (`//`, a trailing or leading `/`), so the
    // keys here are the ones an rclone path can spell; `d` and `d/e` are a
    // file and a folder of the same name to a store of paths.
    let h = harness();
    let bucket = h.bucket("nasty-rclone");
    let creds = h.session_for(&bucket.name);
    let gw = h.gw().endpoint();
    let dir = h.tempdir();
    let keys = [
        "a%2Fb",
        "a%25b",
        "a+b",
        "a b",
        "unicodé/日本/ü",
        "x?y#z&w=1",
        "q/r",
        "d",
        "d/e",
    ];
    for (i, key) in keys.iter().enumerate() {
        let file = dir.path().join(format!("in{i}"));
        std::fs::write(&file, format!("rclone {i}")).unwrap();
        let dest = format!("gw:{}/{key}", bucket.name);
        rclone(&gw, &creds, &["copyto", file.to_str().unwrap(), &dest]).ok();
    }
    let listed = rclone(
        &gw,
        &creds,
        &["lsf", "-R", "--files-only", &format!("gw:{}", bucket.name)],
    )
    .ok();
    let mut got: Vec<&str> = listed.stdout.lines().collect();
    got.sort_unstable();
    let mut want = keys.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
    for (i, key) in keys.iter().enumerate() {
        let cat = rclone(&gw, &creds, &["cat", &format!("gw:{}/{key}", bucket.name)]).ok();
        assert_eq!(cat.stdout, format!("rclone {i}"), "{key:?}");
    }
}

#[test]
fn a_wrong_content_md5_or_checksum_leaves_no_object() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("integrity");
    let creds = h.session_for(&bucket.name);
    let out = boto3_json(&creds, "integrity", &bucket.name, &[]);
    assert_eq!(out["bad_md5"], "BadDigest");
    assert_eq!(out["bad_crc32"], "BadDigest");
    assert_eq!(out["head_md5"], "404", "a refused upload left an object");
    assert_eq!(out["head_crc"], "404", "a refused upload left an object");
    assert_eq!(strings(&out["listed"]), Vec::<String>::new());
    // SHA-256 of "data", base64: the store computes what it was asked for.
    assert_eq!(
        out["good_sha256"],
        "Om6weQ85rIfJTzhWst0sXREOaBFgImGpqSPTuyOtyLc="
    );
}

#[test]
fn versioning_keeps_versions_and_delete_markers_with_boto3() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("versioning");
    let creds = h.session_for(&bucket.name);
    let out = boto3_json(&creds, "versioning", &bucket.name, &[]);
    assert_eq!(out["status"], "Enabled");
    assert_eq!(out["distinct_ids"], true);
    assert_eq!(out["delete_marker"], true);
    assert_eq!(out["get_after_delete"], "NoSuchKey");
    assert_eq!(out["get_v1"], "one");
    // Newest first: v2 then v1, neither latest behind the delete marker.
    assert_eq!(
        out["versions"],
        serde_json::json!([[false, true, false], [true, false, false]])
    );
    assert_eq!(out["markers"], serde_json::json!([true]));
    assert_eq!(out["get_after_marker_removed"], "two");
    assert_eq!(out["get_after_v2_removed"], "one");
    assert_eq!(out["suspended_id"], "null");
    assert_eq!(out["suspended_versions"], 2);
}

#[test]
fn conditional_requests_behave_as_on_s3_with_boto3() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("conditional");
    let creds = h.session_for(&bucket.name);
    let out = boto3_json(&creds, "conditional", &bucket.name, &[]);
    assert_eq!(out["create_new"], "ok");
    assert_eq!(out["create_existing"], "PreconditionFailed");
    assert_eq!(out["overwrite_wrong_etag"], "PreconditionFailed");
    assert_eq!(out["body_after_refusals"], "one");
    assert_eq!(out["overwrite_right_etag"], "ok");
    assert_eq!(out["get_if_none_match"], "304");
    assert_eq!(out["get_if_match_wrong"], "PreconditionFailed");
    assert_eq!(out["get_if_modified_since_future"], "304");
    assert_eq!(out["get_if_unmodified_since_past"], "PreconditionFailed");
    assert_eq!(out["range"], "ou");
    assert_eq!(out["copy_if_match_wrong"], "PreconditionFailed");
}

/// `s3gate store` as a separate process (so it can be killed), on `data`.
fn store_process(
    data: &std::path::Path,
    port: u16,
    creds: &Creds,
    log: &std::path::Path,
) -> ChildGuard {
    let child = Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["store", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .env("S3GATE_STORE_ACCESS_KEY_ID", &creds.access_key_id)
        .env("S3GATE_STORE_SECRET_ACCESS_KEY", &creds.secret_access_key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start s3gate store");
    let mut guard = ChildGuard(child);
    wait_for(Duration::from_secs(30), || {
        if let Ok(Some(status)) = guard.0.try_wait() {
            panic!(
                "s3gate store exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("s3gate store listens within 30 s");
    guard
}

fn store_creds() -> Creds {
    Creds {
        access_key_id: format!("STORE{}", random_upper(15)),
        secret_access_key: random_alnum(40),
        session_token: None,
    }
}

#[test]
fn an_upload_killed_mid_body_leaves_no_object_after_restart() {
    needs_testbed!();
    let h = harness();
    let dir = h.tempdir();
    let data = dir.path().join("data");
    let creds = store_creds();
    let port = crate::harness::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut store = store_process(&data, port, &creds, &dir.path().join("store.log"));
    let client = crate::client::sdk(&endpoint, &creds);
    h.block_on(async {
        client.create_bucket().bucket("crash").send().await.unwrap();
        client
            .put_object()
            .bucket("crash")
            .key("before")
            .body(b"kept".to_vec().into())
            .send()
            .await
            .unwrap();
    });

    // A PUT declaring 8 MiB that sends 1 MiB, then the store dies (SIGKILL).
    let host = format!("127.0.0.1:{port}");
    let len = (8 * MIB).to_string();
    let (req, _) = signed(
        &Signing::now(&creds),
        "PUT",
        &format!("{endpoint}/crash/cut"),
        &[("host", host.as_str()), ("content-length", len.as_str())],
        Payload::Unsigned,
        Vec::new(),
    );
    let mut tcp = std::net::TcpStream::connect(&host).unwrap();
    let mut head = String::from("PUT /crash/cut HTTP/1.1\r\n");
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).unwrap();
    tcp.write_all(&vec![b'x'; MIB]).unwrap();
    tcp.flush().unwrap();
    // Wait until the store is writing the body somewhere on disk.
    let tmp = data.join(".tmp");
    wait_for(Duration::from_secs(30), || {
        std::fs::read_dir(&tmp)
            .ok()?
            .filter_map(Result::ok)
            .any(|e| e.metadata().is_ok_and(|m| m.len() > 0))
            .then_some(())
    })
    .expect("the store starts writing the body");
    store.0.kill().unwrap();
    store.0.wait().unwrap();
    drop(tcp);

    let _store = store_process(&data, port, &creds, &dir.path().join("store2.log"));
    let keys: Vec<String> = h.block_on(async {
        let out = client
            .list_objects_v2()
            .bucket("crash")
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    });
    assert_eq!(keys, ["before"], "an interrupted upload became visible");
    let cut = h.block_on(client.get_object().bucket("crash").key("cut").send());
    assert!(cut.is_err_and(|e| e.into_service_error().is_no_such_key()));
    let leftovers = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        leftovers, 0,
        "the partial body is still on disk after restart"
    );
}

#[test]
fn an_old_s3s_fs_folder_is_refused_with_a_migration_message() {
    needs_testbed!();
    let h = harness();
    let dir = h.tempdir();
    let data = dir.path().join("old");
    std::fs::create_dir_all(data.join("dev/photos")).unwrap();
    std::fs::write(data.join("dev/photos/cat.jpg"), b"meow").unwrap();
    let log = dir.path().join("store.log");
    let child = Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["store", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env("S3GATE_STORE_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("S3GATE_STORE_SECRET_ACCESS_KEY", "secret")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut child = ChildGuard(child);
    let status = wait_for(Duration::from_secs(30), || {
        child.0.try_wait().ok().flatten()
    });
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    let status =
        status.unwrap_or_else(|| panic!("s3gate store kept running on an old folder: {stderr}"));
    assert!(!status.success(), "started on an old folder: {stderr}");
    assert!(stderr.contains("old layout"), "{stderr}");
    assert!(
        stderr.contains("aws s3 sync"),
        "no migration step in: {stderr}"
    );
    // Nothing of the old data was touched.
    assert_eq!(
        std::fs::read(data.join("dev/photos/cat.jpg")).unwrap(),
        b"meow"
    );
}

/// The same table of S3 behaviours against moto and against the store,
/// each straight (no gateway): what a conformance run compares.
pub fn parity_run(endpoint: &str, creds: &Creds, bucket: &str) -> serde_json::Map<String, Value> {
    let out = boto3_script(endpoint, creds, "boto3_parity.py", &[bucket], &[]).ok();
    let v: Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    v.as_object().unwrap().clone()
}

/// What Amazon S3 answers for each row of `boto3_parity.py` (per the S3
/// API reference; us-east-1, where re-creating one's own bucket is 200).
const S3_ANSWERS: &[(&str, &str)] = &[
    ("abort_unknown_upload", "NoSuchUpload"),
    ("bucket_policy", "NoSuchBucketPolicy"),
    ("bucket_tagging_missing", "NoSuchTagSet"),
    ("content_type", "text/x-test"),
    ("copy_keeps_metadata", "blue"),
    ("copy_replaces_metadata", "red"),
    ("copy_source_if_match_wrong", "PreconditionFailed"),
    ("copy_to_itself_unchanged", "InvalidRequest"),
    ("create_bucket_again", "ok"),
    ("delete_missing_key", "ok"),
    ("delete_non_empty_bucket", "BucketNotEmpty"),
    ("delete_objects", "2"),
    ("double_slash_is_its_own_key", "12"),
    ("folder_marker", "ok"),
    ("get_behind_delete_marker_says_so", "true"),
    ("get_if_match_wrong", "PreconditionFailed"),
    ("get_if_none_match_same", "304"),
    ("get_missing_key", "NoSuchKey"),
    ("get_part_of_multipart", "1"),
    ("head_missing_bucket", "404"),
    ("head_part_one_of_simple_object", "10"),
    ("key_and_folder_of_one_name", "FG"),
    ("leading_slash", "L"),
    ("listing_delimiter", "/,a/,dir/,f/,p/"),
    ("listing_max_keys", "True"),
    ("listing_start_after", "p/a%2Fb,p/a+b"),
    ("listing_url_encoded_keys", "p/a b,p/a%2Fb,p/a+b"),
    ("multipart_etag_parts", "2"),
    ("multipart_small_part", "EntityTooSmall"),
    ("multipart_wrong_etag", "InvalidPart"),
    ("object_acl", "ok"),
    (
        "object_lock_configuration",
        "ObjectLockConfigurationNotFoundError",
    ),
    ("object_tagging", "v"),
    ("post_object", "204|posted"),
    ("post_object_too_large", "EntityTooLarge"),
    ("post_object_too_large_leaves_nothing", "404"),
    ("presigned_get", "0123456789"),
    ("presigned_get_expired", "AccessDenied"),
    ("put_if_match_wrong", "PreconditionFailed"),
    ("put_if_none_match_existing", "PreconditionFailed"),
    ("range_read", "234"),
    ("range_suffix", "789"),
    ("range_unsatisfiable", "InvalidRange"),
    (
        "sha256_checksum_returned",
        "Om6weQ85rIfJTzhWst0sXREOaBFgImGpqSPTuyOtyLc=",
    ),
    ("tagging_header", "2"),
    ("unknown_version_id", "NoSuchVersion"),
    ("user_metadata", "blue"),
    ("versioning_status", "Enabled"),
    // Reading a delete marker by its version id is 405 on S3.
    (
        "versions_and_delete_marker",
        "NoSuchKey|one|MethodNotAllowed|2|1",
    ),
    ("wrong_content_md5", "BadDigest"),
    ("wrong_content_md5_leaves_nothing", "404"),
    ("wrong_crc32", "BadDigest"),
];

#[test]
fn the_store_answers_the_s3_behaviour_table_as_s3_does_and_at_least_as_moto() {
    needs_testbed!();
    let h = harness();
    let m = crate::harness::moto();
    let name = crate::harness::unique_name("parity");
    let moto = parity_run(&m.endpoint, &m.creds, &name);
    let store = parity_run(&h.store.endpoint(), &h.store.creds, &name);
    let mut rows: Vec<&str> = S3_ANSWERS.iter().map(|(k, _)| *k).collect();
    rows.sort_unstable();
    let ran: Vec<&str> = store.keys().map(String::as_str).collect();
    assert_eq!(
        ran, rows,
        "the table and the script name the same behaviours"
    );
    let mut table = String::new();
    let mut store_off = Vec::new();
    for (row, want) in S3_ANSWERS {
        let got = |side: &serde_json::Map<String, Value>| {
            side.get(*row)
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        };
        let (st, mo) = (got(&store), got(&moto));
        table.push_str(&format!(
            "{row:36} S3={want:<20} store={st:<20} moto={mo}\n"
        ));
        if st != *want {
            store_off.push(*row);
        }
    }
    // Printed so a run shows where moto, the usual reference, differs.
    println!("{table}");
    assert!(
        store_off.is_empty(),
        "the store differs from S3 on {store_off:?}:\n{table}"
    );
}
