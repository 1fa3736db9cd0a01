//! The STS route: reads the bounded form, authenticates signed actions with
//! the caller's session, and answers in STS's XML shape. One audit event per
//! exchange.

use std::time::SystemTime;

use crate::request_body::RequestBody;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use sha2::{Digest, Sha256};

use super::Gateway;
use super::body::GatewayBody;
use super::ctx::RequestCtx;
use super::finish;
use crate::audit::AuditEvent;
use crate::identity::IdentityError;
use crate::policy::Scope;
use crate::sts_api::{self, MAX_STS_BODY_SIZE, RoleRequest, StsError, StsForm, WebIdentityAnswer};

/// `POST /` with a form body is the STS query API; everything else is S3.
pub fn is_sts_request(req: &Request<RequestBody>) -> bool {
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
    req: Request<RequestBody>,
    mut ctx: RequestCtx,
) -> Response<GatewayBody> {
    let (parts, body) = req.into_parts();
    let result = match Limited::new(body, MAX_STS_BODY_SIZE).collect().await {
        Err(_) => Err(StsError::new(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "request body too large or incomplete",
        )),
        Ok(collected) => {
            let body = collected.to_bytes();
            ctx.event.bytes_in = body.len() as u64;
            // The address the policy sees, as for S3 requests.
            let source = ctx.source;
            let now = ctx.now;
            answer(gateway, &parts, &body, &mut ctx.event, source, now).await
        }
    };
    finish::sts_answer(ctx, result)
}

