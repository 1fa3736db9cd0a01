//! An OpenID Provider on loopback, in process: discovery, a JWKS with an
//! ES256 key made at start, and a small authorization-code flow (an
//! authorization endpoint that signs in the person the test names, and a
//! token endpoint that checks the client secret and PKCE before it hands
//! out a signed ID token).
//!
//! It is a real HTTP issuer that s3gate reaches over TCP, not a stand-in
//! for s3gate code. The real-client tier also uses node-oidc-provider; this
//! one is for what needs nothing installed, and for the tokens no honest
//! issuer makes (`alg: none`, foreign keys, `exp` as a string), a JWKS whose
//! fetches can be counted and an issuer that can go down.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::random::random_alnum;

/// The audience the test gateways accept for machine tokens.
pub const AUDIENCE: &str = "urn:s3gate";

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An ES256 signing key and its public JWK.
pub struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    pub jwk: Value,
    /// The uncompressed public point (what an attacker would HMAC with).
    pub public_point: Vec<u8>,
}

impl SigningKey {
    pub fn generate(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let pkcs8 = pair.to_pkcs8v1().unwrap();
        let point = pair.public_key().as_ref().to_vec();
        Self {
            kid: kid.into(),
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            }),
            public_point: point,
        }
    }

    /// A token signed with this key; `header` may add fields (`jku`, …).
    pub fn sign(&self, mut header: Header, claims: &Value) -> String {
        header.alg = Algorithm::ES256;
        if header.kid.is_none() {
            header.kid = Some(self.kid.clone());
        }
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// A JWT assembled by hand: for headers no library will produce.
pub fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// The one client registered for the authorization-code flow.
#[derive(Clone)]
pub struct LoginClient {
    pub id: String,
    pub secret: String,
    /// The only redirect URI the authorization endpoint sends codes to.
    pub redirect_uri: String,
}

/// A code handed out by the authorization endpoint, until it is traded.
struct Grant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    subject: String,
}

/// What the issuer's routes share.
struct State {
    url: String,
    key: Arc<SigningKey>,
    /// Keys published in the JWKS.
    published: RwLock<Vec<Value>>,
    jwks_fetches: AtomicUsize,
    up: AtomicBool,
    client: RwLock<Option<LoginClient>>,
    /// Who is signed in at the provider: the authorization endpoint
    /// approves them at once, or refuses (`access_denied`) when nobody is.
    person: RwLock<Option<String>>,
    codes: Mutex<HashMap<String, Grant>>,
    /// Code exchanges refused, each with why.
    refused: Mutex<Vec<String>>,
}

/// A loopback OIDC issuer: discovery and JWKS, with counters and an off
/// switch, and the authorization-code flow for one client.
pub struct TestIssuer {
    pub url: String,
    pub key: Arc<SigningKey>,
    state: Arc<State>,
}

