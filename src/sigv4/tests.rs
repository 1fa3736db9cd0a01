//! End-to-end tests of the module: AWS's documented known-answer vectors
//! (asserted step by step where the docs give the steps), refusals, and the
//! streaming bodies driven through `http_body::Body`.
//!
//! Expected values come from the AWS documentation, never from this code:
//! - single chunk: <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>
//! - presigned: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html>
//! - multiple chunks: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html>
//! - trailers: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html>

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use http::request::Parts;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use super::canonical::{CanonicalInput, SigningKey, chunk_signature, hex32, string_to_sign};
use super::verify::StreamSigning;
use super::*;
use crate::raw_query::RawQuery;

const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const HOST: &str = "examplebucket.s3.amazonaws.com";

/// 20130524T000000Z, the time of every AWS example.
fn may24() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_369_353_600)
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn canonical(parts: &Parts, auth: &Authorization, payload: &str) -> String {
    let query = RawQuery::of(&parts.uri);
    let input = CanonicalInput {
        parts,
        query: &query,
        signed_headers: &auth.signed_headers,
        payload,
        presigned: auth.form == AuthForm::Presigned,
    };
    String::from_utf8(input.build(false)).unwrap()
}

fn auth_header(signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders={signed_headers},Signature={signature}"
    )
}

// ---- Single chunk: GET Object ----------------------------------------------

fn get_object(auth: &str) -> Parts {
    request(
        "GET",
        "/test.txt",
        &[
            ("host", HOST),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", "20130524T000000Z"),
            ("authorization", auth),
        ],
    )
}

const GET_SIG: &str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
const GET_SIGNED: &str = "host;range;x-amz-content-sha256;x-amz-date";

#[test]
fn aws_example_get_object_step_by_step() {
    let parts = get_object(&auth_header(GET_SIGNED, GET_SIG));
    let auth = parse(&parts).unwrap();
    let creq = canonical(&parts, &auth, EMPTY);
    assert_eq!(
        creq,
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
         x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
         x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        string_to_sign(
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            creq.as_bytes()
        ),
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
         7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    );
    let verified = auth.verify(&parts, SECRET, may24()).unwrap();
    assert_eq!(verified.payload, PayloadMode::parse(EMPTY).unwrap());
    assert_eq!(verified.expires_at, None);
}

// ---- Single chunk: PUT Object ----------------------------------------------

const PUT_HASH: &str = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
const PUT_SIGNED: &str = "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class";
const PUT_SIG: &str = "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd";

fn put_object(path: &str, auth: &str) -> Parts {
    request(
        "PUT",
        path,
        &[
            ("host", HOST),
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", PUT_HASH),
            ("content-length", "21"),
            ("authorization", auth),
        ],
    )
}

