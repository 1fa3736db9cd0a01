//! The S3 pipeline as named phases over one [`RequestCtx`]:
//! [`classify`] → [`authenticate`] → [`read_body`] → [`authorize`] →
//! [`admit`] → [`forward`]; [`finish`](super::finish) renders whatever
//! comes out (the store's response, or an S3 error) and sends the audit
//! record. The route through them is [`super::s3`]'s; a form upload
//! ([`super::post`]) reuses them from [`decide_and_forward`] on.
//!
//! Each phase fills in the audit event as it learns (who, what, why) and
//! returns an [`S3Error`] to refuse; the first phase that refuses ends the
//! request. Depends on the pure stages (`s3`, `sigv4`, `policy`,
//! `session`), `upstream`, `raw_query` (the query split once, handed to
//! every phase that reads it) and the gateway's context; never on the
//! routes that use it.

use std::sync::Arc;

use crate::request_body::RequestBody;
use http::request::Parts;
use http::{Method, Response};
use http_body_util::{BodyExt, Limited};

use super::Gateway;
use super::ctx::RequestCtx;
use crate::audit::Reason;
use crate::live::Held;
use crate::metrics::{self, Limit};
use crate::policy::{ActionSet, Caller, Decision, Policy};
use crate::raw_query::RawQuery;
use crate::s3::{
    Action, Operation, S3Error, S3ErrorCode, S3Request, delete_objects_keys, touches_own_object,
};
use crate::session::{Claims, Demand, OpenedSession, ReadMeter, RoleGrants};
use crate::sigv4::{self, AuthForm, PayloadMode, Verified};
use crate::upstream::{self, RoleRequest, UpstreamBody, UpstreamError};

/// Largest DeleteObjects body: 1000 keys of up to 1024 bytes, in XML.
const MAX_DELETE_OBJECTS_BODY: usize = 2 * 1024 * 1024;

/// How an allowed request was answered.
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every request is `Forwarded`: boxing it would allocate for each"
)]
pub(super) enum Outcome {
    /// By the store.
    Forwarded(Response<upstream::ResponseBody>, ReadMeter, Option<Held>),
    /// By s3gate from its config (`GetBucketCors`): an S3 XML document.
    Answered(String),
}

/// A request's outcome: how it was answered, or the refusal.
pub(super) type Forwarded = Result<Outcome, S3Error>;

/// The phases once the caller is known and its body is in hand: the
/// decision (authorize, admit) and the forwarding, shared by every S3
/// request and by the PutObject a form upload stands for. `source` is the
/// client's address from the request as it arrived ([`client_address`]):
/// `parts` may be one s3gate rebuilt (a form's PutObject), which carries
/// none of the proxies' forwarding headers. `session` is the opened
/// session `claims` come from (an anonymous caller has none).
#[allow(
    clippy::too_many_arguments,
    reason = "two call sites, each a distinct input"
)]
pub(super) async fn decide_and_forward(
    gateway: &Gateway,
    parts: &Parts,
    query: &RawQuery<'_>,
    source: std::net::IpAddr,
    s3: &S3Request,
    claims: &Claims,
    session: Option<&OpenedSession>,
    payload: &PayloadMode,
    body: Body,
    ctx: &mut RequestCtx,
) -> Forwarded {
    protect_own_objects(gateway, s3, ctx)?;
    // What the session keeps (the caller's name, its grants under a role)
    // is worked out from its own claims, so it is used only when `claims`
    // are those claims: both call sites pass them so, and a pair that did
    // not would lose only the keeping, never get another caller's rights.
    let session = session.filter(|s| std::ptr::eq(&s.claims, claims));
    let caller = Caller {
        identity: &claims.identity,
        // Spelled when the session was opened, from these claims.
        name: session.and_then(|s| s.subject.identity.as_deref()),
        chain: &claims.chain,
        client: Some(source),
        now: ctx.now,
    };
    // One policy version for the whole request: the decision, and what the
    // upstream-credentials stage derives from it (`decision.role`, and
    // `policy.grants_for(&caller, decision.role.as_deref())` for a session
    // policy), come from the same file.
    let policy = gateway.policy.current();
    // Decided before the upstream is contacted, so a denied HEAD or
    // conditional GET answers the same whether the object exists or not.
    let decision = authorize(&policy, &caller, claims, s3, ctx)?;
    let (meter, held) = admit(gateway, parts, s3, claims, body.length, ctx).await?;
    if s3.operation == Operation::GetBucketCors {
        let bucket = s3.bucket.as_deref().unwrap_or("");
        return bucket_cors(gateway, bucket).map(Outcome::Answered);
    }
    let asker = Asker {
        caller: &caller,
        claims,
        session,
    };
    let forwarded = forward(
        gateway, parts, query, s3, &policy, &asker, &decision, payload, body, ctx,
    )
    .await?;
    Ok(Outcome::Forwarded(forwarded, meter, held))
}

