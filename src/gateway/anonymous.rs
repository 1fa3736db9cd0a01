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
//! Reads the query as [`crate::raw_query`] split it.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>
//! (response header overrides and anonymous requests).

use std::borrow::Cow;

use http::Method;
use http::request::Parts;

use super::Gateway;
use super::ctx::RequestCtx;
use crate::amz_header::X_AMZ_SECURITY_TOKEN;
use crate::policy::Scope;
use crate::principal::{ANONYMOUS, anonymous};
use crate::raw_query::RawQuery;
use crate::s3::{S3Error, S3ErrorCode};
use crate::session::Claims;

/// The query's parameter names as the store reads them: percent-decoded
/// (`response%2Dcontent-type` is `response-content-type` to S3), by
/// [`crate::s3::param_name`]. `None` for a name that does not decode
/// (classify refuses such a query first): the checks below count it as a
/// match, never as a pass.
fn param_names<'q>(query: &'q RawQuery<'_>) -> impl Iterator<Item = Option<Cow<'q, str>>> {
    query
        .pairs()
        .iter()
        .map(|pair| crate::s3::decoded_param_name(pair.name))
}

/// Whether `name` starts with `prefix` (lower case ASCII), in any case.
fn starts_with_any_case(name: &str, prefix: &str) -> bool {
    name.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Whether the request carries no credentials at all (`query` is
/// `parts.uri`'s, split).
pub fn is_unsigned(parts: &Parts, query: &RawQuery<'_>) -> bool {
    if parts.headers.contains_key(http::header::AUTHORIZATION)
        || parts.headers.contains_key(X_AMZ_SECURITY_TOKEN)
    {
        return false;
    }
    !param_names(query).any(|name| {
        name.is_none_or(|name| {
            starts_with_any_case(&name, "x-amz-")
                || name.eq_ignore_ascii_case("awsaccesskeyid")
                || name.eq_ignore_ascii_case("signature")
        })
    })
}

/// Whether the query names a `response-*` override (or a name that does
/// not decode, which counts as one).
fn has_response_overrides(query: &RawQuery<'_>) -> bool {
    param_names(query).any(|name| name.is_none_or(|name| starts_with_any_case(&name, "response-")))
}

/// The claims an unsigned request is decided with (identity `anonymous`,
/// no scope of its own, no quota), once it is a read without overrides and
/// `anonymous` is not on the revocation list (`s3gate revoke --identity
/// anonymous` shuts public access at once, on every instance).
pub fn claims(
    gateway: &Gateway,
    parts: &Parts,
    query: &RawQuery<'_>,
    ctx: &mut RequestCtx,
) -> Result<Claims, S3Error> {
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
    if has_response_overrides(query) {
        ctx.event.reason = "response-* overrides on an unsigned request".into();
        return Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "Request specific response headers cannot be used for anonymous GET requests.",
        ));
    }
    let claims = Claims::unsealed(identity, Scope::all());
    super::phases::refuse_revoked(gateway, &claims, ctx)?;
    Ok(claims)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    /// `param_names` as it was when it split the raw query itself: the
    /// oracle for both checks below.
    fn param_names_splitting(parts: &Parts) -> impl Iterator<Item = Option<Cow<'_, str>>> {
        parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .map(crate::s3::param_name)
    }

    fn is_unsigned_splitting(parts: &Parts) -> bool {
        if parts.headers.contains_key(http::header::AUTHORIZATION)
            || parts.headers.contains_key("x-amz-security-token")
        {
            return false;
        }
        !param_names_splitting(parts).any(|name| {
            name.is_none_or(|name| {
                starts_with_any_case(&name, "x-amz-")
                    || name.eq_ignore_ascii_case("awsaccesskeyid")
                    || name.eq_ignore_ascii_case("signature")
            })
        })
    }

    fn has_response_overrides_splitting(parts: &Parts) -> bool {
        param_names_splitting(parts)
            .any(|name| name.is_none_or(|name| starts_with_any_case(&name, "response-")))
    }

    proptest::proptest! {
        #[test]
        fn unsigned_and_override_checks_read_the_pairs_as_the_split_query(
            raw in crate::raw_query::arbitrary::query(),
            header in proptest::sample::select(vec![None, Some("authorization"), Some("x-amz-security-token")]),
        ) {
            let mut builder = http::Request::builder().uri(format!("/b/k?{raw}"));
            if let Some(name) = header {
                builder = builder.header(name, "x");
            }
            let Ok(req) = builder.body(()) else {
                // Not a URI http accepts: no request to compare.
                return Ok(());
            };
            let parts = req.into_parts().0;
            let query = RawQuery::of(&parts.uri);
            proptest::prop_assert_eq!(is_unsigned(&parts, &query), is_unsigned_splitting(&parts));
            proptest::prop_assert_eq!(
                has_response_overrides(&query),
                has_response_overrides_splitting(&parts)
            );
        }
    }
}
