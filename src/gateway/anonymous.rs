//! Unsigned requests: which ones count as `anonymous`, and what they are
//! held to before the policy decides them like any other request (a grant
//! to the `anonymous` principal, read actions only: `policy::anonymous`).
//!
//! A request is anonymous only when it carries no trace of a signature: no
//! `Authorization` header, no `X-Amz-Security-Token` header, and no
//! `X-Amz-*` (any case, percent-encoded or not) or SigV2 query parameter. A request with a bad or
//! half signature is authenticated (and refused) as before, never served as
//! anonymous. Anonymous requests are `GET` or `HEAD`, and may not use the
//! `response-*` overrides (S3's rule: a public object cannot be relabelled,
//! say as `text/html`, by whoever builds the link).
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>
//! (response header overrides and anonymous requests).

use std::borrow::Cow;

use http::Method;
use http::request::Parts;

use super::Gateway;
use super::ctx::RequestCtx;
use crate::policy::Scope;
use crate::principal::{ANONYMOUS, anonymous};
use crate::s3::{S3Error, S3ErrorCode};
use crate::session::{Claims, Quota};

/// The query's parameter names as the store reads them: percent-decoded
/// (`response%2Dcontent-type` is `response-content-type` to S3), by
/// [`crate::s3::param_name`]. `None` for a name that does not decode
/// (classify refuses such a query first): the checks below count it as a
/// match, never as a pass.
fn param_names(parts: &Parts) -> impl Iterator<Item = Option<Cow<'_, str>>> {
    parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .map(crate::s3::param_name)
}

/// Whether `name` starts with `prefix` (lower case ASCII), in any case.
fn starts_with_any_case(name: &str, prefix: &str) -> bool {
    name.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Whether the request carries no credentials at all.
pub fn is_unsigned(parts: &Parts) -> bool {
    if parts.headers.contains_key(http::header::AUTHORIZATION)
        || parts.headers.contains_key("x-amz-security-token")
    {
        return false;
    }
    !param_names(parts).any(|name| {
        name.is_none_or(|name| {
            starts_with_any_case(&name, "x-amz-")
                || name.eq_ignore_ascii_case("awsaccesskeyid")
                || name.eq_ignore_ascii_case("signature")
        })
    })
}

/// The claims an unsigned request is decided with (identity `anonymous`,
/// no scope of its own, no quota), once it is a read without overrides and
/// `anonymous` is not on the revocation list (`s3gate revoke --identity
/// anonymous` shuts public access at once, on every instance).
pub fn claims(gateway: &Gateway, parts: &Parts, ctx: &mut RequestCtx) -> Result<Claims, S3Error> {
    let identity = anonymous();
    ctx.event.auth = Some(ANONYMOUS);
    ctx.event.set_identity(&identity);
    if !matches!(parts.method, Method::GET | Method::HEAD) {
        ctx.event.reason = format!("unsigned {} request", parts.method).into();
        return Err(S3Error::new(
            S3ErrorCode::AccessDenied,
            format!(
                "s3gate: an unsigned request may only read public data (GET or HEAD); sign \
                 {} requests with s3gate session credentials (request id {}).",
                parts.method,
                ctx.request_id()
            ),
        ));
    }
    let overrides = param_names(parts)
        .any(|name| name.is_none_or(|name| starts_with_any_case(&name, "response-")));
    if overrides {
        ctx.event.reason = "response-* overrides on an unsigned request".into();
        return Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "Request specific response headers cannot be used for anonymous GET requests.",
        ));
    }
    let claims = Claims {
        session_id: String::new(),
        access_key_id: String::new(),
        identity,
        scope: Scope::all(),
        issued_at: 0,
        expires_at: u64::MAX,
        chain: Vec::new(),
        parent_scopes: Vec::new(),
        parent_sessions: Vec::new(),
        quota: Quota::default(),
        parent_quotas: Vec::new(),
    };
    super::phases::refuse_revoked(gateway, &claims, ctx)?;
    Ok(claims)
}
