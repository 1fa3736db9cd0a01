//! Transport: one listener (plain or TLS), the accept loop, connection
//! limits and the idle timeout, graceful shutdown, and the protocol each
//! connection speaks: HTTP/1.1 by s3gate's own codec (`h1`, pure) and
//! driver (`conn`), HTTP/2 by hyper. Every request is handed to
//! [`crate::gateway::handle`]; this module knows sockets, not S3, except
//! for naming the S3 error each HTTP/1 refusal is answered with
//! ([`refusal`]).

mod conn;
pub mod h1;
mod idle;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::BytesMut;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::config::Config;
use crate::gateway::{self, Gateway};
use crate::live::{Held, InFlight, LiveKeyring, LivePolicy, health};
use crate::metrics::{self, Limit};
use crate::request_body::{RequestBody, Wire};

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
    let limits = gateway.limits.clone();
    // hyper's HTTP/2 limits are the backstop for what never parses as a
    // request; the checks with S3 answers (limits.rs) sit below them. Our
    // HTTP/1 side holds heads to the same: twice what limits.rs allows.
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new()).max_header_list_size(
        u32::try_from(limits.max_header_bytes.saturating_mul(2)).unwrap_or(u32::MAX),
    );
    let settings = conn::Settings {
        limits: h1::HeadLimits {
            max_bytes: limits
                .max_header_bytes
                .saturating_add(limits.max_url_bytes)
                .saturating_mul(2)
                .saturating_add(limits.max_headers.saturating_mul(8))
                .saturating_add(1024),
            max_headers: limits.max_headers.saturating_mul(2),
        },
        header_read_timeout: limits.header_read_timeout,
    };
    let shared = Arc::new(Shared {
        gateway: gateway.clone(),
        h2,
        settings,
    });
    // Each connection holds a receiver until it ends; sending `true` asks
    // them to close, and the sender sees when the last one has.
    let (drain, _) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let sources = InFlight::new(limits.max_connections_per_source);
    let overflow = Arc::new(Semaphore::new(overflow_room(limits.max_connections)));
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
        let admission = match admit(&slots, &sources, client, &limits.trusted_proxies) {
            Ok(admitted) => Ok(admitted),
            // Refused connections are counted too, or they would be the
            // unbounded way around the bound.
            Err(limit) => match overflow.clone().try_acquire_owned() {
                Ok(room) => Err((limit, room)),
                Err(_) => {
                    metrics::limit_hit(limit);
                    tracing::debug!(client.addr = %client, "over the connection limits and the room to refuse: closed");
                    continue;
                }
            },
        };
        // A refused connection's one request comes at once or not at all.
        let head_time = match admission {
            Ok(_) => limits.header_read_timeout,
            Err(_) => limits.header_read_timeout.min(REFUSED_HEAD_TIME),
        };
        let conn = Conn {
            shared: shared.clone(),
            drain: drain.subscribe(),
            client,
            started: tokio::time::Instant::now(),
            head_time,
            admission,
        };
        let acceptor = acceptor.clone();
        let handshake_timeout = head_time;
        tokio::spawn(async move {
            match acceptor {
                None => conn.serve(stream, Protocol::Sniff).await,
                Some(acceptor) => {
                    // The handshake counts against the header read time.
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            // Without ALPN's word, a caller may still open
                            // with HTTP/2's preface.
                            let protocol = if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                                Protocol::Http2
                            } else {
                                Protocol::Sniff
                            };
                            conn.serve(tls, protocol).await;
                        }
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
    let drain_timeout = gateway.limits.drain_timeout;
    let _ = drain.send(true);
    if tokio::time::timeout(drain_timeout, drain.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            drain_timeout_s = drain_timeout.as_secs(),
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

/// What every connection of a listener shares.
struct Shared {
    gateway: Arc<Gateway>,
    h2: http2::Builder<TokioExecutor>,
    settings: conn::Settings,
}

/// The protocol a connection speaks: HTTP/2 when TLS negotiated it, or
/// when the caller opens with HTTP/2's preface (prior knowledge);
/// HTTP/1.1 otherwise.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
    Sniff,
}

/// What an HTTP/2 connection opens with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// One accepted connection, served to its end (or its idle timeout).
struct Conn {
    shared: Arc<Shared>,
    /// Set when the server drains; held until the connection ends.
    drain: watch::Receiver<bool>,
    client: SocketAddr,
    started: tokio::time::Instant,
    /// The time its first head (TLS handshake included) has.
    head_time: Duration,
    /// A connection slot, and its source's; `Err`: over a limit, and the
    /// connection gets `503 SlowDown`, holding a place among those being
    /// refused.
    admission: Result<(OwnedSemaphorePermit, Option<Held>), (Limit, OwnedSemaphorePermit)>,
}

/// Connections being answered `503 SlowDown` at once, beyond the open
/// ones: an eighth of `max_connections`, within 16..=512. Past them a
/// connection is closed unanswered. Without this bound the refused
/// connections were the unbounded ones: each lived until its head timed
/// out (75 s by default), so a caller opening them fast enough held file
/// descriptors without limit, and `max_connections` bounded nothing.
fn overflow_room(max_connections: usize) -> usize {
    (max_connections / 8).clamp(16, 512)
}

/// The most a refused connection's head may take (the
/// `header_read_timeout`, if shorter): an SDK sends its request as it
/// connects, and one that sends nothing only holds a place.
const REFUSED_HEAD_TIME: Duration = Duration::from_secs(5);

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

/// Resolves once the server drains.
async fn drained(mut drain: watch::Receiver<bool>) {
    let _ = drain.wait_for(|draining| *draining).await;
}

impl Conn {
    async fn serve<T>(self, io: T, protocol: Protocol)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let _open = OpenConnection::new();
        let client = self.client;
        let shared = self.shared.clone();
        let settings = shared.settings;
        let draining = conn::Draining::new(drained(self.drain.clone()));
        if let Err((limit, _room)) = self.admission {
            // Whatever it asks, the one answer is "slow down".
            metrics::limit_hit(limit);
            let settings = conn::Settings {
                header_read_timeout: self.head_time,
                ..settings
            };
            let wire = Wire::new(Box::new(io), BytesMut::new());
            conn::serve(
                wire,
                settings,
                self.started,
                draining,
                |req| {
                    let method = req.method().clone();
                    let gateway = &shared.gateway;
                    async move { gateway::too_many_connections(gateway, client, limit, &method).await }
                },
                |_why, method| {
                    let gateway = &shared.gateway;
                    async move { gateway::too_many_connections(gateway, client, limit, &method).await }
                },
            )
            .await;
            return;
        }
        let activity = idle::Activity::new();
        let mut io = idle::Watched::new(io, activity.clone());
        let mut buf = BytesMut::new();
        let protocol = match protocol {
            Protocol::Sniff => {
                // A connection that has sent nothing yet closes when the
                // server drains, as an idle one does.
                let deadline = self.started + settings.header_read_timeout;
                tokio::select! {
                    sniffed = tokio::time::timeout_at(deadline, sniff(&mut io, &mut buf)) => {
                        match sniffed {
                            Ok(Ok(protocol)) => protocol,
                            Ok(Err(_)) | Err(_) => return,
                        }
                    }
                    () = drained(self.drain.clone()) => return,
                }
            }
            p => p,
        };
        let served = async {
            if protocol == Protocol::Http2 {
                let io = Prefixed {
                    prefix: buf.freeze(),
                    io,
                };
                self.serve_h2(io).await;
                return;
            }
            let wire = Wire::new(Box::new(io), buf);
            let gateway = &shared.gateway;
            conn::serve(
                wire,
                settings,
                self.started,
                draining,
                |req| gateway::handle(gateway, req, client),
                |why, method| refusal(gateway, client, why, method),
            )
            .await;
        };
        let idle = shared.gateway.limits.idle_timeout;
        tokio::select! {
            () = served => {}
            () = activity.idle(idle) => {
                tracing::debug!(client.addr = %client, "idle timeout: connection closed");
            }
        }
        drop(self.admission);
    }

    async fn serve_h2<T>(&self, io: T)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let gateway = self.shared.gateway.clone();
        let client = self.client;
        let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let gateway = gateway.clone();
            async move {
                let req = req.map(RequestBody::http2);
                Ok::<_, std::convert::Infallible>(gateway::handle(&gateway, req, client).await)
            }
        });
        let conn = self.shared.h2.serve_connection(TokioIo::new(io), service);
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(client.addr = %client, error = %e, "connection ended");
                }
                return;
            }
            () = drained(self.drain.clone()) => {}
        }
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}

