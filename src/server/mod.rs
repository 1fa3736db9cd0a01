//! Composition: one listener (plain or TLS) whose requests are routed to
//! s3gate's own endpoints (`/_s3gate/…`), the STS query API (`POST /` with a
//! form) or the S3 pipeline.
//!
//! Every request, whatever its route and fate, gets exactly one audit event
//! (see [`body`]). The handler returns a response, never an error: failures
//! are rendered in S3's or STS's XML shape at one place per API.

mod body;
mod pipeline;
pub mod reload;
mod sts;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use body::GatewayBody;
pub use reload::LivePolicy;

use crate::audit::AuditSink;
use crate::config::{Config, IdentityConfig};
use crate::identity::aws::AwsVerifier;
use crate::identity::http::HttpClient;
use crate::identity::oidc::OidcVerifier;
use crate::session::Keyring;
use crate::upstream::Upstreams;

/// How long open connections may finish their requests after shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a request needs, shared by all connections.
pub struct Gateway {
    pub keyring: Keyring,
    /// Every store, and which bucket goes to which.
    pub upstreams: Upstreams,
    pub audit: AuditSink,
    pub virtual_host_domains: Vec<String>,
    /// Decides every request; swapped whole on reload.
    pub policy: Arc<LivePolicy>,
    /// OIDC issuers for `AssumeRoleWithWebIdentity`.
    pub oidc: OidcVerifier,
    /// AWS principals for `AssumeRoleWithAwsIdentity`, when configured.
    pub aws_identity: Option<AwsVerifier>,
    /// Session lifetimes for identity exchanges (`[identity]`).
    pub identity_limits: IdentityConfig,
}

impl Gateway {
    /// Loads the keyring, starts the audit writer and builds the upstream
    /// client from a config.
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(&config.session.keyring)
            .with_context(|| format!("cannot read keyring {}", config.session.keyring.display()))?;
        let keyring = Keyring::parse(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", config.session.keyring.display()))?;
        Self::new(config, keyring).await
    }

    /// Like [`Gateway::from_config`] with a keyring already in hand; loads
    /// the config's policy file.
    pub async fn new(config: &Config, keyring: Keyring) -> anyhow::Result<Self> {
        let Some(policy) = &config.policy else {
            anyhow::bail!(
                "the config has no [policy] file: s3gate allows nothing without a policy, so it \
                 does not start (add `[policy]` with `file = \"policy.toml\"`; see docs/policy.md)"
            );
        };
        let policy = LivePolicy::load(&policy.file)
            .await
            .context("cannot load the policy")?;
        Self::with_policy(config, keyring, Arc::new(policy)).await
    }

    /// A gateway deciding by `policy` (the config's `[policy]` is not read).
    pub async fn with_policy(
        config: &Config,
        keyring: Keyring,
        policy: Arc<LivePolicy>,
    ) -> anyhow::Result<Self> {
        let http = HttpClient::new();
        let mut identity_limits = config.identity.clone();
        identity_limits.oidc.clear();
        Ok(Self {
            oidc: OidcVerifier::new(&config.identity.oidc, http.clone()),
            aws_identity: config
                .identity
                .aws
                .as_ref()
                .map(|a| AwsVerifier::new(a.clone(), http.clone())),
            identity_limits,
            keyring,
            upstreams: Upstreams::new(config).await?,
            audit: AuditSink::start(&config.audit.output)?,
            virtual_host_domains: config
                .s3
                .virtual_host_domains
                .iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            policy,
        })
    }
}

/// A running gateway.
pub struct Running {
    pub addr: SocketAddr,
    /// The live policy, to reload on SIGHUP and to read its counters.
    pub policy: Arc<LivePolicy>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets open requests finish (up to the drain
    /// timeout), then returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Waits until the server stops by itself (it only does on shutdown).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Binds `config.listen` (port 0 picks a free port) and serves.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let gateway = Gateway::from_config(&config).await?;
    start_with(&config, gateway).await
}

/// Serves an already-built gateway on `config.listen`, with `config.tls`.
pub async fn start_with(config: &Config, gateway: Gateway) -> anyhow::Result<Running> {
    let acceptor = match &config.tls {
        Some(t) => Some(tls::acceptor(&t.cert, &t.key)?),
        None => None,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let (shutdown, rx) = watch::channel(false);
    let policy = gateway.policy.clone();
    if let Some(p) = config.policy.as_ref().filter(|p| p.watch)
        && policy.file().is_some()
    {
        policy.watch(p.reload_interval, rx.clone());
    }
    let task = tokio::spawn(accept_loop(listener, Arc::new(gateway), acceptor, rx));
    Ok(Running {
        addr,
        policy,
        shutdown,
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        // Without it, Nagle holds small responses back by up to 40 ms.
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        let service = service_fn(move |req| {
            let gateway = gateway.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(&gateway, req, client).await) }
        });
        match &acceptor {
            None => {
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(client.addr = %client, error = %e, "connection ended");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                // TLS handshakes happen off the accept loop; they are not
                // tracked for graceful shutdown until they complete.
                tokio::spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(tls) => {
                            if let Err(e) =
                                builder.serve_connection(TokioIo::new(tls), service).await
                            {
                                tracing::debug!(client.addr = %client, error = %e, "connection ended");
                            }
                        }
                        Err(e) => {
                            tracing::debug!(client.addr = %client, error = %e, "TLS handshake failed");
                        }
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout");
    }
}

/// Routes one request. Never fails: errors are responses.
pub async fn handle(
    gateway: &Gateway,
    req: Request<Incoming>,
    client: SocketAddr,
) -> Response<GatewayBody> {
    let path = req.uri().path();
    if let Some(page) = path.strip_prefix("/_s3gate/") {
        return ops(gateway, page);
    }
    let request_id = new_request_id();
    let now = SystemTime::now();
    if sts::is_sts_request(&req) {
        return sts::handle(gateway, req, client, request_id, now).await;
    }
    pipeline::handle(gateway, req, client, request_id, now).await
}

/// s3gate's own endpoints. Not audited: they carry no data and no identity.
fn ops(gateway: &Gateway, page: &str) -> Response<GatewayBody> {
    let (status, text) = match page {
        "healthz" => (StatusCode::OK, "ok\n"),
        "readyz" if gateway.audit.healthy() => (StatusCode::OK, "ready\n"),
        "readyz" => (StatusCode::SERVICE_UNAVAILABLE, "audit sink failing\n"),
        // What `s3gate credentials aws` must sign for (public: no secret).
        "aws-identity" => {
            return match &gateway.aws_identity {
                Some(aws) => {
                    let mut resp =
                        Response::new(GatewayBody::full(aws.announcement().to_string(), None));
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    resp
                }
                None => {
                    let mut resp =
                        Response::new(GatewayBody::full("AWS identity is not configured\n", None));
                    *resp.status_mut() = StatusCode::NOT_FOUND;
                    resp
                }
            };
        }
        _ => (StatusCode::NOT_FOUND, "not found\n"),
    };
    let mut resp = Response::new(GatewayBody::full(text, None));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// 16 upper-case hex digits, like S3's own request ids.
fn new_request_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}