/// The client address the policy sees: the peer's, or behind a trusted
/// proxy the rightmost `X-Forwarded-For` entry outside the proxies (worked
/// out, and audited, once per request: [`RequestCtx::source`]). An unknown
/// address would make a `not_source_cidr` deny not deny, so it refuses
/// (fail closed).
pub(super) fn client_address(ctx: &mut RequestCtx) -> Result<std::net::IpAddr, S3Error> {
    ctx.source.ok_or_else(|| {
        let message = format!(
            "s3gate: {} (request id {}).",
            crate::forwarded::UNKNOWN_CLIENT,
            ctx.request_id()
        );
        refused(
            ctx,
            crate::forwarded::UNKNOWN_CLIENT,
            S3Error::new(S3ErrorCode::AccessDenied, message),
        )
    })
}

/// Sets the audit reason from a stage's error and passes its S3 error on.
pub(super) fn refused(ctx: &mut RequestCtx, why: impl std::fmt::Display, err: S3Error) -> S3Error {
    ctx.event.reason = why.to_string().into();
    err
}

/// classify: the operation and every resource the request touches.
pub(super) fn classify(
    gateway: &Gateway,
    parts: &Parts,
    query: &RawQuery<'_>,
    ctx: &mut RequestCtx,
) -> Result<S3Request, S3Error> {
    let s3 = crate::s3::classify_with_query(
        &parts.method,
        &parts.uri,
        query,
        &parts.headers,
        &gateway.virtual_host_domains,
    )?;
    ctx.event.operation = Some(s3.operation.as_str());
    ctx.event.bucket = s3.bucket.clone();
    ctx.event.key = s3.key.clone();
    crate::s3::check_request_shape(s3.operation, &parts.headers)?;
    Ok(s3)
}

/// authenticate: the SigV4 signature against the sealed session it names,
/// then the revocation list.
pub(super) fn authenticate<'a>(
    gateway: &Gateway,
    parts: &'a Parts,
    query: &RawQuery<'a>,
    bucket: Option<&str>,
    ctx: &mut RequestCtx,
) -> Result<(Arc<OpenedSession>, Verified), S3Error> {
    let auth = sigv4::parse_with_query(parts, query).map_err(|e| {
        let err = e.to_s3_error();
        refused(ctx, e, err)
    })?;
    ctx.event.auth = Some(match auth.form {
        AuthForm::Header => "header",
        AuthForm::Presigned => "presigned",
    });
    let presigned = auth.form == AuthForm::Presigned;
    // A refused request's record names the key id it gave; an opened
    // session's names it through the session's subject, without a copy.
    let session = check_scope(gateway, auth.credential(), presigned, bucket, ctx)
        .and_then(|()| {
            open_session(
                gateway,
                &auth.access_key_id,
                auth.security_token.as_deref(),
                ctx,
            )
        })
        .inspect_err(|_| {
            ctx.event.who.access_key_id = Some(auth.access_key_id.to_string());
        })?;
    let claims = &session.claims;
    let verified = auth
        .verify_cached_with_query(
            parts,
            query,
            session.secret.expose().as_bytes(),
            session.signing_keys(),
            ctx.now,
        )
        .map_err(|e| {
            let err = e.to_s3_error();
            refused(ctx, e, err)
        })?;
    // Checked once the signature holds, so only the session's holder
    // learns that it was revoked.
    refuse_revoked(gateway, claims, ctx)?;
    Ok((session, verified))
}

/// The credential scope names s3 and a region a configured store is in
/// (the bucket's, named in the refusal as S3 does).
pub(super) fn check_scope(
    gateway: &Gateway,
    scope: &sigv4::CredentialScope,
    presigned: bool,
    bucket: Option<&str>,
    ctx: &mut RequestCtx,
) -> Result<(), S3Error> {
    let upstreams = &gateway.upstreams;
    scope
        .check(
            presigned,
            |r| upstreams.serves_region(r),
            upstreams.region_for(bucket),
            "s3",
        )
        .map_err(|e| {
            let err = e.to_s3_error();
            refused(ctx, e, err)
        })
}

