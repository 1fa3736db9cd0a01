//! CORS at the edge: preflight `OPTIONS` answered by s3gate itself (no
//! credentials, the store never asked), and the CORS headers of real
//! answers, both from the config's `[[cors]]` rules ([`crate::s3::cors`]
//! decides). The store's own `Access-Control-*` headers never pass: the
//! config is the only source of truth for which pages may read the answers.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/RESTOPTIONSobject.html>

use crate::request_body::RequestBody;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};

use super::Gateway;
use super::body::GatewayBody;
use super::ctx::RequestCtx;
use super::finish;
use crate::s3::cors::{CorsAsk, CorsHeaders, CorsRefusal};
use crate::s3::{S3Error, S3ErrorCode};

/// What the audit line calls a preflight.
const PREFLIGHT: &str = "PreflightCORS";

/// The headers S3 says a preflight's answer varies by.
const PREFLIGHT_VARY: &str =
    "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

/// Every CORS response header, removed from the store's answers.
const CORS_HEADERS: [&str; 6] = [
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-max-age",
];

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A preflight `OPTIONS`: 200 with the matching rule's headers, or S3's
/// refusal. Audited like any request (who asked is unknown: a preflight
/// carries no credentials).
pub async fn preflight(
    gateway: &Gateway,
    req: Request<RequestBody>,
    mut ctx: RequestCtx,
) -> Response<GatewayBody> {
    let (parts, _body) = req.into_parts();
    ctx.event.operation = Some(PREFLIGHT);
    match decide(gateway, &parts, &mut ctx) {
        Ok(headers) => {
            ctx.event.decision = "allow";
            let mut resp = Response::new(GatewayBody::full("", Some(ctx.finish(StatusCode::OK))));
            set(resp.headers_mut(), &headers);
            vary(resp.headers_mut(), PREFLIGHT_VARY);
            resp
        }
        Err(err) => {
            let mut resp = finish::s3_error(ctx, err, &parts.method, parts.uri.path());
            vary(resp.headers_mut(), PREFLIGHT_VARY);
            resp
        }
    }
}

fn decide(gateway: &Gateway, parts: &Parts, ctx: &mut RequestCtx) -> Result<CorsHeaders, S3Error> {
    let query = crate::raw_query::RawQuery::of(&parts.uri);
    let s3 = super::phases::classify(gateway, parts, &query, ctx)?;
    ctx.event.operation = Some(PREFLIGHT);
    let Some(origin) = header(&parts.headers, "origin") else {
        return Err(S3Error::new(
            S3ErrorCode::BadRequest,
            "Insufficient information. Origin request header needed.",
        ));
    };
    let method = header(&parts.headers, "access-control-request-method").unwrap_or("");
    if !crate::s3::cors::CORS_METHODS.contains(&method) {
        ctx.event.reason = format!("invalid Access-Control-Request-Method `{method}`").into();
        return Err(S3Error::new(
            S3ErrorCode::BadRequest,
            "Invalid Access-Control-Request-Method: the preflight must name GET, PUT, HEAD, \
             POST or DELETE.",
        ));
    }
    let ask = CorsAsk {
        origin,
        method,
        request_headers: header(&parts.headers, "access-control-request-headers"),
    };
    let bucket = s3.bucket.as_deref().unwrap_or("");
    gateway.cors.preflight(bucket, ask).map_err(|refusal| {
        ctx.event.reason = format!("CORS preflight from {origin} for {method}: {refusal:?}").into();
        match refusal {
            CorsRefusal::NotEnabled => S3Error::new(
                S3ErrorCode::AccessForbidden,
                "CORSResponse: CORS is not enabled for this bucket.",
            ),
            CorsRefusal::NotAllowed => S3Error::new(
                S3ErrorCode::AccessForbidden,
                "CORSResponse: This CORS request is not allowed. This is usually because the \
                 evalution of Origin, request method / Access-Control-Request-Method or \
                 Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            ),
        }
    })
}

/// The CORS headers a real answer on `bucket` gets, chosen before the
/// request's context is handed to its response. `None`: the request is no
/// CORS request, or the bucket has no rules.
pub struct Answer {
    /// The matching rule's headers (none when no rule matches).
    headers: Option<CorsHeaders>,
}

/// What a real (non-preflight) request's answer will carry.
pub fn answer(gateway: &Gateway, parts: &Parts, bucket: Option<&str>) -> Option<Answer> {
    let bucket = bucket.filter(|b| gateway.cors.enabled(b))?;
    let headers = header(&parts.headers, "origin")
        .and_then(|origin| gateway.cors.actual(bucket, origin, parts.method.as_str()));
    Some(Answer { headers })
}

/// Sets a real answer's CORS headers: the store's are removed whatever the
/// config says, then the matching rule's are added, with `Vary: Origin` on
/// every answer of a bucket with rules (a cache must not hand one origin's
/// answer to another).
pub fn decorate(answer: Option<Answer>, headers: &mut HeaderMap) {
    let doomed = headers
        .keys()
        .filter(|name| CORS_HEADERS.contains(&name.as_str()))
        .cloned()
        .collect();
    crate::upstream::remove_all(headers, doomed);
    let Some(answer) = answer else {
        return;
    };
    if let Some(cors) = &answer.headers {
        set(headers, cors);
    }
    vary(headers, "Origin");
}

fn set(headers: &mut HeaderMap, cors: &CorsHeaders) {
    for (name, value) in cors {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(*name, v);
        }
    }
}

fn vary(headers: &mut HeaderMap, value: &'static str) {
    headers.append(http::header::VARY, HeaderValue::from_static(value));
}

/// `PutBucketCors` / `DeleteBucketCors`: refused to every caller, since the
/// gateway's config is the source of truth (a store's own CORS settings
/// are never used).
pub fn refuse_change(request_id: &str) -> S3Error {
    S3Error::new(
        S3ErrorCode::AccessDenied,
        format!(
            "s3gate: a bucket's CORS rules come from the gateway's config ([[cors]]); \
             PutBucketCors and DeleteBucketCors are refused to every caller (request id \
             {request_id})."
        ),
    )
}

/// Whether this request is a preflight for s3gate to answer.
pub fn is_preflight(method: &Method) -> bool {
    method == Method::OPTIONS
}