#[test]
fn aws_example_put_object_step_by_step() {
    // The docs' body is "Welcome to Amazon S3." and its hash is PUT_HASH.
    assert_eq!(
        hex::encode(Sha256::digest(b"Welcome to Amazon S3.")),
        PUT_HASH
    );
    let parts = put_object("/test%24file.text", &auth_header(PUT_SIGNED, PUT_SIG));
    let auth = parse(&parts).unwrap();
    let creq = canonical(&parts, &auth, PUT_HASH);
    assert_eq!(
        creq,
        "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n\
         host:examplebucket.s3.amazonaws.com\n\
         x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n\
         x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n\
         date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n\
         44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    );
    assert!(
        string_to_sign(
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            creq.as_bytes()
        )
        .ends_with("\n9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d")
    );
    auth.verify(&parts, SECRET, may24()).unwrap();
    // A client that sends `$` raw signed the same canonical URI.
    let raw = put_object("/test$file.text", &auth_header(PUT_SIGNED, PUT_SIG));
    parse(&raw).unwrap().verify(&raw, SECRET, may24()).unwrap();
}

// ---- Single chunk: GET Bucket Lifecycle / List Objects ---------------------

fn bucket_get(uri: &str, signature: &str) -> Parts {
    request(
        "GET",
        uri,
        &[
            ("host", HOST),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", "20130524T000000Z"),
            (
                "authorization",
                &auth_header("host;x-amz-content-sha256;x-amz-date", signature),
            ),
        ],
    )
}

#[test]
fn aws_example_get_bucket_lifecycle() {
    let parts = bucket_get(
        "/?lifecycle",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    );
    let auth = parse(&parts).unwrap();
    let creq = canonical(&parts, &auth, EMPTY);
    assert!(creq.starts_with("GET\n/\nlifecycle=\nhost:"), "{creq}");
    assert!(
        string_to_sign(
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            creq.as_bytes()
        )
        .ends_with("\n9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca")
    );
    auth.verify(&parts, SECRET, may24()).unwrap();
}

#[test]
fn aws_example_list_objects() {
    let sig = "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7";
    let parts = bucket_get("/?max-keys=2&prefix=J", sig);
    let auth = parse(&parts).unwrap();
    let creq = canonical(&parts, &auth, EMPTY);
    assert!(
        creq.starts_with("GET\n/\nmax-keys=2&prefix=J\nhost:"),
        "{creq}"
    );
    assert!(
        string_to_sign(
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            creq.as_bytes()
        )
        .ends_with("\ndf57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7")
    );
    auth.verify(&parts, SECRET, may24()).unwrap();
    // The client's parameter order does not matter: the canonical query sorts.
    let reordered = bucket_get("/?prefix=J&max-keys=2", sig);
    parse(&reordered)
        .unwrap()
        .verify(&reordered, SECRET, may24())
        .unwrap();
}

// ---- Presigned URL ----------------------------------------------------------

const PRESIGNED: &str = "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

fn presigned(uri: &str) -> Parts {
    request("GET", uri, &[("host", HOST)])
}

#[test]
fn aws_example_presigned_url_step_by_step() {
    let parts = presigned(PRESIGNED);
    let auth = parse(&parts).unwrap();
    let creq = canonical(&parts, &auth, "UNSIGNED-PAYLOAD");
    assert_eq!(
        creq,
        "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n\
         host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
    );
    assert_eq!(
        string_to_sign(
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            creq.as_bytes()
        ),
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
         3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"
    );
    let verified = auth
        .verify(&parts, SECRET, may24() + Duration::from_secs(3600))
        .unwrap();
    assert_eq!(verified.payload, PayloadMode::Unsigned);
    assert_eq!(
        verified.expires_at,
        Some(may24() + Duration::from_secs(86_400))
    );
}

#[test]
fn presigned_url_past_expiry_is_rejected() {
    let parts = presigned(PRESIGNED);
    let auth = parse(&parts).unwrap();
    assert!(
        auth.verify(&parts, SECRET, may24() + Duration::from_secs(86_400))
            .is_ok()
    );
    let err = auth
        .verify(&parts, SECRET, may24() + Duration::from_secs(86_401))
        .unwrap_err();
    assert_eq!(err, SigV4Error::Expired);
    let s3 = err.to_s3_error();
    assert_eq!(s3.code, crate::s3::S3ErrorCode::AccessDenied);
    assert_eq!(s3.message, "Request has expired");
}

#[test]
fn presigned_url_from_the_future_is_too_skewed() {
    let parts = presigned(PRESIGNED);
    let auth = parse(&parts).unwrap();
    let err = auth
        .verify(&parts, SECRET, may24() - Duration::from_secs(16 * 60))
        .unwrap_err();
    assert_eq!(err, SigV4Error::RequestTimeTooSkewed);
    assert!(
        auth.verify(&parts, SECRET, may24() - Duration::from_secs(14 * 60))
            .is_ok()
    );
}

#[test]
fn presigned_url_with_tampered_query_is_rejected() {
    let tampered = format!("{PRESIGNED}&response-content-type=text%2Fhtml");
    let parts = presigned(&tampered);
    let err = parse(&parts)
        .unwrap()
        .verify(&parts, SECRET, may24())
        .unwrap_err();
    assert!(matches!(err, SigV4Error::SignatureDoesNotMatch(_)));
}

// ---- Refusals ---------------------------------------------------------------

fn assert_mismatch(parts: &Parts) {
    let err = parse(parts)
        .unwrap()
        .verify(parts, SECRET, may24())
        .unwrap_err();
    assert!(
        matches!(err, SigV4Error::SignatureDoesNotMatch(_)),
        "{err:?}"
    );
    let s3 = err.to_s3_error();
    assert_eq!(s3.code, crate::s3::S3ErrorCode::SignatureDoesNotMatch);
    assert!(!s3.message.contains(GET_SIG));
}

#[test]
fn wrong_secret_is_signature_does_not_match() {
    let parts = get_object(&auth_header(GET_SIGNED, GET_SIG));
    let err = parse(&parts)
        .unwrap()
        .verify(&parts, b"not-the-secret", may24())
        .unwrap_err();
    let SigV4Error::SignatureDoesNotMatch(Some(detail)) = &err else {
        panic!("{err:?}");
    };
    // Operators get what we signed; never the expected signature or secret.
    assert!(detail.canonical_request.starts_with("GET\n/test.txt\n"));
    assert!(!format!("{err:?}").contains(GET_SIG));
    assert!(!format!("{err:?}").contains("not-the-secret"));
    assert!(!err.to_string().contains("GET\n"));
}

#[test]
fn tampered_header_path_or_query_is_rejected() {
    let auth = auth_header(GET_SIGNED, GET_SIG);
    let mut tampered_header = get_object(&auth);
    tampered_header
        .headers
        .insert("range", http::HeaderValue::from_static("bytes=0-99"));
    assert_mismatch(&tampered_header);

    let mut tampered_path = get_object(&auth);
    tampered_path.uri = "/test2.txt".parse().unwrap();
    assert_mismatch(&tampered_path);

    let mut tampered_query = get_object(&auth);
    tampered_query.uri = "/test.txt?versionId=1".parse().unwrap();
    assert_mismatch(&tampered_query);

    let mut tampered_method = get_object(&auth);
    tampered_method.method = http::Method::DELETE;
    assert_mismatch(&tampered_method);
}

#[test]
fn clock_skew_beyond_fifteen_minutes_is_rejected_both_ways() {
    let parts = get_object(&auth_header(GET_SIGNED, GET_SIG));
    let auth = parse(&parts).unwrap();
    for now in [
        may24() + Duration::from_secs(16 * 60),
        may24() - Duration::from_secs(16 * 60),
    ] {
        let err = auth.verify(&parts, SECRET, now).unwrap_err();
        assert_eq!(err, SigV4Error::RequestTimeTooSkewed);
        assert_eq!(err.to_s3_error().status(), http::StatusCode::FORBIDDEN);
    }
    for now in [
        may24() + Duration::from_secs(14 * 60),
        may24() - Duration::from_secs(14 * 60),
    ] {
        auth.verify(&parts, SECRET, now).unwrap();
    }
}

#[test]
fn unsigned_amz_header_is_rejected() {
    let mut parts = get_object(&auth_header(GET_SIGNED, GET_SIG));
    parts.headers.insert(
        "x-amz-copy-source",
        http::HeaderValue::from_static("/other/secret"),
    );
    let err = parse(&parts)
        .unwrap()
        .verify(&parts, SECRET, may24())
        .unwrap_err();
    assert_eq!(
        err,
        SigV4Error::UnsignedAmzHeader("x-amz-copy-source".into())
    );
}

/// The header names the unsigned-header check below draws from: `x-amz-*`
/// names, near misses of each other, and names it must not care about.
const AMZ_NAMES: [&str; 9] = [
    "x-amz-date",
    "x-amz-dat",
    "x-amz-acl",
    "x-amz-copy-source",
    "x-amz-security-token",
    "x-amz-a",
    "host",
    "range",
    "x-am",
];

proptest::proptest! {
    /// The unsigned `x-amz-*` header found by reading the list's names out
    /// once is the one a search of the whole list per header finds.
    #[test]
    fn the_first_unsigned_amz_header_is_the_one_a_search_per_header_finds(
        present in proptest::collection::vec(proptest::sample::select(&AMZ_NAMES[..]), 0..6),
        listed in proptest::collection::vec(
            proptest::prop_oneof![
                4 => proptest::sample::select(&AMZ_NAMES[..]),
                1 => proptest::sample::select(&["", "X-Amz-Date", "x-amz-date ", "x-amz-"][..]),
            ],
            0..6,
        ),
    ) {
        let mut headers = http::HeaderMap::new();
        for name in &present {
            headers.append(*name, http::HeaderValue::from_static("v"));
        }
        let listed = listed.join(";");
        let by_search = headers
            .keys()
            .map(http::HeaderName::as_str)
            .find(|name| name.starts_with("x-amz-") && !listed.split(';').any(|s| s == *name));
        proptest::prop_assert_eq!(
            super::verify::first_unsigned_amz(&headers, &listed),
            by_search
        );
    }
}

#[test]
fn http2_authority_stands_in_for_the_host_header() {
    let mut parts = get_object(&auth_header(GET_SIGNED, GET_SIG));
    parts.headers.remove("host");
    parts.uri = "https://examplebucket.s3.amazonaws.com/test.txt"
        .parse()
        .unwrap();
    parse(&parts)
        .unwrap()
        .verify(&parts, SECRET, may24())
        .unwrap();
}

/// Independent HMAC for round-trip tests (not a known-answer vector).
fn test_sign(secret: &str, date: &str, region: &str, service: &str, sts: &str) -> String {
    use hmac::{Mac, digest::KeyInit};
    let mac = |k: &[u8], d: &[u8]| -> Vec<u8> {
        let mut m = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(k).unwrap();
        m.update(d);
        m.finalize().into_bytes().to_vec()
    };
    let k = mac(
        &mac(
            &mac(
                &mac(format!("AWS4{secret}").as_bytes(), date.as_bytes()),
                region.as_bytes(),
            ),
            service.as_bytes(),
        ),
        b"aws4_request",
    );
    hex::encode(mac(&k, sts.as_bytes()))
}

/// A POST to an STS endpoint signed (by `stssecret`) over `payload_line`,
/// sending `x-amz-content-sha256` (signed) only when `declared` is given.
fn sts_post(declared: Option<&str>, payload_line: &str) -> http::request::Parts {
    let (declared_line, declared_name) = match declared {
        Some(v) => (
            format!("x-amz-content-sha256:{v}\n"),
            "x-amz-content-sha256;",
        ),
        None => (String::new(), ""),
    };
    let signed_headers = format!("content-type;host;{declared_name}x-amz-date");
    let creq = format!(
        "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:sts.example.com\n\
         {declared_line}x-amz-date:20130524T000000Z\n\n{signed_headers}\n{payload_line}"
    );
    let sts = format!(
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/eu-west-1/sts/aws4_request\n{}",
        hex::encode(Sha256::digest(creq.as_bytes()))
    );
    let signature = test_sign("stssecret", "20130524", "eu-west-1", "sts", &sts);
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=AKID/20130524/eu-west-1/sts/aws4_request, \
         SignedHeaders={signed_headers}, Signature={signature}"
    );
    let mut headers = vec![
        ("host", "sts.example.com"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-amz-date", "20130524T000000Z"),
        ("authorization", authorization.as_str()),
    ];
    if let Some(v) = declared {
        headers.push(("x-amz-content-sha256", v));
    }
    request("POST", "/", &headers)
}

#[test]
fn sts_requests_without_content_sha256_verify_against_the_body_hash() {
    // STS clients sign the body hash but do not send x-amz-content-sha256.
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let body_hash: [u8; 32] = Sha256::digest(body).into();
    let parts = sts_post(None, &hex::encode(body_hash));
    let auth = parse(&parts).unwrap();
    assert_eq!(auth.credential().service(), "sts");
    assert_eq!(auth.payload, PayloadMode::Undeclared);
    // Without the body, it cannot be verified.
    assert_eq!(
        auth.verify(&parts, b"stssecret", may24()).unwrap_err(),
        SigV4Error::MissingContentSha256
    );
    let verified = auth
        .verify_with_body_sha256(&parts, b"stssecret", may24(), &body_hash)
        .unwrap();
    assert_eq!(verified.payload, PayloadMode::Sha256(body_hash));
    let other: [u8; 32] = Sha256::digest(b"Action=AssumeRole").into();
    assert!(matches!(
        auth.verify_with_body_sha256(&parts, b"stssecret", may24(), &other),
        Err(SigV4Error::SignatureDoesNotMatch(_))
    ));
}

#[test]
fn sts_requests_declaring_an_unsigned_body_are_refused() {
    // Signed correctly, but over `UNSIGNED-PAYLOAD`: the form (Policy,
    // DurationSeconds, quota) could be anything.
    let parts = sts_post(Some("UNSIGNED-PAYLOAD"), "UNSIGNED-PAYLOAD");
    let auth = parse(&parts).unwrap();
    // The signature itself holds…
    assert!(auth.verify(&parts, b"stssecret", may24()).is_ok());
    // …but not over the body.
    let body_hash: [u8; 32] = Sha256::digest(b"Action=AssumeRole").into();
    assert_eq!(
        auth.verify_with_body_sha256(&parts, b"stssecret", may24(), &body_hash)
            .unwrap_err(),
        SigV4Error::PayloadNotSigned
    );
}

#[test]
fn security_token_header_is_exposed_and_redacted_in_debug_output() {
    let auth = auth_header(&format!("{GET_SIGNED};x-amz-security-token"), GET_SIG);
    let mut parts = get_object(&auth);
    parts.headers.insert(
        "x-amz-security-token",
        http::HeaderValue::from_static("TOKEN-SECRET-VALUE"),
    );
    let parsed = parse(&parts).unwrap();
    assert_eq!(parsed.security_token.as_deref(), Some("TOKEN-SECRET-VALUE"));
    assert!(!format!("{parsed:?}").contains("TOKEN-SECRET-VALUE"));
    // The signature no longer matches (extra signed header); the debug
    // canonical request redacts the token.
    let err = parsed.verify(&parts, SECRET, may24()).unwrap_err();
    assert!(!format!("{err:?}").contains("TOKEN-SECRET-VALUE"));
}

// ---- Multiple chunks (aws-chunked, signed) ---------------------------------

const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
pub(crate) const CHUNK_SIGS: [&str; 3] = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
];

