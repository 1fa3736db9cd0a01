//! Known-good and known-bad tokens signed at test time with a fresh ES256
//! key, checked against one issuer's configuration.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;

const ISS: &str = "https://idp.example.test";
const NOW: u64 = 1_800_000_000;

struct Key {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
    public_point: Vec<u8>,
}

fn key(kid: &str) -> Key {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let pkcs8 = pair.to_pkcs8v1().unwrap();
    let point = pair.public_key().as_ref().to_vec();
    assert_eq!(point.len(), 65);
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..]),
    });
    Key {
        kid: kid.into(),
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk,
        public_point: point,
    }
}

fn jwks(keys: &[&Key]) -> JwkSet {
    serde_json::from_value(
        json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }),
    )
    .unwrap()
}

/// The issuer's config: an operator who trusts `preferred_username`.
fn config() -> OidcIssuerConfig {
    config_with("username_claim = \"preferred_username\"\n")
}

fn config_with(extra: &str) -> OidcIssuerConfig {
    let text = format!(
        "[upstream]\n[session]\nkeyring = \"k\"\n[[identity.oidc]]\nissuer = \"{ISS}\"\naudiences = [\"urn:s3gate\", \"other\"]\nrequired_claims = {{ email_verified = true }}\n{extra}"
    );
    crate::config::Config::parse(&text, std::path::Path::new("t.toml"))
        .unwrap()
        .identity
        .oidc
        .remove(0)
}

fn good_claims() -> Value {
    json!({
        "iss": ISS, "aud": "urn:s3gate", "sub": "user-1", "exp": NOW + 300, "iat": NOW - 10,
        "nbf": NOW - 10, "preferred_username": "alice", "email_verified": true,
        "groups": ["staff", "admins"],
    })
}

fn sign(k: &Key, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(k.kid.clone());
    jsonwebtoken::encode(&h, claims, &k.encoding).unwrap()
}

fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Signature, then claims, as the adapter runs them.
fn check(token: &str, keys: &JwkSet) -> Result<Verified, IdentityError> {
    check_with(token, keys, &config())
}

fn check_with(
    token: &str,
    keys: &JwkSet,
    config: &OidcIssuerConfig,
) -> Result<Verified, IdentityError> {
    let parsed = ParsedToken::parse(token)?;
    parsed
        .verify_signature(keys, &[Algorithm::RS256, Algorithm::ES256])
        .map_err(|e| match e {
            SignatureError::UnknownKid => IdentityError::invalid("unknown kid"),
            SignatureError::Invalid(m) => IdentityError::InvalidToken(m),
        })?;
    validate_claims(&parsed.claims, config, NOW)
}

fn refused(token: &str, keys: &JwkSet, needle: &str) {
    match check(token, keys) {
        Err(IdentityError::InvalidToken(m)) => assert!(m.contains(needle), "{m} lacks {needle}"),
        other => panic!("expected InvalidToken({needle}), got {other:?}"),
    }
}

#[test]
fn a_good_token_yields_the_mapped_identity() {
    let k = key("k1");
    let v = check(&sign(&k, &good_claims()), &jwks(&[&k])).unwrap();
    assert_eq!(v.identity.method, "oidc");
    assert_eq!(v.identity.subject, "user-1");
    assert_eq!(v.identity.issuer.as_deref(), Some(ISS));
    assert_eq!(v.identity.username.as_deref(), Some("alice"));
    assert_eq!(v.identity.groups, ["staff", "admins"]);
    assert_eq!(v.audience, "urn:s3gate");
    assert_eq!(v.expires_at, NOW + 300);
}

#[test]
fn audience_lists_and_delimited_groups_are_understood() {
    let k = key("k1");
    let mut c = good_claims();
    c["aud"] = json!(["someone-else", "other"]);
    c["groups"] = json!("a, b,c");
    let v = check(&sign(&k, &c), &jwks(&[&k])).unwrap();
    assert_eq!(v.audience, "other");
    assert_eq!(v.identity.groups, ["a", "b", "c"]);
}

#[test]
fn alg_none_is_refused() {
    let k = key("k1");
    let t = raw_token(&json!({"alg": "none", "kid": "k1"}), &good_claims(), b"");
    refused(&t, &jwks(&[&k]), "alg: none");
}

