//! The one AEAD envelope every sealed value uses: session tokens and the
//! sign-in flows' web values (cookies, one-time codes, device codes).
//!
//! ```text
//! version (1 byte, = 1) ‖ key-id length (1 byte) ‖ key id ‖ nonce (12 bytes)
//!   ‖ ChaCha20-Poly1305(payload) ‖ tag (16 bytes)
//! associated data: the header (version, length, key id) ‖ a label
//! ```
//!
//! then base64url without padding. The header is authenticated, so it
//! cannot be altered without the tag failing; the label (empty for session
//! tokens, the purpose for web values) is never sent, so a value sealed for
//! one purpose never opens as another. Which key seals (the token sealer or
//! the web sealer) is the caller's choice, so a token never opens as a web
//! value either. Pure: randomness comes from the caller.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::AeadInPlace as _;
use chacha20poly1305::{ChaCha20Poly1305, Nonce, Tag};
use rand::CryptoRng;

use super::keyring::{KeyEntry, Keyring};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why an envelope did not seal or open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EnvelopeError {
    /// Not base64url, or not the envelope's shape.
    Malformed,
    /// No key of the keyring has the envelope's key id.
    UnknownKey,
    /// The tag does not verify: altered, or sealed for another purpose.
    Tampered,
    /// The payload (or the key id) is too large to seal.
    TooLarge,
}

/// Which of a key's two sealers: tokens and web values never share one.
pub(super) type Sealer = fn(&KeyEntry) -> &ChaCha20Poly1305;

fn aad<'a>(header: &'a [u8], label: &[u8]) -> Cow<'a, [u8]> {
    if label.is_empty() {
        Cow::Borrowed(header)
    } else {
        Cow::Owned([header, label].concat())
    }
}

/// Seals `plaintext` under `key`, base64url-encoded.
pub(super) fn seal(
    key: &KeyEntry,
    sealer: Sealer,
    label: &[u8],
    plaintext: &[u8],
    rng: &mut impl CryptoRng,
) -> Result<String, EnvelopeError> {
    let id = key.id.as_bytes();
    let header_len = 2 + id.len();
    let mut out = Vec::with_capacity(header_len + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.push(VERSION);
    // Key ids are at most 64 bytes (validated by the keyring).
    out.push(u8::try_from(id.len()).map_err(|_| EnvelopeError::TooLarge)?);
    out.extend_from_slice(id);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    out.extend_from_slice(&nonce);
    let body_at = out.len();
    out.extend_from_slice(plaintext);
    let (head, body) = out.split_at_mut(body_at);
    let tag = sealer(key)
        .encrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            &aad(&head[..header_len], label),
            body,
        )
        .map_err(|_| EnvelopeError::TooLarge)?;
    out.extend_from_slice(&tag);
    Ok(URL_SAFE_NO_PAD.encode(&out))
}

/// Opens an envelope sealed by any key of `keyring`: the key, and the
/// payload.
pub(super) fn open<'k>(
    keyring: &'k Keyring,
    sealer: Sealer,
    label: &[u8],
    sealed: &str,
) -> Result<(&'k KeyEntry, Vec<u8>), EnvelopeError> {
    let mut raw = URL_SAFE_NO_PAD
        .decode(sealed)
        .map_err(|_| EnvelopeError::Malformed)?;
    let (&version, rest) = raw.split_first().ok_or(EnvelopeError::Malformed)?;
    let (&id_len, rest) = rest.split_first().ok_or(EnvelopeError::Malformed)?;
    let id_len = usize::from(id_len);
    if version != VERSION || id_len == 0 || rest.len() < id_len + NONCE_LEN + TAG_LEN {
        return Err(EnvelopeError::Malformed);
    }
    let key = keyring
        .key(&rest[..id_len])
        .ok_or(EnvelopeError::UnknownKey)?;
    let header_len = 2 + id_len;
    let (header, rest) = raw.split_at_mut(header_len);
    let (nonce, rest) = rest.split_at_mut(NONCE_LEN);
    let tag_at = rest.len() - TAG_LEN;
    let (body, tag) = rest.split_at_mut(tag_at);
    sealer(key)
        .decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            &aad(header, label),
            body,
            Tag::from_slice(tag),
        )
        .map_err(|_| EnvelopeError::Tampered)?;
    let body_at = header_len + NONCE_LEN;
    raw.truncate(body_at + tag_at);
    raw.drain(..body_at);
    Ok((key, raw))
}