fn chunked_request(seed: &str) -> Parts {
    let signed = "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class";
    request(
        "PUT",
        "/examplebucket/chunkObject.txt",
        &[
            ("host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("content-length", "66824"),
            ("authorization", &auth_header(signed, seed)),
        ],
    )
}

pub(crate) fn chunked_wire(sigs: [&str; 3]) -> Vec<u8> {
    let mut wire = Vec::new();
    wire.extend_from_slice(format!("10000;chunk-signature={}\r\n", sigs[0]).as_bytes());
    wire.extend_from_slice(&[b'a'; 65_536]);
    wire.extend_from_slice(format!("\r\n400;chunk-signature={}\r\n", sigs[1]).as_bytes());
    wire.extend_from_slice(&[b'a'; 1024]);
    wire.extend_from_slice(format!("\r\n0;chunk-signature={}\r\n\r\n", sigs[2]).as_bytes());
    wire
}

#[test]
fn aws_example_chunked_seed_and_chunk_signatures_step_by_step() {
    let parts = chunked_request(SEED);
    let auth = parse(&parts).unwrap();
    let creq = canonical(&parts, &auth, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    assert_eq!(
        creq,
        "PUT\n/examplebucket/chunkObject.txt\n\ncontent-encoding:aws-chunked\n\
         content-length:66824\nhost:s3.amazonaws.com\n\
         x-amz-content-sha256:STREAMING-AWS4-HMAC-SHA256-PAYLOAD\n\
         x-amz-date:20130524T000000Z\nx-amz-decoded-content-length:66560\n\
         x-amz-storage-class:REDUCED_REDUNDANCY\n\n\
         content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class\n\
         STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    );
    assert!(
        string_to_sign(
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            creq.as_bytes()
        )
        .ends_with("\ncee3fed04b70f867d036f722359b0b1f2f0e5dc0efadbc082b76c4c60e316455")
    );
    let verified = auth.verify(&parts, SECRET, may24()).unwrap();
    assert_eq!(
        verified.payload,
        PayloadMode::StreamingSigned { trailer: false }
    );
    assert_eq!(verified.decoded_content_length, Some(66_560));

    // Chunk 1's string to sign hashes 64 KiB of 'a' (the docs' value).
    let data_hash: [u8; 32] = Sha256::digest([b'a'; 65_536]).into();
    assert_eq!(
        std::str::from_utf8(&hex32(&data_hash)).unwrap(),
        "bf718b6f653bebc184e1479f1935b8da974d701b893afcf49e701f3e2f9f9c5a"
    );
    let seed: [u8; 32] = hex::decode(SEED).unwrap().try_into().unwrap();
    let key = SigningKey::derive(SECRET, "20130524", "us-east-1", "s3");
    let sig1 = chunk_signature(
        &key,
        "20130524T000000Z",
        "20130524/us-east-1/s3/aws4_request",
        &seed,
        &data_hash,
    );
    assert_eq!(hex::encode(sig1), CHUNK_SIGS[0]);
}

/// A test body: the given frames, then the end (or an error).
struct Frames {
    frames: VecDeque<Result<Bytes, std::io::Error>>,
}

impl Frames {
    fn new(frames: Vec<Vec<u8>>) -> Self {
        Self {
            frames: frames.into_iter().map(|f| Ok(Bytes::from(f))).collect(),
        }
    }
    fn split(data: &[u8], size: usize) -> Self {
        Self::new(data.chunks(size.max(1)).map(<[u8]>::to_vec).collect())
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(self.frames.pop_front().map(|r| r.map(Frame::data)))
    }
}

/// Drains a body: the bytes it released and the error it ended with, if any.
async fn drain<B>(mut body: VerifiedBody<B>) -> (Vec<u8>, Option<SigV4Error>)
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => out.extend_from_slice(&frame.into_data().unwrap()),
            Err(err) => {
                // Nothing after an error.
                assert!(body.frame().await.is_none());
                return (out, Some(err));
            }
        }
    }
    (out, None)
}

