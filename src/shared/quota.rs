//! Quotas exact across instances: each instance leases blocks of a
//! session's remaining allowance from the [`SharedState`] and counts
//! against what it holds, in memory, with no round trip per request.
//!
//! The bound: the leased total never passes a limit (each lease is one
//! conditional update), so requests and bytes written are never over-used
//! across instances. What instances hold and have not used is allowance
//! that others cannot use until it is given back ([`Quotas::return_unused`]
//! at shutdown): a request may be refused while up to `quota_block` ×
//! (instances − 1) of the allowance sits leased elsewhere. Bytes read are
//! counted as they stream, so a read admitted below the limit may pass it,
//! as on one instance: each instance's overdraft is at most its reads in
//! flight, and is leased (counted) at that instance's next read.
//!
//! When the store cannot be reached, a request is served from this
//! instance's current lease while it lasts, then refused with
//! [`QuotaError::Unavailable`] (503): never counted nowhere.

use std::sync::Arc;
use std::time::SystemTime;

use super::{LeaseKey, SharedState};
use crate::session::quota::{Limit, Refusal};
use crate::session::{Claims, Demand, QuotaError, QuotaLedger, ReadMeter};

/// Leases per admission before giving up: each round leases what the last
/// one lacked, so more than a few means the store is being raced hard.
const MAX_ROUNDS: usize = 8;

/// The gateway's quota counts: this instance's own, or leased from the
/// shared store.
pub struct Quotas {
    ledger: QuotaLedger,
    leases: Option<Leases>,
}

struct Leases {
    state: Arc<dyn SharedState>,
    block: u64,
}

impl std::fmt::Debug for Quotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quotas")
            .field("ledger", &self.ledger)
            .field("leased", &self.leases.as_ref().map(|l| l.block))
            .finish()
    }
}

impl Quotas {
    /// Counts on this instance alone (one instance, `backend = "memory"`).
    pub fn local() -> Quotas {
        Quotas {
            ledger: QuotaLedger::new(),
            leases: None,
        }
    }

    /// Leases blocks of `block` units from `state`.
    pub fn leased(state: Arc<dyn SharedState>, block: u64) -> Quotas {
        Quotas {
            ledger: QuotaLedger::new(),
            leases: Some(Leases {
                state,
                block: block.max(1),
            }),
        }
    }

    /// Admits a request or refuses it with nothing charged (see
    /// [`QuotaLedger::admit`]), leasing more allowance when this
    /// instance's is spent.
    pub async fn admit(
        &self,
        claims: &Claims,
        demand: Demand,
        now: SystemTime,
    ) -> Result<ReadMeter, QuotaError> {
        let Some(leases) = &self.leases else {
            return self.ledger.admit(claims, demand, now);
        };
        let mut last = None;
        for _ in 0..MAX_ROUNDS {
            let short = match self.ledger.admit_leased(claims, demand, now) {
                Ok(meter) => return Ok(meter),
                Err(Refusal::Quota(e)) => return Err(e),
                Err(Refusal::Short(s)) => s,
            };
            let key = LeaseKey {
                session_id: short.session_id.clone(),
                limit: short.limit,
            };
            let want = short.need.max(leases.block);
            let got = match leases
                .state
                .lease(&key, want, short.max, short.expires_at)
                .await
            {
                Ok(got) => got,
                Err(e) => {
                    tracing::warn!(session.id = %short.session_id, error = %e, "quota lease failed");
                    return Err(QuotaError::Unavailable {
                        owner: claims.principal_of(&short.session_id),
                    });
                }
            };
            if got == 0 {
                // Every unit is leased, by this instance or others.
                let asked = if short.limit == Limit::BytesWritten {
                    demand.writes.unwrap_or(0)
                } else {
                    0
                };
                return Err(claims.exceeded(
                    &short.session_id,
                    short.limit,
                    short.max,
                    short.max,
                    asked,
                ));
            }
            self.ledger
                .grant(&short.session_id, short.expires_at, short.limit, got, now);
            last = Some(short.session_id);
        }
        Err(QuotaError::Unavailable {
            owner: claims.principal_of(last.as_deref().unwrap_or_default()),
        })
    }

