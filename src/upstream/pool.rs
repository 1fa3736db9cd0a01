//! The stores' HTTP/1 connections, kept open and reused: a request takes
//! the idle connection that went back last, or opens one, and the
//! connection goes back to the pool when the store's response body has
//! been read to its end.
//!
//! It replaces hyper-util's pooled client on the request path, whose
//! per-request costs the whole-process profile showed (benches/load/
//! PROFILE.md, session 17): a task spawned per request to wait for the
//! connection to be idle again, a mutex and a SipHash of the pool key
//! both to take and to give back, and more connections than callers
//! (the spawned task often ran after the next request had already
//! opened one). Here the response body itself gives its connection back
//! as it ends, and nothing is spawned.
//!
//! Last in, first out: a steady load is served by as few connections as
//! it keeps busy, warm ones, and the rest of a burst's connections idle
//! out and close (a queue taken oldest first would keep every one of
//! them in use, and open, for as long as requests come).
//!
//! Depends on hyper's HTTP/1 client connection and the TLS connector; knows
//! nothing of S3.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use super::UpstreamBody;

/// Most idle connections kept, over all of a store's hosts.
const MAX_IDLE: usize = 1024;

/// Pooled connections a request looks at from each end of a queue before
/// it opens a new one.
const LOOK_AT: usize = 8;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One store's connections. Its response bodies hold it too, to give
/// their connections back.
pub(super) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connector: HttpsConnector<HttpConnector>,
    idle_timeout: Duration,
    /// A std mutex: it is held for a few loads and a push, never across
    /// an await.
    hosts: Mutex<Hosts>,
}

/// The pooled connections, a queue per host: path-style requests all go
/// to the store's host; virtual-hosted ones (the default for AWS) to one
/// per bucket, and a request must find its own host's connections
/// whatever the other buckets' traffic.
#[derive(Default)]
struct Hosts {
    queues: Vec<Queue>,
    /// The other host's queue the next give-back trims, in turn: a bucket
    /// no longer asked for still has its connections dropped.
    sweep: usize,
}

struct Queue {
    authority: Authority,
    /// The last to go back at the front, the one idle longest at the back.
    idle: VecDeque<Idle>,
}

struct Idle {
    sender: http1::SendRequest<UpstreamBody>,
    since: Instant,
}

impl Idle {
    fn is_gone(&self, now: Instant, idle_timeout: Duration) -> bool {
        self.sender.is_closed() || now.duration_since(self.since) > idle_timeout
    }
}

#[derive(Clone, Copy)]
enum End {
    Front,
    Back,
}

impl Queue {
    /// The first ready connection among [`LOOK_AT`] from `end`, taken out;
    /// closed and expired ones met are dropped.
    fn take_ready(
        &mut self,
        end: End,
        now: Instant,
        idle_timeout: Duration,
    ) -> Option<http1::SendRequest<UpstreamBody>> {
        let mut at = match end {
            End::Front => 0,
            End::Back => self.idle.len().checked_sub(1)?,
        };
        for _ in 0..LOOK_AT {
            let entry = self.idle.get(at)?;
            let gone = entry.is_gone(now, idle_timeout);
            if !gone && entry.sender.is_ready() {
                return self.idle.remove(at).map(|e| e.sender);
            }
            if gone {
                self.idle.remove(at);
            }
            at = match end {
                // What was behind a dropped entry is now at its place.
                End::Front if gone => at,
                End::Front => at + 1,
                End::Back => at.checked_sub(1)?,
            };
        }
        None
    }

    /// Drops the closed and expired connections at the back (idle longest).
    fn trim(&mut self, now: Instant, idle_timeout: Duration) {
        while self
            .idle
            .back()
            .is_some_and(|e| e.is_gone(now, idle_timeout))
        {
            self.idle.pop_back();
        }
    }
}

