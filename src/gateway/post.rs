//! POST Object: a browser form upload (`POST /bucket`, multipart/form-data)
//! carried out as the ordinary `PutObject` it stands for.
//!
//! The phases, over the same [`RequestCtx`] as every S3 request:
//! 1. read the form's head: the fields before the file, capped at S3's
//!    20 KiB (`s3::HeadReader`, resumed as the body arrives);
//! 2. authenticate: the form's SigV4 fields name a session (its token in
//!    `x-amz-security-token`); the `policy` field's signature is checked
//!    with the session's key, then the revocation list;
//! 3. hold the form to its policy (`s3::PostPolicy`): expiry (at most 7
//!    days past its signing, as a presigned URL), every
//!    condition, every field covered, `content-length-range` on the file's
//!    length (known from `Content-Length` before a byte is sent);
//! 4. classify the `PutObject` the form stands for (the final key after
//!    `${filename}`, the fields as its headers) and authorize it with the
//!    policy file and the session's scope, implied actions included, like
//!    any PutObject;
//! 5. admit and forward it, the file part streamed as its body
//!    (`s3::FileBody`): a form that breaks its length mid-stream cuts the
//!    upstream request short, so the store stores nothing;
//! 6. answer as S3 answers a form: 204, 200, 201 with `PostResponse`, or
//!    the 303 to `success_action_redirect`.
//!
//! The store never sees the form. The audit line is the request's one line
//! (operation `PostObject`, the final key, allowed or denied and why).

use std::sync::{Arc, Mutex};

use crate::request_body::RequestBody;
use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;

use super::Gateway;
use super::ctx::RequestCtx;
use super::phases::{
    Body, Forwarded, Outcome, check_scope, client_address, decide_and_forward, open_session,
    refuse_revoked, refused,
};
use crate::s3::{
    Addressing, FileBody, FormAnswer, FormError, FormHead, Operation, PostPolicy, S3Error,
    S3ErrorCode, S3Request, Submitted,
};
use crate::sigv4::{PayloadMode, PostSignature, SigV4Error};
use crate::upstream::{ResponseBody, UpstreamBody};

