//! The per-request hot path, stage by stage, and the body verifiers'
//! throughput.
//!
//! Requests are signed with the `aws-sigv4` crate (an independent signer,
//! not s3gate's verifier run backwards) using session credentials minted by
//! s3gate's keyring, exactly as a stock client holding them would.
//!
//! `cargo bench --bench hot_path` (add `-- --quick` for a short run).
//! Groups:
//! - `get_header/*`, `get_presigned/*`: classify, sigv4 parse, session open
//!   (uncached, and through the cache of opened sessions), sigv4 verify, scope check, upstream re-sign, and `full` (all of them,
//!   as the pipeline runs them);
//! - `body/*`: 8 MiB through the hex-hash and the signed `aws-chunked`
//!   verifiers (throughput in MiB/s).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A bench: a panic is the failure report.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_smithy_runtime_api::client::identity::Identity as AwsIdentity;
use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use http::request::Parts;
use http::{Method, Request};
use http_body::{Body, Frame, SizeHint};
use sha2::{Digest, Sha256};

use s3gate::config::Config;
use s3gate::policy::Scope;
use s3gate::s3::classify;
use s3gate::session::{Identity, Keyring, RevocationList, SessionCredentials};
use s3gate::sigv4::{self, PayloadMode};
use s3gate::upstream::Upstream;

const HOST: &str = "127.0.0.1:7070";
const BUCKET_KEY: &str = "/photos/home/alice/2024/holiday/IMG_0042.jpg";
const REGION: &str = "us-east-1";
const BODY_LEN: usize = 8 * 1024 * 1024;
/// Chunk size of the aws CLI / SDKs' signed `aws-chunked` uploads.
const CHUNK_LEN: usize = 64 * 1024;
/// What one read from the socket typically hands hyper.
const FRAME_LEN: usize = 64 * 1024;

struct Fixture {
    keyring: Keyring,
    creds: SessionCredentials,
    upstream: Upstream,
    store_identity: AwsIdentity,
    now: SystemTime,
}

impl Fixture {
    fn new() -> Self {
        let now = SystemTime::now();
        let keyring = Keyring::generate("bench", &mut rand::rng()).unwrap();
        // A realistic scope: the user's home prefix, read-only elsewhere.
        let scope = Scope::parse(&[
            "read,list=s3://photos/shared/*",
            "read,write,list,delete=s3://photos/home/alice/*",
            "read=s3://public/*",
        ])
        .unwrap();
        let creds = keyring
            .mint(
                Identity::new("oidc", "alice@example.com"),
                scope,
                now,
                Duration::from_secs(3600),
                Vec::new(),
                &mut rand::rng(),
            )
            .unwrap();
        let config = Config::parse(
            r#"
listen = "127.0.0.1:0"
[upstream]
endpoint = "http://127.0.0.1:9000"
[upstream.credentials]
access_key_id = "STOREKEY"
secret_access_key = "storesecretstoresecretstoresecret"
[session]
keyring = "unused.toml"
"#,
            std::path::Path::new("bench.toml"),
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let upstream = rt.block_on(Upstream::new(&config.upstream)).unwrap();
        let store_identity = Credentials::new(
            "STOREKEY",
            "storesecretstoresecretstoresecret",
            None,
            None,
            "bench",
        )
        .into();
        Fixture {
            keyring,
            creds,
            upstream,
            store_identity,
            now,
        }
    }

    fn client_identity(&self) -> AwsIdentity {
        Credentials::new(
            self.creds.access_key_id.clone(),
            self.creds.secret_access_key.expose().to_owned(),
            Some(self.creds.session_token.clone()),
            None,
            "bench-client",
        )
        .into()
    }

    /// Signs a request as a stock S3 client would, with aws-sigv4.
    fn signed(
        &self,
        mut req: Request<()>,
        body: SignableBody<'_>,
        location: SignatureLocation,
    ) -> (Parts, String) {
        let identity = self.client_identity();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.signature_location = location;
        if location == SignatureLocation::QueryParams {
            settings.expires_in = Some(Duration::from_secs(900));
        } else {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("s3")
            .time(self.now)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let uri = req.uri().to_string();
        let signable = SignableRequest::new(
            req.method().as_str(),
            uri,
            req.headers()
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_str().unwrap())),
            body,
        )
        .unwrap();
        let (instructions, signature) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut req);
        (req.into_parts().0, signature)
    }

    fn get_header(&self) -> Parts {
        let req = Request::builder()
            .method(Method::GET)
            .uri(format!("http://{HOST}{BUCKET_KEY}"))
            .header("host", HOST)
            .header("user-agent", "aws-cli/1.36 Python/3.11 botocore/1.35")
            .header("accept-encoding", "identity")
            .body(())
            .unwrap();
        self.signed(req, SignableBody::Bytes(b""), SignatureLocation::Headers)
            .0
    }

    fn get_presigned(&self) -> Parts {
        let req = Request::builder()
            .method(Method::GET)
            .uri(format!("http://{HOST}{BUCKET_KEY}"))
            .header("host", HOST)
            .body(())
            .unwrap();
        let (mut parts, _) = self.signed(
            req,
            SignableBody::UnsignedPayload,
            SignatureLocation::QueryParams,
        );
        // What a curl or wrk sends with the URL: host and a user agent.
        parts
            .headers
            .insert("user-agent", "curl/7.88.1".parse().unwrap());
        parts.headers.insert("accept", "*/*".parse().unwrap());
        parts
    }

    /// PUT of `len` bytes under a hex `x-amz-content-sha256`.
    fn put_sha256(&self, body: &[u8]) -> Parts {
        let req = Request::builder()
            .method(Method::PUT)
            .uri(format!("http://{HOST}{BUCKET_KEY}"))
            .header("host", HOST)
            .header("content-length", body.len())
            .body(())
            .unwrap();
        self.signed(req, SignableBody::Bytes(body), SignatureLocation::Headers)
            .0
    }

    /// PUT with `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: the head and the
    /// encoded body, each chunk signed with aws-sigv4's `sign_chunk`.
    fn put_chunked(&self, payload: &[u8]) -> (Parts, Bytes) {
        let chunks: Vec<&[u8]> = payload.chunks(CHUNK_LEN).collect();
        let encoded_len: usize = chunks
            .iter()
            .map(|c| chunk_overhead(c.len()) + c.len())
            .sum::<usize>()
            + chunk_overhead(0);
        let req = Request::builder()
            .method(Method::PUT)
            .uri(format!("http://{HOST}{BUCKET_KEY}"))
            .header("host", HOST)
            .header("content-encoding", "aws-chunked")
            .header("x-amz-decoded-content-length", payload.len())
            .header("content-length", encoded_len)
            .body(())
            .unwrap();
        let (parts, seed) = self.signed(
            req,
            SignableBody::Precomputed("STREAMING-AWS4-HMAC-SHA256-PAYLOAD".into()),
            SignatureLocation::Headers,
        );

        let identity = self.client_identity();
        let params: aws_sigv4::sign::v4::SigningParams<'_, _> =
            aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region(REGION)
                .name("s3")
                .time(self.now)
                .settings(())
                .build()
                .unwrap();
        let mut out = BytesMut::with_capacity(encoded_len);
        let mut previous = seed;
        for chunk in chunks.into_iter().chain(std::iter::once(&[][..])) {
            let signature =
                aws_sigv4::sign::v4::sign_chunk(&Bytes::copy_from_slice(chunk), &previous, &params)
                    .unwrap()
                    .into_parts()
                    .1;
            out.extend_from_slice(
                format!("{:x};chunk-signature={signature}\r\n", chunk.len()).as_bytes(),
            );
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
            previous = signature;
        }
        assert_eq!(out.len(), encoded_len);
        (parts, out.freeze())
    }
}

