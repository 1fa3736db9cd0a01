//! OIDC issuers: discovery, the JWKS cache, and the cache of verified
//! tokens. The checks themselves are in [`super::jwt`].
//!
//! Keys are fetched from the issuer's discovery document's `jwks_uri` —
//! never from a URL in the token — and cached for `jwks_ttl`. A token with
//! an unknown `kid` triggers one refetch; refetches and failed fetches are
//! at most one per `jwks_cooldown`, so a flood of made-up key ids costs the
//! issuer one request. While the issuer is down,
//! cached keys keep working until they expire; a cold cache answers
//! `IDPCommunicationError`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use moka::Expiry;
use moka::future::Cache;
use sha2::{Digest, Sha256};

use super::IdentityError;
use super::http::HttpClient;
use super::jwt::{ParsedToken, SignatureError, Verified, validate_claims};
use crate::config::OidcIssuerConfig;

/// Verified tokens remembered (by SHA-256) so re-presenting one costs a
/// lookup, not a signature check.
const VERIFIED_CACHE_CAPACITY: u64 = 100_000;
/// Longest a verified token stays cached, whatever its `exp`.
const VERIFIED_CACHE_MAX: Duration = Duration::from_secs(3600);
/// Most keys kept from one JWKS.
const MAX_KEYS: usize = 100;
/// Deadline for one discovery or JWKS fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// All configured issuers and the verified-token cache.
pub struct OidcVerifier {
    issuers: HashMap<String, Arc<Issuer>>,
    verified: Cache<[u8; 32], Arc<CachedToken>>,
}

struct CachedToken {
    verified: Verified,
    /// How long the cache may keep it: until `exp` (plus skew), capped.
    keep_for: Duration,
    skew: u64,
}

struct UntilExpiry;

impl Expiry<[u8; 32], Arc<CachedToken>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<CachedToken>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.keep_for)
    }
}

struct Issuer {
    config: OidcIssuerConfig,
    algorithms: Vec<Algorithm>,
    /// The one cached key set (unit key), evicted after `jwks_ttl`.
    keys: Cache<(), Arc<JwkSet>>,
    /// When a refetch (unknown kid) or a failed fetch last happened: the
    /// cooldown gate. The lock is held across a fetch, so concurrent
    /// callers wait for it instead of fetching again.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    http: HttpClient,
}

