//! AWS principals (ECS tasks, Lambda, EC2, IAM users) proving who they are
//! with a signed `sts:GetCallerIdentity`, the pattern of Vault's AWS IAM
//! auth — done so that a caller cannot choose where s3gate sends it.
//!
//! The action `AssumeRoleWithAwsIdentity` (an unsigned form POST to `/`):
//! - `CallerIdentityHeaders`: base64 of a JSON object, the headers of a
//!   SigV4-signed `POST /` to the STS endpoint s3gate announces at
//!   `/_s3gate/aws-identity`, with body
//!   `Action=GetCallerIdentity&Version=2011-06-15`; `host`, `x-amz-date`
//!   and `x-s3gate-server-id` must be signed, the last naming this gateway.
//! - optional `RoleArn`, `RoleSessionName`, `DurationSeconds` as in STS.
//!
//! s3gate **rebuilds** the request — fixed method, path and body, the host
//! of its configured STS endpoint, only [`FORWARDED_HEADERS`] — and sends it
//! there, never to a caller-chosen host (CVE-2020-16250). A request signed
//! for another host, action or body fails STS's own signature check. STS's
//! answer is parsed strictly and its ARN becomes the identity.
//!
//! [`check_signed_headers`], [`parse_caller_identity`] and [`admit`] are
//! pure; [`AwsVerifier`] does the I/O.

use std::collections::HashMap;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::Full;

use super::IdentityError;
use super::http::HttpClient;
use crate::config::AwsIdentityConfig;
use crate::policy::Pattern;
use crate::session::Identity;
use crate::sts_api::{StsForm, read_fields};

/// The header that binds a signed request to one gateway.
pub const SERVER_ID_HEADER: &str = "x-s3gate-server-id";
/// The only body s3gate sends to STS.
pub const GET_CALLER_IDENTITY_BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
/// Headers taken from the caller; anything else is dropped.
pub const FORWARDED_HEADERS: [&str; 5] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    SERVER_ID_HEADER,
    "content-type",
];
/// Largest `CallerIdentityHeaders` accepted (a session token is ~1–2 KiB).
const MAX_HEADERS_PARAM: usize = 16 * 1024;
/// Largest STS answer read.
const MAX_STS_ANSWER: usize = 64 * 1024;

/// A caller whose identity STS confirmed and the configuration admits.
#[derive(Debug, Clone)]
pub struct AwsCaller {
    pub arn: String,
    pub identity: Identity,
}

/// The AWS principal an ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsPrincipal {
    pub arn: String,
    pub account: String,
    pub kind: PrincipalKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    AssumedRole { role: String, session: String },
    User { name: String },
}

/// Checks the caller's signed headers and returns the ones to send to STS
/// (without `host`, which the sender sets from its own endpoint).
pub fn check_signed_headers(
    param: &str,
    config: &AwsIdentityConfig,
    now: SystemTime,
) -> Result<HeaderMap, IdentityError> {
    let invalid = |m: &str| IdentityError::invalid(m);
    if param.len() > MAX_HEADERS_PARAM {
        return Err(invalid("CallerIdentityHeaders is too long"));
    }
    let raw = STANDARD
        .decode(param.trim())
        .map_err(|_| invalid("CallerIdentityHeaders is not base64"))?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&raw)
        .map_err(|_| invalid("CallerIdentityHeaders is not a JSON object"))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &map {
        let name = name.to_ascii_lowercase();
        if !FORWARDED_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = value
            .as_str()
            .ok_or_else(|| invalid("CallerIdentityHeaders values must be strings"))?;
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return Err(invalid("CallerIdentityHeaders holds an invalid header"));
        };
        if headers.insert(n, v).is_some() {
            return Err(invalid("CallerIdentityHeaders names a header twice"));
        }
    }
    match headers.get(SERVER_ID_HEADER).map(HeaderValue::as_bytes) {
        None => {
            return Err(invalid(
                "the signed request has no x-s3gate-server-id header",
            ));
        }
        Some(v) if v != config.server_id.as_bytes() => {
            return Err(invalid("the signed request names another server id"));
        }
        Some(_) => {}
    }
    if let Some(ct) = headers.get(http::header::CONTENT_TYPE)
        && !ct
            .as_bytes()
            .starts_with(b"application/x-www-form-urlencoded")
    {
        return Err(invalid("the signed request is not a form POST"));
    }
    // Reuse the gateway's own SigV4 parser to read the Authorization header.
    let mut probe = Request::post("/")
        .body(())
        .map_err(|_| invalid("bad request"))?;
    *probe.headers_mut() = headers.clone();
    let (parts, ()) = probe.into_parts();
    let auth = crate::sigv4::parse(&parts)
        .map_err(|_| invalid("the signed request's Authorization header is not SigV4"))?;
    if auth.credential.service() != "sts" {
        return Err(invalid("the request is not signed for sts"));
    }
    if auth.credential.region() != config.region {
        return Err(IdentityError::InvalidToken(format!(
            "the request is signed for region {}, not {}",
            auth.credential.region(),
            config.region
        )));
    }
    for must in ["host", "x-amz-date", SERVER_ID_HEADER] {
        if !auth.signed_headers().any(|h| h == must) {
            return Err(IdentityError::InvalidToken(format!(
                "the request does not sign the `{must}` header"
            )));
        }
    }
    let skew = match now.duration_since(auth.signed_at) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > config.date_window {
        return Err(invalid(
            "the signed request's date is outside the accepted window",
        ));
    }
    Ok(headers)
}

