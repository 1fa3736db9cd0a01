//! The workload a profile-guided release build learns from
//! (`deploy/pgo-build`): it runs an s3gate binary as a gateway in front of
//! the built-in store, on loopback, and sends it the requests a deployment
//! serves, signed with `aws-sigv4` as stock clients sign them:
//! header-signed PUT, GET, HEAD, ListObjectsV2 and DELETE, presigned GETs,
//! a 1 MiB unsigned-payload PUT read back whole, a request the policy
//! denies and one with a wrong signature.
//!
//! Every answer is checked (status, and the bytes of every object read
//! back); one unexpected answer fails the run with exit code 1, so a
//! profile is never taken from a gateway that was refusing its work.
//! `tests/run` runs it against the debug build, briefly, to keep it so.
//!
//! usage: pgo_train S3GATE_BINARY [--rounds N] [--profile PATTERN]
//! - `--rounds N`: each of 8 clients sends N rounds of the mix above
//!   (default 300, ~1,700 requests a client);
//! - `--profile PATTERN`: the gateway process's `LLVM_PROFILE_FILE` (where
//!   an instrumented build writes its counts at exit). Only the gateway's:
//!   the store and the CLI calls keep this process's own, so the profile is
//!   of serving requests, not of the store behind them.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail, ensure};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

const USAGE: &str = "usage: pgo_train S3GATE_BINARY [--rounds N] [--profile PATTERN]";
const CLIENTS: usize = 8;
const BUCKET: &str = "train";
const REGION: &str = "us-east-1";
const SMALL: usize = 4 * 1024;
const LARGE: usize = 1024 * 1024;
/// The store's key id (its secret is made at random per run).
const STORE_KEY_ID: &str = "PGOTRAINSTOREKEY0000";

struct Args {
    s3gate: PathBuf,
    rounds: usize,
    profile: Option<String>,
}

fn args() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let mut s3gate = None;
    let (mut rounds, mut profile) = (300, None);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rounds" => {
                rounds = it
                    .next()
                    .context("--rounds needs a number")?
                    .parse()
                    .context("--rounds")?;
            }
            "--profile" => profile = Some(it.next().context("--profile needs a pattern")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ if s3gate.is_none() => s3gate = Some(PathBuf::from(arg)),
            _ => bail!("unexpected argument {arg:?} (see --help)"),
        }
    }
    Ok(Args {
        s3gate: s3gate.context(USAGE)?,
        rounds,
        profile,
    })
}

/// A child process that is stopped with SIGTERM (so that an instrumented
/// build writes its profile) and waited for, however the run ends.
struct Server {
    name: &'static str,
    child: Child,
}

impl Server {
    fn stop(mut self) -> anyhow::Result<()> {
        self.terminate();
        let status = self.child.wait()?;
        ensure!(status.success(), "{} exited with {status}", self.name);
        Ok(())
    }

    fn terminate(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
            let _ = self.child.wait();
        }
    }
}

// The tests' loopback ports: from outside the kernel's ephemeral range, so
// no outgoing connection takes one between its choice and the bind.
#[allow(clippy::expect_used)] // Its panics name a machine with no free port.
#[path = "../tests/common/ports.rs"]
mod ports;

