//! Fuzz targets for every SigV4 parser of caller input, as property tests
//! that run on stable in plain `cargo test`: the `Authorization` header, the
//! presigned query, the canonical request builder, the `aws-chunked`
//! decoder (signed, unsigned, trailers), and a differential target that
//! signs random requests with the `aws-sigv4` crate (the SDKs' signer) and
//! checks that s3gate verifies every one and refuses any one-byte change.
//!
//! Each target runs `PROPTEST_CASES` cases (proptest's default, 256, in
//! CI); raise it for a longer local run, e.g.
//! `PROPTEST_CASES=100000 cargo test --lib fuzz`. A failure prints the
//! minimal input; it becomes a named regression test beside the others.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::request::Parts;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::amz_date::AmzDate;
use super::canonical::{CanonicalInput, SigningKey, chunk_signature, trailer_signature};
use super::checksum::ChecksumAlgorithm;
use super::chunked::ChunkDecoder;
use super::verify::StreamSigning;
use super::*;
use crate::mutation::mutated;

const GOOD_HEADER: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
const GOOD_QUERY: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

fn parts_with(uri: &str, headers: &[(&str, &[u8])]) -> Option<Parts> {
    let mut b = http::Request::builder().method("GET").uri(uri);
    for (k, v) in headers {
        b = b.header(*k, http::HeaderValue::from_bytes(v).ok()?);
    }
    Some(b.body(()).ok()?.into_parts().0)
}

fn may24() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_369_353_600)
}

