//! Where every response, error and audit line leaves the gateway.
//!
//! - Audit records leave through [`super::record::emit`], called from the
//!   response body's end or drop, or from an abandoned request's context.
//! - [`s3_error`] and [`sts_answer`] render a request's outcome in its API's
//!   XML shape, with the request's audit record attached; [`unavailable`]
//!   answers when no record can be written; [`xml_response`] is the shape
//!   they share. An S3 caller never gets STS's XML, nor the reverse.
//!
//! Error codes and statuses are chosen by the error types
//! ([`crate::s3::S3Error`], [`crate::sts_api::StsError`]); this module only
//! renders them.

use http::{HeaderValue, Method, Response, StatusCode};

use super::body::GatewayBody;
use super::ctx::RequestCtx;
use super::record::Finish;
use crate::live::Held;
use crate::s3::{S3Error, S3ErrorCode};
use crate::session::ReadMeter;
use crate::sts_api::StsError;
use crate::upstream;

use crate::amz_header::X_AMZ_REQUEST_ID;

/// An S3 request the store answered: its response streamed back with
/// s3gate's request id, the record sent when the body ends.
pub fn s3_forwarded(
    mut ctx: RequestCtx,
    mut response: Response<upstream::ResponseBody>,
    meter: ReadMeter,
    held: Option<Held>,
) -> Response<GatewayBody> {
    ctx.event.status = response.status().as_u16();
    ctx.event.upstream_request_id = upstream::request_id(&response);
    upstream::strip_response_hop_headers(response.headers_mut());
    // The caller quotes s3gate's id; its audit line holds the store's id
    // too, so one id leads to both records.
    if let Ok(id) = HeaderValue::from_str(ctx.request_id()) {
        response.headers_mut().insert(X_AMZ_REQUEST_ID, id);
    }
    let finish = ctx.finish(response.status());
    response.map(|b| {
        GatewayBody::upstream(b, Some(finish))
            .metered(meter)
            .holding(held)
    })
}

/// An S3 request s3gate answered itself from its config (`GetBucketCors`):
/// a 200 XML document, with the request's audit record.
pub fn s3_answered(ctx: RequestCtx, xml: String) -> Response<GatewayBody> {
    let request_id = ctx.request_id().to_owned();
    let finish = ctx.finish(StatusCode::OK);
    xml_response(StatusCode::OK, xml, &request_id, Some(finish))
}

/// An S3 request refused or failed: S3's `<Error>` XML (no body for HEAD),
/// the status its code implies, `Retry-After` when it says so, and the
/// request's audit record.
pub fn s3_error(
    mut ctx: RequestCtx,
    err: S3Error,
    method: &Method,
    path: &str,
) -> Response<GatewayBody> {
    let status = err.status();
    ctx.event.error = Some(err.code.as_str());
    ctx.reason_if_unset(err.message.to_string());
    let err = if err.resource.is_none() {
        err.with_resource(path)
    } else {
        err
    };
    let request_id = ctx.request_id().to_owned();
    let xml = if method == Method::HEAD {
        // HEAD answers carry no body; the status says it all.
        String::new()
    } else {
        err.to_xml(&request_id)
    };
    let mut response = xml_response(status, xml, &request_id, Some(ctx.finish(status)));
    if let Some(after) = err.retry_after
        && let Ok(v) = HeaderValue::from_str(&after.as_secs().max(1).to_string())
    {
        response.headers_mut().insert(http::header::RETRY_AFTER, v);
    }
    response
}

/// An S3 error for a connection refused before any request was read (over
/// a connection limit): nothing to audit, and the connection closes.
pub fn s3_error_closing(err: &S3Error, request_id: &str) -> Response<GatewayBody> {
    let mut resp = xml_response(err.status(), err.to_xml(request_id), request_id, None);
    close_after(&mut resp);
    resp
}

/// Says `Connection: close`: an HTTP/1 client opens a new connection for
/// its next request, and hyper closes this one after the answer.
pub fn close_after<B>(response: &mut Response<B>) {
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
}

/// An STS exchange's answer: the action's result XML, or STS's
/// `<ErrorResponse>`, with the exchange's audit record.
pub fn sts_answer(mut ctx: RequestCtx, result: Result<String, StsError>) -> Response<GatewayBody> {
    let (status, xml) = match result {
        Ok(xml) => {
            ctx.event.decision = "allow";
            (StatusCode::OK, xml)
        }
        Err(e) => {
            ctx.event.error = Some(e.code);
            ctx.event.reason = e.message.clone().into();
            (e.status, e.to_xml(ctx.request_id()))
        }
    };
    let request_id = ctx.request_id().to_owned();
    xml_response(status, xml, &request_id, Some(ctx.finish(status)))
}

/// Marks an S3 answer as data, never a page: no content-type sniffing, and
/// a sandbox that gives any HTML an opaque origin with no script, so an
/// uploaded object can neither read the portal nor act with its cookies.
/// Set on the upstream's answers and on s3gate's own errors alike.
pub fn sandbox(headers: &mut http::HeaderMap) {
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
}

/// An XML body with the request id headers S3 and STS clients read.
pub fn xml_response(
    status: StatusCode,
    xml: String,
    request_id: &str,
    finish: Option<Finish>,
) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(xml, finish));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(X_AMZ_REQUEST_ID, v.clone());
        headers.insert("x-amzn-requestid", v);
    }
    resp
}

/// The audit sink is failing: refuse rather than serve unaudited, in the
/// caller's API's shape.
pub fn unavailable(api: &'static str, request_id: &str) -> Response<GatewayBody> {
    const WHY: &str = "s3gate cannot write its audit log, so it refuses requests";
    let xml = if api == "sts" {
        StsError::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", WHY).to_xml(request_id)
    } else {
        S3Error::new(S3ErrorCode::ServiceUnavailable, WHY).to_xml(request_id)
    };
    xml_response(StatusCode::SERVICE_UNAVAILABLE, xml, request_id, None)
}