fn run_cli(s3gate: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(s3gate).args(args).output()?;
    ensure!(
        out.status.success(),
        "s3gate {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Caller {
    client: HttpClient,
    base: String,
    identity: Identity,
}

impl Caller {
    /// Signs `req` as a stock client does: in the headers with the
    /// payload's hash (or `UNSIGNED-PAYLOAD`), or in the query.
    fn sign(
        &self,
        req: &mut Request<Full<Bytes>>,
        body: SignableBody<'_>,
        location: SignatureLocation,
    ) -> anyhow::Result<()> {
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
            .identity(&self.identity)
            .region(REGION)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()?
            .into();
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| Ok((k.as_str(), v.to_str()?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let signable = SignableRequest::new(
            req.method().as_str(),
            req.uri().to_string(),
            headers.into_iter(),
            body,
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }

    fn request(
        &self,
        method: Method,
        path_query: &str,
        body: Bytes,
    ) -> anyhow::Result<Request<Full<Bytes>>> {
        let uri = format!("{}{path_query}", self.base);
        let mut builder = Request::builder().method(method).uri(uri);
        if !body.is_empty() {
            builder = builder.header(http::header::CONTENT_LENGTH, body.len());
        }
        Ok(builder.body(Full::new(body))?)
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> anyhow::Result<(StatusCode, Bytes)> {
        let resp = self.client.request(req).await?;
        let status = resp.status();
        Ok((status, resp.into_body().collect().await?.to_bytes()))
    }

    async fn expect(
        &self,
        what: &str,
        req: Request<Full<Bytes>>,
        status: StatusCode,
        body: Option<&[u8]>,
    ) -> anyhow::Result<()> {
        let (got, bytes) = self.send(req).await?;
        ensure!(
            got == status,
            "{what}: expected {status}, got {got}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(400)])
        );
        if let Some(want) = body {
            ensure!(
                bytes.as_ref() == want,
                "{what}: the bytes read back differ from those written"
            );
        }
        Ok(())
    }

    /// One round of the mix, on keys of its own.
    async fn round(
        &self,
        client: usize,
        round: usize,
        small: &Bytes,
        large: &Bytes,
    ) -> anyhow::Result<()> {
        let key = format!("/{BUCKET}/c{client}/r{round}.bin");
        let header = SignatureLocation::Headers;

        let mut put = self.request(Method::PUT, &key, small.clone())?;
        self.sign(&mut put, SignableBody::Bytes(small), header)?;
        self.expect("PUT", put, StatusCode::OK, None).await?;

        let mut get = self.request(Method::GET, &key, Bytes::new())?;
        self.sign(&mut get, SignableBody::Bytes(b""), header)?;
        self.expect("GET", get, StatusCode::OK, Some(small)).await?;

        let mut head = self.request(Method::HEAD, &key, Bytes::new())?;
        self.sign(&mut head, SignableBody::Bytes(b""), header)?;
        self.expect("HEAD", head, StatusCode::OK, None).await?;

        let mut presigned = self.request(Method::GET, &key, Bytes::new())?;
        self.sign(
            &mut presigned,
            SignableBody::UnsignedPayload,
            SignatureLocation::QueryParams,
        )?;
        self.expect("presigned GET", presigned, StatusCode::OK, Some(small))
            .await?;

        if round.is_multiple_of(4) {
            let list = format!("/{BUCKET}?list-type=2&prefix=c{client}%2F");
            let mut list = self.request(Method::GET, &list, Bytes::new())?;
            self.sign(&mut list, SignableBody::Bytes(b""), header)?;
            self.expect("ListObjectsV2", list, StatusCode::OK, None)
                .await?;
        }
        if round.is_multiple_of(16) {
            let big = format!("/{BUCKET}/c{client}/large{round}.bin");
            let mut put = self.request(Method::PUT, &big, large.clone())?;
            self.sign(&mut put, SignableBody::UnsignedPayload, header)?;
            self.expect("PUT 1 MiB", put, StatusCode::OK, None).await?;
            let mut get = self.request(Method::GET, &big, Bytes::new())?;
            self.sign(&mut get, SignableBody::Bytes(b""), header)?;
            self.expect("GET 1 MiB", get, StatusCode::OK, Some(large))
                .await?;
        }
        if round.is_multiple_of(8) {
            // The policy keeps `locked/` read-only.
            let locked = format!("/{BUCKET}/locked/c{client}.bin");
            let mut put = self.request(Method::PUT, &locked, small.clone())?;
            self.sign(&mut put, SignableBody::Bytes(small), header)?;
            self.expect("denied PUT", put, StatusCode::FORBIDDEN, None)
                .await?;

            let mut forged = self.request(Method::GET, &key, Bytes::new())?;
            self.sign(&mut forged, SignableBody::Bytes(b""), header)?;
            let auth = forged
                .headers()
                .get(http::header::AUTHORIZATION)
                .context("no Authorization header")?
                .to_str()?
                .to_owned();
            // The signature's last hex digit, changed.
            let flipped = if auth.ends_with('0') { '1' } else { '0' };
            let forged_auth = format!("{}{flipped}", &auth[..auth.len() - 1]);
            forged
                .headers_mut()
                .insert(http::header::AUTHORIZATION, forged_auth.parse()?);
            self.expect("wrong signature", forged, StatusCode::FORBIDDEN, None)
                .await?;
        }

        let mut delete = self.request(Method::DELETE, &key, Bytes::new())?;
        self.sign(&mut delete, SignableBody::Bytes(b""), header)?;
        self.expect("DELETE", delete, StatusCode::NO_CONTENT, None)
            .await?;
        Ok(())
    }
}

fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed)
        .collect::<Vec<u8>>()
        .into()
}

async fn wait_ready(
    client: &HttpClient,
    base: &str,
    servers: &mut [&mut Server],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for server in servers.iter_mut() {
            if let Some(status) = server.child.try_wait()? {
                bail!("{} exited before it was ready: {status}", server.name);
            }
        }
        let req = Request::get(format!("{base}/_s3gate/readyz")).body(Full::new(Bytes::new()))?;
        if let Ok(resp) = client.request(req).await
            && resp.status() == StatusCode::OK
        {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "{base} did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    std::fs::create_dir_all(root.join("data"))?;
    // Made at random for this run; it never leaves loopback.
    let store_secret = hex::encode(rand::random::<[u8; 20]>());

    let store_port = ports::free_port();
    let mut store = Server {
        name: "the store",
        child: Command::new(&args.s3gate)
            .args([
                "store",
                "--listen",
                &format!("127.0.0.1:{store_port}"),
                "--data",
            ])
            .arg(root.join("data"))
            .env("S3GATE_STORE_ACCESS_KEY_ID", STORE_KEY_ID)
            .env("S3GATE_STORE_SECRET_ACCESS_KEY", &store_secret)
            .stdout(Stdio::null())
            .spawn()
            .context("starting the store")?,
    };

    let keyring = root.join("keyring.toml");
    run_cli(
        &args.s3gate,
        &["keyring", "new", "--out", &keyring.to_string_lossy()],
    )?;
    std::fs::write(
        root.join("policy.toml"),
        r#"
[[grant]]
id = "train"
principals = ["*"]
actions = ["*"]
resources = ["s3://train", "s3://train/*"]

[[deny]]
id = "locked-read-only"
principals = ["*"]
actions = ["write", "delete"]
resources = ["s3://train/locked/*"]
"#,
    )?;
    let port = ports::free_port();
    let config = root.join("s3gate.toml");
    s3gate::secret_file::write_private(
        &config,
        &format!(
            r#"listen = "127.0.0.1:{port}"

[upstream]
endpoint = "http://127.0.0.1:{store_port}"
region = "{REGION}"
addressing = "path"

[upstream.credentials]
access_key_id = "{STORE_KEY_ID}"
secret_access_key = "{store_secret}"

[session]
keyring = "{}"

[audit]
output = "{}"

[policy]
file = "{}"
"#,
            keyring.display(),
            root.join("audit.log").display(),
            root.join("policy.toml").display(),
        ),
    )?;
    let mut serve = Command::new(&args.s3gate);
    serve
        .args(["serve", "--config"])
        .arg(&config)
        .env("S3GATE_LOG", "warn")
        .stdout(Stdio::null());
    if let Some(profile) = &args.profile {
        serve.env("LLVM_PROFILE_FILE", profile);
    }
    let mut gateway = Server {
        name: "the gateway",
        child: serve.spawn().context("starting the gateway")?,
    };

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let base = format!("http://{}", SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    wait_ready(&client, &base, &mut [&mut store, &mut gateway]).await?;

    let minted = run_cli(
        &args.s3gate,
        &[
            "session",
            "mint",
            "--config",
            &config.to_string_lossy(),
            "--user",
            "pgo-train",
            "--scope",
            "s3:*=s3://train",
            "--scope",
            "*=s3://train/*",
            "--ttl",
            "1h",
        ],
    )?;
    let minted: serde_json::Value = serde_json::from_str(&minted)?;
    let field = |name: &str| -> anyhow::Result<String> {
        Ok(minted[name]
            .as_str()
            .context("session mint printed no {name}")?
            .to_owned())
    };
    let identity: Identity = Credentials::new(
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        Some(field("SessionToken")?),
        None,
        "pgo-train",
    )
    .into();
    let caller = Arc::new(Caller {
        client,
        base,
        identity,
    });

    let mut create = caller.request(Method::PUT, &format!("/{BUCKET}"), Bytes::new())?;
    caller.sign(
        &mut create,
        SignableBody::Bytes(b""),
        SignatureLocation::Headers,
    )?;
    caller
        .expect("CreateBucket", create, StatusCode::OK, None)
        .await?;

    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let caller = Arc::clone(&caller);
        let (small, large) = (pattern(SMALL, c as u8), pattern(LARGE, c as u8 + 1));
        let rounds = args.rounds;
        tasks.push(tokio::spawn(async move {
            for r in 0..rounds {
                caller.round(c, r, &small, &large).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let took = started.elapsed();
    drop(caller);

    gateway.stop()?;
    store.stop()?;
    println!(
        "pgo_train: {CLIENTS} clients x {} rounds, every answer as expected, in {:.1} s",
        args.rounds,
        took.as_secs_f64()
    );
    Ok(())
}