/// Reads STS's `GetCallerIdentity` answer and the principal its ARN names.
pub fn parse_caller_identity(xml: &str) -> Result<AwsPrincipal, String> {
    let f = read_fields(
        xml,
        "GetCallerIdentityResponse",
        &["Arn", "Account", "UserId"],
    )?;
    let (Some(arn), Some(account)) = (f.get("Arn"), f.get("Account")) else {
        return Err("the answer lacks Arn or Account".into());
    };
    let p = parse_arn(arn)?;
    if p.account != *account {
        return Err("the answer's Account differs from its ARN's".into());
    }
    Ok(p)
}

/// `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION` or
/// `arn:PARTITION:iam::ACCOUNT:user[/PATH]/NAME`. Anything else (root,
/// federated users) is refused.
pub fn parse_arn(arn: &str) -> Result<AwsPrincipal, String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [
        "arn",
        "aws" | "aws-cn" | "aws-us-gov",
        service,
        "",
        account,
        resource,
    ] = parts.as_slice()
    else {
        return Err(format!("`{arn}` is not an AWS principal ARN"));
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{arn}` has no account id"));
    }
    let kind = match (*service, resource.split('/').collect::<Vec<_>>().as_slice()) {
        ("sts", ["assumed-role", role, session]) if !role.is_empty() && !session.is_empty() => {
            PrincipalKind::AssumedRole {
                role: (*role).to_owned(),
                session: (*session).to_owned(),
            }
        }
        ("iam", ["user", .., name]) if !name.is_empty() => PrincipalKind::User {
            name: (*name).to_owned(),
        },
        _ => {
            return Err(format!(
                "`{arn}` is neither an assumed role nor an IAM user"
            ));
        }
    };
    Ok(AwsPrincipal {
        arn: arn.to_owned(),
        account: (*account).to_owned(),
        kind,
    })
}

/// Whether the configuration admits the principal; its identity if so.
pub fn admit(p: &AwsPrincipal, config: &AwsIdentityConfig) -> Result<Identity, IdentityError> {
    if !config.allowed_accounts.contains(&p.account) {
        return Err(IdentityError::NotAllowed(format!(
            "AWS account {} is not allowed on this gateway",
            p.account
        )));
    }
    let mut id = Identity::new("aws", p.arn.clone());
    id.aws_account = Some(p.account.clone());
    match &p.kind {
        PrincipalKind::AssumedRole { role, session } => {
            if !config
                .role_patterns
                .iter()
                .any(|pat| Pattern::new(pat).matches(role))
            {
                return Err(IdentityError::NotAllowed(format!(
                    "role {role} is not allowed on this gateway"
                )));
            }
            id.aws_role = Some(role.clone());
            id.aws_session = Some(session.clone());
            id.username = Some(format!("{role}/{session}"));
        }
        PrincipalKind::User { name } => {
            if !config.allow_iam_users
                || !config
                    .role_patterns
                    .iter()
                    .any(|pat| Pattern::new(pat).matches(name))
            {
                return Err(IdentityError::NotAllowed(format!(
                    "IAM user {name} is not allowed on this gateway"
                )));
            }
            id.username = Some(name.clone());
        }
    }
    Ok(id)
}

/// Sends rebuilt `GetCallerIdentity` requests to the configured STS.
pub struct AwsVerifier {
    config: AwsIdentityConfig,
    endpoint: String,
    host: String,
    http: HttpClient,
}

impl AwsVerifier {
    pub fn new(config: AwsIdentityConfig, http: HttpClient) -> Self {
        let endpoint = config.sts_endpoint();
        let host = endpoint
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.authority().map(|a| a.as_str().to_owned()))
            .unwrap_or_default();
        Self {
            config,
            endpoint,
            host,
            http,
        }
    }

    /// What a caller needs to sign for this gateway (served at
    /// `/_s3gate/aws-identity`).
    pub fn announcement(&self) -> serde_json::Value {
        serde_json::json!({
            "server_id": self.config.server_id,
            "sts_endpoint": self.endpoint,
            "region": self.config.region,
        })
    }

    pub async fn verify(
        &self,
        form: &StsForm,
        now: SystemTime,
    ) -> Result<AwsCaller, IdentityError> {
        let param = form
            .get("CallerIdentityHeaders")
            .ok_or_else(|| IdentityError::Validation("CallerIdentityHeaders is required".into()))?;
        let headers = check_signed_headers(param, &self.config, now)?;
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/", self.endpoint))
            .header(http::header::HOST, &self.host);
        for (name, value) in &headers {
            req = req.header(name, value);
        }
        if !headers.contains_key(http::header::CONTENT_TYPE) {
            req = req.header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            );
        }
        let req = req
            .body(Full::new(Bytes::from_static(
                GET_CALLER_IDENTITY_BODY.as_bytes(),
            )))
            .map_err(|_| IdentityError::invalid("the signed headers cannot be sent"))?;
        let sent = self
            .http
            .send(req, MAX_STS_ANSWER, self.config.timeout)
            .await;
        crate::metrics::STS_GET_CALLER_IDENTITY.record(&sent);
        let answer = sent.map_err(|e| {
            tracing::warn!(sts.endpoint = %self.endpoint, error = %e, "STS unreachable");
            IdentityError::IdpUnreachable("STS could not be reached".into())
        })?;
        let body = String::from_utf8_lossy(&answer.body);
        if answer.status.is_server_error() {
            return Err(IdentityError::IdpUnreachable(format!(
                "STS answered {}",
                answer.status
            )));
        }
        if !answer.status.is_success() {
            let code = read_fields(&body, "ErrorResponse", &["Code"])
                .ok()
                .and_then(|mut f| f.remove("Code"))
                .unwrap_or_else(|| answer.status.to_string());
            return Err(IdentityError::InvalidToken(format!(
                "STS refused the signed GetCallerIdentity: {code}"
            )));
        }
        let principal = parse_caller_identity(&body).map_err(|e| {
            tracing::warn!(sts.endpoint = %self.endpoint, error = %e, "unexpected STS answer");
            IdentityError::IdpUnreachable("STS gave an answer s3gate cannot read".into())
        })?;
        let identity = admit(&principal, &self.config)?;
        Ok(AwsCaller {
            arn: principal.arn,
            identity,
        })
    }
}

/// The server id a client signs for: `pinned` if given, else the host of
/// the gateway URL it talks to. The client never takes the id from the
/// gateway's announcement, or a look-alike gateway could announce the
/// real one's id and relay the signed request to it.
pub fn pinned_server_id(gateway: &str, pinned: Option<&str>) -> Result<String, String> {
    if let Some(id) = pinned.filter(|id| !id.is_empty()) {
        return Ok(id.to_owned());
    }
    let uri: http::Uri = gateway
        .parse()
        .map_err(|e| format!("the gateway URL `{gateway}` does not parse: {e}"))?;
    uri.host()
        .map(str::to_owned)
        .ok_or_else(|| format!("the gateway URL `{gateway}` has no host"))
}

/// Refuses an announcement naming another server id than the pinned one.
pub fn check_announced_server_id(pinned: &str, announced: &str) -> Result<(), String> {
    if pinned == announced {
        Ok(())
    } else {
        Err(format!(
            "the gateway announces server id `{announced}`, but this client signs only for \
             `{pinned}` (the gateway URL's host, or --server-id): refusing to sign for another \
             gateway"
        ))
    }
}

/// Signs a `GetCallerIdentity` for `endpoint` with `x-s3gate-server-id`,
/// and returns the headers to put in `CallerIdentityHeaders` (the client
/// side, used by `s3gate credentials aws`).
pub fn sign_caller_identity(
    endpoint: &str,
    region: &str,
    server_id: &str,
    credentials: &aws_credential_types::Credentials,
    now: SystemTime,
) -> Result<String, String> {
    sign_sts_post(
        endpoint,
        region,
        server_id,
        credentials,
        now,
        GET_CALLER_IDENTITY_BODY,
    )
}

/// Like [`sign_caller_identity`] for any STS form `body` (tests use it to
/// show that a request signed for another action is refused).
pub fn sign_sts_post(
    endpoint: &str,
    region: &str,
    server_id: &str,
    credentials: &aws_credential_types::Credentials,
    now: SystemTime,
    body: &str,
) -> Result<String, String> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_smithy_runtime_api::client::identity::Identity as SmithyIdentity;

    let uri: http::Uri = format!("{}/", endpoint.trim_end_matches('/'))
        .parse()
        .map_err(|e| format!("bad STS endpoint: {e}"))?;
    let host = uri
        .authority()
        .ok_or("the STS endpoint has no host")?
        .as_str()
        .to_owned();
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let mut headers: Vec<(&str, String)> = vec![
        ("host", host),
        ("content-type", content_type.to_owned()),
        (SERVER_ID_HEADER, server_id.to_owned()),
    ];
    let identity: SmithyIdentity = credentials.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("signing parameters: {e}"))?
        .into();
    let uri_str = uri.to_string();
    let signable = SignableRequest::new(
        "POST",
        &uri_str,
        headers.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| format!("signing: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("signing: {e}"))?
        .into_parts();
    let mut out: HashMap<String, String> = HashMap::new();
    for (k, v) in instructions.headers() {
        out.insert(k.to_ascii_lowercase(), v.to_owned());
    }
    headers.retain(|(k, _)| *k != "host");
    for (k, v) in headers {
        out.insert(k.to_owned(), v);
    }
    let json = serde_json::to_vec(&out).map_err(|e| e.to_string())?;
    Ok(STANDARD.encode(json))
}

#[cfg(test)]
mod tests;
