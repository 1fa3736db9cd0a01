//! Sealed values for the login flows: the browser's session cookie, the
//! login-in-progress cookie, the CLI's one-time code and the device code.
//!
//! Pure, like the rest of [`crate::session`]. Each value is sealed under the
//! keyring's newest key with a key of its own (see [`super::keyring`]), and
//! its *purpose* is part of the associated data: a login cookie never opens
//! as a one-time code, and nothing here ever opens as a session token. The
//! payload carries its own expiry; [`Keyring::open_web`] checks it.
//!
//! ```text
//! version (1 byte, = 1) ‖ key-id length (1 byte) ‖ key id ‖ nonce (12 bytes)
//!   ‖ ChaCha20-Poly1305(payload as JSON) ‖ tag (16 bytes)
//! associated data: the header ‖ the purpose's label
//! ```

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::AeadInPlace as _;
use chacha20poly1305::{Nonce, Tag};
use rand::CryptoRng;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::keyring::Keyring;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
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
        let id = key.id.as_bytes();
        let mut out = Vec::with_capacity(2 + id.len() + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(VERSION);
        out.push(u8::try_from(id.len()).map_err(|_| WebSealError::NoKey)?);
        out.extend_from_slice(id);
        let header_len = out.len();
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        out.extend_from_slice(&nonce);
        let body_at = out.len();
        out.extend_from_slice(&plaintext);
        let aad = [&out[..header_len], purpose.label()].concat();
        let tag = key
            .web_sealer
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &aad, &mut out[body_at..])
            .map_err(|_| WebSealError::TooLarge)?;
        out.extend_from_slice(&tag);
        let sealed = URL_SAFE_NO_PAD.encode(&out);
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
        let mut raw = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| WebSealError::Invalid)?;
        let (&version, rest) = raw.split_first().ok_or(WebSealError::Invalid)?;
        let (&id_len, rest) = rest.split_first().ok_or(WebSealError::Invalid)?;
        let id_len = usize::from(id_len);
        if version != VERSION || id_len == 0 || rest.len() < id_len + NONCE_LEN + TAG_LEN {
            return Err(WebSealError::Invalid);
        }
        let key = self.key(&rest[..id_len]).ok_or(WebSealError::Invalid)?;
        let header_len = 2 + id_len;
        let aad = [&raw[..header_len], purpose.label()].concat();
        let nonce_at = header_len;
        let body_at = nonce_at + NONCE_LEN;
        let tag_at = raw.len() - TAG_LEN;
        let nonce = *Nonce::from_slice(&raw[nonce_at..body_at]);
        let tag = *Tag::from_slice(&raw[tag_at..]);
        key.web_sealer
            .decrypt_in_place_detached(&nonce, &aad, &mut raw[body_at..tag_at], &tag)
            .map_err(|_| WebSealError::Invalid)?;
        let payload: T =
            serde_json::from_slice(&raw[body_at..tag_at]).map_err(|_| WebSealError::Invalid)?;
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