fn chunk_overhead(len: usize) -> usize {
    format!("{len:x}").len() + ";chunk-signature=".len() + 64 + 4
}

/// A body that hands out pre-cut frames, as hyper's `Incoming` would.
struct Frames(VecDeque<Bytes>);

impl Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.get_mut().0.pop_front().map(|b| Ok(Frame::data(b))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

fn frames(data: &Bytes) -> Frames {
    let mut out = VecDeque::new();
    let mut at = 0;
    while at < data.len() {
        let end = (at + FRAME_LEN).min(data.len());
        out.push_back(data.slice(at..end));
        at = end;
    }
    Frames(out)
}

/// Drains a verified body synchronously (the frames are all ready).
fn drain<B: Body<Data = Bytes> + Unpin>(mut body: B) -> usize
where
    B::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    let mut n = 0;
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    n += d.len();
                }
            }
            Poll::Ready(Some(Err(e))) => panic!("body refused: {e:?}"),
            Poll::Ready(None) => return n,
            Poll::Pending => panic!("bench body never pends"),
        }
    }
}

/// The pipeline's per-request work, as `gateway::s3::run` does it
/// (without the I/O): returns the signed upstream head.
fn full(f: &Fixture, parts: &Parts) -> (http::Uri, http::HeaderMap) {
    let s3 = classify(&parts.method, &parts.uri, &parts.headers, &[]).unwrap();
    let auth = sigv4::parse(parts).unwrap();
    let token = auth.security_token.as_deref().unwrap();
    let session = f
        .keyring
        .open_shared(&auth.access_key_id, token, f.now)
        .unwrap();
    let (claims, secret) = (&session.claims, &session.secret);
    let verified = auth
        .verify(parts, secret.expose().as_bytes(), f.now)
        .unwrap();
    for (action, resource) in &s3.resources {
        assert!(claims.scope.allows(*action, resource));
    }
    f.upstream
        .sign_head(
            parts,
            &s3,
            &verified.payload,
            None,
            &f.store_identity,
            f.now,
        )
        .unwrap()
}