proptest! {
    #[test]
    fn authorization_header_parser_never_panics(
        value in prop_oneof![mutated(GOOD_HEADER), prop::collection::vec(any::<u8>(), 0..300)],
        date in mutated("20130524T000000Z"),
        sha in mutated("UNSIGNED-PAYLOAD"),
    ) {
        let Some(parts) = parts_with(
            "/test.txt",
            &[("host", b"h"), ("authorization", &value), ("x-amz-date", &date), ("x-amz-content-sha256", &sha)],
        ) else {
            return Ok(());
        };
        if let Ok(auth) = parse(&parts) {
            prop_assert!(!auth.access_key_id.is_empty());
            prop_assert!(auth.signed_headers().any(|h| h == "host"));
            // Verifying garbage must fail cleanly, never pass.
            prop_assert!(auth.verify(&parts, b"secret", may24()).is_err());
        }
    }

    #[test]
    fn presigned_query_parser_never_panics(query in mutated(GOOD_QUERY)) {
        let Ok(query) = String::from_utf8(query) else { return Ok(()) };
        let Some(parts) = parts_with(&format!("/test.txt?{query}"), &[("host", b"h")]) else {
            return Ok(());
        };
        if let Ok(auth) = parse(&parts) {
            prop_assert!(auth.expires_in.is_some_and(|e| e.as_secs() <= MAX_EXPIRES_SECS));
            prop_assert!(auth.verify(&parts, b"secret", may24()).is_err());
        }
    }

    #[test]
    fn canonical_request_does_not_depend_on_query_order(
        path in "(/[a-zA-Z0-9._~%!$&'()*+,;=:@-]{0,12}){1,4}",
        params in prop::collection::vec(("[a-zA-Z0-9._~%+-]{1,8}", "[a-zA-Z0-9._~%+/=-]{0,8}"), 0..6),
        rotate in any::<prop::sample::Index>(),
    ) {
        let join = |ps: &[(String, String)]| {
            ps.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
        };
        let mut turned = params.clone();
        if !turned.is_empty() {
            let by = rotate.index(turned.len());
            turned.rotate_left(by);
        }
        let (Some(a), Some(b)) = (
            parts_with(&format!("{path}?{}", join(&params)), &[("host", b"h")]),
            parts_with(&format!("{path}?{}", join(&turned)), &[("host", b"h")]),
        ) else {
            return Ok(());
        };
        let build = |parts: &Parts| {
            let query = crate::raw_query::RawQuery::of(&parts.uri);
            CanonicalInput { parts, query: &query, signed_headers: "host", payload: "UNSIGNED-PAYLOAD", presigned: false }
                .build(false)
        };
        prop_assert_eq!(build(&a), build(&b));
    }

    #[test]
    fn chunk_decoder_never_panics_on_arbitrary_bytes(
        body in prop::collection::vec(any::<u8>(), 0..400),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        signed in any::<bool>(),
        expected_len in 0u64..64,
    ) {
        let mut decoder = if signed {
            ChunkDecoder::new(Some(stream_signing()), true, Some(ChecksumAlgorithm::Crc32), expected_len)
        } else {
            ChunkDecoder::new(None, true, Some(ChecksumAlgorithm::Crc32), expected_len)
        };
        let mut out = 0u64;
        let mut failed = false;
        for piece in split(&body, &cuts) {
            if decoder.push(Bytes::copy_from_slice(piece)).is_err() {
                failed = true;
                break;
            }
            while let Some(b) = decoder.pop() {
                out += b.len() as u64;
            }
        }
        if !failed && decoder.finish().is_ok() {
            while let Some(b) = decoder.pop() {
                out += b.len() as u64;
            }
            prop_assert_eq!(out, expected_len);
        }
        prop_assert!(out <= expected_len);
    }

    #[test]
    fn chunk_decoder_accepts_every_valid_encoding_split_anywhere_and_refuses_a_changed_data_byte(
        data in prop::collection::vec(any::<u8>(), 0..3000),
        sizes in prop::collection::vec(1usize..1200, 1..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        form in 0u8..3,
        flip in any::<prop::sample::Index>(),
    ) {
        let (wire, data_offsets) = encode(&data, &sizes, form);
        let make = || match form {
            0 => ChunkDecoder::new(Some(stream_signing()), false, None, data.len() as u64),
            1 => ChunkDecoder::new(Some(stream_signing()), true, Some(ChecksumAlgorithm::Crc32), data.len() as u64),
            _ => ChunkDecoder::new(None, true, Some(ChecksumAlgorithm::Crc32), data.len() as u64),
        };
        let decoded = decode(make(), &wire, &cuts);
        prop_assert_eq!(decoded.as_deref().ok(), Some(&data[..]), "{:?}", decoded.as_ref().err());
        if !data_offsets.is_empty() {
            let mut tampered = wire.clone();
            tampered[data_offsets[flip.index(data_offsets.len())]] ^= 0x01;
            prop_assert!(decode(make(), &tampered, &cuts).is_err());
        }
    }

    #[test]
    fn differential_every_aws_sigv4_signature_verifies_and_no_changed_byte_does(
        method in prop::sample::select(vec!["GET", "PUT", "POST", "DELETE", "HEAD"]),
        // Escapes of ASCII and of whole UTF-8 characters, as SDKs write
        // them. (A lone `%AA` is not UTF-8: aws-sigv4 decodes it lossily to
        // U+FFFD and so signs another query than S3 would see; no SDK
        // sends one.)
        segments in prop::collection::vec("([a-zA-Z0-9._~-]|%[2-7][0-9A-F]|%C3%A9|%E2%82%AC){1,10}", 1..4),
        // Names from a small set too, so repeated parameters and repeated
        // headers (which AWS canonicalises, sorted or comma-joined) occur.
        params in prop::collection::vec((prop_oneof!["[ab]", "[a-zA-Z0-9._~-]{1,8}"], "([a-zA-Z0-9._~-]|%[2-7][0-9A-F]|%C3%A9){0,8}"), 0..5),
        meta in prop::collection::vec((prop_oneof!["[ab]", "[a-z0-9]{1,8}"], "[!-~]([ !-~]{0,14}[!-~])?"), 0..4),
        payload in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
        presign in any::<bool>(),
        target in 0u8..4,
        at in any::<prop::sample::Index>(),
        replacement in "[a-zA-Z0-9]",
    ) {
        let path = format!("/{}", segments.join("/"));
        let query = params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
        let headers: Vec<(String, String)> =
            meta.iter().map(|(k, v)| (format!("x-amz-meta-{k}"), v.clone())).collect();
        let signed = aws_signed(method, &path, &query, &headers, payload.as_deref(), presign);
        let parts = signed.parts();
        let auth = parse(&parts);
        prop_assert!(auth.is_ok(), "{:?}", auth.err());
        let verified = auth.and_then(|a| a.verify(&parts, SECRET, may24()));
        prop_assert!(verified.is_ok(), "{:?}", verified.err());

        // One byte changed where the signature covers it.
        let mut changed = signed.clone();
        let replacement = replacement.as_bytes()[0];
        let applied = match target {
            0 => change_byte(&mut changed.path, at, replacement),
            1 => change_byte(&mut changed.query, at, replacement),
            2 => match changed.headers.iter_mut().find(|(k, _)| k.starts_with("x-amz-meta-")) {
                Some((_, v)) => change_byte(v, at, replacement),
                None => false,
            },
            _ => {
                let sig = changed.signature_mut();
                change_byte(sig, at, b"0123456789abcdef"[usize::from(replacement) % 16])
            }
        };
        if applied {
            let parts = changed.parts();
            // The access key id picks the secret, as the session lookup does.
            let refused = parse(&parts).and_then(|a| {
                let secret = if a.access_key_id == "AKIAIOSFODNN7EXAMPLE" { SECRET } else { b"another secret" };
                a.verify(&parts, secret, may24()).map(|_| ())
            });
            prop_assert!(refused.is_err(), "a changed request verified: {:?}", changed);
        }
    }
}

const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn stream_signing() -> StreamSigning {
    StreamSigning {
        key: SigningKey::derive(SECRET, "20130524", "us-east-1", "s3"),
        seed: [0x11; 32],
        scope: "20130524/us-east-1/s3/aws4_request".into(),
        amz_date: AmzDate::parse_iso("20130524T000000Z").unwrap_or_else(|| unreachable!()),
    }
}

/// `body` cut at the given places.
fn split<'a>(body: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
    at.push(0);
    at.push(body.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &body[w[0]..w[1]]).collect()
}

