//! A grant's `encryption` settings: which caller-chosen keys its requests
//! may use, and whether its writes must ask for server-side encryption.
//!
//! ```toml
//! [[grant]]
//! # …
//! encryption = { require = "aws:kms", kms_keys = ["arn:aws:kms:eu-west-1:111122223333:key/*"] }
//! ```
//!
//! - `kms_keys`: patterns (`*` any run) of the SSE-KMS key ids the grant's
//!   uploads may name in `x-amz-server-side-encryption-aws-kms-key-id`.
//!   Without it, a request naming a key is not allowed by the grant.
//! - `customer_keys = true`: the grant's requests may carry SSE-C keys.
//! - `require = "AES256" | "aws:kms" | "any"`: the grant allows uploads
//!   (`s3:PutObject`) only when they ask for that encryption (`aws:kms`
//!   also accepts `aws:kms:dsse`; `any` any of them or SSE-C).
//!
//! A caller-chosen key decides who can ever read the object (a key in
//! another account can be withdrawn), so it is a right like any other:
//! granted, never assumed. Pure; depends on [`crate::s3`] for the request's
//! [`Encryption`] and on [`super::Pattern`].

use super::Pattern;
use crate::s3::{Action, Encryption};

/// What a grant's writes must ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// SSE-S3.
    Aes256,
    /// SSE-KMS, single or dual layer.
    Kms,
    /// Any server-side encryption (including SSE-C).
    Any,
}

impl Required {
    pub fn parse(text: &str) -> Result<Required, String> {
        match text {
            "AES256" => Ok(Required::Aes256),
            "aws:kms" => Ok(Required::Kms),
            "any" => Ok(Required::Any),
            _ => Err(format!(
                "encryption `require = \"{text}\"`: expected \"AES256\", \"aws:kms\" or \"any\""
            )),
        }
    }

    fn holds(self, e: &Encryption) -> bool {
        let mode = e.mode.as_deref();
        match self {
            Required::Aes256 => mode == Some("AES256"),
            Required::Kms => matches!(mode, Some("aws:kms" | "aws:kms:dsse")),
            Required::Any => mode.is_some() || e.customer_key,
        }
    }
}

/// A grant's `encryption` table; the default allows no caller-chosen key
/// and requires nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionRule {
    pub kms_keys: Vec<Pattern>,
    pub customer_keys: bool,
    pub require: Option<Required>,
}

impl EncryptionRule {
    /// Whether a grant with these settings may allow `action` of a request
    /// asking for `e`. Key choices bind every pair of the request (the key
    /// is used for all of it); a requirement binds uploads only.
    pub fn permits(&self, action: Action, e: &Encryption) -> bool {
        if action == Action::PutObject && self.require.is_some_and(|r| !r.holds(e)) {
            return false;
        }
        if let Some(key) = &e.kms_key_id
            && !self.kms_keys.iter().any(|p| p.matches(key))
        {
            return false;
        }
        !e.customer_key || self.customer_keys
    }

    /// Why a request asking for `e` needs a grant with other settings, in
    /// words, for the denial message.
    pub fn explain(e: &Encryption) -> String {
        let mut parts = Vec::new();
        if let Some(key) = &e.kms_key_id {
            parts.push(format!("the KMS key {key} (a grant's encryption.kms_keys)"));
        }
        if e.customer_key {
            parts.push("an SSE-C customer key (encryption.customer_keys)".to_owned());
        }
        match &e.mode {
            Some(mode) => parts.push(format!("server-side encryption {mode}")),
            None if !e.customer_key => {
                parts.push("no server-side encryption (a grant's encryption.require)".to_owned());
            }
            None => {}
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(mode: Option<&str>, key: Option<&str>, customer: bool) -> Encryption {
        Encryption {
            mode: mode.map(str::to_owned),
            kms_key_id: key.map(str::to_owned),
            customer_key: customer,
        }
    }

    #[test]
    fn the_default_allows_store_keys_only() {
        let rule = EncryptionRule::default();
        assert!(rule.permits(Action::PutObject, &enc(None, None, false)));
        assert!(rule.permits(Action::PutObject, &enc(Some("AES256"), None, false)));
        assert!(rule.permits(Action::PutObject, &enc(Some("aws:kms"), None, false)));
        assert!(!rule.permits(
            Action::PutObject,
            &enc(Some("aws:kms"), Some("arn:k"), false)
        ));
        assert!(!rule.permits(Action::GetObject, &enc(None, None, true)));
    }

    #[test]
    fn listed_keys_and_customer_keys_are_allowed() {
        let rule = EncryptionRule {
            kms_keys: vec![Pattern::new("arn:aws:kms:eu-west-1:111122223333:key/*")],
            customer_keys: true,
            require: None,
        };
        let ours = "arn:aws:kms:eu-west-1:111122223333:key/abc";
        let theirs = "arn:aws:kms:eu-west-1:999999999999:key/abc";
        assert!(rule.permits(Action::PutObject, &enc(Some("aws:kms"), Some(ours), false)));
        assert!(!rule.permits(
            Action::PutObject,
            &enc(Some("aws:kms"), Some(theirs), false)
        ));
        assert!(rule.permits(Action::GetObject, &enc(None, None, true)));
    }

    #[test]
    fn a_requirement_binds_uploads_only() {
        let rule = EncryptionRule {
            require: Some(Required::Kms),
            ..Default::default()
        };
        assert!(!rule.permits(Action::PutObject, &enc(None, None, false)));
        assert!(!rule.permits(Action::PutObject, &enc(Some("AES256"), None, false)));
        assert!(rule.permits(Action::PutObject, &enc(Some("aws:kms"), None, false)));
        assert!(rule.permits(Action::PutObject, &enc(Some("aws:kms:dsse"), None, false)));
        assert!(rule.permits(Action::GetObject, &enc(None, None, false)));
        let any = EncryptionRule {
            require: Some(Required::Any),
            customer_keys: true,
            ..Default::default()
        };
        assert!(any.permits(Action::PutObject, &enc(None, None, true)));
        assert!(!any.permits(Action::PutObject, &enc(None, None, false)));
        assert!(Required::parse("aws:kms:dsse").is_err());
    }
}