/// The session a signature names: its sealed token opened for
/// `access_key_id`, and who it is written into the audit event.
pub(super) fn open_session(
    gateway: &Gateway,
    access_key_id: &str,
    token: Option<&str>,
    ctx: &mut RequestCtx,
) -> Result<Arc<OpenedSession>, S3Error> {
    // s3gate holds no long-term keys: a request without a session token
    // names an access key that does not exist here.
    let Some(token) = token else {
        return Err(refused(
            ctx,
            "no session token",
            S3Error::new(
                S3ErrorCode::InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records: \
                 s3gate accepts only its own session credentials, with their session token.",
            ),
        ));
    };
    let session = gateway
        .keyring
        .current()
        .open_shared(access_key_id, token, ctx.now)
        .map_err(|e| {
            let err = e.to_s3_error();
            refused(ctx, e, err)
        })?;
    ctx.event.set_session(&session.subject);
    Ok(session)
}

/// Refuses a session on the revocation list. Called once its signature
/// holds, so only the session's holder learns that it was revoked.
pub(super) fn refuse_revoked(
    gateway: &Gateway,
    claims: &Claims,
    ctx: &mut RequestCtx,
) -> Result<(), S3Error> {
    if let Some(why) = gateway.revocations.revoked(claims, ctx.now) {
        let message = format!("s3gate: {why} (request id {}).", ctx.request_id());
        return Err(refused(
            ctx,
            why,
            S3Error::new(S3ErrorCode::AccessDenied, message),
        ));
    }
    Ok(())
}

/// The body as it will be sent upstream, and what is known of its length.
pub(super) struct Body {
    pub(super) upstream: UpstreamBody,
    /// What the store will be sent: the decoded length of an aws-chunked
    /// body, else the body's own (`None` for a chunked one).
    pub(super) length: Option<u64>,
}