impl Pool {
    pub(super) fn new(connector: HttpsConnector<HttpConnector>, idle_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                connector,
                idle_timeout,
                hosts: Mutex::new(Hosts::default()),
            }),
        }
    }

    /// Sends `request` (its URI absolute: the scheme and host say where)
    /// on a pooled connection to that host, or on a new one. A request
    /// that a pooled connection turned out to be closed for, before any of
    /// it was written, is sent again on a new connection (the store may
    /// close an idle connection at any moment). The response's body gives
    /// the connection back when it ends.
    pub(super) async fn send(
        &self,
        mut request: Request<UpstreamBody>,
    ) -> Result<Response<PooledBody>, Error> {
        // HTTP/1 sends the path and query (origin form); the Host header,
        // which the signature covers, is already in the request. The URI
        // is taken apart, not copied.
        let parts = std::mem::take(request.uri_mut()).into_parts();
        let (Some(scheme), Some(authority)) = (parts.scheme, parts.authority) else {
            return Err("the upstream request's URI names no host".into());
        };
        *request.uri_mut() = Uri::from(
            parts
                .path_and_query
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
        if let Some(mut sender) = self.inner.take(&authority) {
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.leased(response, sender, authority)),
                Err(mut e) => match e.take_message() {
                    // Nothing was written: the same request on a new
                    // connection is the same request.
                    Some(unsent) => request = unsent,
                    None => return Err(e.into_error().into()),
                },
            }
        }
        let mut sender = self.inner.connect(scheme, &authority).await?;
        let response = sender
            .try_send_request(request)
            .await
            .map_err(|e| e.into_error())?;
        Ok(self.leased(response, sender, authority))
    }

    /// `response` with a body that gives `sender` back when it ends.
    fn leased(
        &self,
        response: Response<Incoming>,
        sender: http1::SendRequest<UpstreamBody>,
        authority: Authority,
    ) -> Response<PooledBody> {
        let lease = Lease {
            pool: Arc::clone(&self.inner),
            authority,
            sender,
        };
        response.map(|body| {
            // A HEAD's, a 204's or a 304's answer has ended already.
            let lease = if body.is_end_stream() {
                lease.give_back();
                None
            } else {
                Some(lease)
            };
            PooledBody { body, lease }
        })
    }
}

/// A store's response body; it gives its connection back to the pool
/// when it ends. Dropped before its end, it lets the connection go
/// (hyper closes one whose response was not read through).
pub struct PooledBody {
    body: Incoming,
    lease: Option<Lease>,
}

struct Lease {
    pool: Arc<Inner>,
    authority: Authority,
    sender: http1::SendRequest<UpstreamBody>,
}

impl Lease {
    fn give_back(self) {
        self.pool.give_back(&self.authority, self.sender);
    }
}