#[test]
fn hs256_keyed_with_the_public_key_is_refused() {
    let k = key("k1");
    let header = json!({"alg": "HS256", "kid": "k1"});
    let unsigned = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(good_claims().to_string())
    );
    let sig = jsonwebtoken::crypto::sign(
        unsigned.as_bytes(),
        &EncodingKey::from_secret(&k.public_point),
        Algorithm::HS256,
    )
    .unwrap();
    let t = format!("{unsigned}.{sig}");
    refused(&t, &jwks(&[&k]), "not allowed");
    // Even if HS256 were allowed, the EC key is never an HMAC secret.
    let parsed = ParsedToken::parse(&t).unwrap();
    assert!(matches!(
        parsed.verify_signature(&jwks(&[&k]), &[Algorithm::HS256, Algorithm::ES256]),
        Err(SignatureError::Invalid(_))
    ));
}

#[test]
fn a_tampered_payload_does_not_verify() {
    let k = key("k1");
    let t = sign(&k, &good_claims());
    let mut parts: Vec<&str> = t.split('.').collect();
    let mut c = good_claims();
    c["sub"] = json!("admin");
    let forged = URL_SAFE_NO_PAD.encode(c.to_string());
    parts[1] = &forged;
    refused(&parts.join("."), &jwks(&[&k]), "does not verify");
}

#[test]
fn a_key_of_another_issuer_does_not_verify() {
    let (k, evil) = (key("k1"), key("k1"));
    refused(
        &sign(&evil, &good_claims()),
        &jwks(&[&k]),
        "does not verify",
    );
}

#[test]
fn an_unknown_kid_is_told_apart() {
    let (k, other) = (key("k1"), key("k2"));
    let parsed = ParsedToken::parse(&sign(&other, &good_claims())).unwrap();
    assert_eq!(
        parsed.verify_signature(&jwks(&[&k]), &[Algorithm::ES256]),
        Err(SignatureError::UnknownKid)
    );
}

#[test]
fn header_keys_are_never_used() {
    // The token carries its own key (`jwk`) and a `jku`: both ignored, so
    // it is an unknown kid against the issuer's keys.
    let (k, evil) = (key("k1"), key("evil"));
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("evil".into());
    h.jku = Some("https://evil.example/jwks".into());
    h.jwk = Some(serde_json::from_value(evil.jwk.clone()).unwrap());
    let t = jsonwebtoken::encode(&h, &good_claims(), &evil.encoding).unwrap();
    let parsed = ParsedToken::parse(&t).unwrap();
    assert_eq!(
        parsed.verify_signature(&jwks(&[&k]), &[Algorithm::ES256]),
        Err(SignatureError::UnknownKid)
    );
}

#[test]
fn wrong_issuer_and_audience_are_refused() {
    let k = key("k1");
    let mut c = good_claims();
    c["iss"] = json!("https://other.example.test");
    refused(&sign(&k, &c), &jwks(&[&k]), "`iss`");
    let mut c = good_claims();
    c["aud"] = json!("urn:elsewhere");
    refused(&sign(&k, &c), &jwks(&[&k]), "`aud`");
    let mut c = good_claims();
    c["aud"] = json!(["urn:s3gate", 7]);
    refused(&sign(&k, &c), &jwks(&[&k]), "string list");
}

#[test]
fn time_claims_are_checked_with_skew() {
    let k = key("k1");
    let keys = jwks(&[&k]);
    let mut c = good_claims();
    c["exp"] = json!(NOW - 61);
    assert_eq!(
        check(&sign(&k, &c), &keys).unwrap_err(),
        IdentityError::Expired
    );
    c["exp"] = json!(NOW - 30); // within the 60 s skew
    assert!(check(&sign(&k, &c), &keys).is_ok());
    let mut c = good_claims();
    c["nbf"] = json!(NOW + 120);
    refused(&sign(&k, &c), &keys, "`nbf`");
    let mut c = good_claims();
    c["iat"] = json!(NOW + 120);
    refused(&sign(&k, &c), &keys, "`iat`");
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("exp");
    refused(&sign(&k, &c), &keys, "no `exp`");
}