fn decode(
    mut decoder: ChunkDecoder,
    wire: &[u8],
    cuts: &[prop::sample::Index],
) -> Result<Vec<u8>, SigV4Error> {
    super::tests::decode_all(&mut decoder, &split(wire, cuts))
}

/// `data` as an aws-chunked body (form 0: signed, 1: signed with a signed
/// CRC-32 trailer, 2: unsigned with a CRC-32 trailer), chunked by `sizes`
/// in turn; and where each data byte sits in the wire.
fn encode(data: &[u8], sizes: &[usize], form: u8) -> (Vec<u8>, Vec<usize>) {
    let signing = stream_signing();
    let (date, scope) = (signing.amz_date.as_str(), signing.scope.as_str());
    let mut previous = signing.seed;
    let mut wire = Vec::new();
    let mut offsets = Vec::new();
    let mut rest = data;
    let mut turn = 0;
    loop {
        let n = sizes[turn % sizes.len()].min(rest.len());
        turn += 1;
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        if form == 2 {
            wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        } else {
            let hash: [u8; 32] = Sha256::digest(piece).into();
            previous = chunk_signature(&signing.key, date, scope, &previous, &hash);
            wire.extend_from_slice(
                format!("{n:x};chunk-signature={}\r\n", hex::encode(previous)).as_bytes(),
            );
        }
        offsets.extend(wire.len()..wire.len() + n);
        wire.extend_from_slice(piece);
        if n > 0 || form == 0 {
            wire.extend_from_slice(b"\r\n");
        }
        if n == 0 {
            break;
        }
    }
    if form != 0 {
        let crc = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            crc_fast::crc32_iso_hdlc(data).to_be_bytes(),
        );
        wire.extend_from_slice(format!("x-amz-checksum-crc32:{crc}\r\n").as_bytes());
        if form == 1 {
            let canonical = format!("x-amz-checksum-crc32:{crc}\n");
            let hash: [u8; 32] = Sha256::digest(canonical.as_bytes()).into();
            let sig = trailer_signature(&signing.key, date, scope, &previous, &hash);
            wire.extend_from_slice(
                format!("x-amz-trailer-signature:{}\r\n", hex::encode(sig)).as_bytes(),
            );
        }
        wire.extend_from_slice(b"\r\n");
    }
    (wire, offsets)
}

