//! The everyday S3 operations through s3gate, checked against what the store
//! holds afterwards: listing with prefix and delimiter, head, delete,
//! DeleteObjects, CopyObject, range GET, and presigned GET/PUT used by curl.

use crate::client::{aws, boto3, curl, sdk, store_keys, store_object, store_put};
use crate::harness::{harness, random_bytes, random_file, sha256_hex};

#[test]
fn list_objects_v2_with_prefix_and_delimiter_returns_common_prefixes() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("list");
    for key in ["a/1", "a/2", "a/sub/3", "a/sub/4", "b/5", "top"] {
        store_put(&bucket.name, key, key.as_bytes());
    }
    let creds = h.session_for(&bucket.name);
    let client = sdk(&h.gw().endpoint(), &creds);
    h.block_on(async {
        let out = client
            .list_objects_v2()
            .bucket(&bucket.name)
            .prefix("a/")
            .delimiter("/")
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListObjectsV2: {e:?}"));
        let keys: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
        let prefixes: Vec<_> = out
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .collect();
        assert_eq!(keys, ["a/1", "a/2"]);
        assert_eq!(prefixes, ["a/sub/"]);

        let out = client
            .list_objects_v2()
            .bucket(&bucket.name)
            .delimiter("/")
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListObjectsV2: {e:?}"));
        let keys: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
        let prefixes: Vec<_> = out
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .collect();
        assert_eq!(keys, ["top"]);
        assert_eq!(prefixes, ["a/", "b/"]);

        let out = client
            .list_objects_v2()
            .bucket(&bucket.name)
            .prefix("a/sub/")
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListObjectsV2: {e:?}"));
        let keys: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(keys, ["a/sub/3", "a/sub/4"]);
    });
}

#[test]
fn aws_cli_ls_shows_folders_and_files_under_a_prefix() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("ls");
    for key in [
        "photos/2024/x.jpg",
        "photos/cat.jpg",
        "photos/dog.jpg",
        "notes.txt",
    ] {
        store_put(&bucket.name, key, b"content");
    }
    let creds = h.session_for(&bucket.name);
    let out = aws(
        &h.gw().endpoint(),
        &creds,
        &["s3", "ls", &format!("s3://{}/photos/", bucket.name)],
    )
    .ok();
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    assert!(lines.contains(&"PRE 2024/"), "{}", out.stdout);
    assert!(
        lines.iter().any(|l| l.ends_with(" cat.jpg")),
        "{}",
        out.stdout
    );
    assert!(
        lines.iter().any(|l| l.ends_with(" dog.jpg")),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("notes.txt"), "{}", out.stdout);
    assert_eq!(lines.len(), 3, "{}", out.stdout);
}

#[test]
fn head_object_reports_size_and_a_missing_key_is_404() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("head");
    store_put(&bucket.name, "k", &random_bytes(4321));
    let creds = h.session_for(&bucket.name);
    let client = sdk(&h.gw().endpoint(), &creds);
    h.block_on(async {
        let out = client
            .head_object()
            .bucket(&bucket.name)
            .key("k")
            .send()
            .await
            .unwrap();
        assert_eq!(out.content_length(), Some(4321));
        let err = client
            .head_object()
            .bucket(&bucket.name)
            .key("missing")
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
        assert!(err.into_service_error().is_not_found());
    });
}

#[test]
fn delete_object_removes_it_from_the_store() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("delete");
    store_put(&bucket.name, "gone", b"x");
    store_put(&bucket.name, "stays", b"y");
    let creds = h.session_for(&bucket.name);
    h.block_on(async {
        sdk(&h.gw().endpoint(), &creds)
            .delete_object()
            .bucket(&bucket.name)
            .key("gone")
            .send()
            .await
            .unwrap_or_else(|e| panic!("DeleteObject: {e:?}"));
    });
    assert_eq!(store_keys(&bucket.name), ["stays"]);
}

#[test]
fn delete_objects_removes_each_listed_key_and_nothing_else() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("delete-many");
    for key in ["d/1", "d/2", "d/3", "keep"] {
        store_put(&bucket.name, key, key.as_bytes());
    }
    let creds = h.session_for(&bucket.name);
    h.block_on(async {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        let objects = ["d/1", "d/2", "d/3"]
            .iter()
            .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
            .collect();
        let out = sdk(&h.gw().endpoint(), &creds)
            .delete_objects()
            .bucket(&bucket.name)
            .delete(
                Delete::builder()
                    .set_objects(Some(objects))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("DeleteObjects: {e:?}"));
        assert!(out.errors().is_empty(), "{:?}", out.errors());
        assert_eq!(out.deleted().len(), 3);
    });
    assert_eq!(store_keys(&bucket.name), ["keep"]);
}

