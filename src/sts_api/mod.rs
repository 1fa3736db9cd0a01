//! The STS query API s3gate serves on `POST /`: form parsing, and answers
//! and errors in STS's own XML shapes.
//!
//! Pure: the server authenticates the caller and passes in what to render.
//!
//! Spec: <https://docs.aws.amazon.com/STS/latest/APIReference/welcome.html>

use http::StatusCode;

use std::time::Duration;

use crate::audit::iso8601;
use crate::session::quota::parse_size;
use crate::session::{Claims, Quota, SessionCredentials};
use crate::xml::Doc;

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
        let mut doc = Doc::new();
        doc.element("ErrorResponse", &[("xmlns", STS_XMLNS)], |d| {
            d.element("Error", &[], |d| {
                let kind = if self.status.is_server_error() {
                    "Receiver"
                } else {
                    "Sender"
                };
                d.text("Type", kind);
                d.text("Code", self.code);
                d.text("Message", &self.message);
            });
            d.text("RequestId", request_id);
        });
        doc.finish()
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
    answer("GetCallerIdentity", request_id, |d| {
        d.text("Arn", &session_arn(claims));
        d.text(
            "UserId",
            &format!("{}:{}", claims.access_key_id, claims.identity.subject),
        );
        d.text("Account", SESSION_ACCOUNT);
    })
}

/// `<{action}Response xmlns=…><{action}Result>` + `result` +
/// `</…Result><ResponseMetadata><RequestId>…`: every STS answer's frame.
fn answer(action: &str, request_id: &str, result: impl FnOnce(&mut Doc)) -> String {
    let mut doc = Doc::new();
    doc.element(&format!("{action}Response"), &[("xmlns", STS_XMLNS)], |d| {
        d.element(&format!("{action}Result"), &[], result);
        d.element("ResponseMetadata", &[], |d| d.text("RequestId", request_id));
    });
    doc.finish()
}

