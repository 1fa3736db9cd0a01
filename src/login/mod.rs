//! Signing people in: the browser portal at `/_s3gate/` and the CLI's
//! `s3gate login` (loopback callback or device code).
//!
//! This module owns what travels between the browser, the CLI and the
//! gateway: the sealed payloads (see [`crate::session::web`]), the cookies,
//! the checks on redirect targets and CLI parameters, and the pages. It is
//! pure except [`rp`] (the OIDC relying party, which talks to the provider).
//! The HTTP routes that use it are `gateway::portal`.
//!
//! Everything a login needs is sealed into what the browser or the CLI
//! carries back, so any instance sharing the keyring can finish a login
//! another began. The exceptions, device approvals and one-time codes
//! already traded, are kept in [`crate::shared`] (per instance by default,
//! in one DynamoDB table for many).

pub mod device;
pub mod page;
pub mod rp;
pub mod share;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::session::Identity;
use crate::session::web::Expiring;

/// The browser's signed-in state (cookie [`SESSION_COOKIE`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrowserSession {
    pub identity: Identity,
    /// Unix seconds.
    pub exp: u64,
}

impl Expiring for BrowserSession {
    fn expires_at(&self) -> u64 {
        self.exp
    }
}

/// A login under way, from `/_s3gate/login` to the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginState {
    /// OAuth `state`, compared with the callback's.
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to go afterwards: one of s3gate's own paths (see
    /// [`safe_next`]).
    pub next: String,
    pub exp: u64,
}

impl Expiring for LoginState {
    fn expires_at(&self) -> u64 {
        self.exp
    }
}

/// The one-time code `s3gate login` receives on its loopback callback and
/// trades, with its PKCE verifier, for credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CliCode {
    /// Random; a code is accepted once per instance.
    pub id: String,
    pub identity: Identity,
    /// SHA-256 of the CLI's verifier, base64url.
    pub challenge: String,
    /// The browser session's end: credentials never outlive it.
    pub session_exp: u64,
    pub exp: u64,
}

impl Expiring for CliCode {
    fn expires_at(&self) -> u64 {
        self.exp
    }
}

/// What `s3gate login --device` polls with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceCode {
    pub user_code: String,
    pub exp: u64,
}

impl Expiring for DeviceCode {
    fn expires_at(&self) -> u64 {
        self.exp
    }
}

/// The browser session cookie (`__Host-` prefixed over TLS).
pub const SESSION_COOKIE: &str = "s3gate_session";
/// The login-in-progress cookie.
pub const LOGIN_COOKIE: &str = "s3gate_login";
/// How long a login may take at the provider.
pub const LOGIN_STATE_TTL: u64 = 600;
/// How long the CLI has to trade its code.
pub const CLI_CODE_TTL: u64 = 120;
/// How long a device code waits for approval.
pub const DEVICE_CODE_TTL: u64 = 600;
/// Seconds between device polls.
pub const DEVICE_POLL_INTERVAL: u64 = 2;

