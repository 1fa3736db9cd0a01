//! Identity providers for the identity tests.
//!
//! - The real OpenID Provider (node-oidc-provider, started by `tests/run`,
//!   `S3GATE_TEST_OIDC`): machine tokens by client credentials and ID tokens
//!   through its dev login form.
//! - [`TestIssuer`]: a discovery document and a JWKS served on loopback by
//!   the harness, with an ES256 key made at start. node-oidc-provider only
//!   signs well-formed tokens; the refusal tests need tokens no honest
//!   issuer makes (`alg: none`, HS256 keyed with the public key, `exp` as a
//!   string, foreign keys) and a JWKS whose fetches can be counted and which
//!   can go down. It is a real HTTP issuer, not a stand-in for s3gate code.
//! - The ECS container credentials endpoint ([`ContainerCredentials`]),
//!   which cannot run here: a loopback server answering what the ECS agent
//!   answers, checking the authorization token.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::client::{clean_command, run};
use crate::harness::{Harness, testbed_var};

/// The audience the test gateways accept.
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

/// A loopback OIDC issuer: discovery and JWKS, with counters and an off
/// switch.
pub struct TestIssuer {
    pub url: String,
    pub key: SigningKey,
    /// Keys published in the JWKS.
    published: Arc<RwLock<Vec<Value>>>,
    pub jwks_fetches: Arc<AtomicUsize>,
    pub up: Arc<AtomicBool>,
}