fn per_request(c: &mut Criterion, f: &Fixture, name: &str, parts: &Parts) {
    let mut g = c.benchmark_group(name);
    g.bench_function("1_classify", |b| {
        b.iter(|| classify(&parts.method, &parts.uri, &parts.headers, &[]).unwrap())
    });
    g.bench_function("2_sigv4_parse", |b| {
        b.iter(|| sigv4::parse(black_box(parts)).unwrap())
    });
    let auth = sigv4::parse(parts).unwrap();
    let token = auth.security_token.clone().unwrap();
    g.bench_function("3_session_open", |b| {
        b.iter(|| {
            f.keyring
                .open(black_box(&auth.access_key_id), &token, f.now)
                .unwrap()
        })
    });
    // What the pipeline runs: the same open through the keyring's cache of
    // opened sessions (a hit after the first request).
    g.bench_function("3_session_open_cached", |b| {
        b.iter(|| {
            f.keyring
                .open_shared(black_box(&auth.access_key_id), &token, f.now)
                .unwrap()
        })
    });
    let (claims, secret) = f.keyring.open(&auth.access_key_id, &token, f.now).unwrap();
    g.bench_function("4_sigv4_verify", |b| {
        b.iter(|| {
            auth.verify(black_box(parts), secret.expose().as_bytes(), f.now)
                .unwrap()
        })
    });
    let s3 = classify(&parts.method, &parts.uri, &parts.headers, &[]).unwrap();
    g.bench_function("5_scope_check", |b| {
        b.iter(|| {
            s3.resources
                .iter()
                .all(|(a, r)| claims.scope.allows(*a, black_box(r)))
        })
    });
    // The revocation check every request makes: with the usual empty
    // list, and with one identity entry that does not match (which makes
    // it build the caller's principal name).
    let now_secs = f
        .now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let empty = RevocationList::default();
    let one_identity = RevocationList::parse(
        &format!(
            r#"{{"identity":"user:mallory","until":{}}}"#,
            now_secs + 3600
        ),
        now_secs,
    );
    g.bench_function("5b_revocation_empty_list", |b| {
        b.iter(|| empty.revoked(black_box(&claims), now_secs))
    });
    g.bench_function("5b_revocation_one_identity_entry", |b| {
        b.iter(|| one_identity.revoked(black_box(&claims), now_secs))
    });
    let verified = auth
        .verify(parts, secret.expose().as_bytes(), f.now)
        .unwrap();
    g.bench_function("6_upstream_resign", |b| {
        b.iter(|| {
            f.upstream
                .sign_head(
                    black_box(parts),
                    &s3,
                    &verified.payload,
                    None,
                    &f.store_identity,
                    f.now,
                )
                .unwrap()
        })
    });
    g.bench_function("full", |b| b.iter(|| full(f, black_box(parts))));
    g.finish();
}

fn hot_path(c: &mut Criterion) {
    let f = Fixture::new();
    let header = f.get_header();
    let presigned = f.get_presigned();
    // Both must pass the pipeline's checks before they are worth timing.
    full(&f, &header);
    full(&f, &presigned);
    per_request(c, &f, "get_header", &header);
    per_request(c, &f, "get_presigned", &presigned);
}

fn body_verifiers(c: &mut Criterion) {
    let f = Fixture::new();
    let payload: Bytes = (0..BODY_LEN)
        .map(|i| (i * 31 % 251) as u8)
        .collect::<Vec<_>>()
        .into();

    let mut g = c.benchmark_group("body");
    g.throughput(Throughput::Bytes(BODY_LEN as u64));
    g.sample_size(20);

    // Baseline: the bare SHA-256 of 8 MiB (what any hex-hash check costs).
    g.bench_function(BenchmarkId::new("sha256_baseline", "8MiB"), |b| {
        b.iter(|| Sha256::digest(black_box(&payload[..])))
    });

    let parts = f.put_sha256(&payload);
    let auth = sigv4::parse(&parts).unwrap();
    assert!(matches!(auth.payload, PayloadMode::Sha256(_)));
    let (_, secret) = f
        .keyring
        .open(
            &auth.access_key_id,
            auth.security_token.as_deref().unwrap(),
            f.now,
        )
        .unwrap();
    let verified = auth
        .verify(&parts, secret.expose().as_bytes(), f.now)
        .unwrap();
    g.bench_function(BenchmarkId::new("hex_sha256", "8MiB"), |b| {
        b.iter_batched(
            || frames(&payload),
            |body| {
                let n = drain(sigv4::verified_body(
                    body,
                    &verified,
                    &parts,
                    sigv4::BodyChecks::default(),
                ));
                assert_eq!(n, BODY_LEN);
            },
            criterion::BatchSize::LargeInput,
        )
    });

    let (parts, encoded) = f.put_chunked(&payload);
    let auth = sigv4::parse(&parts).unwrap();
    assert!(matches!(
        auth.payload,
        PayloadMode::StreamingSigned { trailer: false }
    ));
    let verified = auth
        .verify(&parts, secret.expose().as_bytes(), f.now)
        .unwrap();
    g.bench_function(BenchmarkId::new("aws_chunked_signed", "8MiB"), |b| {
        b.iter_batched(
            || frames(&encoded),
            |body| {
                let n = drain(sigv4::verified_body(
                    body,
                    &verified,
                    &parts,
                    sigv4::BodyChecks::default(),
                ));
                assert_eq!(n, BODY_LEN);
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, hot_path, body_verifiers);
criterion_main!(benches);
