//! The per-request hot path, stage by stage, and the body verifiers'
//! throughput.
//!
//! Requests are signed with the `aws-sigv4` crate (an independent signer,
//! not s3gate's verifier run backwards) using session credentials minted by
//! s3gate's keyring, exactly as a stock client holding them would.
//!
//! `cargo bench --bench hot_path` (add `-- --quick` for a short run).
//! Groups:
//! - `get_header/*`, `get_presigned/*`: the query's split, classify, sigv4
//!   parse, session open (uncached, and through the cache of opened
//!   sessions), sigv4 verify, scope check, upstream re-sign (with static
//!   store keys, and `6b_upstream_resign_role` with a role session's,
//!   whose token is signed in), and `full` (all
//!   of them, as the pipeline runs them: the query split once and handed to
//!   every stage), and `sha256_floor`, the baseline `full` is read
//!   against: the SHA-256 blocks SigV4 makes any implementation hash for
//!   this request (both canonical requests and both strings to sign);
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
use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group};
use http::request::Parts;
use http::{Method, Request};
use http_body::{Body, Frame, SizeHint};
use sha2::{Digest, Sha256};

use s3gate::audit::AuditEvent;
use s3gate::config::Config;
use s3gate::policy::{Caller, Decision, Policy, Scope};
use s3gate::raw_query::RawQuery;
use s3gate::s3::{S3Request, classify_with_query};
use s3gate::session::{Identity, Keyring, OpenedSession, RevocationList, SessionCredentials};
use s3gate::sigv4::{self, PayloadMode, Verified};
use s3gate::upstream::Upstream;

/// The server's allocator (see `src/main.rs`), so that the stages'
/// allocations cost here what they cost in s3gate (glibc's malloc put
/// ~1,450 more instructions into `full`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// The store's credentials as most deployments have them: a role
    /// session from STS, whose token is signed into every store request.
    store_role_identity: AwsIdentity,
    policy: Policy,
    now: SystemTime,
}

/// A policy of the usual shape: homes by group, a shared read-only area,
/// and a deny the request must be checked against.
const POLICY: &str = r#"
version = "bench"

[[grant]]
id = "homes"
principals = ["oidc:*"]
actions = ["read", "write", "list", "delete"]
resources = ["s3://photos/home/*"]

[[grant]]
id = "shared-read"
principals = ["group:photographers"]
actions = ["read", "list"]
resources = ["s3://photos/shared/*", "s3://public/*"]

