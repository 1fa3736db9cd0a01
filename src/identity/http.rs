//! The outbound HTTP client identity checks use: discovery documents, JWKS,
//! and STS. Every call has a deadline and a body limit, and redirects are
//! never followed (a redirect could lead to a host nobody configured).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Largest discovery document or JWKS read; real ones are a few KiB.
pub const MAX_DOCUMENT_SIZE: usize = 256 * 1024;
/// Time to connect to an identity provider or STS.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled HTTPS (or loopback HTTP) client.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// What a call answered.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpClient {
    pub fn new() -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        // Without native roots only loopback http:// issuers work, which
        // the config allows; https ones then fail to connect, loudly.
        let tls = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "no TLS root certificates for identity providers");
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                    rustls::ClientConfig::builder()
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                )
            }
        };
        let connector = tls.https_or_http().enable_http1().wrap_connector(http);
        Self {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
        }
    }

    /// Sends `req` and reads at most `max_body` bytes of the answer, all
    /// within `timeout`.
    pub async fn send(
        &self,
        req: Request<Full<Bytes>>,
        max_body: usize,
        timeout: Duration,
    ) -> Result<HttpAnswer, String> {
        let call = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("request failed: {e}"))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, max_body)
                .collect()
                .await
                .map_err(|e| format!("reading the answer failed: {e}"))?
                .to_bytes();
            Ok(HttpAnswer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
    }

    /// GETs a JSON document (2xx only).
    pub async fn get_json(
        &self,
        url: &str,
        timeout: Duration,
    ) -> Result<serde_json::Value, String> {
        let req = Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("bad URL {url}: {e}"))?;
        let answer = self.send(req, MAX_DOCUMENT_SIZE, timeout).await?;
        if !answer.status.is_success() {
            return Err(format!("{url} answered {}", answer.status));
        }
        serde_json::from_slice(&answer.body).map_err(|e| format!("{url} is not JSON: {e}"))
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}