/// A cookie's name as sent: `__Host-` prefixed when `secure`, so a
/// browser accepts it only with `Secure`, `Path=/` and no `Domain`, set
/// over TLS by this very host: no sibling host (an S3 host under the same
/// domain, say) can plant or overwrite it.
pub fn cookie_name(base: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax` (sent on the
/// provider's top-level redirect back, never on a cross-site POST), host
/// only (no `Domain`). Over TLS `Secure` and `Path=/`, as the `__Host-`
/// prefix demands (the portal has a host of its own, see
/// [`origin`]); over plain loopback HTTP, path `/_s3gate/`, so it does not
/// ride along on S3 requests when one host serves both. (s3gate never
/// forwards `Cookie` upstream either way.) `max_age` 0 deletes it.
pub fn set_cookie(base: &str, value: &str, max_age: u64, secure: bool) -> String {
    format!(
        "{}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        cookie_name(base, secure),
        if secure { "/" } else { "/_s3gate/" },
        if secure { "; Secure" } else { "" }
    )
}

/// The value of cookie `base` in a `Cookie` header, if present.
pub fn cookie_value<'h>(
    headers: impl Iterator<Item = &'h str>,
    base: &str,
    secure: bool,
) -> Option<&'h str> {
    let name = cookie_name(base, secure);
    headers
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// `next` if it is one of s3gate's own pages, else the portal. Refuses
/// anything a browser could read as another origin (`//host`, `/\host`,
/// schemes) or that leaves `/_s3gate/`: no open redirect.
pub fn safe_next(next: Option<&str>) -> String {
    const HOME: &str = "/_s3gate/";
    let Some(next) = next else {
        return HOME.to_owned();
    };
    let ok = next.starts_with(HOME)
        && next.len() <= 2048
        && !next.contains("..")
        && !next.contains('\\')
        && !next.contains("//")
        && next.bytes().all(|b| b.is_ascii_graphic());
    if ok { next.to_owned() } else { HOME.to_owned() }
}

/// The CLI's loopback callback, from the port it asked for: always
/// `127.0.0.1`, never a host the request names.
pub fn loopback_callback(port: &str, state: &str, code: &str) -> Option<String> {
    loopback(port, state, "code", code)
}

/// The loopback callback telling the CLI the person refused
/// (`error=access_denied`), so it stops waiting.
pub fn loopback_refusal(port: &str, state: &str) -> Option<String> {
    loopback(port, state, "error", "access_denied")
}

fn loopback(port: &str, state: &str, name: &str, value: &str) -> Option<String> {
    let port: u16 = port.parse().ok().filter(|p| *p >= 1024)?;
    Some(format!(
        "http://127.0.0.1:{port}/callback?{name}={value}&state={}",
        form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
    ))
}

/// Whether `s` is base64url text of a plausible length for a state or a
/// PKCE challenge (43 characters = 32 bytes).
pub fn is_token_text(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// PKCE S256: base64url(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` answers `challenge`, in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    let computed = pkce_challenge(verifier);
    computed.len() == challenge.len() && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// Random base64url text of `bytes` random bytes.
pub fn random_token(bytes: usize, rng: &mut impl rand::CryptoRng) -> String {
    use base64::Engine as _;
    let mut buf = vec![0u8; bytes];
    rng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Letters a person reads off one screen and types on another: no vowels
/// (no words), none of 0/O, 1/I/L.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKMNPQRSTVWXZ2";

/// A device flow's user code, `XXXX-XXXX` (about 34 bits).
pub fn new_user_code(rng: &mut impl rand::CryptoRng) -> String {
    let mut out = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            out.push('-');
        }
        let pick = (rng.next_u32() % USER_CODE_ALPHABET.len() as u32) as usize;
        out.push(char::from(USER_CODE_ALPHABET[pick]));
    }
    out
}

/// A typed user code in its canonical form: upper case, the dash where it
/// belongs, spaces ignored; `None` if it cannot be one.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let letters: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if letters.len() != 8 || !letters.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)) {
        return None;
    }
    Some(format!("{}-{}", &letters[..4], &letters[4..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_s3gate_pages() {
        assert_eq!(safe_next(None), "/_s3gate/");
        assert_eq!(
            safe_next(Some("/_s3gate/cli?port=5000&state=x")),
            "/_s3gate/cli?port=5000&state=x"
        );
        for evil in [
            "https://evil.example/",
            "//evil.example/_s3gate/",
            "/\\evil.example",
            "/_s3gate/../bucket/key",
            "/_s3gate//evil",
            "/bucket/key",
            "/_s3gate/\u{0}",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(Some(evil)), "/_s3gate/", "{evil}");
        }
    }

    #[test]
    fn cookies_round_trip_and_are_prefixed_under_tls() {
        let c = set_cookie(SESSION_COOKIE, "abc", 60, true);
        assert_eq!(
            c,
            "__Host-s3gate_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(!c.contains("Domain"), "host-only: {c}");
        let plain = set_cookie(SESSION_COOKIE, "abc", 60, false);
        assert!(!plain.contains("Secure") && plain.starts_with("s3gate_session=abc;"));
        let headers = ["a=1; s3gate_login=zz", "s3gate_session=v1"];
        assert_eq!(
            cookie_value(headers.iter().copied(), SESSION_COOKIE, false),
            Some("v1")
        );
        assert_eq!(
            cookie_value(headers.iter().copied(), SESSION_COOKIE, true),
            None
        );
    }

    #[test]
    fn the_cli_callback_is_always_loopback() {
        assert_eq!(
            loopback_callback("53682", "s t", "C").as_deref(),
            Some("http://127.0.0.1:53682/callback?code=C&state=s+t")
        );
        assert_eq!(loopback_callback("80", "s", "C"), None);
        assert_eq!(
            loopback_refusal("53682", "st").as_deref(),
            Some("http://127.0.0.1:53682/callback?error=access_denied&state=st")
        );
        assert_eq!(loopback_callback("evil.example:80", "s", "C"), None);
        assert_eq!(loopback_callback("70000", "s", "C"), None);
    }

    #[test]
    fn pkce_is_rfc7636_s256() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            pkce_challenge(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "other",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }

    #[test]
    fn user_codes_are_typeable() {
        let code = new_user_code(&mut rand::rng());
        assert_eq!(code.len(), 9);
        assert_eq!(normalize_user_code(&code).as_deref(), Some(code.as_str()));
        assert_eq!(
            normalize_user_code(&code.to_lowercase().replace('-', " ")).as_deref(),
            Some(code.as_str())
        );
        assert_eq!(normalize_user_code("ABCD-EFGH"), None); // vowels
        assert_eq!(normalize_user_code("BCDF"), None);
    }
}