/// Runs a form upload `classify` named [`Operation::PostObject`].
pub(super) async fn run(
    gateway: &Gateway,
    parts: &Parts,
    body: RequestBody,
    posted: &S3Request,
    ctx: &mut RequestCtx,
) -> Forwarded {
    let bucket = posted.bucket.clone().unwrap_or_default();
    let form_error = |ctx: &mut RequestCtx, e: FormError| {
        let err = e.to_s3_error();
        refused(ctx, e, err)
    };
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = crate::s3::boundary(content_type).map_err(|e| form_error(ctx, e))?;
    // The file's length comes from the request's: without one, no PUT.
    let Some(total) = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return Err(refused(
            ctx,
            "form upload without Content-Length",
            S3Error::new(
                S3ErrorCode::MissingContentLength,
                "You must provide the Content-Length HTTP header.",
            ),
        ));
    };
    // The fields before the file are small (capped), so a form whose head
    // does not arrive within one body window is stalled, as a PUT's body is.
    let window = gateway.limits.body_rate_window;
    let (head, read, rest) = match tokio::time::timeout(window, read_head(body, &boundary)).await {
        Ok(head) => head.map_err(|e| form_error(ctx, e))?,
        Err(_) => {
            let stalled = SigV4Error::BodyStalled {
                window_secs: window.as_secs(),
            };
            let err = stalled.to_s3_error();
            return Err(refused(ctx, stalled, err));
        }
    };
    let form = authenticate(gateway, &head, &bucket, ctx)?;
    let claims = &form.session.claims;

    // The policy, over the fields as they will be used.
    let policy = PostPolicy::parse(&form.policy).map_err(|e| {
        let err = e.to_s3_error();
        refused(ctx, &e, err)
    })?;
    form.signature
        .check_lifetime(policy.expiration, ctx.now)
        .map_err(|e| {
            ctx.event.rule = Some("form policy".into());
            let err = e.to_s3_error();
            refused(ctx, &e, err)
        })?;
    let fields: Vec<(String, String)> = head
        .fields
        .iter()
        .map(|(name, value)| {
            let value = match name.as_str() {
                "policy" | "x-amz-signature" => value.clone(),
                _ => crate::s3::substitute_filename(value, head.filename.as_deref()),
            };
            (name.clone(), value)
        })
        .collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(key) = field("key").map(str::to_owned) else {
        return Err(refused(
            ctx,
            "form without a key field",
            S3Error::new(
                S3ErrorCode::InvalidArgument,
                "Bucket POST must contain a field named 'key'.",
            ),
        ));
    };
    ctx.event.key = Some(Arc::from(key.as_str()));
    let file_length = crate::s3::file_length(total, head.file_offset, &boundary)
        .ok_or_else(|| form_error(ctx, FormError::FileLength))?;
    ctx.event.bytes_in = file_length;
    policy
        .check(
            &Submitted {
                fields: &fields,
                bucket: &bucket,
                file_length,
            },
            ctx.now,
        )
        .map_err(|e| {
            if e.to_s3_error().code == S3ErrorCode::AccessDenied {
                ctx.event.rule = Some("form policy".into());
            }
            let err = e.to_s3_error();
            refused(ctx, &e, err)
        })?;

    // The PutObject the form stands for, classified like any other.
    let put = put_request(parts, posted, &bucket, &key, &fields, file_length)?;
    let s3 = crate::s3::classify(
        &put.method,
        &put.uri,
        &put.headers,
        &gateway.virtual_host_domains,
    )?;
    crate::s3::check_request_shape(s3.operation, &put.headers)?;
    if s3.operation != Operation::PutObject {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "A form upload can only store its file: its fields make it another operation.",
        ));
    }
    ctx.event.key = s3.key.clone();

    // The file part, streamed; a failure mid-stream is kept here so the
    // caller hears what it was, not just that the upstream was cut.
    // The form's x-amz-checksum-* fields are checked here as the file
    // streams, as a PUT's headers are: a mismatch stores nothing.
    let checks = crate::sigv4::BodyChecks::from_headers(&put.headers, true).map_err(|e| {
        let err = e.to_s3_error();
        refused(ctx, e, err)
    })?;
    let failure: Arc<Mutex<Option<FormError>>> = Arc::default();
    let slot = Arc::clone(&failure);
    let file = FileBody::new(rest, &read[head.file_offset..], &boundary, file_length);
    let file = if checks.is_empty() {
        file
    } else {
        file.checked(Box::new(checks))
    };
    let file = file.map_err(move |e: FormError| {
        let message = e.to_string();
        if let Ok(mut slot) = slot.lock() {
            *slot = Some(e);
        }
        SigV4Error::Body(message)
    });
    let body = Body {
        // Cut when it stops coming, as a PUT's body is (400 RequestTimeout).
        upstream: UpstreamBody::Stream(
            crate::upstream::min_rate::MinRate::new(
                file.boxed_unsync(),
                gateway.limits.body_rate_window,
                gateway.limits.body_min_rate,
            )
            .boxed_unsync(),
        ),
        length: Some(file_length),
    };
    // Judged by where the form came from: `put` is rebuilt here and
    // carries none of the proxies' forwarding headers.
    let source = client_address(ctx)?;
    let query = crate::raw_query::RawQuery::of(&put.uri);
    let outcome = decide_and_forward(
        gateway,
        &put,
        &query,
        source,
        &s3,
        claims,
        Some(&form.session),
        &PayloadMode::Unsigned,
        body,
        ctx,
    )
    .await;
    let (stored, meter, held) = match outcome {
        Ok(Outcome::Forwarded(stored, meter, held)) => (stored, meter, held),
        // A PutObject is never answered by s3gate itself.
        Ok(answered @ Outcome::Answered(_)) => return Ok(answered),
        Err(err) => {
            let cause = failure.lock().ok().and_then(|mut f| f.take());
            return Err(match cause {
                Some(e) => {
                    ctx.event.reason = e.to_string().into();
                    e.to_s3_error()
                }
                None => err,
            });
        }
    };
    if !stored.status().is_success() {
        // The store's refusal, as it said it.
        return Ok(Outcome::Forwarded(stored, meter, held));
    }
    Ok(Outcome::Forwarded(
        answer(gateway, parts, &s3, &fields, &stored),
        meter,
        held,
    ))
}

/// The head of the form and what was read with it, and the rest of the
/// body.
async fn read_head(
    mut body: RequestBody,
    boundary: &str,
) -> Result<(FormHead, Bytes, RequestBody), FormError> {
    let mut read = BytesMut::new();
    let mut reader = crate::s3::HeadReader::new(boundary);
    loop {
        if let Some(head) = reader.read(&read)? {
            return Ok((head, read.freeze(), body));
        }
        match body.frame().await {
            None => {
                return Err(FormError::Malformed("the form ends before its file"));
            }
            Some(Err(e)) => return Err(FormError::Body(e.to_string())),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    read.extend_from_slice(&data);
                }
            }
        }
    }
}

/// A form whose signature holds: its session and its policy field.
struct Authenticated {
    session: Arc<crate::session::OpenedSession>,
    policy: String,
    signature: PostSignature,
}