/// The body, verified as it streams; only DeleteObjects is read first,
/// because its keys are resources to authorize.
pub(super) async fn read_body(
    parts: &Parts,
    body: RequestBody,
    verified: &Verified,
    s3: &mut S3Request,
    limits: &crate::config::ServerConfig,
    ctx: &mut RequestCtx,
) -> Result<Body, S3Error> {
    let decoded_length = verified.decoded_content_length;
    ctx.event.bytes_in = decoded_length
        .or_else(|| {
            parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    if !upstream::has_body(&parts.method) {
        return Ok(Body {
            upstream: UpstreamBody::Empty,
            length: Some(0),
        });
    }
    let length = decoded_length.or_else(|| http_body::Body::size_hint(&body).exact());
    // Content-MD5 and x-amz-checksum-* are checked by s3gate itself, in the
    // same hold-back as the payload hash: a mismatch stores nothing.
    let checks = sigv4::BodyChecks::from_headers(
        &parts.headers,
        s3.operation.checksum_headers_describe_body(),
    )
    .map_err(|e| {
        let err = e.to_s3_error();
        refused(ctx, e, err)
    })?;
    // A body that stops coming is cut (400 RequestTimeout) rather than
    // holding a pooled store connection until the store gives up.
    let upstream = UpstreamBody::Verified(Box::new(upstream::min_rate::paced_verified_body(
        body,
        verified,
        parts,
        checks,
        limits.body_rate_window,
        limits.body_min_rate,
    )));
    if !s3.needs_body_keys() {
        return Ok(Body { upstream, length });
    }
    // Announced too large: refused before a byte is read. (An unannounced
    // length is capped as it streams, below.)
    let too_large = || {
        S3Error::new(
            S3ErrorCode::MalformedXML,
            "The DeleteObjects body is larger than 1000 keys can be.",
        )
    };
    if length.is_some_and(|n| n > MAX_DELETE_OBJECTS_BODY as u64) {
        return Err(too_large());
    }
    let bytes = match Limited::new(upstream, MAX_DELETE_OBJECTS_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return Err(match e.downcast::<sigv4::SigV4Error>() {
                Ok(sig) => {
                    let err = sig.to_s3_error();
                    refused(ctx, sig, err)
                }
                Err(_) => too_large(),
            });
        }
    };
    s3.set_delete_keys(&delete_objects_keys(&bytes)?);
    let length = Some(bytes.len() as u64);
    Ok(Body {
        upstream: UpstreamBody::Bytes(Some(bytes)),
        length,
    })
}

/// s3gate's own objects (the revocation list) are out of reach, whatever
/// the policy grants.
fn protect_own_objects(
    gateway: &Gateway,
    s3: &S3Request,
    ctx: &mut RequestCtx,
) -> Result<(), S3Error> {
    let Some((bucket, key)) = gateway.revocations.own_object() else {
        return Ok(());
    };
    let Some((action, resource)) = touches_own_object(s3, bucket, key) else {
        return Ok(());
    };
    ctx.event.rule = Some("s3gate object".into());
    let message = format!(
        "s3gate: s3:{action} on {resource} is refused to every caller: it is s3gate's \
         own revocation list (request id {}).",
        ctx.request_id()
    );
    Err(refused(
        ctx,
        format!("s3:{action} on {resource}: s3gate's own revocation list"),
        S3Error::new(S3ErrorCode::AccessDenied, message),
    ))
}

/// admit: the session's quotas, charged once the request is allowed and
/// before the upstream is contacted, and a slot of the principal's
/// concurrency, held until the response body ends.
async fn admit(
    gateway: &Gateway,
    parts: &Parts,
    s3: &S3Request,
    claims: &Claims,
    body_length: Option<u64>,
    ctx: &mut RequestCtx,
) -> Result<(ReadMeter, Option<Held>), S3Error> {
    let Some(held) = gateway.principals.enter(ctx.event.identity().unwrap_or("")) else {
        metrics::limit_hit(Limit::RequestsPerPrincipal);
        let who = ctx.event.identity().unwrap_or_default().to_owned();
        ctx.event.rule = Some("principal concurrency".into());
        let limit = gateway.limits.max_requests_per_principal;
        let message = format!(
            "s3gate: {who} has {limit} requests in flight, the most one principal may; \
             retry with back-off (request id {}).",
            ctx.request_id()
        );
        return Err(refused(
            ctx,
            format!("{who} over max_requests_per_principal ({limit})"),
            S3Error::new(S3ErrorCode::SlowDown, message),
        ));
    };
    let demand = Demand {
        reads: parts.method == Method::GET,
        writes: body_length,
        copies: s3.copy_source.is_some(),
    };
    let meter = gateway
        .quotas
        .admit(claims, demand, ctx.now)
        .await
        .map_err(|e| {
            ctx.event.rule = Some("session quota".into());
            let err = e.to_s3_error(ctx.request_id());
            refused(ctx, e, err)
        })?;
    ctx.event.decision = "allow";
    Ok((meter, held))
}

/// Who asks, for [`forward`]: as the policy sees it, the session's claims,
/// and the opened session they come from, if any.
struct Asker<'a> {
    caller: &'a Caller<'a>,
    claims: &'a Claims,
    session: Option<&'a OpenedSession>,
}

/// What the role session of `asker`'s request may do under `role` (the
/// deciding grant's; `None`: the upstream's own): the policy's grants for
/// the caller under it, narrowed to the session's scope, and the policy's
/// denies ([`RoleGrants`]).
///
/// Worked out once per session, policy and role, and kept on the opened
/// session, when the policy's conditions name neither the client's
/// address nor the time: then they depend only on the session's identity,
/// chain and scope, which never change. Otherwise worked out again for
/// every request. Both are the same list (the unit test holds them to it).
fn role_grants(policy: &Policy, asker: &Asker<'_>, role: Option<&Arc<str>>) -> Arc<RoleGrants> {
    let keep = asker.session.filter(|_| policy.grants_are_per_session());
    if let Some(kept) = keep.and_then(OpenedSession::role_grants)
        && policy.is_version(&kept.policy)
        && kept.role.as_ref() == role
    {
        return kept;
    }
    let as_pairs = |granted: Vec<crate::policy::Granted>| -> Vec<(ActionSet, String)> {
        granted
            .into_iter()
            .map(|g| (g.actions, g.resource))
            .collect()
    };
    let worked_out = Arc::new(RoleGrants {
        policy: policy.shared_version(),
        role: role.cloned(),
        grants: asker.claims.narrow(&as_pairs(
            policy.session_grants_for(asker.caller, role.map(|r| &**r)),
        )),
        denies: as_pairs(policy.denies_for(asker.caller)),
    });
    if let Some(session) = keep {
        session.keep_role_grants(Arc::clone(&worked_out));
    }
    worked_out
}

