//! The S3 pipeline, one stage after another over one audit event:
//! classify → authenticate → authorize → forward → finish.
//!
//! `finish` is the only place an S3 error is rendered and the audit event
//! is handed to the response body, which sends it when the body ends.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use http::request::Parts;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::Gateway;
use super::body::{Finish, GatewayBody};
use super::sts::{unavailable, xml_response};
use crate::audit::AuditEvent;
use crate::policy::{ActionSet, Caller, Decision, Policy};
use crate::s3::{Action, S3Error, S3ErrorCode, S3Request, classify, delete_objects_keys};
use crate::session::{Claims, Demand, ReadMeter};
use crate::sigv4::{self, AuthForm};
use crate::upstream::{self, RoleRequest, UpstreamBody, UpstreamError};

/// Largest DeleteObjects body: 1000 keys of up to 1024 bytes, in XML.
const MAX_DELETE_OBJECTS_BODY: usize = 2 * 1024 * 1024;

pub async fn handle(
    gateway: &Gateway,
    req: Request<Incoming>,
    client: SocketAddr,
    request_id: String,
    now: SystemTime,
) -> Response<GatewayBody> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let mut event = AuditEvent::begin("s3", request_id, now, client, &parts.headers);
    // Reserve the audit record first: no access without its record.
    let Some(permit) = gateway.audit.reserve().await else {
        return unavailable(&event.request_id);
    };
    let result = run(gateway, &parts, body, client, &mut event, now).await;
    let finish = |event: AuditEvent| Finish {
        permit,
        event,
        started,
    };
    match result {
        Ok((mut response, meter)) => {
            event.status = response.status().as_u16();
            event.upstream_request_id = upstream::request_id(&response);
            upstream::strip_response_hop_headers(response.headers_mut());
            // The caller quotes s3gate's id; its audit line holds the
            // store's id too, so one id leads to both records.
            if let Ok(id) = http::HeaderValue::from_str(&event.request_id) {
                response.headers_mut().insert("x-amz-request-id", id);
            }
            response.map(|b| GatewayBody::upstream(b, Some(finish(event))).metered(meter))
        }
        Err(err) => {
            let status = err.status();
            event.status = status.as_u16();
            event.error = Some(err.code.as_str());
            if event.reason.is_empty() {
                event.reason = err.message.to_string();
            }
            let err = if err.resource.is_none() {
                err.with_resource(parts.uri.path())
            } else {
                err
            };
            let request_id = event.request_id.clone();
            let xml = if parts.method == Method::HEAD {
                // HEAD answers carry no body; the status says it all.
                String::new()
            } else {
                err.to_xml(&request_id)
            };
            let mut response = xml_response(status, xml, &request_id, Some(finish(event)));
            if let Some(after) = err.retry_after
                && let Ok(v) = http::HeaderValue::from_str(&after.as_secs().max(1).to_string())
            {
                response.headers_mut().insert(http::header::RETRY_AFTER, v);
            }
            response
        }
    }
}

