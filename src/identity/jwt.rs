//! Pure OIDC token checks: splitting a JWT, verifying its signature against
//! a key set already in hand, and validating its claims against one
//! issuer's configuration at a given time.
//!
//! No I/O and no clock: [`crate::identity::oidc`] fetches the keys and
//! passes the time in. Nothing named in the token's header (`jku`, `x5u`,
//! `jwk`, `x5c`) is ever used: keys come only from the issuer's JWKS.
//!
//! Spec: RFC 7519 (JWT), RFC 7515 (JWS), OpenID Connect Core §2 and §3.1.3.7.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::{Map, Value};

use super::IdentityError;
use crate::config::OidcIssuerConfig;
use crate::session::{Identity, MAX_GROUPS};

/// Longest token accepted; real ones are 1–4 KiB.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Longest subject, username or group kept in a session.
pub const MAX_CLAIM_LEN: usize = 256;

/// A JWT split and decoded, its signature not yet checked.
#[derive(Debug)]
pub struct ParsedToken {
    pub alg: String,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: String,
}

/// A token that passed every check, and what it proves.
#[derive(Debug, Clone)]
pub struct Verified {
    pub identity: Identity,
    /// The `aud` value that matched the configuration.
    pub audience: String,
    /// The token's `exp`, in Unix seconds.
    pub expires_at: u64,
}

/// Why a signature did not verify: an unknown key id may just mean the
/// issuer rotated its keys, so it is told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    UnknownKid,
    Invalid(String),
}

impl ParsedToken {
    /// Splits and decodes a compact JWS. The header must name an `alg`;
    /// a `crit` header is refused (we understand no extension).
    pub fn parse(token: &str) -> Result<Self, IdentityError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(IdentityError::invalid("the token is too long"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(IdentityError::invalid(
                "the token is not a signed JWT (three dot-separated parts)",
            ));
        };
        let header = decode_object(h, "header")?;
        let claims = decode_object(p, "payload")?;
        let alg = match header.get("alg") {
            Some(Value::String(a)) => a.clone(),
            _ => return Err(IdentityError::invalid("the token header has no `alg`")),
        };
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.clone()),
            Some(_) => return Err(IdentityError::invalid("the token's `kid` is not a string")),
        };
        if header.contains_key("crit") {
            return Err(IdentityError::invalid(
                "the token header has `crit` extensions, which s3gate does not support",
            ));
        }
        Ok(Self {
            alg,
            kid,
            claims,
            signing_input: format!("{h}.{p}"),
            signature: s.to_owned(),
        })
    }

    /// The `iss` claim, read before verification only to pick the issuer
    /// whose keys then verify the token.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// Verifies the signature with the key named by `kid` in `keys`, if
    /// `alg` is one of `allowed` and matches that key's type.
    pub fn verify_signature(
        &self,
        keys: &JwkSet,
        allowed: &[Algorithm],
    ) -> Result<(), SignatureError> {
        let invalid = |m: &str| SignatureError::Invalid(m.to_owned());
        if self.alg.eq_ignore_ascii_case("none") {
            return Err(invalid("unsigned tokens (`alg: none`) are refused"));
        }
        let alg: Algorithm = self
            .alg
            .parse()
            .map_err(|_| invalid("the token's `alg` is unknown"))?;
        if !allowed.contains(&alg) {
            return Err(SignatureError::Invalid(format!(
                "algorithm {} is not allowed for this issuer",
                self.alg
            )));
        }
        let usable = |k: &&Jwk| !matches!(&k.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature);
        let jwk = match &self.kid {
            Some(kid) => keys
                .keys
                .iter()
                .filter(usable)
                .find(|k| k.common.key_id.as_deref() == Some(kid.as_str()))
                .ok_or(SignatureError::UnknownKid)?,
            None => {
                let mut fitting = keys
                    .keys
                    .iter()
                    .filter(usable)
                    .filter(|k| key_family(k) == Some(alg.family()));
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => k,
                    (None, _) => return Err(SignatureError::UnknownKid),
                    (Some(_), Some(_)) => {
                        return Err(invalid(
                            "the token names no `kid` and the issuer has several keys",
                        ));
                    }
                }
            }
        };
        // The key's own type decides the algorithm family: a public key is
        // never turned into an HMAC secret, and an RSA key never checks an
        // EC signature.
        if key_family(jwk) != Some(alg.family()) || alg.family() == AlgorithmFamily::Hmac {
            return Err(invalid("the token's `alg` does not match its key's type"));
        }
        if let AlgorithmParameters::EllipticCurve(ec) = &jwk.algorithm {
            let curve_ok = matches!(
                (alg, &ec.curve),
                (Algorithm::ES256, EllipticCurve::P256) | (Algorithm::ES384, EllipticCurve::P384)
            );
            if !curve_ok {
                return Err(invalid("the token's `alg` does not match its key's curve"));
            }
        }
        if let Some(key_alg) = &jwk.common.key_algorithm
            && serde_json::to_value(key_alg).ok() != Some(Value::String(self.alg.clone()))
        {
            return Err(invalid("the token's `alg` differs from its key's `alg`"));
        }
        let key =
            DecodingKey::from_jwk(jwk).map_err(|_| invalid("the issuer's key is unusable"))?;
        match jsonwebtoken::crypto::verify(
            &self.signature,
            self.signing_input.as_bytes(),
            &key,
            alg,
        ) {
            Ok(true) => Ok(()),
            _ => Err(invalid("the token's signature does not verify")),
        }
    }
}