/// A request as the `aws-sigv4` crate signed it.
#[derive(Debug, Clone)]
struct SignedRequest {
    method: &'static str,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
}

impl SignedRequest {
    fn parts(&self) -> Parts {
        let uri = if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        };
        let mut b = http::Request::builder().method(self.method).uri(uri);
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        b.body(())
            .map(|r| r.into_parts().0)
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// The signature's hex, wherever it is.
    fn signature_mut(&mut self) -> &mut String {
        if let Some((_, v)) = self.headers.iter_mut().find(|(k, _)| k == "authorization") {
            return v;
        }
        &mut self.query
    }
}

/// Replaces one alphanumeric byte with `by` (never inside a `%XX` escape,
/// whose hex case does not change what it means); false when there is no
/// byte to change.
fn change_byte(s: &mut String, at: prop::sample::Index, by: u8) -> bool {
    let bytes = s.as_bytes();
    let in_escape = |i: usize| (1..=2).any(|back| i >= back && bytes[i - back] == b'%');
    let candidates: Vec<usize> = (0..bytes.len())
        .filter(|&i| bytes[i].is_ascii_alphanumeric() && bytes[i] != by && !in_escape(i))
        .collect();
    if candidates.is_empty() {
        return false;
    }
    let i = candidates[at.index(candidates.len())];
    let mut v = std::mem::take(s).into_bytes();
    v[i] = by;
    *s = String::from_utf8(v).unwrap_or_default();
    true
}

fn aws_signed(
    method: &'static str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    payload: Option<&[u8]>,
    presign: bool,
) -> SignedRequest {
    use aws_sigv4::http_request::{
        PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
        SigningSettings, UriPathNormalizationMode, sign,
    };
    let identity = aws_credential_types::Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        std::str::from_utf8(SECRET).unwrap_or_default(),
        None,
        None,
        "fuzz",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    if presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(3600));
    } else {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(may24())
        .settings(settings)
        .build()
        .unwrap_or_else(|e| unreachable!("{e}"))
        .into();
    let mut all_headers = vec![(
        "host".to_owned(),
        "examplebucket.s3.amazonaws.com".to_owned(),
    )];
    all_headers.extend(headers.iter().cloned());
    let uri = if query.is_empty() {
        format!("https://examplebucket.s3.amazonaws.com{path}")
    } else {
        format!("https://examplebucket.s3.amazonaws.com{path}?{query}")
    };
    let body = match payload {
        Some(p) if !presign => SignableBody::Precomputed(hex::encode(Sha256::digest(p))),
        _ => SignableBody::UnsignedPayload,
    };
    let signable = SignableRequest::new(
        method,
        &uri,
        all_headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        body,
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    let (instructions, _) = sign(signable, &params)
        .unwrap_or_else(|e| unreachable!("{e}"))
        .into_parts();
    let mut req = http::Request::builder().method(method).uri(&uri);
    for (k, v) in &all_headers {
        req = req.header(k, v);
    }
    let mut req = req.body(()).unwrap_or_else(|e| unreachable!("{e}"));
    instructions.apply_to_request_http1x(&mut req);
    SignedRequest {
        method,
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or("").to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect(),
    }
}
