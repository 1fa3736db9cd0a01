//! An S3 request's route through the phases ([`super::phases`]): a browser
//! form upload (`POST` Object) branches off to [`super::post`]; an unsigned
//! request is `anonymous` ([`super::anonymous`]); `PutBucketCors` and
//! `DeleteBucketCors` are refused (the config's `[[cors]]` is the source of
//! truth); everything else is authenticated, its body read, then decided
//! and forwarded. [`handle`] renders the outcome through
//! [`finish`](super::finish) and adds the bucket's CORS headers.

use crate::request_body::RequestBody;
use http::request::Parts;
use http::{Request, Response};

use super::Gateway;
use super::body::GatewayBody;
use super::ctx::RequestCtx;
use super::finish;
use super::phases::{
    Body, Forwarded, Outcome, authenticate, classify, client_address, decide_and_forward,
    read_body, refused,
};
use crate::raw_query::RawQuery;
use crate::s3::Operation;
use crate::sigv4::PayloadMode;
use crate::upstream::UpstreamBody;

pub async fn handle(
    gateway: &Gateway,
    req: Request<RequestBody>,
    mut ctx: RequestCtx,
) -> Response<GatewayBody> {
    let (parts, body) = req.into_parts();
    let outcome = run(gateway, &parts, body, &mut ctx).await;
    let cors = super::cors::answer(gateway, &parts, ctx.event.bucket.as_deref());
    let mut response = match outcome {
        Ok(Outcome::Forwarded(response, meter, held)) => {
            finish::s3_forwarded(ctx, response, meter, held)
        }
        Ok(Outcome::Answered(xml)) => finish::s3_answered(ctx, xml),
        Err(err) => finish::s3_error(ctx, err, &parts.method, parts.uri.path()),
    };
    super::cors::decorate(cors, response.headers_mut());
    response
}

async fn run(
    gateway: &Gateway,
    parts: &Parts,
    body: RequestBody,
    ctx: &mut RequestCtx,
) -> Forwarded {
    // The query split once, for every phase that reads it: they cannot
    // disagree about what it says, and none splits it again.
    let query = RawQuery::of(&parts.uri);
    let mut s3 = classify(gateway, parts, &query, ctx)?;
    if s3.operation == Operation::PostObject {
        // Boxed: the form's phases are a future of their own size.
        return Box::pin(super::post::run(gateway, parts, body, &s3, ctx)).await;
    }
    // An unsigned request is `anonymous` (read-only grants); anything with
    // a trace of a signature is authenticated, and refused if it fails.
    let signed = if super::anonymous::is_unsigned(parts, &query) {
        None
    } else {
        Some(authenticate(
            gateway,
            parts,
            &query,
            s3.bucket.as_deref(),
            ctx,
        )?)
    };
    let anonymous;
    let claims = match &signed {
        Some((session, _)) => &session.claims,
        None => {
            anonymous = super::anonymous::claims(gateway, parts, &query, ctx)?;
            &anonymous
        }
    };
    let verified = signed.as_ref().map(|(_, verified)| verified);
    if matches!(
        s3.operation,
        Operation::PutBucketCors | Operation::DeleteBucketCors
    ) {
        let err = super::cors::refuse_change(ctx.request_id());
        return Err(refused(ctx, "CORS rules come from the config", err));
    }
    let body = match verified {
        Some(verified) => read_body(parts, body, verified, &mut s3, &gateway.limits, ctx).await?,
        // GET or HEAD (`anonymous::claims`): nothing is sent upstream.
        None => Body {
            upstream: UpstreamBody::Empty,
            length: Some(0),
        },
    };
    let payload = verified.map_or(&PayloadMode::Unsigned, |v| &v.payload);
    let source = client_address(ctx)?;
    let session = signed.as_ref().map(|(session, _)| &**session);
    decide_and_forward(
        gateway, parts, &query, source, &s3, claims, session, payload, body, ctx,
    )
    .await
}
