//! The load bench's "hyper floor": a reverse proxy that does nothing but
//! forward, built from the same HTTP stack, runtime and allocator as
//! s3gate, with the same settings. It verifies nothing, decides nothing,
//! signs nothing and writes no audit line.
//!
//! `benches/load/run` runs it beside nginx and s3gate in the same slot.
//! What it costs per request is what any proxy built on this stack pays
//! before doing any work of its own; s3gate's cost above it is s3gate's
//! own work. It is a measuring stick, not a product: no TLS listener, no
//! limits, no graceful shutdown (it is killed by PID).
//!
//! usage: hyper_floor LISTEN_ADDR UPSTREAM_URL   (e.g. 127.0.0.1:18083 http://127.0.0.1:18080)

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, combinators::BoxBody};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;

// As in s3gate's binary: the allocator is part of the stack measured.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Body = BoxBody<Bytes, hyper::Error>;

struct Upstream {
    client: Client<HttpConnector, Incoming>,
    scheme: Scheme,
    authority: Authority,
    host: HeaderValue,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: hyper_floor LISTEN_ADDR UPSTREAM_URL");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse()?;
    let upstream: Uri = upstream.parse()?;
    let authority = upstream
        .authority()
        .ok_or("UPSTREAM_URL has no host")?
        .clone();

    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1024)
        .build(http);
    let upstream: &'static Upstream = Box::leak(Box::new(Upstream {
        client,
        scheme: upstream.scheme().cloned().unwrap_or(Scheme::HTTP),
        host: HeaderValue::from_str(authority.as_str())?,
        authority,
    }));

    // The same runtime choice as s3gate's: one CPU, one current thread.
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(serve(listen, upstream))
}

async fn serve(
    listen: SocketAddr,
    upstream: &'static Upstream,
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    // The same server settings as s3gate's accept loop.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .max_headers(200);
    let builder: &'static auto::Builder<TokioExecutor> = Box::leak(Box::new(builder));
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(move |req| forward(upstream, req));
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(
    upstream: &'static Upstream,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let uri = Uri::builder()
        .scheme(upstream.scheme.clone())
        .authority(upstream.authority.clone())
        .path_and_query(path)
        .build();
    let Ok(uri) = uri else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    parts.uri = uri;
    parts.headers.insert(HOST, upstream.host.clone());
    match upstream
        .client
        .request(Request::from_parts(parts, body))
        .await
    {
        Ok(response) => Ok(response.map(BodyExt::boxed)),
        Err(_) => Ok(status(StatusCode::BAD_GATEWAY)),
    }
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed());
    *response.status_mut() = code;
    response
}
