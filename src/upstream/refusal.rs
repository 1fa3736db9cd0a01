//! A store's refusal of s3gate's *own* request: the store did not accept
//! the signature, key or clock s3gate used when re-signing. That is the
//! gateway's fault (or its configuration's), never the caller's, so the
//! caller gets a 502 under s3gate's request id and the store's words go to
//! the audit line only. The store's error document can carry its canonical
//! request, string to sign and the key id it saw: none of that is echoed.
//!
//! Every other response streams through untouched; only the start of a
//! 400/403 body (S3 often sends its errors chunked, without a length) is
//! read to look at its `<Code>`, and passed on as it was.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Method, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use quick_xml::Reader;
use quick_xml::events::Event;

use super::{PooledBody, UpstreamError};

/// An S3 error document is well under this; a larger 400/403 body is not
/// one and streams through unread.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Codes with which a store refuses the credentials or signature s3gate
/// sent: never something the caller can fix.
const GATEWAY_FAULT_CODES: [&str; 8] = [
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    // What s3s answers for an access key it does not know.
    "NotSignedUp",
    "RequestTimeTooSkewed",
    "InvalidToken",
    "ExpiredToken",
    "AuthorizationHeaderMalformed",
    "IncompleteSignature",
];

/// The longest piece of the store's message kept for the audit line.
const MAX_LOGGED_MESSAGE: usize = 256;

/// A store's response body: streamed, or the start of it already read
/// (an error document, whole or up to [`MAX_ERROR_BODY`]) and then the rest.
pub enum ResponseBody {
    Streaming(PooledBody),
    Prefixed {
        prefix: Option<Bytes>,
        rest: Option<PooledBody>,
    },
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Self::Streaming(b) => Pin::new(b).poll_frame(cx),
            Self::Prefixed { prefix, rest } => {
                if let Some(b) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                match rest {
                    Some(r) => Pin::new(r).poll_frame(cx),
                    None => Poll::Ready(None),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Streaming(b) => b.is_end_stream(),
            Self::Prefixed { prefix, rest } => {
                prefix.is_none() && rest.as_ref().is_none_or(Body::is_end_stream)
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Streaming(b) => b.size_hint(),
            Self::Prefixed { prefix, rest } => {
                let held = prefix.as_ref().map_or(0, |b| b.len() as u64);
                match rest {
                    None => SizeHint::with_exact(held),
                    Some(r) => {
                        let inner = r.size_hint();
                        let mut hint = SizeHint::new();
                        hint.set_lower(inner.lower().saturating_add(held));
                        if let Some(upper) = inner.upper() {
                            hint.set_upper(upper.saturating_add(held));
                        }
                        hint
                    }
                }
            }
        }
    }
}

/// Passes the store's response on, unless it is the store refusing
/// s3gate's own authentication.
pub(super) async fn screen(
    response: Response<PooledBody>,
    method: &Method,
    timeout: Duration,
) -> Result<Response<ResponseBody>, UpstreamError> {
    let status = response.status();
    let too_big = http_body::Body::size_hint(response.body()).lower() > MAX_ERROR_BODY as u64;
    // HEAD answers have no body to tell a signature error from a denial.
    if !matches!(status, StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN)
        || *method == Method::HEAD
        || too_big
    {
        return Ok(response.map(ResponseBody::Streaming));
    }
    let (parts, mut body) = response.into_parts();
    let (bytes, ended) = match tokio::time::timeout(timeout, read_prefix(&mut body)).await {
        Err(_) => return Err(UpstreamError::Timeout(timeout)),
        Ok(Err(e)) => return Err(UpstreamError::Transport(e.to_string())),
        Ok(Ok(read)) => read,
    };
    if let Some((code, message)) = error_code_and_message(&bytes)
        && GATEWAY_FAULT_CODES.contains(&code.as_str())
    {
        let request_id = parts
            .headers
            .get(crate::amz_header::X_AMZ_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        return Err(UpstreamError::StoreRefusedGateway {
            status: status.as_u16(),
            code,
            message,
            request_id,
        });
    }
    let body = ResponseBody::Prefixed {
        prefix: Some(bytes),
        rest: (!ended).then_some(body),
    };
    Ok(Response::from_parts(parts, body))
}

/// Reads the body until it ends or [`MAX_ERROR_BODY`] bytes are in hand;
/// says whether it ended.
async fn read_prefix(body: &mut PooledBody) -> Result<(Bytes, bool), std::io::Error> {
    let mut prefix = BytesMut::new();
    while prefix.len() < MAX_ERROR_BODY {
        match body.frame().await {
            None => return Ok((prefix.freeze(), true)),
            Some(frame) => {
                if let Ok(data) = frame?.into_data() {
                    prefix.extend_from_slice(&data);
                }
            }
        }
    }
    Ok((prefix.freeze(), false))
}

/// `<Error><Code>…</Code><Message>…</Message>…` → (code, message), the
/// message cut short for the log. Nothing else of the document is kept.
pub fn error_code_and_message(xml: &[u8]) -> Option<(String, String)> {
    let mut reader = Reader::from_reader(xml);
    let (mut code, mut message) = (None, None);
    let mut path: Vec<Vec<u8>> = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => path.push(e.name().as_ref().to_vec()),
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(Event::Text(t)) if path.len() == 2 && path[0] == b"Error" => {
                let text = t.unescape().ok()?.into_owned();
                match path[1].as_slice() {
                    b"Code" => code = Some(text),
                    b"Message" => {
                        message = Some(text.chars().take(MAX_LOGGED_MESSAGE).collect());
                    }
                    _ => {}
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    Some((code?, message.unwrap_or_default()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    #[test]
    fn code_and_message_are_read_and_nothing_else() {
        let xml = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>\
            <Message>The request signature we calculated does not match</Message>\
            <AWSAccessKeyId>AKIDSTORE</AWSAccessKeyId><CanonicalRequest>PUT\n/b/k</CanonicalRequest></Error>";
        let (code, message) = error_code_and_message(xml).unwrap();
        assert_eq!(code, "SignatureDoesNotMatch");
        assert_eq!(
            message,
            "The request signature we calculated does not match"
        );
        assert!(error_code_and_message(b"not xml").is_none());
        assert!(error_code_and_message(b"<Other><Code>X</Code></Other>").is_none());
    }
}
