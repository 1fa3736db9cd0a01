//! The OIDC relying party (the `openidconnect` crate over s3gate's own
//! HTTP client): discovery, the authorization URL with PKCE, `state` and
//! `nonce`, and the code exchange with the ID token's checks (signature by
//! the provider's JWKS, issuer, audience, expiry, nonce).
//!
//! Talks to the provider; depends on [`crate::identity::http`] for the
//! client and [`crate::config::LoginConfig`]. The client secret never leaves
//! this module but in the token request's authentication.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
};
use tokio::sync::Mutex;

use super::LoginState;
use crate::config::LoginConfig;
use crate::identity::http::HttpClient;

/// How long a discovery document (and the JWKS it brought) is used before
/// it is fetched again: keys rotate, and a login is rare enough to afford it.
const METADATA_TTL: Duration = Duration::from_secs(300);
/// Largest answer read from the provider.
const MAX_ANSWER: usize = 256 * 1024;

/// Why a login could not be completed. Messages are for the person at the
/// browser; none carries a token or a secret.
#[derive(Debug, thiserror::Error)]
pub enum RpError {
    #[error("the identity provider cannot be reached: {0}")]
    Provider(String),
    #[error("the identity provider refused the login: {0}")]
    Exchange(String),
    #[error("the identity provider's ID token was refused: {0}")]
    IdToken(String),
    #[error("login is misconfigured: {0}")]
    Config(String),
}

/// A failed HTTP call, as `openidconnect` wants its client's errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// `openidconnect`'s view of [`HttpClient`]: a named type whose future is
/// `Send`, so the routes using it can run on any worker thread.
struct Http<'a>(&'a RelyingParty);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http<'_> {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(self.0.send(request))
    }
}

/// s3gate as one provider's client.
pub struct RelyingParty {
    config: LoginConfig,
    secret: Option<String>,
    http: HttpClient,
    metadata: Mutex<Option<(Instant, Arc<CoreProviderMetadata>)>>,
}

impl RelyingParty {
    /// Reads the client secret (e.g. from the environment) now, so a
    /// missing one stops the start, not the first login.
    pub fn new(config: LoginConfig, http: HttpClient) -> Result<Self, RpError> {
        let secret = config.resolve_secret().map_err(RpError::Config)?;
        Ok(Self {
            config,
            secret,
            http,
            metadata: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &LoginConfig {
        &self.config
    }

    /// The redirect URI registered at the provider.
    pub fn callback_url(&self) -> String {
        format!("{}/_s3gate/callback", self.config.base_url())
    }

    /// The authorization URL to send the browser to, and what the callback
    /// must find in the login cookie.
    pub async fn begin(&self, next: String, exp: u64) -> Result<(String, LoginState), RpError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok((
            url.to_string(),
            LoginState {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                next,
                exp,
            },
        ))
    }

    /// Trades the callback's code for tokens and checks the ID token;
    /// returns it, as text, for the identity mapping every OIDC login
    /// shares ([`crate::identity::oidc`]).
    pub async fn finish(&self, code: &str, login: &LoginState) -> Result<String, RpError> {
        let client = self.client().await?;
        let http = Http(self);
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| RpError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|e| RpError::Exchange(describe_token_error(&e)))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| RpError::IdToken("the provider returned no ID token".into()))?;
        id_token
            .claims(
                &client.id_token_verifier(),
                &Nonce::new(login.nonce.clone()),
            )
            .map_err(|e| RpError::IdToken(e.to_string()))?;
        Ok(id_token.to_string())
    }

    async fn client(
        &self,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        RpError,
    > {
        let metadata = self.metadata().await?;
        let redirect =
            RedirectUrl::new(self.callback_url()).map_err(|e| RpError::Config(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            (*metadata).clone(),
            ClientId::new(self.config.client_id.clone()),
            self.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's discovery document (with its JWKS), fetched at most
    /// every [`METADATA_TTL`]. A login waits for it; nothing else does.
    async fn metadata(&self) -> Result<Arc<CoreProviderMetadata>, RpError> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, m)) = cached.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| RpError::Config(e.to_string()))?;
        let http = Http(self);
        let fetched = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| RpError::Provider(describe_discovery_error(&e)))?;
        let fetched = Arc::new(fetched);
        *cached = Some((Instant::now(), fetched.clone()));
        Ok(fetched)
    }

    async fn send(
        &self,
        req: openidconnect::HttpRequest,
    ) -> Result<openidconnect::HttpResponse, HttpError> {
        let (parts, body) = req.into_parts();
        let req = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let answer = self
            .http
            .send(req, MAX_ANSWER, self.config.timeout)
            .await
            .map_err(HttpError)?;
        let mut resp = http::Response::new(answer.body.to_vec());
        *resp.status_mut() = answer.status;
        *resp.headers_mut() = answer.headers;
        Ok(resp)
    }
}

/// The provider's own error code and description, when it sent one.
fn describe_token_error<RE: std::error::Error + 'static>(
    e: &openidconnect::RequestTokenError<
        RE,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> String {
    match e {
        openidconnect::RequestTokenError::ServerResponse(r) => match r.error_description() {
            Some(d) => format!("{}: {d}", r.error()),
            None => r.error().to_string(),
        },
        openidconnect::RequestTokenError::Request(e) => format!("request failed: {e}"),
        openidconnect::RequestTokenError::Parse(e, _) => format!("unreadable answer: {e}"),
        openidconnect::RequestTokenError::Other(m) => m.clone(),
    }
}

fn describe_discovery_error<RE: std::error::Error + 'static>(
    e: &openidconnect::DiscoveryError<RE>,
) -> String {
    match e {
        openidconnect::DiscoveryError::Request(e) => format!("discovery failed: {e}"),
        openidconnect::DiscoveryError::Response(status, _, m) => {
            format!("discovery answered {status}: {m}")
        }
        other => other.to_string(),
    }
}