#[test]
fn claims_of_the_wrong_type_are_refused_not_skipped() {
    let k = key("k1");
    let keys = jwks(&[&k]);
    for (claim, value, needle) in [
        (
            "exp",
            json!((NOW + 300).to_string()),
            "`exp` is not a number",
        ),
        ("nbf", json!("0"), "`nbf` is not a number"),
        ("sub", json!(42), "subject is not a string"),
        ("preferred_username", json!(["a"]), "preferred_username"),
        ("groups", json!([1, 2]), "list of strings"),
        ("groups", json!({"a": 1}), "neither a list nor a string"),
        ("email_verified", json!("true"), "email_verified"),
    ] {
        let mut c = good_claims();
        c[claim] = value;
        refused(&sign(&k, &c), &keys, needle);
    }
}

#[test]
fn a_missing_required_claim_is_refused() {
    let k = key("k1");
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("email_verified");
    refused(&sign(&k, &c), &jwks(&[&k]), "email_verified");
}

#[test]
fn too_many_groups_are_refused_rather_than_truncated() {
    let k = key("k1");
    let mut c = good_claims();
    c["groups"] = json!(
        (0..=MAX_GROUPS)
            .map(|i| format!("g{i}"))
            .collect::<Vec<_>>()
    );
    refused(&sign(&k, &c), &jwks(&[&k]), "groups");
}

#[test]
fn malformed_tokens_are_refused() {
    for t in ["", "a.b", "a.b.c.d", "!!.e30.x", "e30.e30", "e30.e30.x"] {
        assert!(
            matches!(ParsedToken::parse(t), Err(IdentityError::InvalidToken(_))),
            "{t}"
        );
    }
    let crit = raw_token(
        &json!({"alg": "ES256", "crit": ["b64"]}),
        &good_claims(),
        b"x",
    );
    assert!(ParsedToken::parse(&crit).is_err());
}

fn identity_with(config: &OidcIssuerConfig, claims: &Value) -> Result<Identity, IdentityError> {
    let k = key("k1");
    check_with(&sign(&k, claims), &jwks(&[&k]), config).map(|v| v.identity)
}

#[test]
fn by_default_the_username_is_the_subject_not_preferred_username() {
    let id = identity_with(&config_with(""), &good_claims()).unwrap();
    assert_eq!(id.username.as_deref(), Some("user-1"));
}

#[test]
fn a_username_that_could_leave_its_path_segment_is_refused() {
    for bad in ["bob/shared", "..", "a..b", "*", "bo?", "", "tab\there"] {
        let mut c = good_claims();
        c["preferred_username"] = json!(bad);
        match identity_with(&config(), &c) {
            Err(IdentityError::InvalidToken(m)) => {
                assert!(m.contains("`preferred_username`"), "{bad:?}: {m}");
            }
            other => panic!("{bad:?}: expected a refusal, got {other:?}"),
        }
    }
    let mut c = good_claims();
    c["preferred_username"] = json!("bob.smith@corp");
    assert!(identity_with(&config(), &c).is_ok());
}

#[test]
fn email_is_taken_only_when_verified() {
    let mut c = good_claims();
    c["email"] = json!("ann@corp.example");
    assert_eq!(
        identity_with(&config(), &c).unwrap().email.as_deref(),
        Some("ann@corp.example")
    );
    let mut cfg_open = config_with("");
    cfg_open.required_claims.clear();
    for verified in [json!(false), json!("true"), Value::Null] {
        c["email_verified"] = verified.clone();
        let id = identity_with(&cfg_open, &c).unwrap();
        assert_eq!(id.email, None, "email_verified {verified}");
    }
}

#[test]
fn mfa_comes_from_amr_or_acr_as_configured() {
    let mut c = good_claims();
    assert_eq!(identity_with(&config(), &c).unwrap().mfa, None);
    c["amr"] = json!(["pwd"]);
    assert_eq!(identity_with(&config(), &c).unwrap().mfa, Some(false));
    c["amr"] = json!(["pwd", "mfa"]);
    assert_eq!(identity_with(&config(), &c).unwrap().mfa, Some(true));
    c["amr"] = json!(["pwd", "hwk"]);
    assert_eq!(identity_with(&config(), &c).unwrap().mfa, Some(false));
    let cfg = config_with("mfa_amr = [\"hwk\"]\nmfa_acr = [\"phr\"]\n");
    assert_eq!(identity_with(&cfg, &c).unwrap().mfa, Some(true));
    let mut c = good_claims();
    c["acr"] = json!("phr");
    assert_eq!(identity_with(&cfg, &c).unwrap().mfa, Some(true));
}