/// The quota a delegating caller asks for (s3gate's own `AssumeRole`
/// parameters): `MaxRequests` (a count), `MaxBytesRead` and
/// `MaxBytesWritten` (bytes, or a size like `10MiB`). Absent is unlimited
/// (within the caller's own quota); each must be at least 1.
pub fn requested_quota(form: &StsForm) -> Result<Quota, StsError> {
    let limit = |name: &str, size: bool| -> Result<Option<u64>, StsError> {
        let Some(text) = form.get(name) else {
            return Ok(None);
        };
        let parsed = if size {
            parse_size(text)
        } else {
            text.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{text}` is not a whole number"))
        };
        match parsed {
            Ok(n) if n >= 1 => Ok(Some(n)),
            Ok(_) => Err(format!("`{text}` is below 1")),
            Err(e) => Err(e),
        }
        .map_err(|e| {
            StsError::new(
                StatusCode::BAD_REQUEST,
                "ValidationError",
                format!("{name}: {e}"),
            )
        })
    };
    Ok(Quota {
        max_requests: limit("MaxRequests", false)?,
        max_bytes_read: limit("MaxBytesRead", true)?,
        max_bytes_written: limit("MaxBytesWritten", true)?,
    })
}

/// The parameters every "assume role" action shares, validated as STS
/// validates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRequest {
    /// Accepted because the SDKs require one; s3gate grants nothing by it
    /// (the policy file decides), it only shows in the answer and audit.
    pub role_arn: String,
    pub role_session_name: String,
    /// `DurationSeconds`, if the caller sent one.
    pub duration: Option<Duration>,
}

impl RoleRequest {
    /// Reads `RoleArn`, `RoleSessionName` and `DurationSeconds`. A missing
    /// `RoleSessionName` takes `default_session_name` (the AWS-identity
    /// action does not require one).
    pub fn parse(form: &StsForm, default_session_name: Option<&str>) -> Result<Self, StsError> {
        Self::parse_with(form, None, default_session_name)
    }

    /// Like [`RoleRequest::parse`], with a default `RoleArn` too.
    pub fn parse_with(
        form: &StsForm,
        default_role_arn: Option<&str>,
        default_session_name: Option<&str>,
    ) -> Result<Self, StsError> {
        let invalid = |m: String| StsError::new(StatusCode::BAD_REQUEST, "ValidationError", m);
        let role_arn = form
            .get("RoleArn")
            .or(default_role_arn)
            .ok_or_else(|| invalid("RoleArn is required".into()))?;
        if !(20..=2048).contains(&role_arn.len()) || !role_arn.starts_with("arn:") {
            return Err(invalid(
                "RoleArn must be an ARN of 20 to 2048 characters".into(),
            ));
        }
        let role_session_name = match (form.get("RoleSessionName"), default_session_name) {
            (Some(n), _) => n,
            (None, Some(d)) => d,
            (None, None) => return Err(invalid("RoleSessionName is required".into())),
        };
        // STS: 2 to 64 of [\w+=,.@-].
        if !(2..=64).contains(&role_session_name.len())
            || !role_session_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
        {
            return Err(invalid(
                "RoleSessionName must be 2 to 64 characters of [\\w+=,.@-]".into(),
            ));
        }
        let duration = match form.get("DurationSeconds") {
            None => None,
            Some(d) => Some(Duration::from_secs(d.parse::<u64>().map_err(|_| {
                invalid("DurationSeconds must be a whole number of seconds".into())
            })?)),
        };
        Ok(Self {
            role_arn: role_arn.to_owned(),
            role_session_name: role_session_name.to_owned(),
            duration,
        })
    }

    /// The session lifetime: `DurationSeconds` within `[min, max]`, or
    /// `default`. Outside the bounds is refused, as STS refuses.
    pub fn ttl(
        &self,
        min: Duration,
        default: Duration,
        max: Duration,
    ) -> Result<Duration, StsError> {
        match self.duration {
            None => Ok(default),
            Some(d) if d >= min && d <= max => Ok(d),
            Some(d) => Err(StsError::new(
                StatusCode::BAD_REQUEST,
                "ValidationError",
                format!(
                    "DurationSeconds {} is outside the allowed {} to {} seconds",
                    d.as_secs(),
                    min.as_secs(),
                    max.as_secs()
                ),
            )),
        }
    }

    /// The role name: the last path segment of the ARN's resource.
    pub fn role_name(&self) -> &str {
        self.role_arn
            .rsplit(['/', ':'])
            .next()
            .filter(|n| !n.is_empty())
            .unwrap_or("s3gate")
    }

    /// `AssumedRoleUser/Arn`, as STS shapes it for the role and session.
    pub fn assumed_role_arn(&self) -> String {
        format!(
            "arn:aws:sts::{SESSION_ACCOUNT}:assumed-role/{}/{}",
            self.role_name(),
            self.role_session_name
        )
    }
}

/// `<Credentials>…</Credentials>` with `Expiration` in ISO-8601 `Z`.
fn credentials(d: &mut Doc, creds: &SessionCredentials) {
    d.element("Credentials", &[], |d| {
        d.text("AccessKeyId", &creds.access_key_id);
        d.text("SecretAccessKey", creds.secret_access_key.expose());
        d.text("SessionToken", &creds.session_token);
        d.text("Expiration", &iso8601(creds.expires_at));
    });
}

fn assumed_role_user(d: &mut Doc, role: &RoleRequest, creds: &SessionCredentials) {
    d.element("AssumedRoleUser", &[], |d| {
        d.text(
            "AssumedRoleId",
            &format!("{}:{}", creds.access_key_id, role.role_session_name),
        );
        d.text("Arn", &role.assumed_role_arn());
    });
}

/// What a web identity proved, for the answer.
#[derive(Debug, Clone)]
pub struct WebIdentityAnswer<'a> {
    pub subject: &'a str,
    /// The issuer (`Provider` in STS's answer).
    pub provider: &'a str,
    pub audience: &'a str,
}

/// `AssumeRoleWithWebIdentity`'s answer, in STS's shape.
pub fn assume_role_with_web_identity_xml(
    creds: &SessionCredentials,
    role: &RoleRequest,
    who: &WebIdentityAnswer<'_>,
    request_id: &str,
) -> String {
    answer("AssumeRoleWithWebIdentity", request_id, |d| {
        d.text("SubjectFromWebIdentityToken", who.subject);
        d.text("Audience", who.audience);
        assumed_role_user(d, role, creds);
        credentials(d, creds);
        d.text("Provider", who.provider);
    })
}

/// `AssumeRole`'s answer (a delegated session), in STS's shape.
pub fn assume_role_xml(creds: &SessionCredentials, role: &RoleRequest, request_id: &str) -> String {
    answer("AssumeRole", request_id, |d| {
        assumed_role_user(d, role, creds);
        credentials(d, creds);
    })
}

/// s3gate's AWS-identity action's answer: shaped like `AssumeRole`'s, under
/// its own element names.
pub fn assume_role_with_aws_identity_xml(
    creds: &SessionCredentials,
    role: &RoleRequest,
    caller_arn: &str,
    request_id: &str,
) -> String {
    answer("AssumeRoleWithAwsIdentity", request_id, |d| {
        d.text("SourceArn", caller_arn);
        assumed_role_user(d, role, creds);
        credentials(d, creds);
    })
}

/// Reads the text of the leaf elements named in `fields` from an STS
/// answer whose root element is `root`. Strict: a DTD, a second root, or
/// a field seen twice is refused.
pub fn read_fields(
    xml: &str,
    root: &str,
    fields: &[&'static str],
) -> Result<std::collections::HashMap<&'static str, String>, String> {
    use quick_xml::Reader;
    use quick_xml::events::Event;

    let mut reader = Reader::from_str(xml);
    let mut out = std::collections::HashMap::new();
    let mut depth = 0usize;
    let mut roots = 0usize;
    let mut current: Option<&'static str> = None;
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(|e| format!("not XML: {e}"))? {
            Event::Start(e) => {
                let name = e.local_name();
                let name = std::str::from_utf8(name.as_ref()).map_err(|_| "bad name")?;
                if depth == 0 {
                    roots += 1;
                    if name != root || roots > 1 {
                        return Err(format!("expected one <{root}>, found <{name}>"));
                    }
                }
                depth += 1;
                current = fields.iter().copied().find(|f| *f == name);
                text.clear();
            }
            Event::End(_) => {
                if let Some(f) = current.take()
                    && out.insert(f, std::mem::take(&mut text)).is_some()
                {
                    return Err(format!("<{f}> appears twice"));
                }
                depth = depth.checked_sub(1).ok_or("unbalanced")?;
            }
            Event::Text(t) => {
                if current.is_some() {
                    let raw = std::str::from_utf8(&t).map_err(|_| "not UTF-8")?;
                    text.push_str(&quick_xml::escape::unescape(raw).map_err(|_| "bad escape")?);
                }
            }
            Event::Empty(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::CData(_) | Event::DocType(_) => return Err("unexpected XML construct".into()),
            Event::Eof => break,
        }
    }
    if depth != 0 || roots != 1 {
        return Err("truncated document".into());
    }
    Ok(out)
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
    fn a_quota_is_asked_for_with_counts_and_sizes() {
        let q = requested_quota(&StsForm::parse(
            b"MaxRequests=5&MaxBytesRead=10MiB&MaxBytesWritten=1000",
        ))
        .unwrap();
        assert_eq!(
            q,
            Quota {
                max_requests: Some(5),
                max_bytes_read: Some(10 << 20),
                max_bytes_written: Some(1000),
            }
        );
        assert!(requested_quota(&StsForm::parse(b"")).unwrap().is_empty());
        for (form, says) in [
            (
                &b"MaxRequests=5MiB"[..],
                "MaxRequests: `5MiB` is not a whole number",
            ),
            (b"MaxRequests=0", "MaxRequests: `0` is below 1"),
            (b"MaxBytesRead=lots", "MaxBytesRead: `lots` is not a size"),
            (b"MaxBytesWritten=-1", "MaxBytesWritten: `-1` is not a size"),
        ] {
            let e = requested_quota(&StsForm::parse(form)).unwrap_err();
            assert_eq!(e.code, "ValidationError");
            assert!(e.message.starts_with(says), "{}", e.message);
        }
    }

    #[test]
    fn role_request_takes_sts_rules() {
        let f = StsForm::parse(
            b"RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fci-reader&RoleSessionName=botocore-session-1&DurationSeconds=1800",
        );
        let r = RoleRequest::parse(&f, None).unwrap();
        assert_eq!(r.role_name(), "ci-reader");
        assert_eq!(
            r.assumed_role_arn(),
            "arn:aws:sts::000000000000:assumed-role/ci-reader/botocore-session-1"
        );
        let (min, def, max) = (
            Duration::from_secs(900),
            Duration::from_secs(3600),
            Duration::from_secs(7200),
        );
        assert_eq!(r.ttl(min, def, max).unwrap(), Duration::from_secs(1800));
        let long = StsForm::parse(
            b"RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fx&RoleSessionName=ab&DurationSeconds=9000",
        );
        let err = RoleRequest::parse(&long, None)
            .unwrap()
            .ttl(min, def, max)
            .unwrap_err();
        assert_eq!(err.code, "ValidationError");
        let bad_name = StsForm::parse(
            b"RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fx&RoleSessionName=a%20b",
        );
        assert_eq!(
            RoleRequest::parse(&bad_name, None).unwrap_err().code,
            "ValidationError"
        );
        let no_arn = StsForm::parse(b"RoleSessionName=abc");
        assert_eq!(
            RoleRequest::parse(&no_arn, None).unwrap_err().code,
            "ValidationError"
        );
    }

    #[test]
    fn fields_are_read_strictly() {
        let xml = "<GetCallerIdentityResponse xmlns=\"x\"><GetCallerIdentityResult><Arn>arn:aws:sts::1:assumed-role/r/s</Arn><UserId>A:s</UserId><Account>1</Account></GetCallerIdentityResult></GetCallerIdentityResponse>";
        let f = read_fields(xml, "GetCallerIdentityResponse", &["Arn", "Account"]).unwrap();
        assert_eq!(f["Arn"], "arn:aws:sts::1:assumed-role/r/s");
        assert_eq!(f["Account"], "1");
        assert!(read_fields(xml, "Other", &["Arn"]).is_err());
        let twice = xml.replace("<Account>1</Account>", "<Arn>x</Arn>");
        assert!(read_fields(&twice, "GetCallerIdentityResponse", &["Arn"]).is_err());
        assert!(read_fields(&xml[..60], "GetCallerIdentityResponse", &["Arn"]).is_err());
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
