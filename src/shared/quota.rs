//! Quotas exact across instances: each instance leases blocks of a
//! session's remaining allowance from the [`SharedState`] and counts
//! against what it holds, in memory, with no round trip per request.
//!
//! The bound: the leased total never passes a limit (each lease is one
//! conditional update), so requests and bytes written are never over-used
//! across instances. What instances hold and have not used is allowance
//! that others cannot use until it is given back ([`Quotas::return_unused`]
//! at shutdown): a request may be refused while up to a block
//! (`quota_block` requests, `quota_block_bytes` bytes) × (instances − 1) of
//! the allowance sits leased elsewhere. Bytes read are
//! counted as they stream, so a read admitted below the limit may pass it,
//! as on one instance: each instance's overdraft is at most its reads in
//! flight, and is leased (counted) at that instance's next read.
//!
//! Once the store answers that a limit's whole allowance is leased, this
//! instance refuses that limit from memory for [`EXHAUSTED_RECHECK`]
//! before asking again: a refused client retrying in a loop costs the
//! table one call per few seconds, not one per refusal. (An allowance
//! given back elsewhere is seen here that much later.)
//!
//! When the store cannot be reached, a request is served from this
//! instance's current lease while it lasts, then refused with
//! [`QuotaError::Unavailable`] (503): never counted nowhere.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use moka::sync::Cache;

use super::{LeaseKey, SharedState};
use crate::session::quota::{LEDGER_CAPACITY, Limit, Refusal, Shortfall};
use crate::session::{Claims, Demand, QuotaError, QuotaLedger, ReadMeter};

/// Leases per admission before giving up: each round leases what the last
/// one lacked, so more than a few means the store is being raced hard.
const MAX_ROUNDS: usize = 8;

/// After the store said a limit is wholly leased, refusals on this
/// instance answer from memory for this long before asking again (only a
/// give-back by another instance can free some): a refused client does
/// not turn its retries into table load.
const EXHAUSTED_RECHECK: Duration = Duration::from_secs(5);

/// All give-backs at shutdown, together: within what is left of the stop
/// timeout after the drain (ECS: 30 s stop, 25 s drain).
const GIVE_BACK_BUDGET: Duration = Duration::from_secs(4);

/// Give-backs in flight at once: enough that thousands fit in the budget.
const GIVE_BACKS_IN_FLIGHT: usize = 64;

/// The gateway's quota counts: this instance's own, or leased from the
/// shared store.
pub struct Quotas {
    ledger: QuotaLedger,
    leases: Option<Leases>,
}

struct Leases {
    state: Arc<dyn SharedState>,
    /// Requests leased at a time.
    block: u64,
    /// Bytes leased at a time.
    byte_block: u64,
    /// Limits the store said are wholly leased, and when to ask again.
    exhausted: Cache<LeaseKey, SystemTime>,
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

