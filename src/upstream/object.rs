//! s3gate's own small objects on a store — the revocation list: a GET
//! conditional on the ETag last seen, and a PUT conditional on the ETag
//! read (or on the object's absence), for read-modify-write.
//!
//! These run on s3gate's own behalf, so they are signed with the upstream's
//! own credentials (static keys or the AWS chain), never a caller's role
//! session, through the same signing and pooled client as forwarded
//! requests. Bodies are small and read whole, up to a cap.
//!
//! Depends on the parent module's [`Upstream`] and on `s3` (the request
//! it builds is classified like a caller's, so it is addressed and signed
//! the same way). Does I/O: the network.

use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use percent_encoding::utf8_percent_encode;
use sha2::{Digest, Sha256};

use super::{PATH_ENCODE, PooledBody, Upstream, UpstreamBody, UpstreamError};
use crate::sigv4::PayloadMode;

/// Enough of an error answer to find its `<Code>`.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// What a GET found.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The ETag is still the one asked about (a 304, or the same ETag from
    /// a store that ignores `If-None-Match`).
    Unchanged,
    /// No such key.
    Missing,
    Found {
        body: Bytes,
        etag: Option<String>,
    },
}

/// When a PUT may replace the object.
#[derive(Debug, Clone, Copy)]
pub enum Condition<'a> {
    /// Only if the object still has this ETag (`If-Match`).
    IfMatch(&'a str),
    /// Only if there is no object yet (`If-None-Match: *`).
    IfAbsent,
    /// Whatever is there.
    Always,
}

/// What a conditional PUT did.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    Written,
    /// The condition failed (412), the store saw a concurrent write (409),
    /// or the object vanished under `If-Match` (404): read again and retry.
    Conflict,
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("the store answered {status} {code}")]
    Status { status: u16, code: String },
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    #[error("cannot read the store's answer: {0}")]
    Body(String),
}

impl Upstream {
    /// GETs `s3://bucket/key`, at most `max_bytes` of it. With
    /// `if_none_match`, an object still carrying that ETag is
    /// [`Fetched::Unchanged`] and, on S3, costs no body.
    pub async fn get_own_object(
        &self,
        bucket: &str,
        key: &str,
        if_none_match: Option<&str>,
        max_bytes: u64,
        now: SystemTime,
    ) -> Result<Fetched, ObjectError> {
        let mut headers = HeaderMap::new();
        if let Some(etag) = if_none_match {
            headers.insert(header::IF_NONE_MATCH, header_value(etag)?);
        }
        let response = self
            .own_request(Method::GET, bucket, key, headers, Bytes::new(), now)
            .await?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::Unchanged);
        }
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let limit = if status.is_success() {
            max_bytes
        } else {
            MAX_ERROR_BODY
        };
        let body = self.read_body(response, limit).await?;
        if status.is_success() {
            if etag.is_some() && etag.as_deref() == if_none_match {
                return Ok(Fetched::Unchanged);
            }
            return Ok(Fetched::Found { body, etag });
        }
        let code = error_code(&body);
        if status == StatusCode::NOT_FOUND && code == "NoSuchKey" {
            return Ok(Fetched::Missing);
        }
        Err(ObjectError::Status {
            status: status.as_u16(),
            code,
        })
    }

    /// PUTs `body` as `s3://bucket/key` if `condition` holds.
    pub async fn put_own_object(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        condition: Condition<'_>,
        now: SystemTime,
    ) -> Result<Stored, ObjectError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        match condition {
            Condition::IfMatch(etag) => {
                headers.insert(header::IF_MATCH, header_value(etag)?);
            }
            Condition::IfAbsent => {
                headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
            }
            Condition::Always => {}
        }
        let response = self
            .own_request(Method::PUT, bucket, key, headers, body, now)
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(Stored::Written);
        }
        let code = error_code(&self.read_body(response, MAX_ERROR_BODY).await?);
        let vanished = status == StatusCode::NOT_FOUND
            && code == "NoSuchKey"
            && matches!(condition, Condition::IfMatch(_));
        if status == StatusCode::PRECONDITION_FAILED || status == StatusCode::CONFLICT || vanished {
            return Ok(Stored::Conflict);
        }
        Err(ObjectError::Status {
            status: status.as_u16(),
            code,
        })
    }

    /// Signs a request for `s3://bucket/key` with the upstream's own
    /// credentials and sends it.
    async fn own_request(
        &self,
        method: Method,
        bucket: &str,
        key: &str,
        headers: HeaderMap,
        body: Bytes,
        now: SystemTime,
    ) -> Result<Response<PooledBody>, UpstreamError> {
        let sign_error = |e: &dyn std::fmt::Display| UpstreamError::Sign(e.to_string());
        let path = format!("/{bucket}/{}", utf8_percent_encode(key, PATH_ENCODE));
        let uri: Uri = path.parse().map_err(|e| sign_error(&e))?;
        // Path-style as written here; `sign_head` readdresses it for the
        // store's own addressing style.
        let s3 = crate::s3::classify(&method, &uri, &headers, &[]).map_err(|e| sign_error(&e))?;
        let (mut parts, ()) = Request::builder()
            .method(method.clone())
            .uri(uri)
            .body(())
            .map_err(|e| sign_error(&e))?
            .into_parts();
        parts.headers = headers;
        let identity = self.base.identity(now).await?;
        let payload = PayloadMode::Sha256(Sha256::digest(&body).into());
        let body_length = (method == Method::PUT).then_some(body.len() as u64);
        let (uri, headers) = self.sign_head(&parts, &s3, &payload, body_length, &identity, now)?;
        let body = if body.is_empty() {
            UpstreamBody::Empty
        } else {
            UpstreamBody::Bytes(Some(body))
        };
        self.send(method, uri, headers, body).await
    }

    /// The whole body, if at most `limit` bytes, within the response timeout.
    async fn read_body(
        &self,
        response: Response<PooledBody>,
        limit: u64,
    ) -> Result<Bytes, ObjectError> {
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(ObjectError::TooLarge(limit));
        }
        let limited = Limited::new(
            response.into_body(),
            usize::try_from(limit).unwrap_or(usize::MAX),
        );
        match tokio::time::timeout(self.response_timeout, limited.collect()).await {
            Err(_) => Err(UpstreamError::Timeout(self.response_timeout).into()),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                Err(ObjectError::TooLarge(limit))
            }
            Ok(Err(e)) => Err(ObjectError::Body(e.to_string())),
        }
    }
}

fn header_value(text: &str) -> Result<HeaderValue, ObjectError> {
    HeaderValue::from_str(text).map_err(|e| UpstreamError::Sign(e.to_string()).into())
}

/// The `<Code>` of an S3 error body, or `-` when it has none.
fn error_code(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map_or_else(|| "-".to_owned(), |(code, _)| code.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_code_is_read_from_the_xml_or_is_a_dash() {
        let xml =
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>x</Message></Error>";
        assert_eq!(error_code(xml), "NoSuchKey");
        assert_eq!(error_code(b""), "-");
        assert_eq!(error_code(b"<Code>unterminated"), "-");
    }
}
