//! The STS query API s3gate serves on `POST /`: form parsing, and answers
//! and errors in STS's own XML shapes.
//!
//! Pure: the server authenticates the caller and passes in what to render.
//!
//! Spec: <https://docs.aws.amazon.com/STS/latest/APIReference/welcome.html>

use http::StatusCode;

use crate::s3::push_escaped;
use crate::session::Claims;

/// Largest STS form body accepted; real ones are a few KiB (a JWT).
pub const MAX_STS_BODY_SIZE: usize = 64 * 1024;

const STS_XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The account shown for s3gate sessions: they are not AWS principals.
pub const SESSION_ACCOUNT: &str = "000000000000";

/// A parsed form body.
#[derive(Debug, Default)]
pub struct StsForm {
    pub pairs: Vec<(String, String)>,
}

impl StsForm {
    pub fn parse(body: &[u8]) -> Self {
        Self {
            pairs: form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }
}

/// An STS error answer.
#[derive(Debug, Clone)]
pub struct StsError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl StsError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// STS's `ErrorResponse` document.
    pub fn to_xml(&self, request_id: &str) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<ErrorResponse xmlns=\"");
        out.push_str(STS_XMLNS);
        out.push_str("\"><Error><Type>");
        out.push_str(if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        });
        out.push_str("</Type><Code>");
        out.push_str(self.code);
        out.push_str("</Code><Message>");
        push_escaped(&mut out, &self.message);
        out.push_str("</Message></Error><RequestId>");
        push_escaped(&mut out, request_id);
        out.push_str("</RequestId></ErrorResponse>");
        out
    }
}

/// The ARN shown for a session: shaped like an assumed-role ARN so tools
/// that parse it keep working, naming how the identity was proven.
pub fn session_arn(claims: &Claims) -> String {
    format!(
        "arn:aws:sts::{SESSION_ACCOUNT}:assumed-role/s3gate-{}/{}",
        claims.identity.method, claims.identity.subject
    )
}

/// `GetCallerIdentity` for an s3gate session.
pub fn get_caller_identity_xml(claims: &Claims, request_id: &str) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("<GetCallerIdentityResponse xmlns=\"");
    out.push_str(STS_XMLNS);
    out.push_str("\"><GetCallerIdentityResult><Arn>");
    push_escaped(&mut out, &session_arn(claims));
    out.push_str("</Arn><UserId>");
    push_escaped(&mut out, &claims.access_key_id);
    out.push(':');
    push_escaped(&mut out, &claims.identity.subject);
    out.push_str("</UserId><Account>");
    out.push_str(SESSION_ACCOUNT);
    out.push_str("</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>");
    push_escaped(&mut out, request_id);
    out.push_str("</RequestId></ResponseMetadata></GetCallerIdentityResponse>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_is_decoded() {
        let f = StsForm::parse(b"Action=GetCallerIdentity&Version=2011-06-15&X=a%2Bb+c");
        assert_eq!(f.action(), Some("GetCallerIdentity"));
        assert_eq!(f.get("X"), Some("a+b c"));
        assert_eq!(f.get("Missing"), None);
    }

    #[test]
    fn error_has_sts_shape() {
        let xml = StsError::new(StatusCode::BAD_REQUEST, "InvalidAction", "no <such>").to_xml("r1");
        assert!(xml.starts_with("<ErrorResponse"));
        assert!(xml.contains("<Type>Sender</Type><Code>InvalidAction</Code>"));
        assert!(xml.contains("no &lt;such&gt;"));
        assert!(xml.contains("<RequestId>r1</RequestId>"));
    }
}