    /// Leases blocks of `block` requests and `byte_block` bytes from
    /// `state`.
    pub fn leased(state: Arc<dyn SharedState>, block: u64, byte_block: u64) -> Quotas {
        Quotas {
            ledger: QuotaLedger::new(),
            leases: Some(Leases {
                state,
                block: block.max(1),
                byte_block: byte_block.max(1),
                exhausted: Cache::builder()
                    .max_capacity(LEDGER_CAPACITY)
                    .time_to_live(EXHAUSTED_RECHECK)
                    .build(),
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
            if leases.exhausted.get(&key).is_some_and(|until| now < until) {
                return Err(used_up(claims, &short, demand));
            }
            let block = match short.limit {
                Limit::Requests => leases.block,
                Limit::BytesRead | Limit::BytesWritten => leases.byte_block,
            };
            let want = short.need.max(block);
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
                // Every unit is leased, by this instance or others: only a
                // give-back can change that, so it is not asked again at
                // once.
                leases.exhausted.insert(key, now + EXHAUSTED_RECHECK);
                return Err(used_up(claims, &short, demand));
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
    /// instances can use it (at shutdown, after the drain): all at once, a
    /// few dozen in flight, within [`GIVE_BACK_BUDGET`]. What is not given
    /// back by then stays leased until its session ends (the safe side).
    pub async fn return_unused(&self) {
        let Some(leases) = &self.leases else {
            return;
        };
        let mut unused = self.ledger.take_unused().into_iter();
        let mut running = tokio::task::JoinSet::new();
        let all = async {
            loop {
                while running.len() < GIVE_BACKS_IN_FLIGHT {
                    let Some((session_id, _expires_at, limit, n)) = unused.next() else {
                        break;
                    };
                    let state = Arc::clone(&leases.state);
                    running.spawn(async move {
                        let key = LeaseKey { session_id, limit };
                        if let Err(e) = state.give_back(&key, n).await {
                            tracing::warn!(session.id = %key.session_id, error = %e, "quota lease not returned");
                        }
                    });
                }
                if running.join_next().await.is_none() {
                    break;
                }
            }
        };
        if tokio::time::timeout(GIVE_BACK_BUDGET, all).await.is_err() {
            tracing::warn!(
                leases = unused.len() + running.len(),
                budget_s = GIVE_BACK_BUDGET.as_secs(),
                "quota leases not returned within the shutdown budget"
            );
            running.abort_all();
        }
    }
}

/// The refusal when a limit's whole allowance is leased (by this instance
/// or others).
fn used_up(claims: &Claims, short: &Shortfall, demand: Demand) -> QuotaError {
    let asked = if short.limit == Limit::BytesWritten {
        demand.writes.unwrap_or(0)
    } else {
        0
    };
    claims.exceeded(&short.session_id, short.limit, short.max, short.max, asked)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;
    use crate::session::Quota;
    use crate::session::quota::tests::{GET, now, put};
    use crate::shared::SharedError;
    use crate::shared::memory::MemoryState;

    fn claims(quota: Quota) -> Claims {
        crate::session::quota::tests::claims("s1", quota, Vec::new())
    }

    #[tokio::test]
    async fn instances_leasing_from_one_store_admit_exactly_the_limit() {
        let store: Arc<dyn SharedState> = Arc::new(MemoryState::new());
        let instances: Vec<Quotas> = (0..3)
            .map(|_| Quotas::leased(Arc::clone(&store), 4, 1))
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

    /// The in-memory store, counting the lease calls it answers; a
    /// give-back takes a second, and forever for session `stuck`.
    #[derive(Debug, Default)]
    struct Counted {
        inner: MemoryState,
        leases: std::sync::atomic::AtomicUsize,
        given_back: std::sync::Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl SharedState for Counted {
        async fn claim_code(&self, code_id: &str, exp: u64) -> Result<bool, SharedError> {
            self.inner.claim_code(code_id, exp).await
        }
        async fn put_approval(
            &self,
            user_code: &str,
            approval: &super::super::Approval,
            exp: u64,
        ) -> Result<bool, SharedError> {
            self.inner.put_approval(user_code, approval, exp).await
        }
        async fn take_approval(
            &self,
            user_code: &str,
            now: u64,
        ) -> Result<Option<super::super::Approval>, SharedError> {
            self.inner.take_approval(user_code, now).await
        }
        async fn lease(
            &self,
            key: &LeaseKey,
            want: u64,
            max: u64,
            exp: u64,
        ) -> Result<u64, SharedError> {
            self.leases
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.lease(key, want, max, exp).await
        }
        async fn give_back(&self, key: &LeaseKey, n: u64) -> Result<(), SharedError> {
            if key.session_id == "stuck" {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            self.given_back.lock().unwrap().push(key.session_id.clone());
            self.inner.give_back(key, n).await
        }
    }

    #[tokio::test]
    async fn a_used_up_limit_is_asked_of_the_store_again_only_after_a_pause() {
        let store = Arc::new(Counted::default());
        let a = Quotas::leased(Arc::clone(&store) as Arc<dyn SharedState>, 2, 1);
        let b = Quotas::leased(Arc::clone(&store) as Arc<dyn SharedState>, 2, 1);
        let c = claims(Quota {
            max_requests: Some(4),
            ..Quota::default()
        });
        let leases = || store.leases.load(std::sync::atomic::Ordering::Relaxed);
        // Each instance leases half the allowance and uses it.
        for q in [&a, &b, &a, &b] {
            q.admit(&c, GET, now()).await.unwrap();
        }
        assert_eq!(leases(), 2);
        // The first refusal learns from the store that nothing is left...
        let e = a.admit(&c, GET, now()).await.unwrap_err();
        assert!(e.to_string().contains("4 of 4 requests used"), "{e}");
        assert_eq!(leases(), 3);
        // ...and the next hundred do not ask it again.
        for _ in 0..100 {
            let e = a.admit(&c, GET, now()).await.unwrap_err();
            assert!(e.to_string().contains("4 of 4 requests used"), "{e}");
        }
        assert_eq!(leases(), 3);
        // Later it asks again: another instance may have given some back.
        let later = now() + EXHAUSTED_RECHECK;
        assert!(a.admit(&c, GET, later).await.is_err());
        assert_eq!(leases(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn give_backs_at_shutdown_run_together_within_one_budget() {
        let store = Arc::new(Counted::default());
        let q = Quotas::leased(Arc::clone(&store) as Arc<dyn SharedState>, 5, 1);
        let sessions: Vec<String> = (0..20)
            .map(|i| format!("s{i}"))
            .chain(["stuck".to_owned()])
            .collect();
        for sid in &sessions {
            let c = crate::session::quota::tests::claims(
                sid,
                Quota {
                    max_requests: Some(100),
                    ..Quota::default()
                },
                Vec::new(),
            );
            q.admit(&c, GET, now()).await.unwrap();
        }
        // One give-back never answers and each other takes a second: all
        // but the stuck one land, and shutdown is not held past the budget.
        let started = tokio::time::Instant::now();
        tokio::time::timeout(std::time::Duration::from_secs(60), q.return_unused())
            .await
            .expect("return_unused waited on a store that does not answer");
        assert!(
            started.elapsed() <= GIVE_BACK_BUDGET,
            "{:?}",
            started.elapsed()
        );
        let mut back = store.given_back.lock().unwrap().clone();
        back.sort();
        let mut want: Vec<String> = sessions.into_iter().filter(|s| s != "stuck").collect();
        want.sort();
        assert_eq!(back, want);
    }

    #[tokio::test]
    async fn requests_and_bytes_are_leased_in_blocks_of_their_own() {
        let store = Arc::new(MemoryState::new());
        let q = Quotas::leased(Arc::clone(&store) as Arc<dyn SharedState>, 2, 500);
        let c = claims(Quota {
            max_requests: Some(100),
            max_bytes_read: Some(1000),
            max_bytes_written: Some(1000),
        });
        q.admit(&c, GET, now()).await.unwrap().read(1);
        q.admit(&c, put(3), now()).await.unwrap();
        // What is left in the store after one block of each.
        let left = |limit| {
            let key = LeaseKey {
                session_id: "s1".into(),
                limit,
            };
            let store = Arc::clone(&store);
            async move { store.lease(&key, u64::MAX, 1000, 0).await.unwrap() }
        };
        assert_eq!(left(Limit::Requests).await, 1000 - 2);
        assert_eq!(left(Limit::BytesRead).await, 1000 - 500);
        assert_eq!(left(Limit::BytesWritten).await, 1000 - 500);
    }

    #[tokio::test]
    async fn bytes_written_lease_what_the_upload_needs() {
        let store: Arc<dyn SharedState> = Arc::new(MemoryState::new());
        let a = Quotas::leased(Arc::clone(&store), 1, 10);
        let b = Quotas::leased(Arc::clone(&store), 1, 10);
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
        let a = Quotas::leased(Arc::clone(&store), 1, 10);
        let b = Quotas::leased(Arc::clone(&store), 1, 10);
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