[[deny]]
id = "archive-append-only"
principals = ["*"]
actions = ["delete"]
resources = ["s3://photos/archive/*"]
"#;

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
        // An STS session token is ~600–1,100 base64 characters; this one
        // is of that alphabet and length, made up.
        let role_token: String = (0..900u32)
            .map(|i| {
                char::from(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                        [(i * 37 % 64) as usize],
                )
            })
            .collect();
        let store_role_identity = Credentials::new(
            "ASIASTOREROLE",
            "rolesecretrolesecretrolesecretrolesecret",
            Some(role_token),
            None,
            "bench-role",
        )
        .into();
        let policy = Policy::parse(POLICY, "bench-policy.toml").unwrap();
        Fixture {
            keyring,
            creds,
            upstream,
            store_identity,
            store_role_identity,
            policy,
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

    /// The secret of the session a parsed request names.
    fn secret_of(&self, auth: &sigv4::Authorization<'_>) -> String {
        let token = auth.security_token.as_deref().unwrap();
        let (_, secret) = self
            .keyring
            .open(&auth.access_key_id, token, self.now)
            .unwrap();
        secret.expose().to_owned()
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

/// The client address the policy and the audit line see.
const CLIENT: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 50_000);

/// sigv4 verify, as `gateway::s3::authenticate` runs it.
fn verify(
    parts: &Parts,
    query: &RawQuery<'_>,
    auth: &sigv4::Authorization,
    session: &OpenedSession,
    now: SystemTime,
) -> Verified {
    auth.verify_cached_with_query(
        parts,
        query,
        session.secret.expose().as_bytes(),
        session.signing_keys(),
        now,
    )
    .unwrap()
}

/// The authorize phase: the policy's decision and the session's scope.
fn decide(f: &Fixture, s3: &S3Request, session: &OpenedSession) -> Decision {
    let claims = &session.claims;
    let caller = Caller {
        identity: &claims.identity,
        // As the gateway names the caller: the session's kept name.
        name: session.subject.identity.as_deref(),
        chain: &claims.chain,
        client: Some(CLIENT.ip()),
        now: f.now,
    };
    let decision = f
        .policy
        .decide_session_request(&caller, &s3.resources, &s3.encryption);
    assert!(decision.allowed, "{decision}");
    assert!(claims.first_denied(&s3.resources).is_none());
    decision
}

/// The request's audit record, filled in as the phases fill it, then
/// serialised as the writer does into its reused line buffer. As
/// `gateway::phases` fills it for a request that passed: the session's
/// subject names the access key (the record copies it only on a
/// refusal), and the upstream's name is shared, not spelled again.
fn audit_record(
    f: &Fixture,
    parts: &Parts,
    s3: &S3Request,
    session: &OpenedSession,
    decision: &Decision,
    line: &mut Vec<u8>,
) {
    let mut e = AuditEvent::begin(
        "s3",
        s3gate::gateway::request_id_of(0x5eed),
        f.now,
        CLIENT,
        &parts.headers,
    );
    e.operation = Some(s3.operation.as_str());
    e.bucket = s3.bucket.clone();
    e.key = s3.key.clone();
    e.auth = Some("header");
    e.set_session(&session.subject);
    e.policy_version = Some(f.policy.shared_version());
    e.rule = decision.rule.clone();
    if let Some(rule) = &decision.rule {
        e.reason = s3gate::audit::Reason::Granted(rule.clone());
    }
    e.decision = "allow";
    e.upstream = Some(f.upstream.shared_name());
    e.status = 200;
    e.bytes_out = 4096;
    e.complete = true;
    e.duration_ms = 0.25;
    line.clear();
    e.write_json(line);
}

/// The pipeline's per-request work, as `gateway::s3::run` does it
/// (without the I/O): the query split once and handed to every stage;
/// returns the signed upstream head.
fn full(f: &Fixture, parts: &Parts, line: &mut Vec<u8>) -> (http::Uri, http::HeaderMap) {
    let query = RawQuery::of(&parts.uri);
    let s3 = classify_with_query(&parts.method, &parts.uri, &query, &parts.headers, &[]).unwrap();
    let auth = sigv4::parse_with_query(parts, &query).unwrap();
    let token = auth.security_token.as_deref().unwrap();
    let session = f
        .keyring
        .open_shared(&auth.access_key_id, token, f.now)
        .unwrap();
    let verified = verify(parts, &query, &auth, &session, f.now);
    let decision = decide(f, &s3, &session);
    let head = f
        .upstream
        .sign_head_with_query(
            parts,
            &query,
            &s3,
            &verified.payload,
            None,
            &f.store_identity,
            f.now,
        )
        .unwrap();
    audit_record(f, parts, &s3, &session, &decision, line);
    head
}

/// A canonical request written out plainly from the request as sent (no
/// value in these requests needs trimming or re-encoding beyond the
/// query's): what the floor stage hashes. Checked against the request's
/// own signature before it is timed.
fn plain_canonical(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &http::HeaderMap,
    signed: &str,
    payload: &str,
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(path.as_bytes());
    out.push(b'\n');
    if let Some(query) = query {
        // Without the signature itself, as a presigned URL signs it.
        let rest: Vec<&str> = query
            .split('&')
            .filter(|p| !p.starts_with("X-Amz-Signature="))
            .collect();
        sigv4::push_query(&mut out, &rest.join("&"));
    }
    out.push(b'\n');
    for name in signed.split(';') {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(headers[name].as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload.as_bytes());
    out
}

/// A field of an `Authorization: AWS4-HMAC-SHA256 …` header, e.g.
/// `SignedHeaders=`'s value.
fn field_of(headers: &http::HeaderMap, needle: &str) -> String {
    let value = headers["authorization"].to_str().unwrap();
    let at = value.find(needle).unwrap() + needle.len();
    value[at..].split(',').next().unwrap().to_owned()
}

/// What `signature_of_hash` needs besides the hash.
struct Signing {
    key: sigv4::SigningKey,
    amz_date: String,
    scope: String,
    canonical: Vec<u8>,
}

impl Signing {
    fn signature(&self) -> [u8; 32] {
        let hash: [u8; 32] = Sha256::digest(&self.canonical).into();
        sigv4::signature_of_hash(&self.key, &self.amz_date, &self.scope, &hash)
    }
}

/// The SHA-256 work a header- or query-signed GET cannot skip, whoever
/// implements it: the caller's canonical request and the store's hashed,
/// and each string to sign MAC-ed under a cached signing key. Both
/// canonical requests are written out once, before timing, and each is
/// checked to give the signature its request carries.
fn sha256_floor(f: &Fixture, parts: &Parts) -> [Signing; 2] {
    let query = RawQuery::of(&parts.uri);
    let auth = sigv4::parse_with_query(parts, &query).unwrap();
    let presigned = auth.form == sigv4::AuthForm::Presigned;
    let param = |name: &str| {
        let (_, value) = parts
            .uri
            .query()?
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == name)?;
        let value = percent_encoding::percent_decode_str(value).decode_utf8();
        Some(value.unwrap().into_owned())
    };
    let header_param = |needle| field_of(&parts.headers, needle);
    let (amz_date, signed, payload, signature) = if presigned {
        (
            param("X-Amz-Date").unwrap(),
            param("X-Amz-SignedHeaders").unwrap(),
            "UNSIGNED-PAYLOAD".to_owned(),
            param("X-Amz-Signature").unwrap(),
        )
    } else {
        (
            parts.headers["x-amz-date"].to_str().unwrap().to_owned(),
            header_param("SignedHeaders="),
            parts.headers["x-amz-content-sha256"]
                .to_str()
                .unwrap()
                .to_owned(),
            header_param("Signature="),
        )
    };
    let secret = f.secret_of(&auth);
    let scope = auth.credential().as_str().to_owned();
    let caller = Signing {
        key: sigv4::SigningKey::derive(secret.as_bytes(), &amz_date[..8], REGION, "s3"),
        canonical: plain_canonical(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            &signed,
            &payload,
        ),
        amz_date,
        scope,
    };
    assert_eq!(hex::encode(caller.signature()), signature, "caller");

    // The store's request, as the pipeline signs it.
    let (uri, head) = full(f, parts, &mut Vec::new());
    let field = |needle| field_of(&head, needle);
    let credential = field("Credential=");
    let amz_date = head["x-amz-date"].to_str().unwrap().to_owned();
    let store = Signing {
        key: sigv4::SigningKey::derive(
            b"storesecretstoresecretstoresecret",
            &amz_date[..8],
            REGION,
            "s3",
        ),
        canonical: plain_canonical(
            parts.method.as_str(),
            uri.path(),
            uri.query(),
            &head,
            &field("SignedHeaders="),
            head["x-amz-content-sha256"].to_str().unwrap(),
        ),
        amz_date,
        scope: credential.split_once('/').unwrap().1.to_owned(),
    };
    assert_eq!(hex::encode(store.signature()), field("Signature="), "store");
    [caller, store]
}

type Stage<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Every stage of one request, by name: what criterion times and what
/// `benches/callgrind` counts instructions of.
fn stages<'a>(f: &'a Fixture, parts: &'a Parts) -> Vec<Stage<'a>> {
    // Split once, as `gateway::s3::run` does, and handed to each stage.
    let query = RawQuery::of(&parts.uri);
    let auth = std::rc::Rc::new(sigv4::parse_with_query(parts, &query).unwrap());
    let token = auth.security_token.clone().unwrap();
    let session = f
        .keyring
        .open_shared(&auth.access_key_id, &token, f.now)
        .unwrap();
    let s3 = std::rc::Rc::new(
        classify_with_query(&parts.method, &parts.uri, &query, &parts.headers, &[]).unwrap(),
    );
    let verified = verify(parts, &query, &auth, &session, f.now);
    let verified_role = verify(parts, &query, &auth, &session, f.now);
    let decision = decide(f, &s3, &session);
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
    let mut line = Vec::with_capacity(1024);
    let mut full_line = Vec::with_capacity(1024);
    let floor = sha256_floor(f, parts);
    let (a1, a2, a3) = (auth.clone(), auth.clone(), auth.clone());
    let (t1, t2) = (token.clone(), token);
    let (s1, s2, s3b, s4) = (
        session.clone(),
        session.clone(),
        session.clone(),
        session.clone(),
    );
    let (c1, c2, c3) = (s3.clone(), s3.clone(), s3.clone());
    let (q1, q2, q3, q4, q5) = (
        query.clone(),
        query.clone(),
        query.clone(),
        query.clone(),
        query,
    );
    vec![
        (
            "0_split_query",
            Box::new(move || {
                black_box(RawQuery::of(black_box(&parts.uri)));
            }),
        ),
        (
            "1_classify",
            Box::new(move || {
                black_box(
                    classify_with_query(&parts.method, &parts.uri, &q1, &parts.headers, &[])
                        .unwrap(),
                );
            }),
        ),
        (
            "2_sigv4_parse",
            Box::new(move || {
                black_box(sigv4::parse_with_query(black_box(parts), &q2).unwrap());
            }),
        ),
        (
            "3_session_open",
            Box::new(move || {
                black_box(
                    f.keyring
                        .open(black_box(&a1.access_key_id), &t1, f.now)
                        .unwrap(),
                );
            }),
        ),
        // What the pipeline runs: the same open through the keyring's
        // cache of opened sessions (a hit after the first request).
        (
            "3_session_open_cached",
            Box::new(move || {
                black_box(
                    f.keyring
                        .open_shared(black_box(&a2.access_key_id), &t2, f.now)
                        .unwrap(),
                );
            }),
        ),
        (
            "4_sigv4_verify",
            Box::new(move || {
                black_box(verify(black_box(parts), &q3, &a3, &s1, f.now));
            }),
        ),
        (
            "5_decide",
            Box::new(move || {
                black_box(decide(f, black_box(&c1), &s2));
            }),
        ),
        (
            "5b_revocation_empty_list",
            Box::new(move || {
                black_box(empty.revoked(black_box(&s3b.claims), now_secs));
            }),
        ),
        (
            "5b_revocation_one_identity_entry",
            Box::new(move || {
                black_box(one_identity.revoked(black_box(&session.claims), now_secs));
            }),
        ),
        (
            "6_upstream_resign",
            Box::new(move || {
                black_box(
                    f.upstream
                        .sign_head_with_query(
                            black_box(parts),
                            &q4,
                            &c2,
                            &verified.payload,
                            None,
                            &f.store_identity,
                            f.now,
                        )
                        .unwrap(),
                );
            }),
        ),
        (
            "6b_upstream_resign_role",
            Box::new(move || {
                black_box(
                    f.upstream
                        .sign_head_with_query(
                            black_box(parts),
                            &q5,
                            &c3,
                            &verified_role.payload,
                            None,
                            &f.store_role_identity,
                            f.now,
                        )
                        .unwrap(),
                );
            }),
        ),
        (
            "7_audit_record",
            Box::new(move || {
                audit_record(f, parts, &s3, &s4, &decision, &mut line);
                black_box(&line);
            }),
        ),
        (
            "full",
            Box::new(move || {
                black_box(full(f, black_box(parts), &mut full_line));
            }),
        ),
        // The baseline `full` is read against: its SHA-256 work alone.
        (
            "sha256_floor",
            Box::new(move || {
                for signing in &floor {
                    black_box(signing.signature());
                }
            }),
        ),
    ]
}

fn per_request(c: &mut Criterion, f: &Fixture, name: &str, parts: &Parts) {
    let mut g = c.benchmark_group(name);
    for (stage, mut run) in stages(f, parts) {
        g.bench_function(stage, |b| b.iter(&mut run));
    }
    g.finish();
}

fn hot_path(c: &mut Criterion) {
    let f = Fixture::new();
    let header = f.get_header();
    let presigned = f.get_presigned();
    // Both must pass the pipeline's checks before they are worth timing.
    let mut line = Vec::new();
    full(&f, &header, &mut line);
    full(&f, &presigned, &mut line);
    per_request(c, &f, "get_header", &header);
    per_request(c, &f, "get_presigned", &presigned);
}

/// Runs `run` `iters` times. Not inlined, so that callgrind can count
/// exactly the instructions spent in here (`--toggle-collect`).
#[inline(never)]
fn measured(iters: u64, run: &mut dyn FnMut()) {
    for _ in 0..iters {
        run();
    }
}

/// `HOT_PATH_STAGE=group/stage`: runs that one stage `HOT_PATH_ITERS`
/// times (default 2000) after a warm-up call, instead of criterion, for
/// `valgrind --tool=callgrind --toggle-collect=*measured*` (see
/// `benches/callgrind`): instruction counts, repeatable on a busy machine.
fn callgrind_driver(which: &str) {
    let iters = std::env::var("HOT_PATH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let (group, stage) = which.split_once('/').expect("HOT_PATH_STAGE=group/stage");
    let f = Fixture::new();
    let parts = match group {
        "get_header" => f.get_header(),
        "get_presigned" => f.get_presigned(),
        _ => panic!("no group {group}"),
    };
    let mut stages = stages(&f, &parts);
    let (_, run) = stages
        .iter_mut()
        .find(|(name, _)| *name == stage)
        .unwrap_or_else(|| panic!("no stage {stage}"));
    run();
    measured(iters, run);
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
    let secret = f.secret_of(&auth);
    let verified = auth.verify(&parts, secret.as_bytes(), f.now).unwrap();
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
    let verified = auth.verify(&parts, secret.as_bytes(), f.now).unwrap();
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

fn main() {
    if let Ok(which) = std::env::var("HOT_PATH_STAGE") {
        callgrind_driver(&which);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
