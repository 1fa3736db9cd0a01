//! A store's refusal of s3gate's *own* request: the store did not accept
//! the signature, key or clock s3gate used when re-signing. That is the
//! gateway's fault (or its configuration's), never the caller's, so the
//! caller gets a 502 under s3gate's request id and the store's words go to
//! the audit line only. The store's error document can carry its canonical
//! request, string to sign and the key id it saw: none of that is echoed.
//!
//! Every other response streams through untouched; only a 400/403 with a
//! small body is read whole to look at its `<Code>`.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use quick_xml::Reader;
use quick_xml::events::Event;

use super::UpstreamError;

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

/// A store's response body: streamed, or an error document already read.
pub enum ResponseBody {
    Streaming(Incoming),
    Buffered(Option<Bytes>),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Self::Streaming(b) => Pin::new(b).poll_frame(cx),
            Self::Buffered(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Streaming(b) => b.is_end_stream(),
            Self::Buffered(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Streaming(b) => b.size_hint(),
            Self::Buffered(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

/// Passes the store's response on, unless it is the store refusing
/// s3gate's own authentication.
pub(super) async fn screen(
    response: Response<Incoming>,
    method: &Method,
    timeout: Duration,
) -> Result<Response<ResponseBody>, UpstreamError> {
    let status = response.status();
    let small = http_body::Body::size_hint(response.body())
        .upper()
        .is_some_and(|n| n <= MAX_ERROR_BODY as u64);
    // HEAD answers have no body to tell a signature error from a denial.
    if !matches!(status, StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN)
        || *method == Method::HEAD
        || !small
    {
        return Ok(response.map(ResponseBody::Streaming));
    }
    let (parts, body) = response.into_parts();
    let bytes =
        match tokio::time::timeout(timeout, Limited::new(body, MAX_ERROR_BODY).collect()).await {
            Err(_) => return Err(UpstreamError::Timeout(timeout)),
            Ok(Err(e)) => return Err(UpstreamError::Transport(e.to_string())),
            Ok(Ok(collected)) => collected.to_bytes(),
        };
    if let Some((code, message)) = error_code_and_message(&bytes)
        && GATEWAY_FAULT_CODES.contains(&code.as_str())
    {
        let request_id = parts
            .headers
            .get("x-amz-request-id")
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
    Ok(Response::from_parts(
        parts,
        ResponseBody::Buffered(Some(bytes)),
    ))
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
