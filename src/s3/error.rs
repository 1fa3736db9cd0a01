//! The one S3 error type: a code, a message for the caller, and the resource
//! it concerns. Rendered once, at the edge, in S3's XML error shape.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

use crate::xml::Doc;

/// S3 error codes s3gate answers with, spelled as AWS spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3ErrorCode {
    AccessDenied,
    /// A CORS preflight no rule allows (S3's code for it).
    AccessForbidden,
    BadRequest,
    NoSuchCORSConfiguration,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    BadDigest,
    EntityTooLarge,
    EntityTooSmall,
    ExpiredToken,
    IncompleteBody,
    InternalError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidBucketName,
    InvalidDigest,
    InvalidPolicyDocument,
    InvalidRequest,
    InvalidToken,
    InvalidURI,
    KeyTooLongError,
    MalformedPOSTRequest,
    MalformedXML,
    MaxPostPreDataLengthExceededError,
    MetadataTooLarge,
    MethodNotAllowed,
    MissingContentLength,
    MissingSecurityHeader,
    NoSuchBucket,
    NotImplemented,
    PreconditionFailed,
    RequestHeaderSectionTooLarge,
    RequestTimeTooSkewed,
    RequestTimeout,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    SlowDown,
    XAmzContentSHA256Mismatch,
    BadGateway,
}

impl S3ErrorCode {
    /// The code as it appears in `<Code>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessDenied => "AccessDenied",
            Self::AccessForbidden => "AccessForbidden",
            Self::BadRequest => "BadRequest",
            Self::NoSuchCORSConfiguration => "NoSuchCORSConfiguration",
            Self::AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            Self::AuthorizationQueryParametersError => "AuthorizationQueryParametersError",
            Self::BadDigest => "BadDigest",
            Self::EntityTooLarge => "EntityTooLarge",
            Self::EntityTooSmall => "EntityTooSmall",
            Self::ExpiredToken => "ExpiredToken",
            Self::IncompleteBody => "IncompleteBody",
            Self::InternalError => "InternalError",
            Self::InvalidAccessKeyId => "InvalidAccessKeyId",
            Self::InvalidArgument => "InvalidArgument",
            Self::InvalidBucketName => "InvalidBucketName",
            Self::InvalidDigest => "InvalidDigest",
            Self::InvalidPolicyDocument => "InvalidPolicyDocument",
            Self::InvalidRequest => "InvalidRequest",
            Self::InvalidToken => "InvalidToken",
            Self::InvalidURI => "InvalidURI",
            Self::KeyTooLongError => "KeyTooLongError",
            Self::MalformedPOSTRequest => "MalformedPOSTRequest",
            Self::MalformedXML => "MalformedXML",
            Self::MaxPostPreDataLengthExceededError => "MaxPostPreDataLengthExceededError",
            Self::MetadataTooLarge => "MetadataTooLarge",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::MissingContentLength => "MissingContentLength",
            Self::MissingSecurityHeader => "MissingSecurityHeader",
            Self::NoSuchBucket => "NoSuchBucket",
            Self::NotImplemented => "NotImplemented",
            Self::PreconditionFailed => "PreconditionFailed",
            Self::RequestHeaderSectionTooLarge => "RequestHeaderSectionTooLarge",
            Self::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            Self::RequestTimeout => "RequestTimeout",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::SlowDown => "SlowDown",
            Self::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            // Not an AWS code: S3 itself never proxies. Used when the
            // upstream store cannot be reached, so operators can tell the
            // two apart in audit lines.
            Self::BadGateway => "BadGateway",
        }
    }

    /// The HTTP status S3 uses for this code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::AccessDenied
            | Self::AccessForbidden
            | Self::InvalidAccessKeyId
            | Self::RequestTimeTooSkewed
            | Self::SignatureDoesNotMatch => StatusCode::FORBIDDEN,
            Self::AuthorizationHeaderMalformed
            | Self::AuthorizationQueryParametersError
            | Self::BadRequest
            | Self::BadDigest
            | Self::EntityTooLarge
            | Self::EntityTooSmall
            | Self::ExpiredToken
            | Self::IncompleteBody
            | Self::InvalidArgument
            | Self::InvalidBucketName
            | Self::InvalidDigest
            | Self::InvalidPolicyDocument
            | Self::InvalidRequest
            | Self::InvalidToken
            | Self::InvalidURI
            | Self::KeyTooLongError
            | Self::MalformedPOSTRequest
            | Self::MalformedXML
            | Self::MaxPostPreDataLengthExceededError
            | Self::MetadataTooLarge
            | Self::RequestHeaderSectionTooLarge
            | Self::RequestTimeout
            | Self::MissingSecurityHeader
            | Self::XAmzContentSHA256Mismatch => StatusCode::BAD_REQUEST,
            Self::MissingContentLength => StatusCode::LENGTH_REQUIRED,
            Self::NoSuchCORSConfiguration => StatusCode::NOT_FOUND,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NoSuchBucket => StatusCode::NOT_FOUND,
            Self::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::ServiceUnavailable | Self::SlowDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl fmt::Display for S3ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answered to an S3 caller.