impl TestIssuer {
    pub fn start(h: &Harness) -> Self {
        let key = SigningKey::generate("k1");
        let published = Arc::new(RwLock::new(vec![key.jwk.clone()]));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let up = Arc::new(AtomicBool::new(true));
        let listener = h
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let (issuer, keys, fetches, on) = (
            url.clone(),
            published.clone(),
            jwks_fetches.clone(),
            up.clone(),
        );
        h.block_on(async move {
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (issuer, keys, fetches, on) =
                        (issuer.clone(), keys.clone(), fetches.clone(), on.clone());
                    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (status, body) = if !on.load(Ordering::SeqCst) {
                            (503, json!({"error": "down"}))
                        } else {
                            match req.uri().path() {
                                "/.well-known/openid-configuration" => (
                                    200,
                                    json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")}),
                                ),
                                "/jwks" => {
                                    fetches.fetch_add(1, Ordering::SeqCst);
                                    (200, json!({"keys": *keys.read().unwrap()}))
                                }
                                _ => (404, json!({})),
                            }
                        };
                        async move {
                            let mut resp =
                                http::Response::new(Full::new(Bytes::from(body.to_string())));
                            *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Self {
            url,
            key,
            published,
            jwks_fetches,
            up,
        }
    }

    /// Publishes another key (rotation).
    pub fn publish(&self, key: &SigningKey) {
        self.published.write().unwrap().push(key.jwk.clone());
    }

    pub fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Claims an honest issuer would sign for `sub`.
    pub fn claims(&self, sub: &str) -> Value {
        let now = now_secs();
        json!({
            "iss": self.url, "aud": AUDIENCE, "sub": sub, "iat": now, "nbf": now,
            "exp": now + 300, "preferred_username": sub, "groups": ["ci", "builders"],
        })
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

/// A JWT assembled by hand: for headers no library will produce.
pub fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// The real OpenID Provider started by `tests/run`.
pub struct Provider {
    pub url: String,
    /// The secret of its clients (generated by `tests/run`).
    pub secret: String,
}

pub fn provider() -> Provider {
    Provider {
        url: testbed_var("S3GATE_TEST_OIDC"),
        secret: testbed_var("S3GATE_TEST_OIDC_SECRET"),
    }
}

impl Provider {
    /// The `[[identity.oidc]]` section trusting it: machine access tokens
    /// (`aud` = the resource) and ID tokens of the login client.
    pub fn config(&self) -> String {
        format!(
            "[[identity.oidc]]\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\", \"s3gate-login\"]\n",
            self.url
        )
    }

    /// A JWT access token for the machine client (client credentials).
    pub fn machine_token(&self) -> String {
        let mut cmd = clean_command("curl");
        cmd.args(["-sS", "--fail-with-body", "-u"])
            .arg(format!("s3gate-machine:{}", self.secret))
            .args([
                "-d",
                "grant_type=client_credentials",
                "-d",
                &format!("resource={AUDIENCE}"),
                "-d",
                "scope=s3",
            ])
            .arg(format!("{}/token", self.url));
        let out = run(cmd, Duration::from_secs(30)).ok();
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    /// An ID token for `user`, by the authorization code flow through the
    /// provider's dev login form, driven headlessly with curl.
    pub fn login_id_token(&self, user: &str, h: &Harness) -> String {
        let dir = h.tempdir();
        let jar = dir.path().join("cookies");
        let curl = |args: &[&str]| {
            let mut cmd = clean_command("curl");
            cmd.args(["-sS", "-c"])
                .arg(&jar)
                .args(["-b"])
                .arg(&jar)
                .args(["-o", "-", "-w", "\nREDIRECT:%{redirect_url}"])
                .args(args);
            run(cmd, Duration::from_secs(30)).ok().stdout
        };
        let redirect = "http://127.0.0.1:9/callback";
        let auth = format!(
            "{}/auth?client_id=s3gate-login&response_type=code&scope=openid%20profile%20email&redirect_uri={}&state=st&nonce=n1",
            self.url,
            urlencode(redirect)
        );
        // /auth redirects to the interaction page, which shows the login form.
        let mut next = last_line(&curl(&[&auth]));
        let mut code = None;
        for _ in 0..8 {
            if next.starts_with(redirect) {
                code = next
                    .split(['?', '&'])
                    .find_map(|p| p.strip_prefix("code="))
                    .map(str::to_owned);
                break;
            }
            let page = curl(&[&next]);
            let location = last_line(&page);
            if !location.is_empty() {
                next = location;
                continue;
            }
            // A form: the login (any user, any password) or the consent.
            let action = page
                .split("action=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_else(|| panic!("no form on {next}: {page}"));
            let action = if action.starts_with("http") {
                action.to_owned()
            } else {
                format!("{}{}", self.url, action)
            };
            let form = if page.contains("name=\"login\"") {
                format!("prompt=login&login={user}&password=any")
            } else {
                "prompt=consent".to_owned()
            };
            next = last_line(&curl(&["--data", &form, &action]));
        }
        let code = code.expect("the login flow ended without a code");
        let mut cmd = clean_command("curl");
        cmd.args(["-sS", "--fail-with-body", "-u"])
            .arg(format!("s3gate-login:{}", self.secret))
            .args([
                "-d",
                "grant_type=authorization_code",
                "-d",
                &format!("code={code}"),
                "-d",
                &format!("redirect_uri={redirect}"),
            ])
            .arg(format!("{}/token", self.url));
        let out = run(cmd, Duration::from_secs(30)).ok();
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        v["id_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no id_token: {v}"))
            .to_owned()
    }
}

/// The redirect curl reported (`-w REDIRECT:…`), empty if none.
fn last_line(s: &str) -> String {
    s.rsplit_once("REDIRECT:")
        .map_or("", |(_, r)| r)
        .trim()
        .to_owned()
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The ECS agent's container credentials endpoint, on loopback: answers
/// `credentials` to requests carrying `token` in `Authorization`, counts
/// them, and refuses anything else.
pub struct ContainerCredentials {
    pub url: String,
    pub token: String,
    pub requests: Arc<AtomicUsize>,
}

impl ContainerCredentials {
    pub fn start(
        h: &Harness,
        access_key_id: &str,
        secret: &str,
        session_token: Option<&str>,
    ) -> Self {
        let token = crate::harness::random_alnum(32);
        let requests = Arc::new(AtomicUsize::new(0));
        let listener = h
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let expiration = jiff_like_iso(now_secs() + 3600);
        let mut body = json!({
            "AccessKeyId": access_key_id,
            "SecretAccessKey": secret,
            "Expiration": expiration,
            "RoleArn": "arn:aws:iam::123456789012:role/ecs-task",
        });
        if let Some(t) = session_token {
            body["Token"] = json!(t);
        }
        let body = body.to_string();
        let (want, count) = (token.clone(), requests.clone());
        h.block_on(async move {
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (want, count, body) = (want.clone(), count.clone(), body.clone());
                    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        count.fetch_add(1, Ordering::SeqCst);
                        let authorized = req
                            .headers()
                            .get(http::header::AUTHORIZATION)
                            .is_some_and(|v| v.as_bytes() == want.as_bytes());
                        let (status, text) = if authorized && req.uri().path() == "/creds" {
                            (200, body.clone())
                        } else {
                            (401, "{}".to_owned())
                        };
                        async move {
                            let mut resp = http::Response::new(Full::new(Bytes::from(text)));
                            *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Self {
            url: format!("http://{addr}/creds"),
            token,
            requests,
        }
    }
}

fn jiff_like_iso(secs: u64) -> String {
    s3gate::audit::iso8601(UNIX_EPOCH + Duration::from_secs(secs))
}