/// forward: upstream credentials narrowed to the grant, re-signed, sent.
#[allow(
    clippy::too_many_arguments,
    reason = "the phase's inputs are the earlier phases' outputs"
)]
async fn forward(
    gateway: &Gateway,
    parts: &Parts,
    query: &RawQuery<'_>,
    s3: &S3Request,
    policy: &Policy,
    asker: &Asker<'_>,
    decision: &Decision,
    payload: &PayloadMode,
    body: Body,
    ctx: &mut RequestCtx,
) -> Result<Response<upstream::ResponseBody>, S3Error> {
    let upstream = gateway.upstreams.route_request(s3).map_err(|e| {
        let err = e.to_s3_error();
        refused(ctx, e, err)
    })?;
    ctx.event.upstream = Some(upstream.shared_name());
    // The role is the deciding grant's, else the upstream's own; the
    // session policy is what the policy grants this caller under that role,
    // narrowed to the session's scope (and the policy's denies), so the
    // store enforces the grant a second time.
    let role_arn = decision
        .role
        .as_deref()
        .or_else(|| upstream.default_role_arn());
    let granted = role_arn.map(|_| role_grants(policy, asker, decision.role.as_ref()));
    let role = role_arn
        .zip(granted.as_deref())
        .map(|(role_arn, granted)| RoleRequest {
            role_arn,
            caller: &asker.claims.identity,
            chain: &asker.claims.chain,
            grants: &granted.grants,
            denies: &granted.denies,
        });
    let forwarded = upstream
        .forward(
            parts,
            query,
            s3,
            role.as_ref(),
            payload,
            body.upstream,
            ctx.now,
        )
        .await
        .map_err(|e| {
            // The caller's body failed its check mid-stream (the upstream
            // request was cut short and stored nothing), or no credentials
            // narrowed to the grant could be had: either way, refused.
            let err = e.to_s3_error();
            if matches!(e, UpstreamError::Body(_)) || err.code == S3ErrorCode::AccessDenied {
                ctx.event.decision = "deny";
            }
            refused(ctx, e, err)
        })?;
    ctx.event.upstream_role_session = forwarded.role_session;
    Ok(forwarded.response)
}

/// Every resource the request touches must be allowed by the policy *and*
/// by the session's own scope. A DeleteObjects batch with one refused key
/// is refused whole (nothing is deleted), naming that key.
fn authorize(
    policy: &Policy,
    caller: &Caller<'_>,
    claims: &Claims,
    s3: &S3Request,
    ctx: &mut RequestCtx,
) -> Result<Decision, S3Error> {
    let event = &mut ctx.event;
    event.policy_version = Some(policy.shared_version());
    let decision = policy.decide_session_request(caller, &s3.resources, &s3.encryption);
    event.rule = Some(match &decision.rule {
        Some(rule) => Arc::clone(rule),
        None => "no grant".into(),
    });
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
        let message = format!(
            "s3gate: {} may not s3:{action} on {resource}: {why} (request id {}).",
            event.identity().unwrap_or("?"),
            event.request_id
        );
        event.reason = format!("s3:{action} on {resource}: {why}").into();
        return Err(S3Error::new(S3ErrorCode::AccessDenied, message));
    }
    event.reason = match (&decision.reason, &decision.rule) {
        (crate::policy::Reason::Granted, Some(rule)) => Reason::Granted(Arc::clone(rule)),
        _ => format!("{}; within the session's scope", decision.why()).into(),
    };
    Ok(decision)
}