///
/// The message is shown to the caller, so it must never carry a secret, a
/// token or a signature. Anything only operators should see goes to the
/// audit line's `reason`, set by the stage that failed.
#[derive(Debug, Clone)]
pub struct S3Error {
    pub code: S3ErrorCode,
    pub message: Cow<'static, str>,
    /// The `<Resource>` element: the path the caller asked for, when known.
    pub resource: Option<String>,
    /// Sent as `Retry-After` (whole seconds) with a 503.
    pub retry_after: Option<std::time::Duration>,
    /// The `<Region>` element of AuthorizationHeaderMalformed: the region
    /// to sign for instead (SDKs read it and retry there).
    pub region: Option<String>,
    /// Where S3 answers a code with another status than its usual one
    /// (an out-of-range `X-Amz-Expires` is 403, not 400).
    pub status_override: Option<StatusCode>,
}

impl S3Error {
    pub fn new(code: S3ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            resource: None,
            retry_after: None,
            region: None,
            status_override: None,
        }
    }

    #[must_use]
    pub fn with_retry_after(mut self, after: std::time::Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status_override = Some(status);
        self
    }

    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    #[must_use]
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status_override.unwrap_or_else(|| self.code.status())
    }

    /// S3's XML error document, with the request id so a caller can quote it.
    pub fn to_xml(&self, request_id: &str) -> String {
        let mut doc = Doc::with_declaration();
        doc.element("Error", &[], |d| {
            d.text("Code", self.code.as_str());
            d.text("Message", &self.message);
            if let Some(resource) = &self.resource {
                d.text("Resource", resource);
            }
            if let Some(region) = &self.region {
                d.text("Region", region);
            }
            d.text("RequestId", request_id);
        });
        doc.finish()
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for S3Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_xml_escapes_caller_controlled_text() {
        let err = S3Error::new(S3ErrorCode::AccessDenied, "no <GetObject> on a&b")
            .with_resource("/b/k\"<x>");
        let xml = err.to_xml("req-1");
        assert!(xml.contains("<Code>AccessDenied</Code>"));
        assert!(xml.contains("<Message>no &lt;GetObject&gt; on a&amp;b</Message>"));
        assert!(xml.contains("<Resource>/b/k&quot;&lt;x&gt;</Resource>"));
        assert!(xml.contains("<RequestId>req-1</RequestId>"));
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn statuses_follow_s3() {
        assert_eq!(S3ErrorCode::ExpiredToken.status(), StatusCode::BAD_REQUEST);
        assert_eq!(S3ErrorCode::InvalidToken.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            S3ErrorCode::RequestTimeTooSkewed.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            S3ErrorCode::XAmzContentSHA256Mismatch.status(),
            StatusCode::BAD_REQUEST
        );
    }
}