async fn answer(
    gateway: &Gateway,
    parts: &http::request::Parts,
    body: &Bytes,
    event: &mut AuditEvent,
    source: Option<std::net::IpAddr>,
    now: SystemTime,
) -> Result<String, StsError> {
    // As on the S3 side: a Host that is not `host[:port]` was not built by
    // an HTTP client for this server.
    if let Some(host) = parts.headers.get(http::header::HOST)
        && !host.to_str().is_ok_and(crate::s3::is_valid_host)
    {
        return Err(StsError::new(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "The Host header is not a valid host.",
        ));
    }
    let form = StsForm::parse(body);
    let action = form.action().unwrap_or("");
    event.operation = Some(match action {
        "GetCallerIdentity" => "GetCallerIdentity",
        "AssumeRoleWithWebIdentity" => "AssumeRoleWithWebIdentity",
        "AssumeRoleWithAwsIdentity" => "AssumeRoleWithAwsIdentity",
        "AssumeRole" => "AssumeRole",
        _ => "Unknown",
    });
    match action {
        "AssumeRoleWithWebIdentity" => web_identity(gateway, &form, event, now).await,
        "AssumeRoleWithAwsIdentity" => aws_identity(gateway, &form, event, now).await,
        "AssumeRole" => {
            let parent = authenticate(gateway, parts, body, event, now)?;
            delegate(gateway, &form, &parent, event, source, now)
        }
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

/// The `RoleArn` shown when the AWS-identity caller names none.
const AWS_IDENTITY_ROLE_ARN: &str = "arn:aws:iam::000000000000:role/s3gate-aws";

/// `AssumeRoleWithWebIdentity`: an unsigned form carrying an OIDC token.
async fn web_identity(
    gateway: &Gateway,
    form: &StsForm,
    event: &mut AuditEvent,
    now: SystemTime,
) -> Result<String, StsError> {
    let role = RoleRequest::parse(form, None)?;
    let token = form.get("WebIdentityToken").ok_or_else(|| {
        StsError::new(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "WebIdentityToken is required",
        )
    })?;
    let ttl = session_ttl(gateway, &role)?;
    if gateway.oidc.is_empty() {
        return Err(IdentityError::NotConfigured(
            "no OIDC issuer is configured on this gateway".into(),
        )
        .to_sts_error());
    }
    let verified = gateway
        .oidc
        .verify(token, now)
        .await
        .map_err(|e| e.to_sts_error())?;
    event.set_identity(&verified.identity);
    let creds = mint(gateway, verified.identity.clone(), now, ttl, event)?;
    event.reason = format!(
        "web identity from {} for {}",
        verified.identity.issuer.as_deref().unwrap_or(""),
        role.role_arn
    )
    .into();
    Ok(sts_api::assume_role_with_web_identity_xml(
        &creds,
        &role,
        &WebIdentityAnswer {
            subject: &verified.identity.subject,
            provider: verified.identity.issuer.as_deref().unwrap_or(""),
            audience: &verified.audience,
        },
        &event.request_id,
    ))
}

/// s3gate's AWS-identity action: the caller's signed `GetCallerIdentity`
/// headers, rebuilt and sent to the configured STS (see
/// [`crate::identity::aws`]).
async fn aws_identity(
    gateway: &Gateway,
    form: &StsForm,
    event: &mut AuditEvent,
    now: SystemTime,
) -> Result<String, StsError> {
    let Some(verifier) = &gateway.aws_identity else {
        return Err(IdentityError::NotConfigured(
            "AWS identity is not configured on this gateway".into(),
        )
        .to_sts_error());
    };
    let role = RoleRequest::parse_with(form, Some(AWS_IDENTITY_ROLE_ARN), Some("s3gate-aws"))?;
    let ttl = session_ttl(gateway, &role)?;
    let caller = verifier
        .verify(form, now)
        .await
        .map_err(|e| e.to_sts_error())?;
    event.set_identity(&caller.identity);
    let creds = mint(gateway, caller.identity.clone(), now, ttl, event)?;
    event.reason = format!("AWS identity {}", caller.arn).into();
    Ok(sts_api::assume_role_with_aws_identity_xml(
        &creds,
        &role,
        &caller.arn,
        &event.request_id,
    ))
}

/// `AssumeRole`, signed with an s3gate session: mints a child session for
/// the same identity, whose scope is the requested session policy within
/// the parent's scopes, whose expiry never passes the parent's, and whose
/// chain names who delegated. Each request of it is decided by
/// `Policy::decide_session`: never more than the parent may do then.
fn delegate(
    gateway: &Gateway,
    form: &StsForm,
    parent: &crate::session::Claims,
    event: &mut AuditEvent,
    source: Option<std::net::IpAddr>,
    now: SystemTime,
) -> Result<String, StsError> {
    let invalid = |m: String| StsError::new(StatusCode::BAD_REQUEST, "ValidationError", m);
    if source.is_none() {
        return Err(StsError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            crate::forwarded::UNKNOWN_CLIENT,
        ));
    }
    // Whether this session may delegate at all is the policy's to say.
    let may = gateway
        .policy
        .current()
        .may_delegate(&crate::policy::Caller {
            identity: &parent.identity,
            name: None,
            chain: &parent.chain,
            client: source,
            now,
        });
    if let Err(why) = may {
        event.rule = Some(crate::policy::DELEGATE_ACTION.into());
        return Err(StsError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            format!("this session may not delegate: {why}"),
        ));
    }
    let role = RoleRequest::parse(form, None)?;
    let ttl = session_ttl(gateway, &role)?;
    // Never past the parent: `open` refused it if already expired.
    let now_secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ttl = ttl.min(std::time::Duration::from_secs(
        parent.expires_at.saturating_sub(now_secs),
    ));
    // The chain: the root principal, then each delegated session's name
    // (this one's last), so `alice → agent-7` shows on every audit line.
    // Each delegated name is under its delegator's, so no one can pick
    // another's agent's name.
    let mut chain = parent.chain.clone();
    if chain.is_empty() {
        chain.push(crate::policy::principal_name(&parent.identity));
    }
    let parent_name = chain.last().cloned().unwrap_or_default();
    chain.push(crate::policy::delegated_name(
        &parent_name,
        &role.role_session_name,
    ));
    if chain.len() > crate::session::MAX_CHAIN {
        return Err(invalid(format!(
            "delegation is at most {} deep; this session cannot delegate further",
            crate::session::MAX_CHAIN - 1
        )));
    }
    let requested = match form.get("Policy") {
        None => None,
        Some(text) => Some(crate::iam::scope_from_iam_json(text).map_err(|e| {
            StsError::new(
                StatusCode::BAD_REQUEST,
                "MalformedPolicyDocument",
                e.to_string(),
            )
        })?),
    };
    let (scope, parent_scopes) = parent.child_scopes(requested);
    // The child's own quota, never looser than any it inherits; every
    // request of it is charged to its ancestors' quotas too.
    let inherited = parent.effective_quota();
    let quota = sts_api::requested_quota(form)?.capped_by(&inherited);
    let binding = quota.within(&inherited);
    let mut parent_quotas = parent.parent_quotas.clone();
    if !parent.quota.is_empty() {
        parent_quotas.push(crate::session::ParentQuota {
            session_id: parent.session_id.clone(),
            expires_at: parent.expires_at,
            quota: parent.quota,
        });
    }
    let scope_text = scope.to_string();
    let creds = gateway
        .keyring
        .current()
        .mint_delegated(
            parent.identity.clone(),
            scope,
            crate::session::Delegation {
                parent_scopes,
                parent_sessions: parent
                    .parent_sessions
                    .iter()
                    .cloned()
                    .chain([parent.session_id.clone()])
                    .collect(),
                quota,
                parent_quotas,
            },
            now,
            ttl,
            chain.clone(),
            &mut rand::rng(),
        )
        .map_err(|e| session_error(&e))?;
    // A revocation may already cover the child (`delegated_by` the parent,
    // or its name): refuse now rather than hand out credentials that fail
    // on first use.
    if let Some(why) = gateway.revoked_at_issue(&creds, now) {
        return Err(StsError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            format!("the delegated session would be revoked: {why}"),
        ));
    }
    event.reason = format!(
        "delegated session {} ({}) for {}, scope `{scope_text}`, quota {binding}, until {}",
        creds.session_id,
        chain.join(" -> "),
        role.role_arn,
        crate::audit::rfc3339(creds.expires_at),
    )
    .into();
    Ok(sts_api::assume_role_xml(&creds, &role, &event.request_id))
}

