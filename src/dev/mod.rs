//! The embedded default: serves [`crate::store`] (our S3-compatible store
//! over a local folder) with SigV4 verification on, and `s3gate dev`, which runs the
//! gateway in front of it with an ephemeral keyring and a session for user
//! `dev` — everything on one machine, nothing else installed.
//!
//! The store verifies the gateway's re-signed requests with its own SigV4
//! implementation, so the dev path exercises the real re-signing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::audit::iso8601;
use std::sync::Arc;

use crate::config::{
    AuditConfig, Config, PolicyConfig, S3Config, ServerConfig, SessionConfig, StaticCredentials,
    UpstreamConfig,
};
use crate::live::LivePolicy;
use crate::policy::{DEV_POLICY, Policy, Scope};
use crate::session::{Identity, Keyring, SessionCredentials};

/// Serves an S3-compatible store over `root` with SigV4 verification on,
/// accepting one access key. Buckets are the folders under `root`.
pub async fn start_store(
    listen: SocketAddr,
    root: &Path,
    access_key_id: &str,
    secret_access_key: &str,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let store = crate::store::Store::open(root)?;
    serve_store(listen, store, access_key_id, secret_access_key).await
}

/// Serves an opened store (see [`start_store`]).
pub async fn serve_store(
    listen: SocketAddr,
    store: crate::store::Store,
    access_key_id: &str,
    secret_access_key: &str,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let mut builder = s3s::service::S3ServiceBuilder::new(store);
    builder.set_auth(s3s::auth::SimpleAuth::from_single(
        access_key_id,
        secret_access_key,
    ));
    let service = builder.build();
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let builder = auto::Builder::new(TokioExecutor::new());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let service = service.clone();
            let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let service = service.clone();
                async move { service.call(req.map(s3s::Body::from)).await }
            });
            let conn = builder
                .serve_connection(TokioIo::new(stream), svc)
                .into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    Ok((addr, task))
}

/// What `s3gate dev` needs.
pub struct DevOptions {
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub env_file: Option<PathBuf>,
    pub ttl: Duration,
    /// A policy file to use (watched) instead of the built-in one that
    /// lets user `dev` do everything.
    pub policy: Option<PathBuf>,
}