impl TestIssuer {
    /// Starts the issuer on the current tokio runtime; it serves until the
    /// runtime ends.
    pub async fn start() -> Self {
        let key = Arc::new(SigningKey::generate("k1"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let state = Arc::new(State {
            url: url.clone(),
            key: key.clone(),
            published: RwLock::new(vec![key.jwk.clone()]),
            jwks_fetches: AtomicUsize::new(0),
            up: AtomicBool::new(true),
            client: RwLock::new(None),
            person: RwLock::new(None),
            codes: Mutex::new(HashMap::new()),
            refused: Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(state.route(req).await) }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, key, state }
    }

    /// Publishes another key (rotation).
    pub fn publish(&self, key: &SigningKey) {
        self.state.published.write().unwrap().push(key.jwk.clone());
    }

    pub fn fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Takes the issuer down (every route answers 503) or up again.
    pub fn set_up(&self, up: bool) {
        self.state.up.store(up, Ordering::SeqCst);
    }

    /// Registers the client of the authorization-code flow.
    pub fn register(&self, client: LoginClient) {
        *self.state.client.write().unwrap() = Some(client);
    }

    /// Signs `subject` in at the provider (or nobody, with `None`).
    pub fn sign_in(&self, subject: Option<&str>) {
        *self.state.person.write().unwrap() = subject.map(str::to_owned);
    }

    /// The code exchanges the token endpoint refused, each with why.
    pub fn refused_exchanges(&self) -> Vec<String> {
        self.state.refused.lock().unwrap().clone()
    }

    /// Claims an honest issuer would sign for `sub`.
    pub fn claims(&self, sub: &str) -> Value {
        self.state.claims(sub, AUDIENCE)
    }

    /// A good token for `sub`.
    pub fn token(&self, sub: &str) -> String {
        self.key.sign(Header::default(), &self.claims(sub))
    }

    /// The `[[identity.oidc]]` section trusting this issuer.
    pub fn config(&self, cooldown: &str, ttl: &str) -> String {
        format!(
            "[[identity.oidc]]\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\"]\njwks_cooldown = \"{cooldown}\"\njwks_ttl = \"{ttl}\"\n",
            self.url
        )
    }
}

impl State {
    fn claims(&self, sub: &str, audience: &str) -> Value {
        let now = now_secs();
        json!({
            "iss": self.url, "aud": audience, "sub": sub, "iat": now, "nbf": now,
            "exp": now + 300, "preferred_username": sub, "groups": ["ci", "builders"],
        })
    }

    async fn route(
        &self,
        req: http::Request<hyper::body::Incoming>,
    ) -> http::Response<Full<Bytes>> {
        if !self.up.load(Ordering::SeqCst) {
            return reply(503, &json!({"error": "down"}));
        }
        match (req.method().as_str(), req.uri().path()) {
            ("GET", "/.well-known/openid-configuration") => {
                let url = &self.url;
                reply(
                    200,
                    &json!({
                        "issuer": url,
                        "jwks_uri": format!("{url}/jwks"),
                        "authorization_endpoint": format!("{url}/authorize"),
                        "token_endpoint": format!("{url}/token"),
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["ES256"],
                        "token_endpoint_auth_methods_supported":
                            ["client_secret_basic", "client_secret_post"],
                        "code_challenge_methods_supported": ["S256"],
                        "scopes_supported": ["openid", "profile", "email"],
                    }),
                )
            }
            ("GET", "/jwks") => {
                self.jwks_fetches.fetch_add(1, Ordering::SeqCst);
                reply(200, &json!({"keys": *self.published.read().unwrap()}))
            }
            ("GET", "/authorize") => self.authorize(req.uri().query().unwrap_or("")),
            ("POST", "/token") => {
                let auth = req
                    .headers()
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let form: HashMap<String, String> =
                    form_urlencoded::parse(&body).into_owned().collect();
                match self.exchange(auth.as_deref(), &form) {
                    Ok(answer) => reply(200, &answer),
                    Err(why) => {
                        self.refused.lock().unwrap().push(why.clone());
                        reply(
                            400,
                            &json!({"error": "invalid_grant", "error_description": why}),
                        )
                    }
                }
            }
            _ => reply(404, &json!({})),
        }
    }

    /// `GET /authorize`: the person signed in approves at once; the code
    /// remembers the PKCE challenge and nonce it was asked for.
    fn authorize(&self, query: &str) -> http::Response<Full<Bytes>> {
        let q: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let Some(client) = self.client.read().unwrap().clone() else {
            return reply(400, &json!({"error": "unauthorized_client"}));
        };
        let get = |k: &str| q.get(k).cloned().unwrap_or_default();
        // A wrong client or redirect URI is never redirected to: that is
        // what keeps codes from reaching an attacker's page.
        if get("client_id") != client.id || get("redirect_uri") != client.redirect_uri {
            return reply(400, &json!({"error": "invalid_request"}));
        }
        let mut back = format!("{}?", client.redirect_uri);
        let state = form_urlencoded::byte_serialize(get("state").as_bytes()).collect::<String>();
        let person = self.person.read().unwrap().clone();
        match person {
            _ if get("response_type") != "code"
                || get("code_challenge_method") != "S256"
                || get("code_challenge").is_empty() =>
            {
                back.push_str(&format!("error=invalid_request&state={state}"));
            }
            None => back.push_str(&format!("error=access_denied&state={state}")),
            Some(subject) => {
                let code = random_alnum(32);
                self.codes.lock().unwrap().insert(
                    code.clone(),
                    Grant {
                        client_id: client.id,
                        redirect_uri: client.redirect_uri,
                        code_challenge: get("code_challenge"),
                        nonce: q.get("nonce").cloned(),
                        subject,
                    },
                );
                back.push_str(&format!("code={code}&state={state}"));
            }
        }
        let mut resp = reply(302, &json!({}));
        resp.headers_mut()
            .insert(http::header::LOCATION, back.parse().unwrap());
        resp
    }

    /// `POST /token`: a code is traded once, by its client (secret in
    /// Basic or in the form), with the redirect URI it was issued for and
    /// the verifier of its PKCE challenge.
    fn exchange(
        &self,
        auth: Option<&str>,
        form: &HashMap<String, String>,
    ) -> Result<Value, String> {
        let client = self
            .client
            .read()
            .unwrap()
            .clone()
            .ok_or("no client registered")?;
        let (id, secret) = match auth.and_then(|a| a.strip_prefix("Basic ")) {
            Some(b64) => {
                let text = String::from_utf8(STANDARD.decode(b64).map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
                let (id, secret) = text.split_once(':').ok_or("Basic without a colon")?;
                // RFC 6749 §2.3.1: both are form-encoded before joining.
                let decode = |s: &str| -> String {
                    form_urlencoded::parse(format!("v={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                (decode(id), decode(secret))
            }
            None => (
                form.get("client_id").cloned().unwrap_or_default(),
                form.get("client_secret").cloned().unwrap_or_default(),
            ),
        };
        if id != client.id || secret != client.secret {
            return Err("client authentication failed".into());
        }
        if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return Err("grant_type is not authorization_code".into());
        }
        let code = form.get("code").ok_or("no code")?;
        let grant = self
            .codes
            .lock()
            .unwrap()
            .remove(code)
            .ok_or("unknown or used code")?;
        if grant.client_id != id {
            return Err("the code belongs to another client".into());
        }
        if form.get("redirect_uri") != Some(&grant.redirect_uri) {
            return Err("redirect_uri differs from the authorization request's".into());
        }
        let verifier = form.get("code_verifier").ok_or("no code_verifier")?;
        if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.code_challenge {
            return Err("code_verifier does not match the code_challenge".into());
        }
        let mut claims = self.claims(&grant.subject, &client.id);
        claims["email"] = json!(format!("{}@example.com", grant.subject));
        if let Some(nonce) = grant.nonce {
            claims["nonce"] = json!(nonce);
        }
        Ok(json!({
            "access_token": random_alnum(32),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.key.sign(Header::default(), &claims),
        }))
    }
}

fn reply(status: u16, body: &Value) -> http::Response<Full<Bytes>> {
    let mut resp = http::Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}