fn key_family(jwk: &Jwk) -> Option<AlgorithmFamily> {
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(AlgorithmFamily::Rsa),
        AlgorithmParameters::EllipticCurve(_) => Some(AlgorithmFamily::Ec),
        AlgorithmParameters::OctetKeyPair(_) => Some(AlgorithmFamily::Ed),
        // Symmetric (`oct`) keys are never accepted from a JWKS.
        _ => None,
    }
}

fn decode_object(part: &str, what: &str) -> Result<Map<String, Value>, IdentityError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| IdentityError::invalid(format!("the token {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(IdentityError::invalid(format!(
            "the token {what} is not a JSON object"
        ))),
    }
}

/// Validates the claims of a token whose signature verified, at `now`
/// (Unix seconds). Claims of the wrong type are refused, not skipped.
pub fn validate_claims(
    claims: &Map<String, Value>,
    config: &OidcIssuerConfig,
    now: u64,
) -> Result<Verified, IdentityError> {
    let skew = config.clock_skew.as_secs_f64();
    let now = now as f64;
    match claims.get("iss") {
        Some(Value::String(iss)) if *iss == config.issuer => {}
        _ => {
            return Err(IdentityError::invalid(
                "the token's `iss` is not this issuer",
            ));
        }
    }
    let audience = match claims.get("aud") {
        Some(Value::String(a)) => config.audiences.iter().find(|c| *c == a).cloned(),
        Some(Value::Array(list)) => {
            if list.iter().any(|a| !a.is_string()) {
                return Err(IdentityError::invalid(
                    "the token's `aud` is not a string list",
                ));
            }
            list.iter()
                .filter_map(Value::as_str)
                .find_map(|a| config.audiences.iter().find(|c| *c == a).cloned())
        }
        Some(_) => return Err(IdentityError::invalid("the token's `aud` is not a string")),
        None => return Err(IdentityError::invalid("the token has no `aud`")),
    }
    .ok_or_else(|| IdentityError::invalid("the token's `aud` names no accepted audience"))?;
    let exp = numeric_date(claims, "exp")?
        .ok_or_else(|| IdentityError::invalid("the token has no `exp`"))?;
    if now >= exp + skew {
        return Err(IdentityError::Expired);
    }
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && nbf > now + skew
    {
        return Err(IdentityError::invalid("the token is not valid yet (`nbf`)"));
    }
    if let Some(iat) = numeric_date(claims, "iat")?
        && iat > now + skew
    {
        return Err(IdentityError::invalid(
            "the token is issued in the future (`iat`)",
        ));
    }
    for (name, want) in &config.required_claims {
        let want = toml_to_json(want);
        if claims.get(name) != Some(&want) {
            return Err(IdentityError::invalid(format!(
                "the token's `{name}` claim is missing or not {want}"
            )));
        }
    }
    let subject = match claims.get(&config.subject_claim) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_CLAIM_LEN => s.clone(),
        Some(Value::String(_)) => {
            return Err(IdentityError::invalid(
                "the token's subject is empty or too long",
            ));
        }
        Some(_) => {
            return Err(IdentityError::invalid(
                "the token's subject is not a string",
            ));
        }
        None => {
            return Err(IdentityError::invalid(format!(
                "the token has no `{}` claim (the subject)",
                config.subject_claim
            )));
        }
    };
    let username = match claims.get(&config.username_claim) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= MAX_CLAIM_LEN => Some(s.clone()),
        Some(_) => {
            return Err(IdentityError::invalid(format!(
                "the token's `{}` claim is not a short string",
                config.username_claim
            )));
        }
    };
    // `${identity.username}` puts the value in a resource path: one that
    // could leave its segment (`bob/shared`, `..`) or widen (`*`) is
    // refused here, never substituted.
    if let Some(name) = &username
        && let Err(why) = crate::policy::path_segment(name)
    {
        return Err(IdentityError::invalid(format!(
            "the token's `{}` claim {why}, so it cannot name the user",
            config.username_claim
        )));
    }
    let groups = groups(claims, config)?;
    let mut identity = Identity::new("oidc", subject);
    identity.issuer = Some(config.issuer.clone());
    identity.username = username;
    identity.groups = groups;
    identity.email = verified_email(claims)?;
    identity.mfa = mfa(claims, config);
    Ok(Verified {
        identity,
        audience,
        // exp < now + skew here, and now is a sane time: no overflow.
        expires_at: exp as u64,
    })
}

