//! Composition: one listener (plain or TLS) whose requests are routed to
//! s3gate's own endpoints (`/_s3gate/…`), the STS query API (`POST /` with a
//! form) or the S3 pipeline.
//!
//! Every request, whatever its route and fate, gets exactly one audit event
//! (see [`body`]). The handler returns a response, never an error: failures
//! are rendered in S3's or STS's XML shape at one place per API.

mod abandoned;
mod body;
mod limits;
mod pipeline;
mod portal;
pub mod reload;
pub mod revocation;
pub mod shutdown;
mod sts;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

pub use body::GatewayBody;
pub use reload::LivePolicy;

use crate::audit::AuditSink;
use crate::config::{Config, IdentityConfig, ServerConfig};
use crate::identity::aws::AwsVerifier;
use crate::identity::http::HttpClient;
use crate::identity::oidc::OidcVerifier;
use crate::metrics;
use crate::session::Keyring;
use crate::upstream::Upstreams;
use shutdown::Health;

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
    /// Readiness: draining, upstream reachability.
    pub health: Arc<Health>,
    /// Connection and request limits, and the drain time.
    pub limits: ServerConfig,
    /// Sessions cut off before their expiry (`session.revocation_file` or
    /// `revocation_url`).
    pub revocations: Arc<revocation::Revocations>,
    /// Browser and CLI sign-in (`[login]`), when configured.
    pub login: Option<crate::login::rp::RelyingParty>,
    /// Device approvals and used one-time codes.
    pub login_tables: crate::login::device::LoginTables,
    /// The region shown in the portal's snippets (the default upstream's).
    pub region: String,
    /// Delegated sessions' quota counts, this instance's own.
    pub quotas: crate::session::QuotaLedger,
}

impl Gateway {
    /// Loads the keyring, starts the audit writer and builds the upstream
    /// client from a config.
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        let text = config.session.keyring_text()?;
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
        let upstreams = Upstreams::new(config).await?;
        // Read through the upstreams when the list is an S3 object.
        let revocations = Arc::new(revocation::Revocations::load(config, &upstreams).await?);
        Ok(Self {
            oidc: OidcVerifier::new(&config.identity.oidc, http.clone()),
            aws_identity: config
                .identity
                .aws
                .as_ref()
                .map(|a| AwsVerifier::new(a.clone(), http.clone())),
            identity_limits,
            keyring,
            upstreams,
            audit: AuditSink::start_with(&config.audit.output, config.audit.chain)?,
            virtual_host_domains: config
                .s3
                .virtual_host_domains
                .iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            policy,
            health: Arc::new(Health::default()),
            limits: config.server.clone(),
            revocations,
            login: config
                .login
                .clone()
                .map(|l| crate::login::rp::RelyingParty::new(l, http.clone()))
                .transpose()
                .context("[login]")?,
            login_tables: crate::login::device::LoginTables::new(),
            region: config.upstream.region.clone(),
            quotas: crate::session::QuotaLedger::new(),
        })
    }
}

impl Gateway {
    /// Why credentials just minted would be refused on first use by the
    /// revocation list (a revoked identity or delegator), if they would:
    /// then they are not handed out.
    fn revoked_at_issue(
        &self,
        creds: &crate::session::SessionCredentials,
        now: SystemTime,
    ) -> Option<String> {
        let (claims, _) = self
            .keyring
            .open(&creds.access_key_id, &creds.session_token, now)
            .ok()?;
        self.revocations.revoked(&claims, now)
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

    /// Serves until `signal` (SIGTERM), then drains: readyz fails at once,
    /// the listener closes, in-flight requests get up to
    /// `server.drain_timeout` to finish.
    pub async fn run_until(mut self, signal: impl std::future::Future<Output = ()>) {
        tokio::select! {
            _ = &mut self.task => return,
            () = signal => {}
        }
        tracing::info!(listen = %self.addr, "shutdown requested: draining");
        let _ = self.shutdown.send(true);
        let _ = (&mut self.task).await;
    }
}

/// Binds `config.listen` (port 0 picks a free port) and serves.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let gateway = Gateway::from_config(&config).await?;
    start_with(&config, gateway).await
}