    /// Gives every unused leased unit back to the store, so other
    /// instances can use it (at shutdown, after the drain).
    pub async fn return_unused(&self) {
        let Some(leases) = &self.leases else {
            return;
        };
        for (session_id, _expires_at, limit, n) in self.ledger.take_unused() {
            let key = LeaseKey { session_id, limit };
            if let Err(e) = leases.state.give_back(&key, n).await {
                tracing::warn!(session.id = %key.session_id, error = %e, "quota lease not returned");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;
    use crate::session::Quota;
    use crate::session::quota::tests::{GET, now, put};
    use crate::shared::memory::MemoryState;

    fn claims(quota: Quota) -> Claims {
        crate::session::quota::tests::claims("s1", quota, Vec::new())
    }

    #[tokio::test]
    async fn instances_leasing_from_one_store_admit_exactly_the_limit() {
        let store: Arc<dyn SharedState> = Arc::new(MemoryState::new());
        let instances: Vec<Quotas> = (0..3)
            .map(|_| Quotas::leased(Arc::clone(&store), 4))
            .collect();
        let c = claims(Quota {
            max_requests: Some(10),
            ..Quota::default()
        });
        let mut admitted = 0;
        for round in 0..20 {
            if instances[round % 3].admit(&c, GET, now()).await.is_ok() {
                admitted += 1;
            }
        }
        // Blocks of 4 held by three instances: the tail is refused where
        // the allowance is held elsewhere, never admitted past 10.
        assert!(admitted <= 10, "{admitted} admitted");
        // Handing back what is unused lets the rest be used.
        for q in &instances {
            q.return_unused().await;
        }
        while instances[0].admit(&c, GET, now()).await.is_ok() {
            admitted += 1;
        }
        assert_eq!(admitted, 10);
        let e = instances[1].admit(&c, GET, now()).await.unwrap_err();
        assert!(e.to_string().contains("10 of 10 requests used"), "{e}");
    }

    #[tokio::test]
    async fn bytes_written_lease_what_the_upload_needs() {
        let store: Arc<dyn SharedState> = Arc::new(MemoryState::new());
        let a = Quotas::leased(Arc::clone(&store), 10);
        let b = Quotas::leased(Arc::clone(&store), 10);
        let c = claims(Quota {
            max_bytes_written: Some(100),
            ..Quota::default()
        });
        a.admit(&c, put(60), now()).await.unwrap();
        b.admit(&c, put(35), now()).await.unwrap();
        // 60 + 35 leased and used; 5 left, a 6-byte upload does not fit.
        let e = a.admit(&c, put(6), now()).await.unwrap_err();
        assert!(matches!(e, QuotaError::Exceeded { .. }), "{e}");
        a.admit(&c, put(5), now()).await.unwrap();
    }

    #[tokio::test]
    async fn bytes_read_past_a_lease_are_charged_at_the_next_one() {
        let store: Arc<dyn SharedState> = Arc::new(MemoryState::new());
        let a = Quotas::leased(Arc::clone(&store), 10);
        let b = Quotas::leased(Arc::clone(&store), 10);
        let c = claims(Quota {
            max_bytes_read: Some(100),
            ..Quota::default()
        });
        // A read is admitted on a block of 10 and streams 95.
        a.admit(&c, GET, now()).await.unwrap().read(95);
        // The next read leases the overdraft first: 86 more, 96 in all.
        a.admit(&c, GET, now()).await.unwrap().read(10);
        // 105 read, 96 leased: the last 4 do not cover it; refused here...
        let e = a.admit(&c, GET, now()).await.unwrap_err();
        assert!(e.to_string().contains("105 of 100 bytes read used"), "{e}");
        // ...and on the other instance, which finds nothing left to lease.
        assert!(matches!(
            b.admit(&c, GET, now()).await,
            Err(QuotaError::Exceeded { .. })
        ));
        // Writes are not limited by a bytes-read quota.
        b.admit(&c, put(10), now()).await.unwrap();
    }
}