/// The answer to a head the HTTP/1 side refuses, in S3's shape, audited.
async fn refusal(
    gateway: &Gateway,
    client: SocketAddr,
    why: h1::Refusal,
    method: http::Method,
) -> http::Response<gateway::GatewayBody> {
    use crate::s3::{S3Error, S3ErrorCode};
    let err = match why {
        h1::Refusal::Malformed(what) => S3Error::new(
            S3ErrorCode::BadRequest,
            format!("The request is not HTTP/1.1 that s3gate reads ({what})."),
        ),
        h1::Refusal::TooLarge => {
            metrics::limit_hit(Limit::HeaderBytes);
            S3Error::new(
                S3ErrorCode::RequestHeaderSectionTooLarge,
                "The request's head is too large.",
            )
        }
        h1::Refusal::TooManyHeaders => {
            metrics::limit_hit(Limit::HeaderCount);
            S3Error::new(
                S3ErrorCode::RequestHeaderSectionTooLarge,
                "The request has too many header lines.",
            )
        }
        h1::Refusal::Framing(what) => S3Error::new(
            S3ErrorCode::InvalidRequest,
            format!("The request's body is framed ambiguously: {what}."),
        ),
        h1::Refusal::Coding => S3Error::new(
            S3ErrorCode::NotImplemented,
            "A header you provided implies functionality that is not implemented: \
             Transfer-Encoding other than chunked.",
        ),
        h1::Refusal::Timeout => {
            metrics::limit_hit(Limit::HeaderReadTimeout);
            S3Error::new(
                S3ErrorCode::RequestTimeout,
                "The request's head was not received within the header read timeout.",
            )
        }
    };
    gateway::refused_head(gateway, client, err, &why.to_string(), &method).await
}

/// Reads the connection's first bytes into `buf`: HTTP/2's preface, or
/// anything else (HTTP/1).
async fn sniff<T: AsyncRead + Unpin>(io: &mut T, buf: &mut BytesMut) -> std::io::Result<Protocol> {
    use tokio::io::AsyncReadExt as _;
    loop {
        let n = buf.len().min(H2_PREFACE.len());
        if buf[..n] != H2_PREFACE[..n] {
            return Ok(Protocol::Http1);
        }
        if n == H2_PREFACE.len() {
            return Ok(Protocol::Http2);
        }
        buf.reserve(8 * 1024);
        if io.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// A connection whose first bytes were already read: they are read again
/// first.
struct Prefixed<T> {
    prefix: bytes::Bytes,
    io: T,
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return std::pin::Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix.split_to(n));
        std::task::Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
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
