//! Unit tests of classification: addressing, every operation, resources.

#![allow(clippy::expect_used, reason = "a test panics on a broken fixture")]

use http::HeaderValue;

use super::*;

const DOMAINS: &[&str] = &["s3gate.example.com", "example.com"];

fn domains() -> Vec<String> {
    DOMAINS.iter().map(|d| (*d).to_owned()).collect()
}

fn req(method: &str, uri: &str) -> S3Request {
    req_with(method, uri, &[])
}

fn req_with(method: &str, uri: &str, headers: &[(&'static str, &str)]) -> S3Request {
    match try_req(method, uri, headers) {
        Ok(r) => r,
        Err(e) => panic!("{method} {uri}: {e}"),
    }
}

fn try_req(
    method: &str,
    uri: &str,
    headers: &[(&'static str, &str)],
) -> Result<S3Request, S3Error> {
    let method: Method = method.parse().expect("method");
    let uri: Uri = uri.parse().expect("uri");
    let mut map = HeaderMap::new();
    map.insert("host", HeaderValue::from_static("s3gate.example.com"));
    for (name, value) in headers {
        map.insert(*name, HeaderValue::from_str(value).expect("header"));
    }
    classify(&method, &uri, &map, &domains())
}

fn res(pairs: &[(Action, &str)]) -> super::Resources {
    pairs.iter().map(|(a, r)| (*a, (*r).to_owned())).collect()
}

#[track_caller]
fn check(r: &S3Request, op: Operation, resources: &[(Action, &str)]) {
    assert_eq!(r.operation, op);
    assert_eq!(r.resources, res(resources));
}

#[test]
fn service_level() {
    check(
        &req("GET", "/"),
        Operation::ListBuckets,
        &[(Action::ListAllMyBuckets, "s3://")],
    );
    check(
        &req("GET", "/?max-buckets=10&x-id=ListBuckets"),
        Operation::ListBuckets,
        &[(Action::ListAllMyBuckets, "s3://")],
    );
    check(
        &req("PUT", "/"),
        Operation::Other,
        &[(Action::Unclassified, "s3://")],
    );
}

#[test]
fn bucket_level_operations() {
    use Action as A;
    use Operation as O;
    let cases: &[(&str, &str, O, A)] = &[
        ("PUT", "/bkt", O::CreateBucket, A::CreateBucket),
        ("DELETE", "/bkt/", O::DeleteBucket, A::DeleteBucket),
        (
            "GET",
            "/bkt?location",
            O::GetBucketLocation,
            A::GetBucketLocation,
        ),
        (
            "GET",
            "/bkt?versioning",
            O::GetBucketVersioning,
            A::GetBucketVersioning,
        ),
        (
            "PUT",
            "/bkt?versioning",
            O::PutBucketVersioning,
            A::PutBucketVersioning,
        ),
        (
            "GET",
            "/bkt?tagging",
            O::GetBucketTagging,
            A::GetBucketTagging,
        ),
        (
            "PUT",
            "/bkt?tagging",
            O::PutBucketTagging,
            A::PutBucketTagging,
        ),
        (
            "DELETE",
            "/bkt?tagging",
            O::DeleteBucketTagging,
            A::PutBucketTagging,
        ),
        ("GET", "/bkt?acl", O::GetBucketAcl, A::GetBucketAcl),
        ("PUT", "/bkt?acl", O::PutBucketAcl, A::PutBucketAcl),
        ("GET", "/bkt?policy", O::GetBucketPolicy, A::GetBucketPolicy),
        ("PUT", "/bkt?policy", O::PutBucketPolicy, A::PutBucketPolicy),
        (
            "DELETE",
            "/bkt?policy",
            O::DeleteBucketPolicy,
            A::DeleteBucketPolicy,
        ),
        ("GET", "/bkt?cors", O::GetBucketCors, A::GetBucketCors),
        ("PUT", "/bkt?cors", O::PutBucketCors, A::PutBucketCors),
        ("DELETE", "/bkt?cors", O::DeleteBucketCors, A::PutBucketCors),
        (
            "GET",
            "/bkt?lifecycle",
            O::GetBucketLifecycleConfiguration,
            A::GetLifecycleConfiguration,
        ),
        (
            "PUT",
            "/bkt?lifecycle",
            O::PutBucketLifecycleConfiguration,
            A::PutLifecycleConfiguration,
        ),
        (
            "DELETE",
            "/bkt?lifecycle",
            O::DeleteBucketLifecycle,
            A::PutLifecycleConfiguration,
        ),
        (
            "GET",
            "/bkt?encryption",
            O::GetBucketEncryption,
            A::GetEncryptionConfiguration,
        ),
        (
            "PUT",
            "/bkt?encryption",
            O::PutBucketEncryption,
            A::PutEncryptionConfiguration,
        ),
        (
            "DELETE",
            "/bkt?encryption",
            O::DeleteBucketEncryption,
            A::PutEncryptionConfiguration,
        ),
    ];
    for (method, uri, op, action) in cases {
        let r = req(method, uri);
        check(&r, *op, &[(*action, "s3://bkt")]);
        assert_eq!(r.bucket.as_deref(), Some("bkt"));
        assert_eq!(r.key, None);
        assert_eq!(op.as_str(), format!("{op:?}"));
    }
}

#[test]
fn listings_use_the_prefix() {
    check(
        &req("GET", "/bkt"),
        Operation::ListObjects,
        &[(Action::ListBucket, "s3://bkt/")],
    );
    check(
        &req(
            "GET",
            "/bkt/?list-type=2&prefix=home%2Falice%2F&delimiter=%2F",
        ),
        Operation::ListObjectsV2,
        &[(Action::ListBucket, "s3://bkt/home/alice/")],
    );
    check(
        &req("GET", "/bkt?versions&prefix=a"),
        Operation::ListObjectVersions,
        &[(Action::ListBucketVersions, "s3://bkt/a")],
    );
    check(
        &req("GET", "/bkt?uploads&prefix=a/b"),
        Operation::ListMultipartUploads,
        &[(Action::ListBucketMultipartUploads, "s3://bkt/a/b")],
    );
    check(
        &req("HEAD", "/bkt"),
        Operation::HeadBucket,
        &[(Action::ListBucket, "s3://bkt/")],
    );
    let r = req("GET", "/bkt?prefix=a%20b");
    assert_eq!(r.prefix.as_deref(), Some("a b"));
    // Unknown list-type is not guessed at.
    check(
        &req("GET", "/bkt?list-type=3"),
        Operation::Other,
        &[(Action::Unclassified, "s3://bkt")],
    );
}

#[test]
fn literal_plus_in_prefix_needs_both_readings() {
    check(
        &req("GET", "/bkt?prefix=a+b"),
        Operation::ListObjects,
        &[
            (Action::ListBucket, "s3://bkt/a b"),
            (Action::ListBucket, "s3://bkt/a+b"),
        ],
    );
    check(
        &req("GET", "/bkt?prefix=a%2Bb"),
        Operation::ListObjects,
        &[(Action::ListBucket, "s3://bkt/a+b")],
    );
}

#[test]
fn object_level_operations() {
    use Action as A;
    use Operation as O;
    let cases: &[(&str, &str, O, A)] = &[
        ("GET", "/bkt/k", O::GetObject, A::GetObject),
        (
            "GET",
            "/bkt/k?partNumber=1&response-content-type=x",
            O::GetObject,
            A::GetObject,
        ),
        (
            "GET",
            "/bkt/k?versionId=v1",
            O::GetObject,
            A::GetObjectVersion,
        ),
        ("HEAD", "/bkt/k", O::HeadObject, A::GetObject),
        (
            "HEAD",
            "/bkt/k?versionId=v1",
            O::HeadObject,
            A::GetObjectVersion,
        ),
        ("PUT", "/bkt/k?x-id=PutObject", O::PutObject, A::PutObject),
        ("DELETE", "/bkt/k", O::DeleteObject, A::DeleteObject),
        (
            "DELETE",
            "/bkt/k?versionId=v1",
            O::DeleteObject,
            A::DeleteObjectVersion,
        ),
        (
            "POST",
            "/bkt/k?uploads",
            O::CreateMultipartUpload,
            A::PutObject,
        ),
        (
            "PUT",
            "/bkt/k?partNumber=2&uploadId=u",
            O::UploadPart,
            A::PutObject,
        ),
        (
            "POST",
            "/bkt/k?uploadId=u",
            O::CompleteMultipartUpload,
            A::PutObject,
        ),
        (
            "DELETE",
            "/bkt/k?uploadId=u",
            O::AbortMultipartUpload,
            A::AbortMultipartUpload,
        ),
        (
            "GET",
            "/bkt/k?uploadId=u&max-parts=5",
            O::ListParts,
            A::ListMultipartUploadParts,
        ),
        (
            "GET",
            "/bkt/k?tagging",
            O::GetObjectTagging,
            A::GetObjectTagging,
        ),
        (
            "PUT",
            "/bkt/k?tagging",
            O::PutObjectTagging,
            A::PutObjectTagging,
        ),
        (
            "DELETE",
            "/bkt/k?tagging",
            O::DeleteObjectTagging,
            A::DeleteObjectTagging,
        ),
        ("GET", "/bkt/k?acl", O::GetObjectAcl, A::GetObjectAcl),
        ("PUT", "/bkt/k?acl", O::PutObjectAcl, A::PutObjectAcl),
        (
            "GET",
            "/bkt/k?attributes",
            O::GetObjectAttributes,
            A::GetObjectAttributes,
        ),
    ];
    for (method, uri, op, action) in cases {
        let r = req(method, uri);
        check(&r, *op, &[(*action, "s3://bkt/k")]);
        assert_eq!(r.key.as_deref(), Some("k"), "{uri}");
    }
    // Presigned-URL parameters do not change the operation.
    let presigned = "/bkt/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=SGIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request\
                     &X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
                     &X-Amz-Security-Token=t&X-Amz-Signature=00";
    check(
        &req("GET", presigned),
        Operation::GetObject,
        &[(Action::GetObject, "s3://bkt/k")],
    );
    assert_eq!(
        req("GET", "/bkt/k?versionId=v%201").version_id.as_deref(),
        Some("v 1")
    );
}

#[test]
fn unknown_or_ambiguous_requests_are_other_and_need_unclassified() {
    for (method, uri, resource) in [
        ("GET", "/bkt/k?retention", "s3://bkt/k"),
        ("PUT", "/bkt/k?legal-hold", "s3://bkt/k"),
        ("PUT", "/bkt/k?tagging&acl", "s3://bkt/k"),
        ("PUT", "/bkt/k?uploadId=u", "s3://bkt/k"),
        ("PUT", "/bkt/k?partNumber=1", "s3://bkt/k"),
        ("POST", "/bkt/k", "s3://bkt/k"),
        ("POST", "/bkt/k?select&select-type=2", "s3://bkt/k"),
        ("OPTIONS", "/bkt/k", "s3://bkt/k"),
        ("PATCH", "/bkt/k", "s3://bkt/k"),
        ("PUT", "/bkt?publicAccessBlock", "s3://bkt"),
        ("GET", "/bkt?website", "s3://bkt"),
        ("GET", "/bkt?uploadId=u", "s3://bkt"),
        ("GET", "/bkt/k?x-am%C3%A9=1", "s3://bkt/k"),
        ("GET", "/bkt/k?%C3%A9%C3%A9%C3%A9%C3%A9=1", "s3://bkt/k"),
    ] {
        let r = req(method, uri);
        check(&r, Operation::Other, &[(Action::Unclassified, resource)]);
    }
}

#[test]
fn dot_segments_are_refused_in_keys_copy_sources_and_prefixes() {
    let code = |method: &str, uri: &str, headers: &[(&'static str, &str)]| {
        try_req(method, uri, headers)
            .map(|_| ())
            .map_err(|e| e.code)
    };
    let bad = Err(S3ErrorCode::InvalidArgument);
    for uri in [
        "/bkt/a/../b",
        "/bkt/..",
        "/bkt/./a",
        "/bkt/a/.",
        "/bkt/a/%2E%2E/b",
        "/bkt/a%2F..%2Fb",
        "/bkt/a/%2e/b",
    ] {
        assert_eq!(code("GET", uri, &[]), bad, "{uri}");
        assert_eq!(code("PUT", uri, &[]), bad, "{uri}");
    }
    for source in ["src/dst/../other", "/src/a/%2E%2E/b", "src/./k", "src/k/.."] {
        assert_eq!(
            code("PUT", "/dst/k", &[("x-amz-copy-source", source)]),
            bad,
            "{source}"
        );
    }
    assert_eq!(code("GET", "/bkt?prefix=a/../b/", &[]), bad);
    assert_eq!(code("GET", "/bkt?prefix=a%2F..%2F", &[]), bad);
    // Names that merely start with dots are keys like any other, and a
    // prefix's last segment is a partial name.
    for uri in [
        "/bkt/..a/.b/c..",
        "/bkt/.../x",
        "/bkt?prefix=a/.",
        "/bkt?prefix=..",
    ] {
        assert_eq!(code("GET", uri, &[]), Ok(()), "{uri}");
    }
}

#[test]
fn header_implied_actions_are_needed_on_the_destination() {
    check(
        &req_with("PUT", "/bkt/k", &[("x-amz-acl", "public-read")]),
        Operation::PutObject,
        &[
            (Action::PutObject, "s3://bkt/k"),
            (Action::PutObjectAcl, "s3://bkt/k"),
        ],
    );
    // A copy's implied actions are on the destination, not the source.
    check(
        &req_with(
            "PUT",
            "/dst/k",
            &[
                ("x-amz-copy-source", "src/s"),
                ("x-amz-object-lock-mode", "COMPLIANCE"),
            ],
        ),
        Operation::CopyObject,
        &[
            (Action::PutObject, "s3://dst/k"),
            (Action::PutObjectRetention, "s3://dst/k"),
            (Action::GetObject, "s3://src/s"),
        ],
    );
    // Both readings of a literal `+` need the implied action too.
    check(
        &req_with("PUT", "/bkt/a+b", &[("x-amz-tagging", "a=b")]),
        Operation::PutObject,
        &[
            (Action::PutObject, "s3://bkt/a+b"),
            (Action::PutObject, "s3://bkt/a b"),
            (Action::PutObjectTagging, "s3://bkt/a+b"),
            (Action::PutObjectTagging, "s3://bkt/a b"),
        ],
    );
    check(
        &req_with("PUT", "/bkt", &[("x-amz-acl", "public-read")]),
        Operation::CreateBucket,
        &[
            (Action::CreateBucket, "s3://bkt"),
            (Action::PutBucketAcl, "s3://bkt"),
        ],
    );
    // A presigned URL's hoisted header is a header.
    check(
        &req("PUT", "/bkt/k?X-Amz-Signature=0&x-amz-acl=public-read"),
        Operation::PutObject,
        &[
            (Action::PutObject, "s3://bkt/k"),
            (Action::PutObjectAcl, "s3://bkt/k"),
        ],
    );
    let err = try_req("PUT", "/bkt/k?x-amz-frob=1", &[]).expect_err("unknown");
    assert_eq!(err.code, S3ErrorCode::InvalidArgument);
    // DeleteObjects: the bypass is needed on every key.
    let mut r = req_with(
        "POST",
        "/bkt?delete",
        &[("x-amz-bypass-governance-retention", "true")],
    );
    r.set_delete_keys(&[("a".into(), None)]);
    assert_eq!(
        r.resources,
        res(&[
            (Action::BypassGovernanceRetention, "s3://bkt/a"),
            (Action::DeleteObject, "s3://bkt/a"),
        ])
    );
    // Unclassified requests need `*`, which holds every implied action.
    check(
        &req_with("PUT", "/bkt/k?retention", &[("x-amz-frob", "1")]),
        Operation::Other,
        &[(Action::Unclassified, "s3://bkt/k")],
    );
}

#[test]
fn version_ids_need_the_version_actions() {
    use Action as A;
    for (method, uri, action) in [
        (
            "GET",
            "/bkt/k?tagging&versionId=v",
            A::GetObjectVersionTagging,
        ),
        (
            "PUT",
            "/bkt/k?tagging&versionId=v",
            A::PutObjectVersionTagging,
        ),
        (
            "DELETE",
            "/bkt/k?tagging&versionId=v",
            A::DeleteObjectVersionTagging,
        ),
        ("GET", "/bkt/k?acl&versionId=v", A::GetObjectVersionAcl),
        ("PUT", "/bkt/k?acl&versionId=v", A::PutObjectVersionAcl),
        (
            "GET",
            "/bkt/k?attributes&versionId=v",
            A::GetObjectVersionAttributes,
        ),
    ] {
        assert_eq!(
            req(method, uri).resources,
            res(&[(action, "s3://bkt/k")]),
            "{uri}"
        );
    }
}

/// Property: over random keys built from dots, slashes, letters and
/// their percent-encodings, classify refuses exactly those whose decoded
/// key has a `.` or `..` segment, as a path and as a copy source.
#[test]
fn dot_segments_are_refused_exactly_whatever_their_encoding() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xd07);
    let pieces = [".", "%2E", "%2e", "/", "%2F", "a", "b"];
    for _ in 0..3000 {
        let len = rng.random_range(1..8);
        let raw: String = (0..len)
            .map(|_| pieces[rng.random_range(0..pieces.len())])
            .collect();
        let decoded = decode(&raw, false).expect("decodes");
        let dotted = decoded.split('/').any(|s| s == "." || s == "..");
        let as_path = try_req("GET", &format!("/bkt/{raw}"), &[]);
        let as_source = try_req(
            "PUT",
            "/dst/k",
            &[("x-amz-copy-source", &format!("src/{raw}"))],
        );
        if dotted {
            assert_eq!(
                as_path.map(|_| ()).map_err(|e| e.code),
                Err(S3ErrorCode::InvalidArgument),
                "{raw}"
            );
            assert_eq!(
                as_source.map(|_| ()).map_err(|e| e.code),
                Err(S3ErrorCode::InvalidArgument),
                "{raw}"
            );
        } else {
            assert!(as_path.is_ok(), "{raw}");
            assert!(as_source.is_ok(), "{raw}");
        }
    }
}

#[test]
fn keys_are_byte_exact() {
    let r = req("GET", "/bkt/a//b");
    assert_eq!(r.key.as_deref(), Some("a//b"));
    check(
        &r,
        Operation::GetObject,
        &[(Action::GetObject, "s3://bkt/a//b")],
    );

    let r = req("GET", "/bkt/a%2Fb");
    assert_eq!(r.key.as_deref(), Some("a/b"));
    check(
        &r,
        Operation::GetObject,
        &[(Action::GetObject, "s3://bkt/a/b")],
    );

    let r = req("GET", "/bkt//");
    assert_eq!(r.key.as_deref(), Some("/"));

    let r = req("PUT", "/bkt/caf%C3%A9%20x");
    assert_eq!(r.key.as_deref(), Some("café x"));
}

#[test]
fn literal_plus_in_key_needs_both_readings() {
    let r = req("GET", "/bkt/a+b");
    assert_eq!(r.key.as_deref(), Some("a+b"));
    check(
        &r,
        Operation::GetObject,
        &[
            (Action::GetObject, "s3://bkt/a+b"),
            (Action::GetObject, "s3://bkt/a b"),
        ],
    );
    check(
        &req("GET", "/bkt/a%2Bb"),
        Operation::GetObject,
        &[(Action::GetObject, "s3://bkt/a+b")],
    );
}

#[test]
fn virtual_host_addressing() {
    let r = req_with(
        "GET",
        "/a//b%2Fc",
        &[("host", "my.bkt.s3gate.example.com:8443")],
    );
    assert_eq!(r.addressing, Addressing::VirtualHost);
    assert_eq!(r.bucket.as_deref(), Some("my.bkt"));
    assert_eq!(r.key.as_deref(), Some("a//b/c"));
    check(
        &r,
        Operation::GetObject,
        &[(Action::GetObject, "s3://my.bkt/a//b/c")],
    );

    // Longest domain wins; the host is case-insensitive.
    let r = req_with(
        "GET",
        "/?list-type=2",
        &[("host", "BKT.S3GATE.example.com")],
    );
    assert_eq!(r.addressing, Addressing::VirtualHost);
    check(
        &r,
        Operation::ListObjectsV2,
        &[(Action::ListBucket, "s3://bkt/")],
    );

    let r = req_with("GET", "/k", &[("host", "bkt.example.com")]);
    assert_eq!(r.bucket.as_deref(), Some("bkt"));

    // A leading `//` in a virtual-hosted path is part of the key.
    let r = req_with("GET", "//k", &[("host", "bkt.example.com")]);
    assert_eq!(r.key.as_deref(), Some("/k"));
}

#[test]
fn host_equal_to_a_domain_or_unknown_is_path_style() {
    let r = req_with("GET", "/bkt/k", &[("host", "s3gate.example.com:443")]);
    assert_eq!(r.addressing, Addressing::Path);
    assert_eq!(r.bucket.as_deref(), Some("bkt"));
    let r = req_with("GET", "/bkt/k", &[("host", "bkt.other.org")]);
    assert_eq!(r.addressing, Addressing::Path);
    let r = req_with("GET", "/bkt/k", &[("host", "[::1]:9000")]);
    assert_eq!(r.addressing, Addressing::Path);
    // `xexample.com` is not under `example.com`.
    let r = req_with("GET", "/bkt/k", &[("host", "xexample.com")]);
    assert_eq!(r.addressing, Addressing::Path);
}

#[test]
fn authority_is_used_without_host_header() {
    let method = Method::GET;
    let uri: Uri = "https://bkt.example.com/k".parse().expect("uri");
    let r = classify(&method, &uri, &HeaderMap::new(), &domains()).expect("classify");
    assert_eq!(r.addressing, Addressing::VirtualHost);
    assert_eq!(r.bucket.as_deref(), Some("bkt"));
}

#[test]
fn copy_object_needs_read_on_source_and_write_on_destination() {
    for source in ["src/a%2Fb/c%20d", "/src/a%2Fb/c%20d"] {
        let r = req_with("PUT", "/dst/k", &[("x-amz-copy-source", source)]);
        check(
            &r,
            Operation::CopyObject,
            &[
                (Action::PutObject, "s3://dst/k"),
                (Action::GetObject, "s3://src/a/b/c d"),
            ],
        );
        let src = r.copy_source.expect("copy source");
        assert_eq!((src.bucket.as_str(), src.key.as_str()), ("src", "a/b/c d"));
    }
    let r = req_with(
        "PUT",
        "/dst/k?partNumber=3&uploadId=u",
        &[("x-amz-copy-source", "src/k?versionId=v9")],
    );
    check(
        &r,
        Operation::UploadPartCopy,
        &[
            (Action::PutObject, "s3://dst/k"),
            (Action::GetObjectVersion, "s3://src/k"),
        ],
    );
    assert_eq!(
        r.copy_source.and_then(|s| s.version_id).as_deref(),
        Some("v9")
    );
}

#[test]
fn unusable_copy_sources_are_refused() {
    for source in [
        "src",
        "src/",
        "/src",
        "_s3gate/k",
        "sr/k",
        "src/k%zz",
        "src/k?versionId=",
        "src/k?other=1",
        "src/k?versionId=a&x=y",
        "arn:aws:s3:us-east-1:123456789012:accesspoint/ap/object/k",
    ] {
        let err = try_req("PUT", "/dst/k", &[("x-amz-copy-source", source)]).expect_err(source);
        assert!(
            matches!(
                err.code,
                S3ErrorCode::InvalidArgument | S3ErrorCode::InvalidBucketName
            ),
            "{source}: {err}"
        );
    }
}

#[test]
fn a_form_upload_is_post_object_and_fails_closed_until_the_form_is_read() {
    for (uri, host) in [("/bkt", "s3gate.example.com"), ("/", "bkt.example.com")] {
        let r = try_req("POST", uri, &[("host", host)]).expect("classifies");
        assert_eq!(r.operation, Operation::PostObject, "{uri} {host}");
        assert_eq!(r.resources, res(&[(Action::Unclassified, "s3://bkt")]));
    }
}

#[test]
fn delete_objects_fails_closed_until_keys_are_set() {
    let mut r = req("POST", "/bkt?delete");
    assert_eq!(r.operation, Operation::DeleteObjects);
    assert!(r.needs_body_keys());
    assert_eq!(r.resources, res(&[(Action::Unclassified, "s3://bkt")]));
    r.set_delete_keys(&[("a/b".into(), None), ("c".into(), Some("v".into()))]);
    assert!(!r.needs_body_keys());
    assert_eq!(
        r.resources,
        res(&[
            (Action::DeleteObject, "s3://bkt/a/b"),
            (Action::DeleteObjectVersion, "s3://bkt/c")
        ])
    );
    // No keys: still fail-closed.
    let mut empty = req("POST", "/bkt?delete");
    empty.set_delete_keys(&[]);
    assert!(empty.needs_body_keys());
    assert_eq!(empty.resources, res(&[(Action::Unclassified, "s3://bkt")]));
    // Not DeleteObjects: untouched.
    let mut r = req("GET", "/bkt/k");
    r.set_delete_keys(&[("x".into(), None)]);
    assert!(!r.needs_body_keys());
    assert_eq!(r.resources, res(&[(Action::GetObject, "s3://bkt/k")]));
}

#[test]
fn refusals() {
    let code = |method: &str, uri: &str| try_req(method, uri, &[]).map(|_| ()).map_err(|e| e.code);
    assert_eq!(
        code("GET", "/_s3gate/healthz"),
        Err(S3ErrorCode::InvalidBucketName)
    );
    assert_eq!(code("GET", "/_bk"), Err(S3ErrorCode::InvalidBucketName));
    assert_eq!(code("GET", "/ab/k"), Err(S3ErrorCode::InvalidBucketName));
    assert_eq!(
        code("GET", &format!("/{}/k", "b".repeat(64))),
        Err(S3ErrorCode::InvalidBucketName)
    );
    assert_eq!(code("GET", "/b%41c/k"), Err(S3ErrorCode::InvalidBucketName));
    assert_eq!(code("GET", "/bkt/k%"), Err(S3ErrorCode::InvalidURI));
    assert_eq!(code("GET", "/bkt/k%zz"), Err(S3ErrorCode::InvalidURI));
    assert_eq!(code("GET", "/bkt/k%FF"), Err(S3ErrorCode::InvalidURI));
    assert_eq!(
        code("GET", "/bkt?prefix=%FF"),
        Err(S3ErrorCode::InvalidArgument)
    );
    assert_eq!(
        code("GET", "/bkt?prefix=a&prefix=b"),
        Err(S3ErrorCode::InvalidArgument)
    );
    assert_eq!(
        code("GET", "/bkt/k?versionId=%zz"),
        Err(S3ErrorCode::InvalidURI)
    );
    // Legacy names are accepted leniently.
    assert_eq!(code("GET", "/My_Legacy.Bucket/k"), Ok(()));
    // A virtual-hosted bucket is validated too.
    let err = try_req("GET", "/k", &[("host", "_x.example.com")]).expect_err("vhost");
    assert_eq!(err.code, S3ErrorCode::InvalidBucketName);
    assert_eq!(err.resource.as_deref(), Some("/k"));
}