/// Mints the session for a proven identity. Scope: everything — the policy
/// file decides each request from the identity; a session's scope only
/// narrows further (delegation).
fn mint(
    gateway: &Gateway,
    identity: crate::session::Identity,
    now: SystemTime,
    ttl: std::time::Duration,
    event: &mut AuditEvent,
) -> Result<crate::session::SessionCredentials, StsError> {
    let creds = gateway
        .keyring
        .current()
        .mint(
            identity,
            Scope::all(),
            now,
            ttl,
            Vec::new(),
            &mut rand::rng(),
        )
        .map_err(|e| session_error(&e))?;
    event.who.session_id = Some(creds.session_id.clone());
    event.who.access_key_id = Some(creds.access_key_id.clone());
    Ok(creds)
}

/// The lifetime a role request asks for (`DurationSeconds`), within the
/// `[identity]` bounds.
fn session_ttl(gateway: &Gateway, role: &RoleRequest) -> Result<std::time::Duration, StsError> {
    let limits = &gateway.identity_limits;
    role.ttl(
        limits.min_session_ttl,
        limits.default_session_ttl,
        limits.max_session_ttl,
    )
}

/// A minting failure as STS answers it.
fn session_error(e: &crate::session::SessionError) -> StsError {
    let s3 = e.to_s3_error();
    let status = if matches!(e, crate::session::SessionError::NoKey) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    };
    StsError::new(
        status,
        if status.is_server_error() {
            "InternalFailure"
        } else {
            "ValidationError"
        },
        s3.message.into_owned(),
    )
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
    event.who.access_key_id = Some(auth.access_key_id.to_string());
    let token = auth.security_token.as_deref().ok_or_else(|| {
        denied(
            "InvalidClientTokenId",
            "the security token included in the request is missing".into(),
        )
    })?;
    let (claims, secret) = gateway
        .keyring
        .current()
        .open(&auth.access_key_id, token, now)
        .map_err(|e| {
            let s3 = e.to_s3_error();
            let code = match s3.code {
                crate::s3::S3ErrorCode::ExpiredToken => "ExpiredTokenException",
                _ => "InvalidClientTokenId",
            };
            denied(code, s3.message.into_owned())
        })?;
    event.who.session_id = Some(claims.session_id.clone());
    event.set_identity(&claims.identity);
    event.who.chain = claims.chain.clone();
    if auth.credential.service() != "sts" {
        return Err(denied(
            "SignatureDoesNotMatch",
            format!(
                "the request is signed for service `{}`, not sts",
                auth.credential.service()
            ),
        ));
    }
    // STS clients sign the form's hash without sending it as a header.
    let body_sha256: [u8; 32] = Sha256::digest(body).into();
    auth.verify_with_body_sha256(parts, secret.expose().as_bytes(), now, &body_sha256)
        .map_err(|e| {
            let code = match e {
                crate::sigv4::SigV4Error::PayloadNotSigned => "AccessDenied",
                _ => "SignatureDoesNotMatch",
            };
            denied(code, e.to_s3_error().message.into_owned())
        })?;
    if let Some(why) = gateway.revocations.revoked(&claims, now) {
        return Err(denied("AccessDenied", why));
    }
    Ok(claims)
}