pub(crate) fn chunked_verified() -> (Verified, Parts) {
    let parts = chunked_request(SEED);
    let verified = parse(&parts)
        .unwrap()
        .verify(&parts, SECRET, may24())
        .unwrap();
    (verified, parts)
}

#[tokio::test]
async fn aws_example_chunked_body_decodes_and_verifies() {
    let (verified, parts) = chunked_verified();
    let wire = chunked_wire(CHUNK_SIGS);
    assert_eq!(wire.len(), 66_824);
    let body = verified_body(
        Frames::split(&wire, 8192),
        &verified,
        &parts,
        BodyChecks::default(),
    );
    assert_eq!(body.size_hint().exact(), Some(66_560));
    let (out, err) = drain(body).await;
    assert_eq!(err, None);
    assert_eq!(out, vec![b'a'; 66_560]);
}

#[tokio::test]
async fn tampered_chunk_data_fails_before_that_chunk_is_released() {
    let (verified, parts) = chunked_verified();
    let mut wire = chunked_wire(CHUNK_SIGS);
    // Flip one byte of the second chunk's data.
    let pos = wire.len() - 100;
    wire[pos] = b'b';
    let (out, err) = drain(verified_body(
        Frames::split(&wire, 4096),
        &verified,
        &parts,
        BodyChecks::default(),
    ))
    .await;
    assert_eq!(err, Some(SigV4Error::ChunkSignatureDoesNotMatch));
    // Chunk 1 is held back until chunk 2 verifies, so nothing was released.
    assert!(out.is_empty(), "released {} bytes", out.len());

    let mut wire = chunked_wire(CHUNK_SIGS);
    wire[200] = b'b'; // inside chunk 1
    let (out, err) = drain(verified_body(
        Frames::split(&wire, 4096),
        &verified,
        &parts,
        BodyChecks::default(),
    ))
    .await;
    assert_eq!(err, Some(SigV4Error::ChunkSignatureDoesNotMatch));
    assert!(out.is_empty());
}

