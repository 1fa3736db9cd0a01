//! The one-instance default: everything in this process's memory, as
//! s3gate always kept it. Behind a load balancer it is per instance (a
//! code replayed to another instance is not recognised there, a device
//! approval waits on the instance that recorded it): use
//! [`super::dynamodb`] there.
//!
//! Lease counters are kept here too, so the leasing logic
//! ([`super::quota`]) runs in-process in tests exactly as against the
//! table; the default gateway counts quotas without leases.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use moka::sync::Cache;

use super::{Approval, LeaseKey, SharedError, SharedState};
use crate::login::{CLI_CODE_TTL, DEVICE_CODE_TTL};
use crate::session::quota::LEDGER_CAPACITY;

/// Most device codes awaiting pickup at once; past it the oldest go.
const MAX_PENDING: u64 = 10_000;

/// A lease counter unused this long is forgotten (no session lives longer).
const LEASE_IDLE: Duration = Duration::from_secs(12 * 3600);

pub struct MemoryState {
    approved: Cache<String, (Approval, u64)>,
    used: Cache<String, ()>,
    leased: Cache<String, Arc<Mutex<u64>>>,
}

impl std::fmt::Debug for MemoryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryState").finish_non_exhaustive()
    }
}

impl Default for MemoryState {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryState {
    pub fn new() -> Self {
        Self {
            approved: Cache::builder()
                .max_capacity(MAX_PENDING)
                .time_to_live(Duration::from_secs(DEVICE_CODE_TTL))
                .build(),
            used: Cache::builder()
                .max_capacity(MAX_PENDING)
                .time_to_live(Duration::from_secs(CLI_CODE_TTL))
                .build(),
            leased: Cache::builder()
                .max_capacity(LEDGER_CAPACITY)
                .time_to_idle(LEASE_IDLE)
                .build(),
        }
    }

    fn counter(&self, key: &LeaseKey) -> Arc<Mutex<u64>> {
        self.leased.get_with(key.name(), Arc::default)
    }
}

fn poisoned<T>(_: T) -> SharedError {
    SharedError("a lease counter's lock is poisoned".into())
}

#[async_trait]
impl SharedState for MemoryState {
    async fn claim_code(&self, code_id: &str, _expires_at: u64) -> Result<bool, SharedError> {
        Ok(self
            .used
            .entry(code_id.to_owned())
            .or_insert_with(|| ())
            .is_fresh())
    }

    async fn put_approval(
        &self,
        user_code: &str,
        approval: &Approval,
        expires_at: u64,
    ) -> Result<bool, SharedError> {
        Ok(self
            .approved
            .entry(user_code.to_owned())
            .or_insert_with(|| (approval.clone(), expires_at))
            .is_fresh())
    }

    async fn take_approval(
        &self,
        user_code: &str,
        now: u64,
    ) -> Result<Option<Approval>, SharedError> {
        Ok(self
            .approved
            .remove(user_code)
            .filter(|(_, exp)| *exp > now)
            .map(|(a, _)| a))
    }

    async fn lease(
        &self,
        key: &LeaseKey,
        want: u64,
        max: u64,
        _expires_at: u64,
    ) -> Result<u64, SharedError> {
        let counter = self.counter(key);
        let mut leased = counter.lock().map_err(poisoned)?;
        let granted = want.min(max.saturating_sub(*leased));
        *leased += granted;
        Ok(granted)
    }

    async fn give_back(&self, key: &LeaseKey, n: u64) -> Result<(), SharedError> {
        let counter = self.counter(key);
        let mut leased = counter.lock().map_err(poisoned)?;
        *leased = leased.saturating_sub(n);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;
    use crate::principal::Identity;

    #[tokio::test]
    async fn approvals_are_taken_once_and_codes_used_once() {
        let t = MemoryState::new();
        assert!(t.take_approval("BCDF-GHJK", 5).await.unwrap().is_none());
        let a = Approval {
            identity: Identity::new("oidc", "alice"),
            session_exp: 10,
        };
        assert!(t.put_approval("BCDF-GHJK", &a, 100).await.unwrap());
        // A second approval of the same code does not replace the first.
        let mallory = Approval {
            identity: Identity::new("oidc", "mallory"),
            session_exp: 10,
        };
        assert!(!t.put_approval("BCDF-GHJK", &mallory, 100).await.unwrap());
        assert_eq!(
            t.take_approval("BCDF-GHJK", 5).await.unwrap(),
            Some(a.clone())
        );
        assert!(t.take_approval("BCDF-GHJK", 5).await.unwrap().is_none());
        // Past its expiry an approval is not handed out.
        assert!(t.put_approval("CDFG-HJKL", &a, 100).await.unwrap());
        assert!(t.take_approval("CDFG-HJKL", 100).await.unwrap().is_none());
        assert!(t.claim_code("c1", 0).await.unwrap());
        assert!(!t.claim_code("c1", 0).await.unwrap());
        assert!(t.claim_code("c2", 0).await.unwrap());
    }

    #[tokio::test]
    async fn leases_never_pass_the_limit_and_returns_free_it() {
        let t = MemoryState::new();
        let key = LeaseKey {
            session_id: "s1".into(),
            limit: crate::session::quota::Limit::Requests,
        };
        assert_eq!(t.lease(&key, 4, 10, 0).await.unwrap(), 4);
        assert_eq!(t.lease(&key, 4, 10, 0).await.unwrap(), 4);
        assert_eq!(t.lease(&key, 4, 10, 0).await.unwrap(), 2);
        assert_eq!(t.lease(&key, 4, 10, 0).await.unwrap(), 0);
        t.give_back(&key, 3).await.unwrap();
        assert_eq!(t.lease(&key, 4, 10, 0).await.unwrap(), 3);
    }
}
