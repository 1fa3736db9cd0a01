//! Sealed values for the login flows: the browser's session cookie, the
//! login-in-progress cookie, the CLI's one-time code and the device code.
//!
//! Pure, like the rest of [`crate::session`]. Each value is sealed under the
//! keyring's newest key with a key of its own (see [`super::keyring`]), and
//! its *purpose* is part of the associated data: a login cookie never opens
//! as a one-time code, and nothing here ever opens as a session token. The
//! payload carries its own expiry; [`Keyring::open_web`] checks it.
//!
//! The payload is JSON in the keyring's envelope ([`super::envelope`]),
//! sealed with the keys' web sealer and labelled with the purpose.

use std::time::SystemTime;

use rand::CryptoRng;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::envelope;
use super::keyring::{KeyEntry, Keyring};

/// Web values are sealed with the keys' web sealer, never the token one.
fn web_sealer(key: &KeyEntry) -> &chacha20poly1305::ChaCha20Poly1305 {
    &key.web_sealer
}

/// Longest sealed value accepted: a cookie must stay under 4 KiB.
pub const MAX_SEALED_LEN: usize = 3900;

/// What a sealed value is for; part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A browser that finished logging in (the portal's cookie).
    BrowserSession,
    /// A login under way: state, nonce and PKCE verifier until the callback.
    LoginState,
    /// The code handed to `s3gate login` on its loopback callback.
    CliCode,
    /// The device code `s3gate login --device` polls with.
    DeviceCode,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::BrowserSession => b"browser-session",
            Purpose::LoginState => b"login-state",
            Purpose::CliCode => b"cli-code",
            Purpose::DeviceCode => b"device-code",
        }
    }
}

/// A payload that expires.
pub trait Expiring {
    /// Unix seconds from which the value no longer opens.
    fn expires_at(&self) -> u64;
}

/// Why a sealed value did not open. Deliberately coarse: the caller says
/// "sign in again" either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebSealError {
    #[error("not a value s3gate sealed (or sealed by a key no longer in the keyring)")]
    Invalid,
    #[error("expired")]
    Expired,
    #[error("too large to seal")]
    TooLarge,
    #[error("the keyring has no key")]
    NoKey,
}

impl Keyring {
    /// Seals `payload` for `purpose` under the newest key.
    pub fn seal_web<T: Serialize>(
        &self,
        purpose: Purpose,
        payload: &T,
        rng: &mut impl CryptoRng,
    ) -> Result<String, WebSealError> {
        let key = self.keys.last().ok_or(WebSealError::NoKey)?;
        let plaintext = serde_json::to_vec(payload).map_err(|_| WebSealError::TooLarge)?;
        let sealed = envelope::seal(key, web_sealer, purpose.label(), &plaintext, rng)
            .map_err(|_| WebSealError::TooLarge)?;
        if sealed.len() > MAX_SEALED_LEN {
            return Err(WebSealError::TooLarge);
        }
        Ok(sealed)
    }

    /// Opens a value sealed for `purpose` by any key of the keyring, and
    /// refuses it from its expiry on.
    pub fn open_web<T: DeserializeOwned + Expiring>(
        &self,
        purpose: Purpose,
        sealed: &str,
        now: SystemTime,
    ) -> Result<T, WebSealError> {
        if sealed.len() > MAX_SEALED_LEN {
            return Err(WebSealError::Invalid);
        }
        let (_, body) = envelope::open(self, web_sealer, purpose.label(), sealed)
            .map_err(|_| WebSealError::Invalid)?;
        let payload: T = serde_json::from_slice(&body).map_err(|_| WebSealError::Invalid)?;
        let now = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if now >= payload.expires_at() {
            return Err(WebSealError::Expired);
        }
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use std::time::{Duration, UNIX_EPOCH};

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Note {
        text: String,
        exp: u64,
    }

    impl Expiring for Note {
        fn expires_at(&self) -> u64 {
            self.exp
        }
    }

    fn keyring() -> Keyring {
        Keyring::generate("k1", &mut rand::rng()).unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn opens_for_its_purpose_until_it_expires() {
        let k = keyring();
        let note = Note {
            text: "hi".into(),
            exp: 1000,
        };
        let sealed = k
            .seal_web(Purpose::CliCode, &note, &mut rand::rng())
            .unwrap();
        assert_eq!(
            k.open_web::<Note>(Purpose::CliCode, &sealed, at(999))
                .unwrap(),
            note
        );
        assert_eq!(
            k.open_web::<Note>(Purpose::CliCode, &sealed, at(1000)),
            Err(WebSealError::Expired)
        );
        // Another purpose, another key's holder, or one flipped bit: refused.
        assert_eq!(
            k.open_web::<Note>(Purpose::BrowserSession, &sealed, at(1)),
            Err(WebSealError::Invalid)
        );
        assert_eq!(
            keyring().open_web::<Note>(Purpose::CliCode, &sealed, at(1)),
            Err(WebSealError::Invalid)
        );
        let mut raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = raw.len() - 20;
        raw[last] ^= 1;
        assert_eq!(
            k.open_web::<Note>(Purpose::CliCode, &URL_SAFE_NO_PAD.encode(raw), at(1)),
            Err(WebSealError::Invalid)
        );
    }

    #[test]
    fn a_session_token_never_opens_as_a_web_value() {
        let k = keyring();
        let creds = k
            .mint(
                super::super::Identity::new("mint", "alice"),
                crate::policy::Scope::all(),
                at(0),
                Duration::from_secs(60),
                Vec::new(),
                &mut rand::rng(),
            )
            .unwrap();
        for purpose in [
            Purpose::BrowserSession,
            Purpose::LoginState,
            Purpose::CliCode,
            Purpose::DeviceCode,
        ] {
            assert_eq!(
                k.open_web::<Note>(purpose, &creds.session_token, at(1)),
                Err(WebSealError::Invalid)
            );
        }
    }

    #[test]
    fn older_keys_still_open_and_oversize_is_refused() {
        let mut k = keyring();
        let note = Note {
            text: "x".into(),
            exp: 10,
        };
        let sealed = k
            .seal_web(Purpose::LoginState, &note, &mut rand::rng())
            .unwrap();
        k.add_key("k2", &mut rand::rng()).unwrap();
        assert!(
            k.open_web::<Note>(Purpose::LoginState, &sealed, at(1))
                .is_ok()
        );
        let big = Note {
            text: "y".repeat(MAX_SEALED_LEN),
            exp: 10,
        };
        assert_eq!(
            k.seal_web(Purpose::LoginState, &big, &mut rand::rng()),
            Err(WebSealError::TooLarge)
        );
    }
}