impl http_body::Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
        let ended = match &frame {
            None => true,
            // The last frame in hand: whoever reads the body need not ask
            // for more once its length is reached.
            Some(Ok(_)) => this.body.is_end_stream(),
            Some(Err(_)) => {
                this.lease = None;
                false
            }
        };
        if ended && let Some(lease) = this.lease.take() {
            lease.give_back();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Inner {
    /// A ready connection to `authority`, if one is idle: the one that
    /// went back last. Under load that one may not be ready yet (hyper's
    /// connection task sees its response's end after the body's reader
    /// does), so the ones idle longest are looked at too before a new
    /// connection is opened. Closed and expired connections met are
    /// dropped.
    fn take(&self, authority: &Authority) -> Option<http1::SendRequest<UpstreamBody>> {
        let now = Instant::now();
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let queue = hosts
            .queues
            .iter_mut()
            .find(|q| q.authority == *authority)?;
        queue
            .take_ready(End::Front, now, self.idle_timeout)
            .or_else(|| queue.take_ready(End::Back, now, self.idle_timeout))
    }

    /// Keeps `sender`, its response read through, for the next request to
    /// `authority`. Trims, while the lock is held anyway, this host's queue
    /// and one other in turn, so that a pool that had a burst shrinks back
    /// as long as requests come.
    fn give_back(&self, authority: &Authority, sender: http1::SendRequest<UpstreamBody>) {
        let now = Instant::now();
        let mut guard = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let hosts = &mut *guard;
        hosts.sweep = hosts.sweep.wrapping_add(1);
        if let Some(other) = hosts.sweep.checked_rem(hosts.queues.len())
            && let Some(queue) = hosts.queues.get_mut(other)
            && queue.authority != *authority
        {
            queue.trim(now, self.idle_timeout);
            if queue.idle.is_empty() {
                hosts.queues.swap_remove(other);
            }
        }
        // This host's queue stays, empty or not: under light load it is
        // emptied by every request and would otherwise be made again.
        let own = match hosts.queues.iter().position(|q| q.authority == *authority) {
            Some(at) => at,
            None => {
                hosts.queues.push(Queue {
                    authority: authority.clone(),
                    idle: VecDeque::new(),
                });
                hosts.queues.len() - 1
            }
        };
        if let Some(queue) = hosts.queues.get_mut(own) {
            queue.trim(now, self.idle_timeout);
        }
        let held: usize = hosts.queues.iter().map(|q| q.idle.len()).sum();
        if held >= MAX_IDLE {
            // Dropped: the connection closes.
            return;
        }
        if let Some(queue) = hosts.queues.get_mut(own) {
            queue.idle.push_front(Idle { sender, since: now });
        }
    }

    /// A new connection to `authority`, its I/O driven by a task of its own
    /// until the store or the pool lets go of it.
    async fn connect(
        &self,
        scheme: Scheme,
        authority: &Authority,
    ) -> Result<http1::SendRequest<UpstreamBody>, Error> {
        let target = Uri::builder()
            .scheme(scheme)
            .authority(authority.clone())
            .path_and_query("/")
            .build()?;
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx)).await?;
        let stream = connector.call(target).await?;
        let (sender, connection) = http1::handshake(stream).await?;
        tokio::spawn(async move {
            // Its end (the store closed it, or an I/O error) is seen by the
            // request using it, or by the pool as `is_closed`.
            let _ = connection.await;
        });
        Ok(sender)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full, StreamBody};
    use hyper::body::Frame;
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;

    use super::*;

    /// A real HTTP/1 server (hyper's) on loopback: answers every request
    /// with `ok`, or, for `/slow`, a body whose end waits on `release`,
    /// and names the connection that served it (`x-connection`, counted
    /// from 0); counts the connections it accepted and those still open.
    /// `keep_alive: false` closes each connection after its response, as a
    /// store that shuts idle ones does.
    struct Store {
        addr: std::net::SocketAddr,
        accepted: Arc<AtomicUsize>,
        open: Arc<AtomicUsize>,
        release: tokio::sync::watch::Sender<bool>,
    }

    async fn store(keep_alive: bool) -> Store {
        store_on("127.0.0.1", Arc::new(AtomicUsize::new(0)), keep_alive).await
    }

    async fn store_on(ip: &str, accepted: Arc<AtomicUsize>, keep_alive: bool) -> Store {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicUsize::new(0));
        let (release, gate) = tokio::sync::watch::channel(false);
        tokio::spawn(serve(
            listener,
            accepted.clone(),
            open.clone(),
            gate,
            keep_alive,
        ));
        Store {
            addr,
            accepted,
            open,
            release,
        }
    }

    async fn serve(
        listener: TcpListener,
        accepted: Arc<AtomicUsize>,
        open: Arc<AtomicUsize>,
        gate: tokio::sync::watch::Receiver<bool>,
        keep_alive: bool,
    ) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let id = accepted.fetch_add(1, Ordering::SeqCst);
            open.fetch_add(1, Ordering::SeqCst);
            let gate = gate.clone();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut gate = gate.clone();
                async move {
                    let body = if req.uri().path() == "/slow" {
                        let (tx, rx) =
                            tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
                        tokio::spawn(async move {
                            let _ = tx.send(Ok(Frame::data(Bytes::from("sl")))).await;
                            let _ = gate.wait_for(|released| *released).await;
                            let _ = tx.send(Ok(Frame::data(Bytes::from("ow")))).await;
                        });
                        StreamBody::new(tokio_stream_of(rx)).boxed()
                    } else {
                        Full::new(Bytes::from("ok")).map_err(|e| match e {}).boxed()
                    };
                    let mut response = Response::new(body);
                    response
                        .headers_mut()
                        .insert("x-connection", http::HeaderValue::from(id));
                    Ok::<_, Infallible>(response)
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .keep_alive(keep_alive)
                .serve_connection(TokioIo::new(stream), service);
            let open = open.clone();
            tokio::spawn(async move {
                let _ = connection.await;
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    fn tokio_stream_of(
        mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, Infallible>>,
    ) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }

    fn pool() -> Pool {
        pool_idle_for(Duration::from_secs(60))
    }

    fn pool_idle_for(idle_timeout: Duration) -> Pool {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Pool::new(connector, idle_timeout)
    }

    fn get(store: &Store, path: &str) -> Request<UpstreamBody> {
        let mut req = Request::new(UpstreamBody::Empty);
        *req.uri_mut() = format!("http://{}{path}", store.addr).parse().unwrap();
        req.headers_mut()
            .insert(http::header::HOST, store.addr.to_string().parse().unwrap());
        req
    }

    async fn read(pool: &Pool, req: Request<UpstreamBody>) -> String {
        let response = pool.send(req).await.expect("the store answers");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    /// Sends `n` GETs one after another; the connections the store accepted.
    async fn connections_for_requests_in_turn(keep_alive: bool, n: usize) -> usize {
        connections_for_requests_in_turn_idle_for(keep_alive, n, Duration::from_secs(60)).await
    }

    async fn connections_for_requests_in_turn_idle_for(
        keep_alive: bool,
        n: usize,
        idle_timeout: Duration,
    ) -> usize {
        let store = store(keep_alive).await;
        let pool = pool_idle_for(idle_timeout);
        for _ in 0..n {
            assert_eq!(read(&pool, get(&store, "/k")).await, "ok");
            // The connection turns idle in its own task, once it has
            // read the end of the response.
            tokio::task::yield_now().await;
            if idle_timeout < Duration::from_secs(1) {
                // Past the idle timeout before the next request.
                tokio::time::sleep(idle_timeout * 5).await;
            }
        }
        store.accepted.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn requests_one_after_another_reuse_one_connection() {
        assert_eq!(connections_for_requests_in_turn(true, 5).await, 1);
    }

    #[tokio::test]
    async fn a_connection_busy_with_a_body_is_not_taken_by_the_next_request() {
        let store = store(true).await;
        let pool = pool();
        let slow = pool.send(get(&store, "/slow")).await.unwrap();
        // The slow response's connection is still busy with its body.
        assert_eq!(read(&pool, get(&store, "/k")).await, "ok");
        assert_eq!(store.accepted.load(Ordering::SeqCst), 2);
        store.release.send_replace(true);
        let body = slow.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"slow");
    }

    /// `n` slow responses at once, each on a connection of its own, then
    /// each read to its end: `n` idle connections in the pool.
    async fn burst(pool: &Pool, store: &Store, n: usize) {
        let mut slow = Vec::new();
        for _ in 0..n {
            slow.push(pool.send(get(store, "/slow")).await.unwrap());
        }
        assert_eq!(store.accepted.load(Ordering::SeqCst), n);
        store.release.send_replace(true);
        for response in slow {
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"slow");
        }
        tokio::task::yield_now().await;
    }

    /// After a burst, a steady load is served by the connection that went
    /// back last, not by each of the burst's in turn.
    #[tokio::test]
    async fn a_steady_load_after_a_burst_uses_the_connection_back_last() {
        let store = store(true).await;
        let pool = pool();
        burst(&pool, &store, 3).await;
        let mut served = std::collections::BTreeSet::new();
        for _ in 0..6 {
            let response = pool.send(get(&store, "/k")).await.unwrap();
            served.insert(response.headers()["x-connection"].clone());
            response.into_body().collect().await.unwrap();
            tokio::task::yield_now().await;
        }
        assert_eq!(store.accepted.load(Ordering::SeqCst), 3);
        assert_eq!(served.len(), 1, "served by connections {served:?}");
    }

    /// ... so the burst's other connections idle out and close while the
    /// steady load goes on: the store is not left holding them.
    #[tokio::test]
    async fn connections_a_steady_load_does_not_need_are_closed_once_idle() {
        let store = store(true).await;
        let pool = pool_idle_for(Duration::from_millis(200));
        burst(&pool, &store, 3).await;
        let give_up = Instant::now() + Duration::from_secs(10);
        while store.open.load(Ordering::SeqCst) > 1 {
            assert!(
                Instant::now() < give_up,
                "{} connections still open",
                store.open.load(Ordering::SeqCst)
            );
            assert_eq!(read(&pool, get(&store, "/k")).await, "ok");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(store.accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_connection_the_store_closed_is_not_used_again() {
        assert_eq!(connections_for_requests_in_turn(false, 3).await, 3);
    }

    #[tokio::test]
    async fn a_connection_idle_past_the_idle_timeout_is_not_used_again() {
        let opened =
            connections_for_requests_in_turn_idle_for(true, 3, Duration::from_millis(2)).await;
        assert_eq!(opened, 3);
    }

    /// Virtual-hosted requests (AWS's default) go to a host per bucket:
    /// each must find its own host's idle connection, whatever order the
    /// buckets come in. Ten loopback addresses stand for ten buckets.
    #[tokio::test]
    async fn each_host_finds_its_own_idle_connection_among_many() {
        let accepted = Arc::new(AtomicUsize::new(0));
        let mut hosts = Vec::new();
        for i in 1..=10u8 {
            hosts.push(store_on(&format!("127.0.0.{i}"), accepted.clone(), true).await);
        }
        let pool = pool();
        for round in 0..3 {
            let order: Vec<&Store> = if round % 2 == 0 {
                hosts.iter().collect()
            } else {
                hosts.iter().rev().collect()
            };
            for host in order {
                assert_eq!(read(&pool, get(host, "/k")).await, "ok");
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 10);
    }

    #[tokio::test]
    async fn a_store_that_is_not_there_is_an_error_not_a_hang() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let pool = pool();
        let mut req = Request::new(UpstreamBody::Empty);
        *req.uri_mut() = format!("http://{addr}/k").parse().unwrap();
        assert!(pool.send(req).await.is_err());
    }
}