impl OidcVerifier {
    pub fn new(configs: &[OidcIssuerConfig], http: HttpClient) -> Self {
        let issuers = configs
            .iter()
            .map(|c| {
                let issuer = Issuer {
                    algorithms: c.algorithms.iter().filter_map(|a| a.parse().ok()).collect(),
                    keys: Cache::builder()
                        .max_capacity(1)
                        .time_to_live(c.jwks_ttl)
                        .build(),
                    last_fetch: tokio::sync::Mutex::new(None),
                    http: http.clone(),
                    config: c.clone(),
                };
                (c.issuer.clone(), Arc::new(issuer))
            })
            .collect();
        Self {
            issuers,
            verified: Cache::builder()
                .max_capacity(VERIFIED_CACHE_CAPACITY)
                .expire_after(UntilExpiry)
                .build(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// Verifies a web identity token at `now`. Surrounding whitespace is
    /// trimmed (botocore sends the token file's trailing newline).
    pub async fn verify(&self, token: &str, now: SystemTime) -> Result<Verified, IdentityError> {
        let token = token.trim();
        let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = self.verified.get(&hash).await {
            if now_secs >= hit.verified.expires_at.saturating_add(hit.skew) {
                return Err(IdentityError::Expired);
            }
            return Ok(hit.verified.clone());
        }
        let parsed = ParsedToken::parse(token)?;
        let iss = parsed
            .issuer()
            .ok_or_else(|| IdentityError::invalid("the token has no `iss`"))?;
        let issuer = self.issuers.get(iss).ok_or_else(|| {
            // Unverified text: echoed only in part, so a junk token cannot
            // fill audit lines.
            let shown: String = iss.chars().take(200).collect();
            IdentityError::invalid(format!(
                "issuer `{shown}` is not configured on this gateway"
            ))
        })?;
        issuer.verify_signature(&parsed).await?;
        let verified = validate_claims(&parsed.claims, &issuer.config, now_secs)?;
        let skew = issuer.config.clock_skew.as_secs();
        let keep_for = Duration::from_secs(
            verified
                .expires_at
                .saturating_add(skew)
                .saturating_sub(now_secs),
        )
        .min(VERIFIED_CACHE_MAX);
        self.verified
            .insert(
                hash,
                Arc::new(CachedToken {
                    verified: verified.clone(),
                    keep_for,
                    skew,
                }),
            )
            .await;
        Ok(verified)
    }
}

impl Issuer {
    async fn verify_signature(&self, token: &ParsedToken) -> Result<(), IdentityError> {
        let keys = self.cached_or_fetch().await?;
        match token.verify_signature(&keys, &self.algorithms) {
            Ok(()) => Ok(()),
            Err(SignatureError::Invalid(m)) => Err(IdentityError::InvalidToken(m)),
            Err(SignatureError::UnknownKid) => {
                // Perhaps the issuer rotated: one refetch, if the cooldown
                // allows, then the verdict.
                let keys = self.refetch(&keys).await?;
                token
                    .verify_signature(&keys, &self.algorithms)
                    .map_err(|e| match e {
                        SignatureError::UnknownKid => IdentityError::invalid(
                            "the token's `kid` is not among the issuer's keys",
                        ),
                        SignatureError::Invalid(m) => IdentityError::InvalidToken(m),
                    })
            }
        }
    }

    async fn cached_or_fetch(&self) -> Result<Arc<JwkSet>, IdentityError> {
        if let Some(keys) = self.keys.get(&()).await {
            crate::metrics::JWKS_CACHE.hit();
            return Ok(keys);
        }
        crate::metrics::JWKS_CACHE.miss();
        let mut last = self.last_fetch.lock().await;
        // Another caller may have fetched while we waited for the gate.
        if let Some(keys) = self.keys.get(&()).await {
            return Ok(keys);
        }
        if last.is_some_and(|t| t.elapsed() < self.config.jwks_cooldown) {
            return Err(IdentityError::IdpUnreachable(format!(
                "the keys of {} could not be fetched recently; try again later",
                self.config.issuer
            )));
        }
        // A routine fetch that succeeds does not start the cooldown (the
        // first unknown kid after it still gets its one refetch); a failed
        // one does, so a down issuer is not hammered.
        let fetched = self.fetch_and_store().await;
        if fetched.is_err() {
            *last = Some(Instant::now());
        }
        fetched
    }

    /// A fresher key set than `seen`, or `seen` itself within the cooldown.
    async fn refetch(&self, seen: &Arc<JwkSet>) -> Result<Arc<JwkSet>, IdentityError> {
        let mut last = self.last_fetch.lock().await;
        if let Some(keys) = self.keys.get(&()).await
            && !Arc::ptr_eq(&keys, seen)
        {
            return Ok(keys);
        }
        if last.is_some_and(|t| t.elapsed() < self.config.jwks_cooldown) {
            return Ok(seen.clone());
        }
        *last = Some(Instant::now());
        self.fetch_and_store().await
    }

    async fn fetch_and_store(&self) -> Result<Arc<JwkSet>, IdentityError> {
        let fetched = self.fetch().await;
        crate::metrics::JWKS_FETCH.record(&fetched);
        match fetched {
            Ok(keys) => {
                let keys = Arc::new(keys);
                self.keys.insert((), keys.clone()).await;
                tracing::info!(
                    oidc.issuer = %self.config.issuer,
                    keys = keys.keys.len(),
                    "fetched the issuer's signing keys"
                );
                Ok(keys)
            }
            Err(e) => {
                tracing::warn!(oidc.issuer = %self.config.issuer, error = %e, "cannot fetch the issuer's signing keys");
                Err(IdentityError::IdpUnreachable(format!(
                    "cannot fetch the signing keys of {}",
                    self.config.issuer
                )))
            }
        }
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let discovery_url = self.config.discovery_url.clone().unwrap_or_else(|| {
            format!(
                "{}/.well-known/openid-configuration",
                self.config.issuer.trim_end_matches('/')
            )
        });
        let doc = self.http.get_json(&discovery_url, FETCH_TIMEOUT).await?;
        // OpenID Connect Discovery §4.3: the document must name the issuer
        // it was fetched for.
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(self.config.issuer.as_str()) {
            return Err("the discovery document names another issuer".into());
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or("the discovery document has no jwks_uri")?;
        let uri: http::Uri = jwks_uri.parse().map_err(|_| "jwks_uri is not a URL")?;
        let loopback = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .is_some_and(|h| {
                h == "localhost"
                    || h.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            });
        if uri.scheme_str() != Some("https") && !loopback {
            return Err("jwks_uri is not https".into());
        }
        let set = self.http.get_json(jwks_uri, FETCH_TIMEOUT).await?;
        let keys = set
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or("the JWKS has no keys array")?;
        // Keys of types we cannot use are skipped one by one, so a new key
        // type at the issuer does not break the others.
        let keys: Vec<Jwk> = keys
            .iter()
            .filter_map(|k| serde_json::from_value(k.clone()).ok())
            .take(MAX_KEYS)
            .collect();
        Ok(JwkSet { keys })
    }
}
