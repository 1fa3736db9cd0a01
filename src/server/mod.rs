//! Transport: one listener (plain or TLS), the accept loop, connection
//! limits and the idle timeout, graceful shutdown. Every request is handed
//! to [`crate::gateway::handle`]; this module knows sockets, not S3.

mod idle;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::config::Config;
use crate::gateway::{self, Gateway};
use crate::live::{Held, InFlight, LiveKeyring, LivePolicy, health};
use crate::metrics::{self, Limit};
use crate::request_body::{BodyEnd, RequestBody};

/// A running gateway.
pub struct Running {
    pub addr: SocketAddr,
    /// The live policy, to reload on SIGHUP and to read its counters.
    pub policy: Arc<LivePolicy>,
    /// The live keyring, to reload on SIGHUP.
    pub keyring: Arc<LiveKeyring>,
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
    health::start_probe(config, gateway.health.clone(), rx.clone()).await;
    let policy = gateway.policy.clone();
    if let Some(p) = config.policy.as_ref().filter(|p| p.watch)
        && policy.file().is_some()
    {
        policy.watch(p.reload_interval, rx.clone());
    }
    gateway
        .revocations
        .poll(config.session.revocation_poll, rx.clone());
    // A rotation of the shared keyring file reaches this instance.
    let keyring = gateway.keyring.clone();
    keyring.watch(config.session.keyring_poll, rx.clone());
    let task = tokio::spawn(accept_loop(listener, Arc::new(gateway), acceptor, rx));
    Ok(Running {
        addr,
        policy,
        keyring,
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
    let sources = InFlight::new(limits.max_connections_per_source);
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
            admission: admit(&slots, &sources, client, &limits.trusted_proxies),
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
    // Quota allowance this instance leased and did not use goes back to
    // the shared store, for the instances that remain.
    gateway.quotas.return_unused().await;
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
    /// A connection slot, and its source's; `Err`: over a limit, and the
    /// connection gets `503 SlowDown`.
    admission: Result<(OwnedSemaphorePermit, Option<Held>), Limit>,
}

/// A slot for a new connection from `client`: under `max_connections`, and
/// under `max_connections_per_source` for its address, unless the address
/// is one of `trusted_proxies`. A balancer carries every client's
/// connections: counted as one source, it would hold them all to one
/// client's share.
fn admit(
    slots: &Arc<Semaphore>,
    sources: &InFlight,
    client: SocketAddr,
    trusted_proxies: &[crate::policy::Cidr],
) -> Result<(OwnedSemaphorePermit, Option<Held>), Limit> {
    let permit = slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| Limit::MaxConnections)?;
    if trusted_proxies.iter().any(|c| c.contains(client.ip())) {
        return Ok((permit, None));
    }
    let source = sources
        .enter(&client.ip())
        .ok_or(Limit::ConnectionsPerSource)?;
    Ok((permit, source))
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
        if let Err(limit) = self.admission {
            metrics::limit_hit(limit);
            let service = service_fn(move |_req| async move {
                Ok::<_, std::convert::Infallible>(gateway::too_many_connections(limit))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .timer(TokioTimer::new())
                .header_read_timeout(self.gateway.limits.header_read_timeout)
                .serve_connection(TokioIo::new(io), service)
                .await;
            return;
        }
        let activity = idle::Activity::new();
        let io = idle::Watched::new(io, activity.clone());
        let gateway = self.gateway.clone();
        let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let gateway = gateway.clone();
            async move {
                let (req, body) = watch_body(req);
                let mut response = gateway::handle(&gateway, req, client).await;
                if body.left_unread() {
                    // RFC 9110 §10.1.1: a server answering before it read
                    // the content says whether it will close. Closing, hyper
                    // never parses what follows this request.
                    gateway::close_after(&mut response);
                }
                Ok::<_, std::convert::Infallible>(response)
            }
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
        drop(self.admission);
    }
}

/// Hands `req` on with its body watched when leaving it unread would
/// matter: an HTTP/1 request that declares a body.
///
/// The rule: the answer says `Connection: close` iff such a body has not
/// been read to its end when the answer is ready, whatever the answer's
/// status. Why:
/// - hyper sends `100 Continue` only when the body is first polled, and
///   only before the answer. A client that sent `Expect: 100-continue` and
///   gets a final answer instead skips the body and may send its next
///   request on the same connection; hyper, finding the body dropped,
///   takes the next bytes as that body (as many as it declared) and parses
///   the rest as a request: the next request is eaten, or refused as
///   garbage (a bare `400`). Behind a balancer that reuses the connection
///   for other callers, the two sides then disagree on where requests
///   begin. A `200` that ignores a body (a health page, an S3 GET, the
///   portal's device-code start, a CORS preflight) does it as much as a
///   refusal does: the status says nothing of it.
/// - Not narrower (only with `Expect`, or only for a body never polled):
///   without `Expect`, hyper drains only what has already arrived of a
///   dropped body and otherwise closes without having said so, and the
///   client's next request meets a dead connection. Saying so is right
///   there too; it costs a reconnect only when the whole unread body had
///   already arrived.
/// - A body read to its end leaves nothing behind, so a refusal after it
///   (a bad digest, an STS error) keeps the connection.
/// - A body still being read when the answer is ready (a store that
///   answered an upload before taking all of it) is not cut by this: hyper
///   goes on reading it to its end and closes after the answer. Every
///   answer that needs a whole body (a stored object, an STS exchange, a
///   form upload, a DeleteObjects) comes after its end was read.
///
/// HTTP/2 frames each request's body in its own stream: nothing to watch.
fn watch_body(
    req: hyper::Request<hyper::body::Incoming>,
) -> (hyper::Request<RequestBody>, BodyEnd) {
    let http1 = req.version() < http::Version::HTTP_2;
    let (parts, body) = req.into_parts();
    let (body, end) = RequestBody::new(body, http1);
    (hyper::Request::from_parts(parts, body), end)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}