/// Serves an already-built gateway on `config.listen`, with `config.tls`.
pub async fn start_with(config: &Config, gateway: Gateway) -> anyhow::Result<Running> {
    let (shutdown, rx) = watch::channel(false);
    let acceptor = match &config.tls {
        Some(t) => Some(tls::acceptor(&t.cert, &t.key, rx.clone())?),
        None => None,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    shutdown::start_probe(config, gateway.health.clone(), rx.clone()).await;
    let policy = gateway.policy.clone();
    if let Some(p) = config.policy.as_ref().filter(|p| p.watch)
        && policy.file().is_some()
    {
        policy.watch(p.reload_interval, rx.clone());
    }
    gateway
        .revocations
        .poll(config.session.revocation_poll, rx.clone());
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
    let graceful = GracefulShutdown::new();
    let limits = gateway.limits.clone();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's own limits are the backstop for what never parses as a
    // request; the checks with S3 answers (limits.rs) sit below them.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers.saturating_mul(2));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(
            u32::try_from(limits.max_header_bytes.saturating_mul(2)).unwrap_or(u32::MAX),
        );
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Set on shutdown: readyz fails from then on, and the listener closes
    // at this instant (after `server.shutdown_delay`).
    let mut close_at: Option<tokio::time::Instant> = None;
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
            _ = shutdown.changed(), if close_at.is_none() => {
                // Readiness fails before the listener closes, so a balancer
                // polling readyz sees "draining", not a refused connection.
                gateway.health.start_draining();
                close_at = Some(tokio::time::Instant::now() + limits.shutdown_delay);
                continue;
            }
            () = sleep_until_or_never(close_at) => break,
        };
        // Without it, Nagle holds small responses back by up to 40 ms.
        let _ = stream.set_nodelay(true);
        metrics::CONNECTIONS.inc();
        let conn = Conn {
            gateway: gateway.clone(),
            builder: builder.clone(),
            watcher: graceful.watcher(),
            client,
            permit: slots.clone().try_acquire_owned().ok(),
        };
        let acceptor = acceptor.clone();
        let handshake_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            match acceptor {
                None => conn.serve(stream).await,
                Some(acceptor) => {
                    // The handshake counts against the header read time.
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => conn.serve(tls).await,
                        Ok(Err(e)) => {
                            tracing::debug!(client.addr = %client, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(client.addr = %client, "TLS handshake timed out");
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    let drain = gateway.limits.drain_timeout;
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            drain_timeout_s = drain.as_secs(),
            "connections still open after the drain timeout"
        );
    } else {
        tracing::info!("all connections drained");
    }
}

async fn sleep_until_or_never(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One accepted connection, served to its end (or its idle timeout).
struct Conn {
    gateway: Arc<Gateway>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
    client: SocketAddr,
    /// `None`: over `max_connections`; the connection gets `503 SlowDown`.
    permit: Option<OwnedSemaphorePermit>,
}

/// Counts an open connection for as long as it lives.
struct OpenConnection;

impl OpenConnection {
    fn new() -> Self {
        metrics::OPEN_CONNECTIONS.inc();
        Self
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::OPEN_CONNECTIONS.dec();
    }
}

impl Conn {
    async fn serve<T>(self, io: T)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let _open = OpenConnection::new();
        let client = self.client;
        if self.permit.is_none() {
            let service = service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(limits::too_many_connections())
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .timer(TokioTimer::new())
                .header_read_timeout(self.gateway.limits.header_read_timeout)
                .serve_connection(TokioIo::new(io), service)
                .await;
            return;
        }
        let activity = limits::Activity::new();
        let io = limits::Watched::new(io, activity.clone());
        let gateway = self.gateway.clone();
        let service = service_fn(move |req| {
            let gateway = gateway.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(&gateway, req, client).await) }
        });
        let conn = self.watcher.watch(
            self.builder
                .serve_connection(TokioIo::new(io), service)
                .into_owned(),
        );
        let idle = self.gateway.limits.idle_timeout;
        tokio::select! {
            r = conn => {
                if let Err(e) = r {
                    tracing::debug!(client.addr = %client, error = %e, "connection ended");
                }
            }
            () = activity.idle(idle) => {
                tracing::debug!(client.addr = %client, "idle timeout: connection closed");
            }
        }
        drop(self.permit);
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
        if matches!(page, "healthz" | "readyz" | "metrics" | "aws-identity") {
            // Read-only pages: any other method is a mistake or a probe.
            if !matches!(*req.method(), http::Method::GET | http::Method::HEAD) {
                let mut resp = Response::new(GatewayBody::full("method not allowed\n", None));
                *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                resp.headers_mut().insert(
                    http::header::ALLOW,
                    http::HeaderValue::from_static("GET, HEAD"),
                );
                return resp;
            }
            return ops(gateway, page);
        }
        return portal::handle(gateway, req, client).await;
    }
    let request_id = new_request_id();
    if let Some((limit, err)) = limits::check(&gateway.limits, &req) {
        return limits::refuse(gateway, &req, client, request_id, limit, err).await;
    }
    let now = SystemTime::now();
    let is_sts = sts::is_sts_request(&req);
    let api = if is_sts { "sts" } else { "s3" };
    let Some(abandoned) =
        abandoned::Abandoned::arm(gateway, &req, client, &request_id, now, api).await
    else {
        return sts::unavailable(&request_id);
    };
    let response = if is_sts {
        sts::handle(gateway, req, client, request_id, now).await
    } else {
        pipeline::handle(gateway, req, client, request_id, now).await
    };
    abandoned.disarm();
    response
}

/// s3gate's own endpoints. Not audited: they carry no data and no identity.
fn ops(gateway: &Gateway, page: &str) -> Response<GatewayBody> {
    let (status, text, content_type) = match page {
        "healthz" => (StatusCode::OK, "ok\n".into(), "text/plain; charset=utf-8"),
        "readyz" => match gateway.health.not_ready(gateway.audit.healthy()) {
            None => (
                StatusCode::OK,
                "ready\n".into(),
                "text/plain; charset=utf-8",
            ),
            Some(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                why.into(),
                "text/plain; charset=utf-8",
            ),
        },
        "metrics" => (
            StatusCode::OK,
            {
                let p = &gateway.policy;
                metrics::POLICY_RELOAD.mirror(
                    p.reloads.load(std::sync::atomic::Ordering::Relaxed),
                    p.reload_failures.load(std::sync::atomic::Ordering::Relaxed),
                );
                metrics::render()
            },
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        // What `s3gate credentials aws` must sign for (public: no secret).
        "aws-identity" => match &gateway.aws_identity {
            Some(aws) => (
                StatusCode::OK,
                aws.announcement().to_string(),
                "application/json",
            ),
            None => (
                StatusCode::NOT_FOUND,
                "AWS identity is not configured\n".into(),
                "text/plain; charset=utf-8",
            ),
        },
        _ => (
            StatusCode::NOT_FOUND,
            "not found\n".into(),
            "text/plain; charset=utf-8",
        ),
    };
    let mut resp = Response::new(GatewayBody::full(text, None));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    if gateway.health.draining() {
        // Tell HTTP/1 clients not to reuse this connection.
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    resp
}

/// 16 upper-case hex digits, like S3's own request ids.
fn new_request_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}