async fn run(
    gateway: &Gateway,
    parts: &Parts,
    body: Incoming,
    client: SocketAddr,
    event: &mut AuditEvent,
    now: SystemTime,
) -> Result<(Response<upstream::ResponseBody>, ReadMeter), S3Error> {
    // classify
    let mut s3 = classify(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &gateway.virtual_host_domains,
    )?;
    event.operation = Some(s3.operation.as_str());
    event.bucket = s3.bucket.clone();
    event.key = s3.key.clone();
    crate::s3::check_request_shape(s3.operation, &parts.headers)?;

    // authenticate
    let auth = sigv4::parse(parts).map_err(|e| {
        event.reason = e.to_string();
        e.to_s3_error()
    })?;
    event.auth = Some(match auth.form {
        AuthForm::Header => "header",
        AuthForm::Presigned => "presigned",
    });
    event.access_key_id = Some(auth.access_key_id.clone());
    let upstreams = &gateway.upstreams;
    auth.check_scope(
        |r| upstreams.serves_region(r),
        upstreams.region_for(s3.bucket.as_deref()),
        "s3",
    )
    .map_err(|e| {
        event.reason = e.to_string();
        e.to_s3_error()
    })?;
    // s3gate holds no long-term keys: a request without a session token
    // names an access key that does not exist here.
    let Some(token) = auth.security_token.as_deref() else {
        event.reason = "no session token".into();
        return Err(S3Error::new(
            S3ErrorCode::InvalidAccessKeyId,
            "The AWS Access Key Id you provided does not exist in our records: \
             s3gate accepts only its own session credentials, with their session token.",
        ));
    };
    let session = gateway
        .keyring
        .open_shared(&auth.access_key_id, token, now)
        .map_err(|e| {
            event.reason = e.to_string();
            e.to_s3_error()
        })?;
    let (claims, secret) = (&session.claims, &session.secret);
    event.session_id = Some(claims.session_id.clone());
    event.set_identity(&claims.identity);
    event.chain = claims.chain.clone();
    let verified = auth
        .verify(parts, secret.expose().as_bytes(), now)
        .map_err(|e| {
            event.reason = e.to_string();
            e.to_s3_error()
        })?;
    // Checked once the signature holds, so only the session's holder
    // learns that it was revoked.
    if let Some(why) = gateway.revocations.revoked(claims, now) {
        event.reason = why.clone();
        return Err(S3Error::new(
            S3ErrorCode::AccessDenied,
            format!("s3gate: {why} (request id {}).", event.request_id),
        ));
    }
    let decoded_length = verified.decoded_content_length;
    event.bytes_in = decoded_length
        .or_else(|| {
            parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    // What the store will be sent: the decoded length of an aws-chunked
    // body, else the body's own (`None` for a chunked one).
    let mut body_length = if upstream::has_body(&parts.method) {
        decoded_length.or_else(|| http_body::Body::size_hint(&body).exact())
    } else {
        Some(0)
    };

    // The body is verified as it streams; only DeleteObjects must be read
    // first, because its keys are resources to authorize.
    let mut upstream_body = if upstream::has_body(&parts.method) {
        let checks = sigv4::BodyChecks::from_headers(
            &parts.headers,
            s3.operation.checksum_headers_describe_body(),
        )
        .map_err(|e| {
            event.reason = e.to_string();
            e.to_s3_error()
        })?;
        UpstreamBody::Verified(Box::new(sigv4::verified_body(
            body, &verified, parts, checks,
        )))
    } else {
        UpstreamBody::Empty
    };
    if s3.needs_body_keys() {
        let bytes = Limited::new(upstream_body, MAX_DELETE_OBJECTS_BODY)
            .collect()
            .await
            .map_err(|e| match e.downcast::<sigv4::SigV4Error>() {
                Ok(sig) => {
                    event.reason = sig.to_string();
                    sig.to_s3_error()
                }
                Err(_) => S3Error::new(
                    S3ErrorCode::MalformedXML,
                    "The DeleteObjects body is larger than 1000 keys can be.",
                ),
            })?
            .to_bytes();
        s3.set_delete_keys(&delete_objects_keys(&bytes)?);
        body_length = Some(bytes.len() as u64);
        upstream_body = UpstreamBody::Bytes(Some(bytes));
    }

    // authorize: decided here, before the upstream is contacted, so a
    // denied HEAD or conditional GET answers the same whether the object
    // exists or not.
    let caller = Caller {
        identity: &claims.identity,
        chain: &claims.chain,
        client: Some(client.ip()),
        now,
    };
    // One policy version for the whole request: the decision, and what the
    // upstream-credentials stage derives from it (`decision.role`, and
    // `policy.grants_for(&caller, decision.role.as_deref())` for a session
    // policy), come from the same file.
    let policy = gateway.policy.current();
    let decision = authorize(&policy, &caller, claims, &s3, event)?;
    // quotas: charged once allowed, before the upstream is contacted.
    let demand = Demand {
        reads: parts.method == Method::GET,
        writes: body_length,
        copies: s3.copy_source.is_some(),
    };
    let meter = gateway.quotas.admit(claims, demand, now).map_err(|e| {
        event.rule = Some("session quota".into());
        event.reason = e.to_string();
        e.to_s3_error(&event.request_id)
    })?;
    event.decision = "allow";

    // upstream credentials and forward
    let upstream = gateway.upstreams.route_request(&s3).map_err(|e| {
        event.reason = e.to_string();
        e.to_s3_error()
    })?;
    event.upstream = Some(upstream.name().to_owned());
    // The role is the deciding grant's, else the upstream's own; the
    // session policy is what the policy grants this caller under that role,
    // narrowed to the session's scope (and the policy's denies), so the
    // store enforces the grant a second time.
    let role_arn = decision
        .role
        .as_deref()
        .or_else(|| upstream.default_role_arn());
    let as_pairs = |granted: Vec<crate::policy::Granted>| -> Vec<(ActionSet, String)> {
        granted
            .into_iter()
            .map(|g| (g.actions, g.resource))
            .collect()
    };
    let (grants, denies) = match role_arn {
        Some(_) => (
            claims.narrow(&as_pairs(
                policy.grants_for(&caller, decision.role.as_deref()),
            )),
            as_pairs(policy.denies_for(&caller)),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let role = role_arn.map(|role_arn| RoleRequest {
        role_arn,
        caller: &claims.identity,
        chain: &claims.chain,
        grants: &grants,
        denies: &denies,
    });
    let forwarded = upstream
        .forward(
            parts,
            &s3,
            role.as_ref(),
            &verified.payload,
            upstream_body,
            now,
        )
        .await
        .map_err(|e| {
            event.reason = e.to_string();
            // The caller's body failed its check mid-stream (the upstream
            // request was cut short and stored nothing), or no credentials
            // narrowed to the grant could be had: either way, refused.
            if matches!(e, UpstreamError::Body(_))
                || e.to_s3_error().code == S3ErrorCode::AccessDenied
            {
                event.decision = "deny";
            }
            e.to_s3_error()
        })?;
    event.upstream_role_session = forwarded.role_session;
    Ok((forwarded.response, meter))
}

/// Every resource the request touches must be allowed by the policy *and*
/// by the session's own scope. A DeleteObjects batch with one refused key
/// is refused whole (nothing is deleted), naming that key.
fn authorize(
    policy: &Policy,
    caller: &Caller<'_>,
    claims: &Claims,
    s3: &S3Request,
    event: &mut AuditEvent,
) -> Result<Decision, S3Error> {
    event.policy_version = Some(policy.version().to_owned());
    let decision = policy.decide(caller, &s3.resources);
    event.rule = Some(decision.rule_label().to_owned());
    let refused = if decision.allowed {
        claims
            .first_denied(&s3.resources)
            .map(|(action, resource)| {
                event.rule = Some("session scope".into());
                (
                    *action,
                    resource.as_str(),
                    format!(
                        "the policy allows it (`{}`) but the session's scope does not",
                        decision.rule_label()
                    ),
                )
            })
    } else {
        Some((decision.action, decision.resource.as_str(), decision.why()))
    };
    if let Some((action, resource, mut why)) = refused {
        if action == Action::Unclassified {
            why.push_str(
                "; s3gate does not recognise this operation or sub-resource, and only a `*` \
                 grant allows what it does not recognise",
            );
        }
        let who = event.identity.as_deref().unwrap_or("?");
        event.reason = format!("s3:{action} on {resource}: {why}");
        return Err(S3Error::new(
            S3ErrorCode::AccessDenied,
            format!(
                "s3gate: {who} may not s3:{action} on {resource}: {why} (request id {}).",
                event.request_id
            ),
        ));
    }
    event.reason = format!("{}; within the session's scope", decision.why());
    Ok(decision)
}