#[tokio::test]
async fn tampered_final_chunk_signature_holds_back_the_last_data() {
    let (verified, parts) = chunked_verified();
    let bad = "0000000000000000000000000000000000000000000000000000000000000000";
    let wire = chunked_wire([CHUNK_SIGS[0], CHUNK_SIGS[1], bad]);
    let (out, err) = drain(verified_body(
        Frames::split(&wire, 4096),
        &verified,
        &parts,
        BodyChecks::default(),
    ))
    .await;
    assert_eq!(err, Some(SigV4Error::ChunkSignatureDoesNotMatch));
    // Chunk 1 may have been released once chunk 2 verified (here both sit in
    // one frame, so it was dropped with the failure); chunk 2, the last data,
    // never was.
    assert!(out.len() <= 65_536, "released {}", out.len());
}

#[tokio::test]
async fn truncated_chunked_body_fails_without_releasing_the_last_chunk() {
    let (verified, parts) = chunked_verified();
    let wire = chunked_wire(CHUNK_SIGS);
    for cut in [
        10,
        70_000.min(wire.len() - 1),
        wire.len() - 3,
        wire.len() - 1,
    ] {
        let (out, err) = drain(verified_body(
            Frames::split(&wire[..cut], 4096),
            &verified,
            &parts,
            BodyChecks::default(),
        ))
        .await;
        assert!(err.is_some(), "cut at {cut}");
        assert!(out.len() < 66_560, "cut at {cut}");
        assert_eq!(
            err.unwrap().to_s3_error().code,
            crate::s3::S3ErrorCode::IncompleteBody
        );
    }
}

#[tokio::test]
async fn client_disconnect_is_an_incomplete_body() {
    let (verified, parts) = chunked_verified();
    let wire = chunked_wire(CHUNK_SIGS);
    let mut frames = Frames::new(vec![wire[..5000].to_vec()]);
    frames
        .frames
        .push_back(Err(std::io::Error::other("connection reset")));
    let (out, err) = drain(verified_body(
        frames,
        &verified,
        &parts,
        BodyChecks::default(),
    ))
    .await;
    assert!(out.is_empty());
    assert!(matches!(err, Some(SigV4Error::Body(_))));
}

#[test]
fn oversized_chunk_header_is_refused_before_buffering() {
    let (verified, _) = chunked_verified();
    let mut decoder =
        super::chunked::ChunkDecoder::new(Some(verified.stream.clone()), false, None, u64::MAX);
    let err = decoder
        .push(Bytes::from(format!("1000001;chunk-signature={SEED}\r\n")))
        .unwrap_err();
    assert_eq!(err, SigV4Error::ChunkTooLarge);
    let mut decoder = super::chunked::ChunkDecoder::new(None, true, None, 10);
    let err = decoder.push(Bytes::from(vec![b'1'; 5000])).unwrap_err();
    assert!(matches!(err, SigV4Error::ChunkMalformed(_)));
}

// ---- Trailers (signed) ------------------------------------------------------

