//! Limits against abuse, checked before a request reaches the pipeline:
//! header section size and count, request-target length, and the answer to
//! a connection over `max_connections` (the idle timeout of a connection
//! is transport: `crate::server`).
//!
//! Each refusal answers in S3's XML shape with the code an S3 client
//! expects (`RequestHeaderSectionTooLarge`, `InvalidURI`, `SlowDown`), is
//! audited like any other denial, and is counted in the metrics. The
//! transport keeps its own hard limits (header read timeout, header count
//! and head size) above these as a backstop for what never parses as a
//! request; its refusals are answered by [`refused_head`].
//!
//! Depends on `config` (the numbers), `audit`, `metrics` and the server's
//! response shape; owns no pipeline stage.

use crate::request_body::RequestBody;
use http::Request;

use super::body::GatewayBody;
use super::ctx::RequestCtx;
use super::finish;
use crate::config::ServerConfig;
use crate::metrics::{self, Limit};
use crate::s3::{S3Error, S3ErrorCode};
use crate::sts_api::StsError;

/// What a request breaks, if anything. Pure: sizes only.
pub fn check<B>(cfg: &ServerConfig, req: &Request<B>) -> Option<(Limit, S3Error)> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > cfg.max_url_bytes {
        return Some((
            Limit::UrlBytes,
            S3Error::new(
                S3ErrorCode::InvalidURI,
                format!(
                    "The request target is {target} bytes; s3gate accepts at most {}.",
                    cfg.max_url_bytes
                ),
            ),
        ));
    }
    let headers = req.headers();
    if headers.len() > cfg.max_headers {
        return Some((
            Limit::HeaderCount,
            S3Error::new(
                S3ErrorCode::RequestHeaderSectionTooLarge,
                format!(
                    "The request has {} header lines; s3gate accepts at most {}.",
                    headers.len(),
                    cfg.max_headers
                ),
            ),
        ));
    }
    // As on the wire: `name: value\r\n`.
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if bytes > cfg.max_header_bytes {
        return Some((
            Limit::HeaderBytes,
            S3Error::new(
                S3ErrorCode::RequestHeaderSectionTooLarge,
                format!(
                    "The request's headers take {bytes} bytes; s3gate accepts at most {}.",
                    cfg.max_header_bytes
                ),
            ),
        ));
    }
    None
}

/// Answers and audits a request refused by a limit, in its API's shape.
pub fn refuse(
    mut ctx: RequestCtx,
    req: &Request<RequestBody>,
    limit: Limit,
    err: S3Error,
) -> Response {
    metrics::limit_hit(limit);
    let reason = format!("limit {limit:?} exceeded");
    if ctx.event.api == "sts" {
        let err = StsError::new(err.status(), err.code.as_str(), err.message.to_string());
        let response = finish::sts_answer(ctx, Err(err));
        return response;
    }
    ctx.event.reason = reason.into();
    // The path alone: a query string may hold a presigned signature.
    let err = err.with_resource(truncate(req.uri().path(), 256));
    finish::s3_error(ctx, err, req.method(), "")
}

type Response = http::Response<GatewayBody>;

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The answer to a connection over `max_connections` or
/// `max_connections_per_source`, whatever it asks: S3's "slow down",
/// which every SDK retries with back-off, and the connection closes.
/// Audited as a denial, as [`refused_head`] is (the record has no method
/// or path: nothing of the request is read past its head).
pub async fn too_many_connections(
    gateway: &super::Gateway,
    client: std::net::SocketAddr,
    limit: Limit,
    method: &http::Method,
) -> Response {
    let why = match limit {
        Limit::ConnectionsPerSource => "s3gate has too many open connections from your address",
        _ => "s3gate has too many open connections",
    };
    let err = S3Error::new(
        S3ErrorCode::SlowDown,
        format!("{why}; retry with back-off."),
    );
    let reason = format!("connection over the limits: {}", limit.as_str());
    refusal(gateway, client, err, reason, method).await
}

/// The answer to a request head the transport cannot serve (malformed,
/// too large, framed ambiguously, too slow): `err` in S3's XML shape (no
/// body for a HEAD), and the connection closes after it, since where the
/// next request begins is unknown. Audited as a denial like any other:
/// the record has the client's address, the error and `why`, but no
/// method or path (the head may not have parsed, and nothing in it is
/// trusted). If the audit sink cannot take it, the refusal still goes
/// out. (The transport counts the refusal.)
pub async fn refused_head(
    gateway: &super::Gateway,
    client: std::net::SocketAddr,
    err: S3Error,
    why: &str,
    method: &http::Method,
) -> Response {
    let reason = format!("request head refused: {why}");
    refusal(gateway, client, err, reason, method).await
}

/// A refusal by the transport, before any request is read: audited as a
/// denial with `reason` (or, if the audit sink cannot take it, sent
/// without a record), and the connection closes after it.
async fn refusal(
    gateway: &super::Gateway,
    client: std::net::SocketAddr,
    err: S3Error,
    reason: String,
    method: &http::Method,
) -> Response {
    let request_id = super::new_request_id();
    let ctx = RequestCtx::open(
        gateway,
        "s3",
        super::ctx::Line::Operation("HTTP/1 request head"),
        &http::HeaderMap::new(),
        client,
        Some(client.ip()),
        request_id.clone(),
    )
    .await;
    let Some(mut ctx) = ctx else {
        return finish::s3_error_closing(&err, &request_id);
    };
    ctx.deny(err.code.as_str(), reason);
    let mut response = finish::s3_error(ctx, err, method, "");
    finish::close_after(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, headers: usize, value_len: usize) -> Request<()> {
        let mut b = Request::builder().uri(uri);
        for i in 0..headers {
            b = b.header(format!("x-h{i}"), "v".repeat(value_len));
        }
        b.body(()).unwrap()
    }

    #[test]
    fn each_limit_names_its_s3_error() {
        let cfg = ServerConfig::default();
        assert!(check(&cfg, &req("/b/k", 10, 10)).is_none());
        let long = format!("/b/{}", "k".repeat(cfg.max_url_bytes));
        let (limit, err) = check(&cfg, &req(&long, 0, 0)).unwrap();
        assert_eq!(
            (limit, err.code),
            (Limit::UrlBytes, S3ErrorCode::InvalidURI)
        );
        let (limit, err) = check(&cfg, &req("/b/k", cfg.max_headers + 1, 1)).unwrap();
        assert_eq!(
            (limit, err.code),
            (
                Limit::HeaderCount,
                S3ErrorCode::RequestHeaderSectionTooLarge
            )
        );
        let (limit, _) = check(&cfg, &req("/b/k", 2, cfg.max_header_bytes)).unwrap();
        assert_eq!(limit, Limit::HeaderBytes);
    }

    #[test]
    fn truncation_keeps_utf8_whole() {
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