#[test]
fn copy_object_copies_the_bytes_within_the_bucket() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("copy");
    let data = random_bytes(70_000);
    store_put(&bucket.name, "src/original", &data);
    let creds = h.session_for(&bucket.name);
    h.block_on(async {
        sdk(&h.gw().endpoint(), &creds)
            .copy_object()
            .bucket(&bucket.name)
            .key("dst/copy")
            .copy_source(format!("{}/src/original", bucket.name))
            .send()
            .await
            .unwrap_or_else(|e| panic!("CopyObject: {e:?}"));
    });
    assert_eq!(
        store_object(&bucket.name, "dst/copy").as_deref(),
        Some(&data[..])
    );
    assert_eq!(
        store_object(&bucket.name, "src/original").as_deref(),
        Some(&data[..])
    );
}

#[test]
fn range_get_returns_exactly_the_requested_bytes() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("range");
    let data = random_bytes(10_000);
    store_put(&bucket.name, "r", &data);
    let creds = h.session_for(&bucket.name);
    h.block_on(async {
        let out = sdk(&h.gw().endpoint(), &creds)
            .get_object()
            .bucket(&bucket.name)
            .key("r")
            .range("bytes=1000-1999")
            .send()
            .await
            .unwrap_or_else(|e| panic!("ranged GetObject: {e:?}"));
        assert_eq!(out.content_range(), Some("bytes 1000-1999/10000"));
        let body = out.body.collect().await.unwrap().into_bytes();
        assert_eq!(&body[..], &data[1000..2000]);
    });
}

#[test]
fn presigned_get_url_from_aws_cli_downloads_with_curl() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("presign-get");
    let data = random_bytes(50_000);
    store_put(&bucket.name, "shared/file.bin", &data);
    let creds = h.session_for(&bucket.name);
    let out = aws(
        &h.gw().endpoint(),
        &creds,
        &[
            "s3",
            "presign",
            &format!("s3://{}/shared/file.bin", bucket.name),
            "--expires-in",
            "300",
        ],
    )
    .ok();
    let url = out.stdout.trim();
    assert!(url.contains("X-Amz-Signature="), "not a SigV4 URL: {url}");
    let (status, body) = curl("GET", url, None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(sha256_hex(&body), sha256_hex(&data));
}

#[test]
fn presigned_put_url_from_boto3_uploads_with_curl() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("presign-put");
    let creds = h.session_for(&bucket.name);
    let out = boto3(
        &h.gw().endpoint(),
        &creds,
        "presign-put",
        &bucket.name,
        "inbox/up.bin",
        Some("300"),
    )
    .ok();
    let url = out.stdout.trim();
    assert!(url.contains("X-Amz-Signature="), "not a SigV4 URL: {url}");
    let dir = h.tempdir();
    let (file, sha) = random_file(dir.path(), "up.bin", 300_000);
    let (status, body) = curl("PUT", url, Some(&file));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let stored = store_object(&bucket.name, "inbox/up.bin").expect("uploaded through the URL");
    assert_eq!(sha256_hex(&stored), sha);
}

#[test]
fn virtual_hosted_style_requests_reach_the_bucket_named_in_the_host() {
    needs_testbed!();
    use crate::harness::VIRTUAL_HOST_DOMAIN;
    use crate::sign::{Payload, Signing, send_blocking, signed};
    let h = harness();
    let bucket = h.bucket("vhost");
    let creds = h.session_for(&bucket.name);
    let host = format!(
        "{}.{VIRTUAL_HOST_DOMAIN}:{}",
        bucket.name,
        h.gw().addr.port()
    );
    let url = |key: &str| format!("{}/{key}", h.gw().endpoint());
    let data = random_bytes(5000);

    let (req, _) = signed(
        &Signing::now(&creds),
        "PUT",
        &url("v/put.bin"),
        &[("host", &host)],
        Payload::Hash(&data),
        data.clone(),
    );
    let resp = send_blocking(req);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        store_object(&bucket.name, "v/put.bin").as_deref(),
        Some(&data[..])
    );

    let (req, _) = signed(
        &Signing::now(&creds),
        "GET",
        &url("v/put.bin"),
        &[("host", &host)],
        Payload::Hash(b""),
        Vec::new(),
    );
    let resp = send_blocking(req);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp.body[..] == data[..]);
}