/// The form's signature against the session it names, then the
/// revocation list. s3gate serves no anonymous uploads: a form without a
/// policy and signature is refused.
fn authenticate(
    gateway: &Gateway,
    head: &FormHead,
    bucket: &str,
    ctx: &mut RequestCtx,
) -> Result<Authenticated, S3Error> {
    let field = |name: &str| {
        head.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(policy) = field("policy") else {
        return Err(refused(
            ctx,
            "form upload without a policy (anonymous)",
            S3Error::new(
                S3ErrorCode::AccessDenied,
                "s3gate refuses anonymous form uploads: sign the form with a POST policy.",
            ),
        ));
    };
    ctx.event.auth = Some("post-policy");
    let sig = PostSignature::parse(field).map_err(|e| {
        let err = e.to_s3_error();
        refused(ctx, &e, err)
    })?;
    ctx.event.who.access_key_id = Some(sig.access_key_id.clone());
    check_scope(gateway, &sig.credential, false, Some(bucket), ctx)?;
    let session = open_session(
        gateway,
        &sig.access_key_id,
        field("x-amz-security-token"),
        ctx,
    )?;
    sig.verify(
        session.secret.expose().as_bytes(),
        session.signing_keys(),
        policy,
    )
    .map_err(|e| {
        let err = e.to_s3_error();
        refused(ctx, &e, err)
    })?;
    refuse_revoked(gateway, &session.claims, ctx)?;
    Ok(Authenticated {
        session,
        policy: policy.to_owned(),
        signature: sig,
    })
}

/// The head of the `PutObject` a form stands for: addressed as the form
/// was (so classify reads the same bucket), the final key, the fields'
/// headers and the file's length.
fn put_request(
    parts: &Parts,
    posted: &S3Request,
    bucket: &str,
    key: &str,
    fields: &[(String, String)],
    file_length: u64,
) -> Result<Parts, S3Error> {
    let encoded = crate::s3::encode_key(key);
    let path = match posted.addressing {
        Addressing::Path => format!("/{bucket}/{encoded}"),
        Addressing::VirtualHost => format!("/{encoded}"),
    };
    let uri: Uri = path
        .parse()
        .map_err(|_| S3Error::new(S3ErrorCode::InvalidURI, "Couldn't parse the specified key."))?;
    let mut headers = crate::s3::upload_headers(fields)?;
    // The host the form was posted to (HTTP/2 names it in `:authority`), so
    // classify reads a virtual-hosted bucket as it did for the form.
    let host = parts.headers.get(http::header::HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    if let Some(host) = host {
        headers.insert(http::header::HOST, host);
    }
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(file_length));
    let (mut put, ()) = Request::new(()).into_parts();
    put.method = Method::PUT;
    put.uri = uri;
    put.headers = headers;
    Ok(put)
}

/// What S3 answers a stored form: the redirect, or 200/201/204, with the
/// object's ETag and URL.
fn answer(
    gateway: &Gateway,
    parts: &Parts,
    s3: &S3Request,
    fields: &[(String, String)],
    stored: &Response<ResponseBody>,
) -> Response<ResponseBody> {
    let bucket = s3.bucket.as_deref().unwrap_or("");
    let key = s3.key.as_deref().unwrap_or("");
    let etag = stored
        .headers()
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str))
        .unwrap_or("localhost");
    let scheme = if gateway.tls { "https" } else { "http" };
    let encoded = crate::s3::encode_key(key);
    let location = match s3.addressing {
        Addressing::Path => format!("{scheme}://{host}/{bucket}/{encoded}"),
        Addressing::VirtualHost => format!("{scheme}://{host}/{encoded}"),
    };
    let (status, body, redirect) = match FormAnswer::choose(fields, bucket, key, &etag) {
        FormAnswer::Redirect(url) => (StatusCode::SEE_OTHER, Bytes::new(), Some(url)),
        FormAnswer::Empty(status) => (status, Bytes::new(), None),
        FormAnswer::Created => (
            StatusCode::CREATED,
            Bytes::from(crate::s3::post_response_xml(&location, bucket, key, &etag)),
            None,
        ),
    };
    let mut response = Response::new(ResponseBody::Prefixed {
        prefix: Some(body),
        rest: None,
    });
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let mut set = |name: http::header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set(http::header::ETAG, &etag);
    set(
        http::header::LOCATION,
        redirect.as_deref().unwrap_or(&location),
    );
    if status == StatusCode::CREATED {
        set(http::header::CONTENT_TYPE, "application/xml");
    }
    // What the store says of the object, passed on as S3 sends it.
    for name in [
        "x-amz-version-id",
        "x-amz-server-side-encryption",
        "x-amz-request-id",
    ] {
        if let Some(v) = stored.headers().get(name) {
            response.headers_mut().insert(name, v.clone());
        }
    }
    response
}
