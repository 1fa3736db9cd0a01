//! The derived signing key of one secret, kept for its day: a client's
//! requests after its first skip the four HMACs of the key derivation.
//!
//! Belongs to one secret (a session's): whoever holds the cache passes that
//! secret and no other. The day, region and service of each request are
//! compared on every use, so a request for another scope derives its own
//! key (and replaces the cached one) and is never verified with a key that
//! is not its own. Read without a lock (an atomically swapped entry).

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use super::canonical::SigningKey;

struct Cached {
    date: String,
    region: String,
    service: String,
    key: SigningKey,
}

/// One secret's latest signing key.
#[derive(Default)]
pub struct SigningKeyCache {
    slot: ArcSwapOption<Cached>,
}

impl std::fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKeyCache(<redacted>)")
    }
}

impl SigningKeyCache {
    pub fn new() -> SigningKeyCache {
        SigningKeyCache::default()
    }

    /// The signing key of `secret` for this scope, from the cache when it
    /// holds the same scope's.
    pub(super) fn key(&self, secret: &[u8], date: &str, region: &str, service: &str) -> SigningKey {
        if let Some(hit) = &*self.slot.load()
            && hit.date == date
            && hit.region == region
            && hit.service == service
        {
            return hit.key.clone();
        }
        let key = SigningKey::derive(secret, date, region, service);
        self.slot.store(Some(Arc::new(Cached {
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            key: key.clone(),
        })));
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::canonical::signature_of_hash;

    /// What a key signs, since keys themselves cannot be compared.
    fn sig(key: &SigningKey) -> [u8; 32] {
        signature_of_hash(key, "20130524T000000Z", "scope", &[7; 32])
    }

    #[test]
    fn each_scope_gets_its_own_key_whatever_was_cached() {
        let cache = SigningKeyCache::new();
        let scopes = [
            ("20130524", "us-east-1", "s3"),
            ("20130524", "us-east-1", "s3"),
            ("20130525", "us-east-1", "s3"),
            ("20130525", "eu-west-1", "s3"),
            ("20130525", "eu-west-1", "sts"),
            ("20130524", "us-east-1", "s3"),
        ];
        for (date, region, service) in scopes {
            let fresh = SigningKey::derive(b"secret", date, region, service);
            assert_eq!(
                sig(&cache.key(b"secret", date, region, service)),
                sig(&fresh),
                "{date} {region} {service}"
            );
        }
    }
}
