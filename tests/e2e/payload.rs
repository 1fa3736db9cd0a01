//! Every payload signing mode a stock client may send, each accepted by
//! s3gate and stored byte-exact (the aws-chunked framing stripped).
//!
//! Over plain HTTP the aws CLI and boto3 send a hex SHA-256 (seen with
//! `--debug`: `X-Amz-Content-SHA256: <hex>` plus `x-amz-checksum-crc32`), so
//! the roundtrip tests cover that form with real clients; the other forms
//! are hand-crafted here with the same signing code the SDKs use. The hand
//! signer is first checked against the store directly, so a failure through
//! s3gate is s3gate's.

use crate::client::{sdk, store_object};
use crate::harness::{Creds, harness, random_bytes};
use crate::sign::{Payload, Signing, Streaming, send_blocking, signed, streaming_put};

const SIZE: usize = 200 * 1024 + 123;
const CHUNK: usize = 64 * 1024;

/// PUTs `data` with `make` to the gateway, then checks the store and a GET.
fn put_through_gateway(label: &str, make: impl Fn(&Creds, &str, &[u8]) -> crate::sign::Request) {
    let h = harness();
    let bucket = h.bucket(label);
    let creds = h.session_for(&bucket.name);
    let data = random_bytes(SIZE);
    let url = format!("{}/{}/payload/{label}", h.gw().endpoint(), bucket.name);
    let resp = send_blocking(make(&creds, &url, &data));
    assert_eq!(resp.status, 200, "{label}: {}", resp.text());
    let key = format!("payload/{label}");
    let stored = store_object(&bucket.name, &key).expect("object stored");
    assert_eq!(
        stored.len(),
        data.len(),
        "{label}: stored length (framing left in?)"
    );
    assert!(stored == data, "{label}: stored bytes differ");
    let back = h.block_on(async {
        sdk(&h.gw().endpoint(), &creds)
            .get_object()
            .bucket(&bucket.name)
            .key(&key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes()
    });
    assert!(back[..] == data[..], "{label}: downloaded bytes differ");
}

fn hex_hash(creds: &Creds, url: &str, data: &[u8]) -> crate::sign::Request {
    signed(
        &Signing::now(creds),
        "PUT",
        url,
        &[],
        Payload::Hash(data),
        data.to_vec(),
    )
    .0
}

fn unsigned(creds: &Creds, url: &str, data: &[u8]) -> crate::sign::Request {
    signed(
        &Signing::now(creds),
        "PUT",
        url,
        &[],
        Payload::Unsigned,
        data.to_vec(),
    )
    .0
}

#[test]
fn put_with_signed_hex_payload_hash_is_stored_byte_exact() {
    needs_testbed!();
    put_through_gateway("hex", hex_hash);
}

#[test]
fn put_with_unsigned_payload_is_stored_byte_exact() {
    needs_testbed!();
    put_through_gateway("unsigned", unsigned);
}

#[test]
fn put_with_streaming_signed_chunks_is_stored_without_framing() {
    needs_testbed!();
    put_through_gateway("chunked", |c, u, d| {
        streaming_put(c, u, d, CHUNK, Streaming::Signed, None)
    });
}

#[test]
fn put_with_streaming_signed_chunks_and_signed_trailer_is_stored_without_framing() {
    needs_testbed!();
    put_through_gateway("chunked-trailer", |c, u, d| {
        streaming_put(c, u, d, CHUNK, Streaming::SignedTrailer, None)
    });
}

#[test]
fn put_with_streaming_unsigned_payload_trailer_is_stored_without_framing() {
    needs_testbed!();
    put_through_gateway("unsigned-trailer", |c, u, d| {
        streaming_put(c, u, d, CHUNK, Streaming::UnsignedTrailer, None)
    });
}

#[test]
fn rust_sdk_default_put_object_with_checksum_is_stored_byte_exact() {
    needs_testbed!();
    // The SDK's default for PutObject computes a CRC32 checksum; with a
    // streaming body it sends it as an aws-chunked trailer.
    let h = harness();
    let bucket = h.bucket("sdk-checksum");
    let creds = h.session_for(&bucket.name);
    let data = random_bytes(SIZE);
    let dir = h.tempdir();
    let path = dir.path().join("f");
    std::fs::write(&path, &data).unwrap();
    h.block_on(async {
        let body = aws_sdk_s3::primitives::ByteStream::from_path(&path)
            .await
            .unwrap();
        sdk(&h.gw().endpoint(), &creds)
            .put_object()
            .bucket(&bucket.name)
            .key("k")
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("SDK PutObject from a file: {e:?}"));
    });
    assert!(store_object(&bucket.name, "k").unwrap() == data);
}

/// The hand signer is right: the store's own verifier accepts every form
/// when signed with the store's keys. (If this fails, fix the signer before
/// believing any other hand-crafted test.)
#[test]
fn hand_signed_payload_forms_are_accepted_by_the_store_directly() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("signer-check");
    let creds = h.store.creds.clone();
    let data = random_bytes(SIZE);
    type Make = fn(&Creds, &str, &[u8]) -> crate::sign::Request;
    let forms: [(&str, Make); 5] = [
        ("hex", hex_hash),
        ("unsigned", unsigned),
        ("chunked", |c, u, d| {
            streaming_put(c, u, d, CHUNK, Streaming::Signed, None)
        }),
        ("chunked-trailer", |c, u, d| {
            streaming_put(c, u, d, CHUNK, Streaming::SignedTrailer, None)
        }),
        ("unsigned-trailer", |c, u, d| {
            streaming_put(c, u, d, CHUNK, Streaming::UnsignedTrailer, None)
        }),
    ];
    for (label, make) in forms {
        let url = format!("{}/{}/{label}", h.store.endpoint(), bucket.name);
        let resp = send_blocking(make(&creds, &url, &data));
        assert_eq!(resp.status, 200, "store refused {label}: {}", resp.text());
        assert!(
            store_object(&bucket.name, label).unwrap() == data,
            "{label} stored wrong"
        );
    }
    // And a tampered chunk is refused by the store too: the tamper is real.
    let url = format!("{}/{}/tampered", h.store.endpoint(), bucket.name);
    let resp = send_blocking(streaming_put(
        &creds,
        &url,
        &data,
        CHUNK,
        Streaming::Signed,
        Some(CHUNK + 5),
    ));
    // (s3s answers a bad chunk signature mid-stream with a 500.)
    assert_ne!(resp.status, 200, "store accepted a tampered chunk");
    assert!(store_object(&bucket.name, "tampered").is_none());
}