/// `GetBucketCors`, once authorized: the config's rules in S3's XML, or
/// S3's `NoSuchCORSConfiguration`.
fn bucket_cors(gateway: &Gateway, bucket: &str) -> Result<String, S3Error> {
    gateway.cors.to_xml(bucket).ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::NoSuchCORSConfiguration,
            "The CORS configuration does not exist",
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::policy::Scope;
    use crate::session::{Identity, SecretString};

    const ROLE: &str = "arn:aws:iam::123456789012:role/data";

    /// A session whose scope reaches only `s3://dev/*`.
    fn session() -> OpenedSession {
        let claims = Claims::unsealed(
            Identity::new("oidc", "alice-sub"),
            Scope::parse(&["read,write=s3://dev/*"]).expect("scope"),
        );
        OpenedSession::new(claims, SecretString::new("secret".into()))
    }

    /// A grant under [`ROLE`] with `conditions`, one that names no role,
    /// and a deny.
    fn policy(conditions: &str) -> Policy {
        let text = format!(
            "[[grant]]\nid = \"data\"\nprincipals = [\"*\"]\nactions = [\"read\", \"write\"]\n\
             resources = [\"s3://*\"]\nrole = \"{ROLE}\"\n{conditions}\n\
             [[grant]]\nid = \"plain\"\nprincipals = [\"*\"]\nactions = [\"read\"]\n\
             resources = [\"s3://dev/public/*\"]\n\
             [[deny]]\nid = \"locked\"\nprincipals = [\"*\"]\nactions = [\"write\"]\n\
             resources = [\"s3://dev/locked/*\"]\n"
        );
        Policy::parse(&text, "test.toml").expect("policy")
    }

    /// [`role_grants`] for a request of `session` from `client` (`None`
    /// for the session: nothing kept, worked out afresh).
    fn grants(
        policy: &Policy,
        claims: &Claims,
        session: Option<&OpenedSession>,
        client: &str,
        role: Option<&Arc<str>>,
    ) -> Arc<RoleGrants> {
        let caller = Caller {
            identity: &claims.identity,
            name: None,
            chain: &claims.chain,
            client: Some(client.parse().expect("address")),
            now: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        };
        let asker = Asker {
            caller: &caller,
            claims,
            session,
        };
        role_grants(policy, &asker, role)
    }

    #[test]
    fn role_grants_are_kept_per_session_policy_and_role_and_are_the_fresh_ones() {
        let policy = policy("");
        assert!(policy.grants_are_per_session());
        let s = session();
        let role: Arc<str> = ROLE.into();
        let kept = |p: &Policy, client: &str, role: Option<&Arc<str>>| {
            grants(p, &s.claims, Some(&s), client, role)
        };
        let fresh =
            |p: &Policy, role: Option<&Arc<str>>| grants(p, &s.claims, None, "10.1.1.1", role);

        let first = kept(&policy, "10.1.1.1", Some(&role));
        let wanted = fresh(&policy, Some(&role));
        assert_eq!(*first, *wanted);
        // Narrowed to the session's scope.
        assert_eq!(first.grants.len(), 1, "{:?}", first.grants);
        assert_eq!(first.grants[0].1, "s3://dev/*");
        assert_eq!(first.denies.len(), 1, "{:?}", first.denies);
        // Another request, from anywhere: the kept grants themselves.
        let again = kept(&policy, "192.0.2.1", Some(&role));
        assert!(Arc::ptr_eq(&first, &again));

        // The same file loaded again is another policy: worked out anew.
        let reloaded = self::policy("");
        let after = kept(&reloaded, "10.1.1.1", Some(&role));
        assert!(!Arc::ptr_eq(&after, &first));
        assert!(reloaded.is_version(&after.policy));
        assert_eq!(*after, *fresh(&reloaded, Some(&role)));

        // Another role: worked out for it (the plain grant only).
        let plain = kept(&reloaded, "10.1.1.1", None);
        assert!(!Arc::ptr_eq(&after, &plain));
        assert_eq!(*plain, *fresh(&reloaded, None));
        assert_ne!(plain.grants, first.grants);
    }

    #[test]
    fn role_grants_under_an_address_or_time_condition_are_worked_out_for_every_request() {
        let s = session();
        let role: Arc<str> = ROLE.into();
        for (conditions, inside, outside) in [
            (
                "conditions = { source_cidr = [\"10.0.0.0/8\"] }",
                "10.1.1.1",
                "192.0.2.1",
            ),
            (
                "conditions = { not_source_cidr = [\"10.0.0.0/8\"] }",
                "192.0.2.1",
                "10.1.1.1",
            ),
        ] {
            let policy = policy(conditions);
            assert!(!policy.grants_are_per_session(), "{conditions}");
            let from = |client: &str| grants(&policy, &s.claims, Some(&s), client, Some(&role));
            assert_eq!(from(inside).grants.len(), 1, "{conditions}");
            assert!(from(outside).grants.is_empty(), "{conditions}");
            assert_eq!(from(inside).grants.len(), 1, "{conditions}");
        }
        assert!(s.role_grants().is_none(), "nothing may be kept");
    }
}