/// Runs `s3gate dev` until Ctrl-C.
pub async fn run(options: DevOptions) -> anyhow::Result<()> {
    let store_key = random_token(20);
    let store_secret = random_token(40);
    let store = crate::store::Store::open(&options.data)?;
    store
        .ensure_bucket("dev")
        .context("cannot create the `dev` bucket")?;
    let (store_addr, _store) = serve_store(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        store,
        &store_key,
        &store_secret,
    )
    .await?;

    let config = Config {
        listen: options.listen,
        tls: None,
        upstream: UpstreamConfig {
            name: None,
            buckets: Vec::new(),
            endpoint: Some(format!("http://{store_addr}")),
            region: "us-east-1".into(),
            addressing: None,
            credentials: Some(StaticCredentials {
                access_key_id: store_key,
                secret_access_key: store_secret,
            }),
            assume_role: None,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(60),
            ca_bundle: None,
        },
        upstreams: Vec::new(),
        session: SessionConfig {
            keyring: PathBuf::new(),
            max_ttl: options.ttl,
            revocation_file: None,
            revocation_url: None,
            revocation_poll: std::time::Duration::from_secs(5),
            keyring_poll: std::time::Duration::from_secs(5),
        },
        audit: AuditConfig::default(),
        s3: S3Config::default(),
        server: ServerConfig::default(),
        login: None,
        shared: crate::config::SharedConfig::default(),
        policy: options.policy.clone().map(|file| PolicyConfig {
            file,
            watch: true,
            reload_interval: Duration::from_secs(1),
        }),
        identity: crate::config::IdentityConfig::default(),
        cors: Vec::new(),
    };
    let keyring = Keyring::generate("dev", &mut rand::rng())?;
    let creds = keyring.mint(
        Identity::new("mint", "dev"),
        Scope::all(),
        SystemTime::now(),
        options.ttl,
        Vec::new(),
        &mut rand::rng(),
    )?;
    let (gateway, policy_note) = match &options.policy {
        Some(file) => (
            crate::gateway::Gateway::new(&config, keyring).await?,
            format!("policy {} (reloaded on change)", file.display()),
        ),
        None => {
            let policy = Policy::parse(DEV_POLICY, "built-in dev policy")?;
            let live = Arc::new(LivePolicy::fixed(policy));
            (
                crate::gateway::Gateway::with_policy(&config, keyring, live).await?,
                "built-in dev policy (user `dev` may do everything)".to_owned(),
            )
        }
    };
    let running = crate::server::start_with(&config, gateway).await?;
    let lines = env_lines(running.addr, &creds);
    if let Some(path) = &options.env_file {
        // The lines hold the session's secret key and token.
        crate::secret_file::write_private(path, &lines)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!(
        "s3gate dev: gateway on http://{}, store over {} (bucket `dev`), session for `dev` until {}, {policy_note}.\n\
         Paste these lines into your shell, then try `aws s3 ls s3://dev`:\n",
        running.addr,
        options.data.display(),
        iso8601(creds.expires_at),
    );
    // The lines go to stderr with the banner: stdout carries audit lines.
    eprintln!("{lines}");
    // SIGTERM or Ctrl-C: drain like `serve` (in-flight transfers finish
    // within server.drain_timeout), then exit 0.
    running.run_until(crate::server::shutdown_signal()).await;
    Ok(())
}

/// The shell lines that point the AWS CLI and SDKs at the gateway.
pub fn env_lines(addr: SocketAddr, creds: &SessionCredentials) -> String {
    format!(
        "export AWS_ENDPOINT_URL=http://{addr}\n\
         export AWS_ACCESS_KEY_ID={}\n\
         export AWS_SECRET_ACCESS_KEY={}\n\
         export AWS_SESSION_TOKEN={}\n\
         export AWS_REGION=us-east-1\n\
         export AWS_DEFAULT_REGION=us-east-1\n",
        creds.access_key_id,
        creds.secret_access_key.expose(),
        creds.session_token,
    )
}

fn random_token(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast tier: the embedded store served as `s3gate dev` serves it
    /// (SigV4 on), driven by the Rust SDK, with keys a store of paths loses.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_served_store_keeps_keys_exact_through_the_rust_sdk() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        store.ensure_bucket("dev").unwrap();
        let (addr, task) = serve_store(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            store,
            "AKIDTEST",
            "secret",
        )
        .await
        .unwrap();
        let creds = aws_sdk_s3::config::Credentials::new("AKIDTEST", "secret", None, None, "test");
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version_latest()
                .endpoint_url(format!("http://{addr}"))
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .credentials_provider(creds)
                .force_path_style(true)
                .build(),
        );
        let keys = [
            "a/b", "a//b", "a/b/", "/a", "a/../b", "d", "d/e", "sp ace+%",
        ];
        for (i, key) in keys.iter().enumerate() {
            client
                .put_object()
                .bucket("dev")
                .key(*key)
                .body(format!("{i}").into_bytes().into())
                .send()
                .await
                .unwrap_or_else(|e| panic!("put {key:?}: {e:?}"));
        }
        for (i, key) in keys.iter().enumerate() {
            let got = client
                .get_object()
                .bucket("dev")
                .key(*key)
                .send()
                .await
                .unwrap();
            let body = got.body.collect().await.unwrap().into_bytes();
            assert_eq!(body.as_ref(), format!("{i}").as_bytes(), "{key:?}");
        }
        let listed = client.list_objects_v2().bucket("dev").send().await.unwrap();
        let listed: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
        let mut want = keys.to_vec();
        want.sort_unstable();
        assert_eq!(listed, want);
        task.abort();
    }
}
