//! The client side: the Rust SDK as a stock S3 client, and reading what
//! comes back (S3 XML errors, audit lines).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use super::config::{Creds, REGION};

/// The Rust SDK, path style, no retries.
pub fn sdk(endpoint: &str, creds: &Creds) -> aws_sdk_s3::Client {
    let credentials = aws_sdk_s3::config::Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "test",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new(REGION))
        .credentials_provider(credentials)
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The text of the first `<name>…</name>` in `xml`.
pub fn xml_tag(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(xml[start..end].to_owned())
}

/// The audit file's lines once `enough` accepts them, or as they are after
/// `AUDIT_WAIT` if it never does (the caller's assertion then says what is
/// missing). A record is written after its response has gone, in batches,
/// so a test that reads right after its last request can be a line early.
pub fn audit_file_lines_once(path: &Path, enough: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + AUDIT_WAIT;
    loop {
        let lines = audit_file_lines(path);
        if enough(&lines) || std::time::Instant::now() >= deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long a test waits for an audit line: the line is written after the
/// response has left, by the audit writer, so it may trail the answer.
pub const AUDIT_WAIT: Duration = Duration::from_secs(10);

/// Every line of an audit file, each parsed as JSON (a line that is not
/// JSON fails the test: lines from concurrent requests must not mix).
pub fn audit_file_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}"))
        })
        .collect()
}

/// A request ready to send.
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A response, fully read.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `<Code>` of an S3 XML error body.
    pub fn code(&self) -> String {
        xml_tag(&self.text(), "Code").unwrap_or_default()
    }

    pub fn message(&self) -> String {
        xml_tag(&self.text(), "Message").unwrap_or_default()
    }

    pub fn request_id(&self) -> Option<String> {
        self.headers
            .get("x-amz-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Asserts an S3 error: its status and its `<Code>`, and that the body
    /// carries the request id the header names.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "expected {status} {code}, got {} with body: {}",
            self.status,
            self.text()
        );
        let body_id = xml_tag(&self.text(), "RequestId");
        assert!(
            body_id.as_deref().is_some_and(|id| !id.is_empty()),
            "S3 error without a RequestId: {}",
            self.text()
        );
    }
}

/// Sends a request over plain HTTP/1.1 and reads the whole response.
pub async fn send(req: Request) -> Response {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut builder = http::Request::builder()
        .method(req.method.as_str())
        .uri(&req.url);
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    let http_req = builder.body(Full::new(Bytes::from(req.body))).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(60), client.request(http_req))
        .await
        .expect("response within 60 s")
        .unwrap_or_else(|e| panic!("{} {}: {e:?}", req.method, req.url));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Response {
        status,
        headers,
        body,
    }
}
