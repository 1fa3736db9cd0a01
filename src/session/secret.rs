//! Secret values as types: zeroized on drop, `Debug` redacted, one
//! `expose()` reader, constant-time equality.
//!
//! Owns no policy; depends only on `zeroize` and `subtle`.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// A secret string: a secret access key, or a keyring file's text.
#[derive(Clone)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> SecretString {
        SecretString(value)
    }

    /// The secret itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SecretString {}

/// A 32-byte master key of the keyring.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(Zeroizing::new(bytes))
    }

    /// The key bytes. Only the keyring derives from them.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretString::new("wJalrXUtnFEMI/K7MDENG".into());
        assert!(!format!("{s:?}").contains("wJal"));
        let k = MasterKey::from_bytes([0x41; 32]);
        assert!(!format!("{k:?}").contains("65"));
        assert!(!format!("{k:?}").contains('A'));
    }

    #[test]
    fn equality_compares_content() {
        assert_eq!(SecretString::new("a".into()), SecretString::new("a".into()));
        assert_ne!(
            SecretString::new("a".into()),
            SecretString::new("ab".into())
        );
    }
}