/// The `email` claim, only when `email_verified` is `true` (OpenID Connect
/// Core §5.1): an unverified address is anyone's to type.
fn verified_email(claims: &Map<String, Value>) -> Result<Option<String>, IdentityError> {
    let verified = matches!(claims.get("email_verified"), Some(Value::Bool(true)));
    match claims.get("email") {
        Some(Value::String(e)) if verified && !e.is_empty() && e.len() <= MAX_CLAIM_LEN => {
            Ok(Some(e.clone()))
        }
        Some(Value::String(_)) | None | Some(Value::Null) => Ok(None),
        Some(_) => Err(IdentityError::invalid(
            "the token's `email` is not a string",
        )),
    }
}

/// Whether the login used a second factor, as the operator reads the
/// token: `amr` holding one of `mfa_amr`, or `acr` being one of
/// `mfa_acr`. `None` (unknown) when the token has neither claim.
fn mfa(claims: &Map<String, Value>, config: &OidcIssuerConfig) -> Option<bool> {
    let amr = claims.get("amr").and_then(Value::as_array);
    let acr = claims.get("acr").and_then(Value::as_str);
    if amr.is_none() && acr.is_none() {
        return None;
    }
    let by_amr = amr.is_some_and(|list| {
        list.iter()
            .filter_map(Value::as_str)
            .any(|m| config.mfa_amr.iter().any(|want| want == m))
    });
    let by_acr = acr.is_some_and(|a| config.mfa_acr.iter().any(|want| want == a));
    Some(by_amr || by_acr)
}

/// A NumericDate claim: a JSON number, or absent.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, IdentityError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(Some)
            .ok_or_else(|| IdentityError::invalid(format!("the token's `{name}` is out of range"))),
        Some(_) => Err(IdentityError::invalid(format!(
            "the token's `{name}` is not a number"
        ))),
    }
}

fn groups(
    claims: &Map<String, Value>,
    config: &OidcIssuerConfig,
) -> Result<Vec<String>, IdentityError> {
    let list: Vec<String> = match claims.get(&config.groups_claim) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s
            .split(config.groups_delimiter.as_str())
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|g| g.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                IdentityError::invalid(format!(
                    "the token's `{}` claim is not a list of strings",
                    config.groups_claim
                ))
            })?,
        Some(_) => {
            return Err(IdentityError::invalid(format!(
                "the token's `{}` claim is neither a list nor a string",
                config.groups_claim
            )));
        }
    };
    // Refuse rather than truncate: a dropped group could be one a deny
    // rule names.
    if list.len() > MAX_GROUPS || list.iter().any(|g| g.len() > MAX_CLAIM_LEN) {
        return Err(IdentityError::invalid(format!(
            "the token carries more than {MAX_GROUPS} groups, or an overlong one"
        )));
    }
    Ok(list)
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests;