#[tokio::test]
async fn aws_example_signed_trailer_verifies() {
    // Values from the "Signature calculations for trailing headers" page.
    let seed: [u8; 32] =
        hex::decode("106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e")
            .unwrap()
            .try_into()
            .unwrap();
    let stream = StreamSigning {
        key: SigningKey::derive(SECRET, "20130524", "us-east-1", "s3"),
        seed,
        scope: "20130524/us-east-1/s3/aws4_request".into(),
        amz_date: AmzDate::parse_iso("20130524T000000Z").unwrap(),
    };
    let mut wire = Vec::new();
    wire.extend_from_slice(b"10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n");
    wire.extend_from_slice(&[b'a'; 65_536]);
    wire.extend_from_slice(b"\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n");
    wire.extend_from_slice(&[b'a'; 1024]);
    wire.extend_from_slice(b"\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n");
    wire.extend_from_slice(b"x-amz-checksum-crc32c:sOO8/Q==\r\n");
    wire.extend_from_slice(b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n");

    let verified = Verified {
        payload: PayloadMode::StreamingSigned { trailer: true },
        expires_at: None,
        decoded_content_length: Some(66_560),
        trailer_checksum: Some(ChecksumAlgorithm::Crc32c),
        stream: stream.clone(),
    };
    let parts = request("PUT", "/examplebucket/chunkObject.txt", &[]);
    let (out, err) = drain(verified_body(
        Frames::split(&wire, 1000),
        &verified,
        &parts,
        BodyChecks::default(),
    ))
    .await;
    assert_eq!(err, None);
    assert_eq!(out.len(), 66_560);

    // A forged checksum line breaks the trailer signature; the last chunk
    // stays held back.
    let forged = String::from_utf8_lossy(&wire).replace("sOO8/Q==", "AAAAAA==");
    let (out, err) = drain(verified_body(
        Frames::split(forged.as_bytes(), 1000),
        &verified,
        &parts,
        BodyChecks::default(),
    ))
    .await;
    assert_eq!(err, Some(SigV4Error::TrailerSignatureDoesNotMatch));
    assert!(out.len() <= 65_536, "released {}", out.len());
}

// ---- Unsigned payload with a trailing checksum -----------------------------

fn unsigned_trailer_verified(algorithm: ChecksumAlgorithm, len: u64) -> Verified {
    Verified {
        payload: PayloadMode::StreamingUnsignedTrailer,
        expires_at: None,
        decoded_content_length: Some(len),
        trailer_checksum: Some(algorithm),
        stream: StreamSigning {
            key: SigningKey::derive(b"unused", "20130524", "us-east-1", "s3"),
            seed: [0; 32],
            scope: String::new(),
            amz_date: AmzDate::parse_iso("20130524T000000Z").unwrap(),
        },
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unsigned_wire(trailer_name: &str, trailer_value: &str) -> Vec<u8> {
    format!(
        "5\r\nhello\r\n7\r\n, chunk\r\n6\r\ned wor\r\n2\r\nld\r\n0\r\n{trailer_name}:{trailer_value}\r\n\r\n"
    )
    .into_bytes()
}

const UNSIGNED_PAYLOAD: &[u8] = b"hello, chunked world";

#[tokio::test]
async fn unsigned_trailer_with_correct_crc32_passes() {
    let crc = b64(&crc_fast::crc32_iso_hdlc(UNSIGNED_PAYLOAD).to_be_bytes());
    let wire = unsigned_wire("x-amz-checksum-crc32", &crc);
    let verified = unsigned_trailer_verified(ChecksumAlgorithm::Crc32, 20);
    let parts = request("PUT", "/b/k", &[]);
    let (out, err) = drain(verified_body(
        Frames::split(&wire, 7),
        &verified,
        &parts,
        BodyChecks::default(),
    ))
    .await;
    assert_eq!(err, None);
    assert_eq!(out, UNSIGNED_PAYLOAD);
}

#[tokio::test]
async fn unsigned_trailer_checksum_mismatch_fails_before_the_last_chunk() {
    let parts = request("PUT", "/b/k", &[]);
    let wrong_crc = b64(&crc_fast::crc32_iso_hdlc(b"something else").to_be_bytes());
    let wrong_sha = b64(&Sha256::digest(b"something else"));
    for (algorithm, name, value) in [
        (ChecksumAlgorithm::Crc32, "x-amz-checksum-crc32", wrong_crc),
        (
            ChecksumAlgorithm::Sha256,
            "x-amz-checksum-sha256",
            wrong_sha,
        ),
    ] {
        let wire = unsigned_wire(name, &value);
        let verified = unsigned_trailer_verified(algorithm, 20);
        let (out, err) = drain(verified_body(
            Frames::split(&wire, 3),
            &verified,
            &parts,
            BodyChecks::default(),
        ))
        .await;
        let err = err.unwrap();
        assert!(
            matches!(err, SigV4Error::ChecksumMismatch { .. }),
            "{err:?}"
        );
        assert_eq!(err.to_s3_error().code, crate::s3::S3ErrorCode::BadDigest);
        // "ld" (the last chunk) was never released.
        assert_eq!(out, &UNSIGNED_PAYLOAD[..18], "{name}");
    }
}

#[tokio::test]
async fn unsigned_trailer_without_its_checksum_fails() {
    let parts = request("PUT", "/b/k", &[]);
    let wire = b"5\r\nhello\r\n0\r\n\r\n".to_vec();
    let verified = unsigned_trailer_verified(ChecksumAlgorithm::Crc32, 5);
    let (out, err) = drain(verified_body(
        Frames::split(&wire, 100),
        &verified,
        &parts,
        BodyChecks::default(),
    ))
    .await;
    assert_eq!(err, Some(SigV4Error::MissingTrailerChecksum));
    assert!(out.is_empty());
}

#[tokio::test]
async fn decoded_length_must_match_the_declared_length() {
    let parts = request("PUT", "/b/k", &[]);
    let crc = b64(&crc_fast::crc32_iso_hdlc(UNSIGNED_PAYLOAD).to_be_bytes());
    let wire = unsigned_wire("x-amz-checksum-crc32", &crc);
    for declared in [19, 21] {
        let verified = unsigned_trailer_verified(ChecksumAlgorithm::Crc32, declared);
        let (out, err) = drain(verified_body(
            Frames::split(&wire, 100),
            &verified,
            &parts,
            BodyChecks::default(),
        ))
        .await;
        assert_eq!(err, Some(SigV4Error::DecodedLengthMismatch), "{declared}");
        assert!(out.len() < 20);
    }
}

// ---- Property: framing does not change the output --------------------------

/// Independent test signer (straight HMAC over the documented string to
/// sign), used only to build small signed inputs.
fn test_chunk_sig(previous: &str, data: &[u8]) -> String {
    use hmac::{Mac, digest::KeyInit};
    let mac = |k: &[u8], d: &[u8]| -> Vec<u8> {
        let mut m = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(k).unwrap();
        m.update(d);
        m.finalize().into_bytes().to_vec()
    };
    let k = mac(
        &mac(&mac(&mac(b"AWS4secret", b"20130524"), b"us-east-1"), b"s3"),
        b"aws4_request",
    );
    let sts = format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n{previous}\n{EMPTY}\n{}",
        hex::encode(Sha256::digest(data))
    );
    hex::encode(mac(&k, sts.as_bytes()))
}

pub(super) fn decode_all(
    decoder: &mut super::chunked::ChunkDecoder,
    frames: &[&[u8]],
) -> Result<Vec<u8>, SigV4Error> {
    let mut out = Vec::new();
    for f in frames {
        decoder.push(Bytes::copy_from_slice(f))?;
        while let Some(b) = decoder.pop() {
            out.extend_from_slice(&b);
        }
    }
    decoder.finish()?;
    while let Some(b) = decoder.pop() {
        out.extend_from_slice(&b);
    }
    Ok(out)
}

#[test]
fn decoder_output_does_not_depend_on_framing() {
    let key = SigningKey::derive(b"secret", "20130524", "us-east-1", "s3");
    let seed = "1111111111111111111111111111111111111111111111111111111111111111";
    let s1 = test_chunk_sig(seed, b"hello");
    let s2 = test_chunk_sig(&s1, b" world!");
    let s3 = test_chunk_sig(&s2, b"");
    let signed = format!(
        "5;chunk-signature={s1}\r\nhello\r\n7;chunk-signature={s2}\r\n world!\r\n0;chunk-signature={s3}\r\n\r\n"
    )
    .into_bytes();
    let stream = StreamSigning {
        key,
        seed: hex::decode(seed).unwrap().try_into().unwrap(),
        scope: "20130524/us-east-1/s3/aws4_request".into(),
        amz_date: AmzDate::parse_iso("20130524T000000Z").unwrap(),
    };
    let crc = b64(&crc_fast::crc32_iso_hdlc(UNSIGNED_PAYLOAD).to_be_bytes());
    let unsigned = unsigned_wire("x-amz-checksum-crc32", &crc);

    type MakeDecoder<'a> = Box<dyn Fn() -> super::chunked::ChunkDecoder + 'a>;
    let cases: Vec<(Vec<u8>, &[u8], MakeDecoder<'_>)> = vec![
        (
            signed,
            b"hello world!",
            Box::new(|| super::chunked::ChunkDecoder::new(Some(stream.clone()), false, None, 12)),
        ),
        (
            unsigned,
            UNSIGNED_PAYLOAD,
            Box::new(|| {
                super::chunked::ChunkDecoder::new(None, true, Some(ChecksumAlgorithm::Crc32), 20)
            }),
        ),
    ];
    for (wire, expected, make) in cases {
        // One frame, one byte per frame, and every two-way split.
        assert_eq!(decode_all(&mut make(), &[&wire]).unwrap(), expected);
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(decode_all(&mut make(), &bytes).unwrap(), expected);
        for cut in 0..=wire.len() {
            let (a, b) = wire.split_at(cut);
            assert_eq!(
                decode_all(&mut make(), &[a, b]).unwrap(),
                expected,
                "split at {cut}"
            );
        }
    }
}

// ---- Single-chunk bodies ----------------------------------------------------

fn sha256_verified(body: &[u8]) -> Verified {
    Verified {
        payload: PayloadMode::Sha256(Sha256::digest(body).into()),
        expires_at: None,
        decoded_content_length: None,
        trailer_checksum: None,
        stream: StreamSigning {
            key: SigningKey::derive(b"unused", "20130524", "us-east-1", "s3"),
            seed: [0; 32],
            scope: String::new(),
            amz_date: AmzDate::parse_iso("20130524T000000Z").unwrap(),
        },
    }
}

#[tokio::test]
async fn hex_hash_mismatch_never_yields_the_last_frame() {
    let parts = request("PUT", "/b/k", &[("content-length", "12")]);
    let verified = sha256_verified(b"hello world!");
    let (out, err) = drain(verified_body(
        Frames::split(b"hello world?", 4),
        &verified,
        &parts,
        BodyChecks::default(),
    ))
    .await;
    assert_eq!(err, Some(SigV4Error::ContentSha256Mismatch));
    assert_eq!(out, b"hello wo");
    assert_eq!(
        err.unwrap().to_s3_error().code,
        crate::s3::S3ErrorCode::XAmzContentSHA256Mismatch
    );
}

#[tokio::test]
async fn hex_hash_match_yields_everything_with_an_exact_size_hint() {
    let parts = request("PUT", "/b/k", &[("content-length", "12")]);
    let verified = sha256_verified(b"hello world!");
    let body = verified_body(
        Frames::split(b"hello world!", 5),
        &verified,
        &parts,
        BodyChecks::default(),
    );
    assert_eq!(body.size_hint().exact(), Some(12));
    let (out, err) = drain(body).await;
    assert_eq!(err, None);
    assert_eq!(out, b"hello world!");

    let empty = sha256_verified(b"");
    let (out, err) = drain(verified_body(
        Frames::new(vec![]),
        &empty,
        &parts,
        BodyChecks::default(),
    ))
    .await;
    assert_eq!((out.len(), err), (0, None));
    let (_, err) = drain(verified_body(
        Frames::new(vec![b"x".to_vec()]),
        &empty,
        &parts,
        BodyChecks::default(),
    ))
    .await;
    assert_eq!(err, Some(SigV4Error::ContentSha256Mismatch));
}

#[tokio::test]
async fn unsigned_payload_passes_through() {
    let parts = presigned(PRESIGNED);
    let verified = parse(&parts)
        .unwrap()
        .verify(&parts, SECRET, may24())
        .unwrap();
    let (out, err) = drain(verified_body(
        Frames::split(b"anything", 3),
        &verified,
        &parts,
        BodyChecks::default(),
    ))
    .await;
    assert_eq!((out.as_slice(), err), (&b"anything"[..], None));
}

fn checks(headers: &[(&str, &str)]) -> BodyChecks {
    BodyChecks::from_headers(&request("PUT", "/b/k", headers).headers, true).unwrap()
}

#[tokio::test]
async fn unsigned_payload_with_a_wrong_content_md5_never_yields_the_last_frame() {
    let parts = presigned(PRESIGNED);
    let verified = parse(&parts)
        .unwrap()
        .verify(&parts, SECRET, may24())
        .unwrap();
    // MD5("hello world!") is fc3ff98e8c6a0d3087d515c0473f8677.
    let right = b64(&hex::decode("fc3ff98e8c6a0d3087d515c0473f8677").unwrap());
    let (out, err) = drain(verified_body(
        Frames::split(b"hello world!", 5),
        &verified,
        &parts,
        checks(&[("content-md5", &right)]),
    ))
    .await;
    assert_eq!((out.as_slice(), err), (&b"hello world!"[..], None));

    let (out, err) = drain(verified_body(
        Frames::split(b"hello world?", 5),
        &verified,
        &parts,
        checks(&[("content-md5", &right)]),
    ))
    .await;
    assert_eq!(err, Some(SigV4Error::ContentMd5Mismatch));
    assert_eq!(out, b"hello worl", "the last frame must be held back");
}

#[tokio::test]
async fn signed_hash_with_a_wrong_checksum_header_never_yields_the_last_frame() {
    let parts = request("PUT", "/b/k", &[("content-length", "12")]);
    let verified = sha256_verified(b"hello world!");
    let (out, err) = drain(verified_body(
        Frames::split(b"hello world!", 5),
        &verified,
        &parts,
        checks(&[("x-amz-checksum-crc32", "y/Q5Jg==")]),
    ))
    .await;
    assert_eq!(
        err,
        Some(SigV4Error::ChecksumMismatch { algorithm: "CRC32" })
    );
    assert_eq!(out, b"hello worl", "the last frame must be held back");
}

#[tokio::test]
async fn chunked_payload_is_checked_against_a_checksum_header_too() {
    let (verified, parts) = chunked_verified();
    let wire = chunked_wire(CHUNK_SIGS);
    let (out, err) = drain(verified_body(
        Frames::split(&wire, 4096),
        &verified,
        &parts,
        checks(&[("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")]),
    ))
    .await;
    assert_eq!(err, Some(SigV4Error::ContentMd5Mismatch));
    assert!(out.len() < 66_560, "the last chunk must be held back");
}

/// Found by the differential fuzz target: `aws-sigv4` decodes `%AA` (not
/// UTF-8) lossily to U+FFFD and signs `%EF%BF%BD`. S3 keeps the byte, and
/// so does s3gate: a signature over another query than the one the store
/// will see must not verify. No SDK sends such an escape.
#[test]
fn canonical_query_keeps_a_percent_escape_that_is_not_utf8_as_its_byte() {
    let parts = request("GET", "/k?a=%AA&b=%aa", &[("host", HOST)]);
    let query = RawQuery::of(&parts.uri);
    let input = CanonicalInput {
        parts: &parts,
        query: &query,
        signed_headers: "host",
        payload: "UNSIGNED-PAYLOAD",
        presigned: false,
    };
    let canonical = String::from_utf8(input.build(false)).unwrap();
    assert_eq!(canonical.lines().nth(2), Some("a=%AA&b=%AA"));
}

#[test]
fn a_cached_signing_key_serves_only_its_own_scope() {
    // AWS's example GET (us-east-1), and requests claiming another region
    // or service but signed with the us-east-1 key, which is in the cache
    // after the first: through one session's cache, each must get the
    // answer an uncached verify gives, in any order, and the mismatched
    // ones never verify.
    let keys = SigningKeyCache::new();
    let good = get_object(&auth_header(GET_SIGNED, GET_SIG));
    let secret = std::str::from_utf8(SECRET).unwrap();
    let claiming = |region: &str, service: &str| {
        let scope = format!("20130524/{region}/{service}/aws4_request");
        let unsigned = get_object(
            &auth_header(GET_SIGNED, GET_SIG).replace("20130524/us-east-1/s3/aws4_request", &scope),
        );
        let auth = parse(&unsigned).unwrap();
        let sts = string_to_sign(
            "20130524T000000Z",
            &scope,
            canonical(&unsigned, &auth, EMPTY).as_bytes(),
        );
        let signature = test_sign(secret, "20130524", "us-east-1", "s3", &sts);
        get_object(
            &auth_header(GET_SIGNED, &signature)
                .replace("20130524/us-east-1/s3/aws4_request", &scope),
        )
    };
    let eu = claiming("eu-west-1", "s3");
    let iam = claiming("us-east-1", "iam");
    for parts in [&good, &eu, &good, &good, &iam, &good, &eu, &eu] {
        let auth = parse(parts).unwrap();
        let cached = auth.verify_cached(parts, SECRET, &keys, may24());
        let fresh = auth.verify(parts, SECRET, may24());
        assert_eq!(cached.is_ok(), fresh.is_ok(), "{:?}", auth.credential);
        assert_eq!(
            cached.is_ok(),
            std::ptr::eq(parts, &good),
            "{:?}",
            auth.credential
        );
    }
}
