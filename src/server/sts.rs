//! The STS route: reads the bounded form, authenticates signed actions with
//! the caller's session, and answers in STS's XML shape. One audit event per
//! exchange.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use super::Gateway;
use super::body::{Finish, GatewayBody};
use crate::audit::{AuditEvent, rfc3339};
use crate::sts_api::{self, MAX_STS_BODY_SIZE, StsError, StsForm};

/// `POST /` with a form body is the STS query API; everything else is S3.
pub fn is_sts_request(req: &Request<Incoming>) -> bool {
    req.method() == Method::POST
        && req.uri().path() == "/"
        && req.uri().query().is_none()
        && req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

pub async fn handle(
    gateway: &Gateway,
    req: Request<Incoming>,
    client: SocketAddr,
    request_id: String,
    now: SystemTime,
) -> Response<GatewayBody> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let mut event = AuditEvent {
        time: rfc3339(now),
        request_id,
        api: "sts",
        decision: "deny",
        client: Some(client),
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        ..Default::default()
    };
    let Some(permit) = gateway.audit.reserve().await else {
        return unavailable(&event.request_id);
    };
    let result = match Limited::new(body, MAX_STS_BODY_SIZE).collect().await {
        Err(_) => Err(StsError::new(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "request body too large or incomplete",
        )),
        Ok(collected) => {
            let body = collected.to_bytes();
            event.bytes_in = body.len() as u64;
            answer(gateway, &parts, &body, &mut event, now)
        }
    };
    let (status, xml) = match result {
        Ok(xml) => {
            event.decision = "allow";
            (StatusCode::OK, xml)
        }
        Err(e) => {
            event.error = Some(e.code);
            event.reason = e.message.clone();
            (e.status, e.to_xml(&event.request_id))
        }
    };
    event.status = status.as_u16();
    let request_id = event.request_id.clone();
    let finish = Finish {
        permit,
        event,
        started,
    };
    xml_response(status, xml, &request_id, Some(finish))
}

fn answer(
    gateway: &Gateway,
    parts: &http::request::Parts,
    body: &Bytes,
    event: &mut AuditEvent,
    now: SystemTime,
) -> Result<String, StsError> {
    let form = StsForm::parse(body);
    let action = form.action().unwrap_or("");
    event.operation = Some(match action {
        "GetCallerIdentity" => "GetCallerIdentity",
        _ => "Unknown",
    });
    match action {
        "GetCallerIdentity" => {
            let claims = authenticate(gateway, parts, body, event, now)?;
            event.reason = "session identity".into();
            Ok(sts_api::get_caller_identity_xml(&claims, &event.request_id))
        }
        "" => Err(StsError::new(
            StatusCode::BAD_REQUEST,
            "MissingAction",
            "the form has no Action",
        )),
        _ => Err(StsError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            "s3gate does not serve this STS action",
        )),
    }
}

/// Verifies a SigV4-signed STS request made with s3gate session
/// credentials and returns the session's claims.
fn authenticate(
    gateway: &Gateway,
    parts: &http::request::Parts,
    body: &Bytes,
    event: &mut AuditEvent,
    now: SystemTime,
) -> Result<crate::session::Claims, StsError> {
    let denied =
        |code: &'static str, message: String| StsError::new(StatusCode::FORBIDDEN, code, message);
    let auth = crate::sigv4::parse(parts)
        .map_err(|e| denied("IncompleteSignature", e.to_s3_error().message.into_owned()))?;
    event.access_key_id = Some(auth.access_key_id.clone());
    let token = auth.security_token.as_deref().ok_or_else(|| {
        denied(
            "InvalidClientTokenId",
            "the security token included in the request is missing".into(),
        )
    })?;
    let (claims, secret) = gateway
        .keyring
        .open(&auth.access_key_id, token, now)
        .map_err(|e| {
            let s3 = e.to_s3_error();
            let code = match s3.code {
                crate::s3::S3ErrorCode::ExpiredToken => "ExpiredTokenException",
                _ => "InvalidClientTokenId",
            };
            denied(code, s3.message.into_owned())
        })?;
    event.session_id = Some(claims.session_id.clone());
    event.identity = Some(crate::policy::principal_name(&claims.identity));
    event.identity_method = Some(claims.identity.method.clone());
    event.chain = claims.chain.clone();
    if auth.credential.service != "sts" {
        return Err(denied(
            "SignatureDoesNotMatch",
            format!(
                "the request is signed for service `{}`, not sts",
                auth.credential.service
            ),
        ));
    }
    // STS clients sign the form's hash without sending it as a header.
    let body_sha256: [u8; 32] = Sha256::digest(body).into();
    auth.verify_with_body_sha256(parts, secret.expose().as_bytes(), now, &body_sha256)
        .map_err(|e| {
            denied(
                "SignatureDoesNotMatch",
                e.to_s3_error().message.into_owned(),
            )
        })?;
    Ok(claims)
}

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
        headers.insert("x-amz-request-id", v.clone());
        headers.insert("x-amzn-requestid", v);
    }
    resp
}

/// The audit sink is failing: refuse rather than serve unaudited.
pub fn unavailable(request_id: &str) -> Response<GatewayBody> {
    let err = crate::s3::S3Error::new(
        crate::s3::S3ErrorCode::ServiceUnavailable,
        "s3gate cannot write its audit log, so it refuses requests",
    );
    xml_response(
        StatusCode::SERVICE_UNAVAILABLE,
        err.to_xml(request_id),
        request_id,
        None,
    )
}
