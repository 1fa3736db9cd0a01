//! Quotas for delegated sessions: at most so many requests, bytes read and
//! bytes written over the session's life, counted on this instance.
//!
//! The limits are sealed in the session's [`super::Claims`] ([`Quota`] for
//! the session's own, [`ParentQuota`] for each quota'd session it was
//! delegated from), so every request is charged to every quota'd session in
//! its chain: an agent cannot escape its quota by delegating further.
//!
//! The counts live in a [`QuotaLedger`], in memory, one per instance, keyed
//! by session id and dropped when that session expires. Alone, an instance
//! counts against the limits themselves ([`QuotaLedger::admit`]); behind a
//! load balancer it counts against the blocks of each limit it leased from
//! the shared store ([`QuotaLedger::admit_leased`], leased by
//! `crate::shared::quota`, which does the I/O). Lock-free: each count is an
//! atomic, and the ledger a moka cache that allocates only on a session's
//! first request here.
//!
//! Depends on [`crate::s3`] only to render [`QuotaError`] at the edge. No
//! I/O and no clock: the request's `now` sets each entry's lifetime, moka's
//! own clock only evicts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::sync::Cache;
use serde::{Deserialize, Serialize};

use super::Claims;
use crate::s3::{S3Error, S3ErrorCode};

/// Most sessions whose counts an instance keeps (each a few hundred bytes
/// with moka's bookkeeping). Only a quota'd session's request creates an
/// entry; past this, moka evicts the least used, which forgets that
/// session's counts (documented in `docs/delegation.md`).
pub const LEDGER_CAPACITY: u64 = 1 << 18;

/// A session's limits; `None` is unlimited. Field names are short: they
/// travel in every token.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Quota {
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u64>,
    #[serde(rename = "br", default, skip_serializing_if = "Option::is_none")]
    pub max_bytes_read: Option<u64>,
    #[serde(rename = "bw", default, skip_serializing_if = "Option::is_none")]
    pub max_bytes_written: Option<u64>,
}

fn min_limit(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Quota {
    /// No limit at all.
    pub fn is_empty(&self) -> bool {
        *self == Quota::default()
    }

    /// The limits this quota sets, each no looser than `cap`'s: a child
    /// asking for more than an ancestor allows is held to the ancestor's
    /// limit. A limit it does not set stays unset (the ancestor's quota
    /// binds it anyway, through the chain).
    #[must_use]
    pub fn capped_by(&self, cap: &Quota) -> Quota {
        let capped = |a: Option<u64>, b: Option<u64>| a.map(|a| b.map_or(a, |b| a.min(b)));
        Quota {
            max_requests: capped(self.max_requests, cap.max_requests),
            max_bytes_read: capped(self.max_bytes_read, cap.max_bytes_read),
            max_bytes_written: capped(self.max_bytes_written, cap.max_bytes_written),
        }
    }

    /// Each limit the tighter of the two.
    #[must_use]
    pub fn within(&self, other: &Quota) -> Quota {
        Quota {
            max_requests: min_limit(self.max_requests, other.max_requests),
            max_bytes_read: min_limit(self.max_bytes_read, other.max_bytes_read),
            max_bytes_written: min_limit(self.max_bytes_written, other.max_bytes_written),
        }
    }
}

impl std::fmt::Display for Quota {
    /// `5 requests, 10485760 bytes read`, or `unlimited`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts = [
            (self.max_requests, "requests"),
            (self.max_bytes_read, "bytes read"),
            (self.max_bytes_written, "bytes written"),
        ];
        let mut first = true;
        for (limit, what) in parts {
            if let Some(n) = limit {
                if !first {
                    f.write_str(", ")?;
                }
                write!(f, "{n} {what}")?;
                first = false;
            }
        }
        if first {
            f.write_str("unlimited")?;
        }
        Ok(())
    }
}

/// The quota of a session this one was delegated from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ParentQuota {
    #[serde(rename = "s")]
    pub session_id: String,
    /// That session's expiry (Unix seconds): its counts are kept until
    /// then, even when a shorter-lived child created them.
    #[serde(rename = "e")]
    pub expires_at: u64,
    #[serde(rename = "q")]
    pub quota: Quota,
}

/// Parses a size: a whole number of bytes, optionally with a unit — `K`,
/// `KB`, `M`, `MB`, `G`, `GB`, `T`, `TB` (powers of 1000) or `KiB`, `MiB`,
/// `GiB`, `TiB` (powers of 1024); case-insensitive, `B` optional.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let bad = || format!("`{text}` is not a size like 1048576, 500MB or 10MiB");
    let at = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(at);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    n.checked_mul(factor).ok_or_else(bad)
}

/// Which limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    Requests,
    BytesRead,
    BytesWritten,
}

impl Limit {
    /// Every limit, in [`Limit::index`] order.
    pub const ALL: [Limit; 3] = [Limit::Requests, Limit::BytesRead, Limit::BytesWritten];

    fn index(self) -> usize {
        match self {
            Limit::Requests => 0,
            Limit::BytesRead => 1,
            Limit::BytesWritten => 2,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Limit::Requests => "requests",
            Limit::BytesRead => "bytes read",
            Limit::BytesWritten => "bytes written",
        }
    }
}

/// Why a request was refused. No HTTP here: the edge renders it with
/// [`QuotaError::to_s3_error`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    /// A limit is reached, or this request would pass it.
    #[error(
        "quota of {owner}: {used} of {max} {} used{}",
        limit.noun(),
        if *demand > 0 { format!(", this request needs {demand} more") } else { String::new() }
    )]
    Exceeded {
        /// The quota'd session's principal name (`delegated:agent-7`).
        owner: String,
        limit: Limit,
        used: u64,
        max: u64,
        /// What the request would add (bytes written; 0 otherwise).
        demand: u64,
    },
    /// A body of unknown length under a bytes-written quota.
    #[error("quota of {owner}: a request body without a declared length cannot be counted")]
    UnknownLength { owner: String },
    /// A server-side copy under a bytes-written quota: its size is unknown
    /// until it is done.
    #[error(
        "quota of {owner}: a server-side copy writes bytes s3gate cannot count beforehand; \
         download and upload instead"
    )]
    Copy { owner: String },
    /// This instance's lease is spent and the shared store that leases
    /// more cannot be reached: refused rather than counted nowhere.
    #[error("quota of {owner}: the shared quota store is unavailable")]
    Unavailable { owner: String },
}

impl QuotaError {
    /// `AccessDenied`: the quota is a total for the session's life, so a
    /// retry cannot succeed (SDKs retry `SlowDown` as throttling).
    pub fn to_s3_error(&self, request_id: &str) -> S3Error {
        if matches!(self, QuotaError::Unavailable { .. }) {
            // 503: unlike a spent quota, this passes; SDKs retry it.
            return S3Error::new(
                S3ErrorCode::ServiceUnavailable,
                format!(
                    "s3gate: the session's quota cannot be checked ({self}), so the request \
                     is refused; retry later (request id {request_id})."
                ),
            );
        }
        let status = match self {
            QuotaError::Exceeded {
                limit: Limit::Requests | Limit::BytesRead,
                ..
            } => "is used up",
            QuotaError::Exceeded { .. } => "would be exceeded",
            QuotaError::UnknownLength { .. }
            | QuotaError::Copy { .. }
            | QuotaError::Unavailable { .. } => "applies",
        };
        let code = if matches!(self, QuotaError::UnknownLength { .. }) {
            S3ErrorCode::MissingContentLength
        } else {
            S3ErrorCode::AccessDenied
        };
        S3Error::new(
            code,
            format!(
                "s3gate: the session's quota {status} ({self}); it is a total for the \
                 session's life: ask for a new session (request id {request_id})."
            ),
        )
    }
}

/// What a request asks of the quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demand {
    /// A read (GET): refused once bytes read reach their limit.
    pub reads: bool,
    /// The declared body length; `None` for a body of unknown length.
    pub writes: Option<u64>,
    /// A server-side copy (`x-amz-copy-source`).
    pub copies: bool,
}

/// One session's counts on this instance.
#[derive(Debug, Default)]
struct Usage {
    requests: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    /// Leased mode only: how much of each limit this instance holds
    /// (leased from the shared store), by [`Limit::index`].
    granted: [AtomicU64; 3],
}

impl Usage {
    fn used(&self, limit: Limit) -> &AtomicU64 {
        match limit {
            Limit::Requests => &self.requests,
            Limit::BytesRead => &self.bytes_read,
            Limit::BytesWritten => &self.bytes_written,
        }
    }
}

struct Entry {
    usage: Arc<Usage>,
    ttl: Duration,
    expires_at: u64,
}

struct UntilExpiry;

impl moka::Expiry<String, Arc<Entry>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        entry: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// What one admission added to one session's counts.
struct Taken {
    usage: Arc<Usage>,
    requests: u64,
    written: u64,
}

impl Taken {
    fn give_back(&self) {
        self.usage
            .requests
            .fetch_sub(self.requests, Ordering::Relaxed);
        self.usage
            .bytes_written
            .fetch_sub(self.written, Ordering::Relaxed);
    }
}

/// Leased mode: this instance's lease of a limit is spent, but the shared
/// allowance may not be. The caller leases at least `need` more
/// ([`QuotaLedger::grant`]) and admits again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall {
    pub session_id: String,
    /// The session's expiry (Unix seconds).
    pub expires_at: u64,
    pub limit: Limit,
    /// The least that would admit the request.
    pub need: u64,
    /// The limit itself: no lease may pass it.
    pub max: u64,
}

/// Why a leased admission did not admit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Refused for good.
    Quota(QuotaError),
    /// Lease more and try again.
    Short(Shortfall),
}

/// Counts bytes read as the response streams, for every quota that limits
/// them.
#[derive(Debug, Default)]
pub struct ReadMeter {
    usages: Vec<Arc<Usage>>,
}

impl ReadMeter {
    /// Charges `n` response bytes.
    pub fn read(&self, n: u64) {
        for u in &self.usages {
            u.bytes_read.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// The counts of every quota'd session seen here, until each expires.
pub struct QuotaLedger {
    cache: Cache<String, Arc<Entry>>,
}

impl Default for QuotaLedger {
    fn default() -> Self {
        QuotaLedger::new()
    }
}

impl std::fmt::Debug for QuotaLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuotaLedger")
            .field("sessions", &self.cache.entry_count())
            .finish()
    }
}

/// A quota to charge: whose, until when, which limits.
struct Charge<'c> {
    session_id: &'c str,
    expires_at: u64,
    quota: &'c Quota,
}

impl Claims {
    /// The session's own quota, then its ancestors', innermost first.
    fn charges(&self) -> impl Iterator<Item = Charge<'_>> {
        let own = (!self.quota.is_empty()).then_some(Charge {
            session_id: &self.session_id,
            expires_at: self.expires_at,
            quota: &self.quota,
        });
        own.into_iter()
            .chain(self.parent_quotas.iter().rev().map(|p| Charge {
                session_id: &p.session_id,
                expires_at: p.expires_at,
                quota: &p.quota,
            }))
    }

    /// Whether any quota applies to this session.
    pub fn has_quota(&self) -> bool {
        !self.quota.is_empty() || !self.parent_quotas.is_empty()
    }

    /// The tightest of every quota that binds this session (its own and
    /// its ancestors'): what a child of it may be given at most.
    pub fn effective_quota(&self) -> Quota {
        self.charges()
            .fold(Quota::default(), |acc, c| acc.within(c.quota))
    }

    /// The principal name of this session or one it was delegated from,
    /// as the chain shows it.
    pub fn principal_of(&self, session_id: &str) -> String {
        let at = if session_id == self.session_id {
            self.chain.len().checked_sub(1)
        } else {
            self.parent_sessions.iter().position(|s| s == session_id)
        };
        at.and_then(|i| self.chain.get(i))
            .cloned()
            .unwrap_or_else(|| format!("session {session_id}"))
    }
}

impl QuotaLedger {
    pub fn new() -> QuotaLedger {
        QuotaLedger {
            cache: Cache::builder()
                .max_capacity(LEDGER_CAPACITY)
                .expire_after(UntilExpiry)
                .build(),
        }
    }

    fn usage(&self, charge: &Charge<'_>, now: SystemTime) -> Arc<Usage> {
        if let Some(e) = self.cache.get(charge.session_id) {
            return Arc::clone(&e.usage);
        }
        let expires = UNIX_EPOCH + Duration::from_secs(charge.expires_at);
        let ttl = expires.duration_since(now).unwrap_or(Duration::ZERO);
        // `get_with` inserts once even when requests race on a new session.
        let entry = self.cache.get_with(charge.session_id.to_owned(), || {
            Arc::new(Entry {
                usage: Arc::default(),
                ttl,
                expires_at: charge.expires_at,
            })
        });
        Arc::clone(&entry.usage)
    }

    /// Admits a request of a session, charging its request and declared
    /// bytes written to every quota in its chain, or refuses it with
    /// nothing charged. The returned meter counts the bytes read.
    ///
    /// Each charge is an atomic add whose previous value decides, and a
    /// refusal takes back what it added: concurrent requests never take a
    /// count past its limit (one may be refused spuriously while another
    /// is being taken back, at the limit only).
    pub fn admit(
        &self,
        claims: &Claims,
        demand: Demand,
        now: SystemTime,
    ) -> Result<ReadMeter, QuotaError> {
        self.admit_in(claims, demand, now, false)
            .map_err(|refusal| match refusal {
                Refusal::Quota(e) => e,
                // Without leases every limit is its own grant: a shortfall
                // cannot arise; were it to, it is a refusal all the same.
                Refusal::Short(s) => claims.exceeded(&s.session_id, s.limit, s.max, s.max, 0),
            })
    }

    /// [`QuotaLedger::admit`] against what this instance has leased
    /// ([`QuotaLedger::grant`]) rather than the limits themselves: a
    /// [`Refusal::Short`] asks the caller to lease more.
    pub fn admit_leased(
        &self,
        claims: &Claims,
        demand: Demand,
        now: SystemTime,
    ) -> Result<ReadMeter, Refusal> {
        self.admit_in(claims, demand, now, true)
    }

    /// Adds `n` leased units of `limit` to a session's grant here.
    pub fn grant(&self, session_id: &str, expires_at: u64, limit: Limit, n: u64, now: SystemTime) {
        let usage = self.usage(
            &Charge {
                session_id,
                expires_at,
                quota: &Quota::default(),
            },
            now,
        );
        usage.granted[limit.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// What every session holds leased here and has not used, taking it
    /// out of the grants (so it is handed back once): session id, its
    /// expiry, the limit and the amount.
    pub fn take_unused(&self) -> Vec<(String, u64, Limit, u64)> {
        let mut out = Vec::new();
        for (sid, entry) in &self.cache {
            for limit in Limit::ALL {
                let granted = &entry.usage.granted[limit.index()];
                let used = entry.usage.used(limit).load(Ordering::Relaxed);
                let g = granted.load(Ordering::Relaxed);
                let unused = g.saturating_sub(used);
                if unused > 0 {
                    granted.fetch_sub(unused, Ordering::Relaxed);
                    out.push(((*sid).clone(), entry.expires_at, limit, unused));
                }
            }
        }
        out
    }

    fn admit_in(
        &self,
        claims: &Claims,
        demand: Demand,
        now: SystemTime,
        leased: bool,
    ) -> Result<ReadMeter, Refusal> {
        let mut meter = ReadMeter::default();
        if !claims.has_quota() {
            return Ok(meter);
        }
        // At most MAX_CHAIN entries: small vectors, for quota'd sessions only.
        let mut taken: Vec<Taken> = Vec::new();
        let written = demand.writes.unwrap_or(0);
        let result = claims.charges().try_for_each(|charge| {
            let q = charge.quota;
            let owner = || claims.principal_of(charge.session_id);
            let exceeded = |limit, used, max, demand| {
                Refusal::Quota(QuotaError::Exceeded {
                    owner: owner(),
                    limit,
                    used,
                    max,
                    demand,
                })
            };
            if q.max_bytes_written.is_some() {
                if demand.copies {
                    return Err(Refusal::Quota(QuotaError::Copy { owner: owner() }));
                }
                if demand.writes.is_none() {
                    return Err(Refusal::Quota(QuotaError::UnknownLength { owner: owner() }));
                }
            }
            let mut took = Taken {
                usage: self.usage(&charge, now),
                requests: 0,
                written: 0,
            };
            let usage = Arc::clone(&took.usage);
            // What this instance may count up to: the limit itself, or in
            // leased mode what it holds of it.
            let cap = |limit: Limit, max: u64| {
                if leased {
                    usage.granted[limit.index()]
                        .load(Ordering::Relaxed)
                        .min(max)
                } else {
                    max
                }
            };
            let short = |limit, need, max| {
                Refusal::Short(Shortfall {
                    session_id: charge.session_id.to_owned(),
                    expires_at: charge.expires_at,
                    limit,
                    need,
                    max,
                })
            };
            if let (Some(max), true) = (q.max_bytes_read, demand.reads) {
                let used = usage.bytes_read.load(Ordering::Relaxed);
                let cap = cap(Limit::BytesRead, max);
                if used >= cap {
                    // A read is admitted below the limit and may pass it
                    // (its length is unknown until it streams): the
                    // overdraft is leased with the next block.
                    return Err(if cap < max {
                        short(Limit::BytesRead, (used - cap).saturating_add(1), max)
                    } else {
                        exceeded(Limit::BytesRead, used, max, 0)
                    });
                }
            }
            if let Some(max) = q.max_requests {
                let used = usage.requests.fetch_add(1, Ordering::Relaxed);
                took.requests = 1;
                let cap = cap(Limit::Requests, max);
                if used >= cap {
                    took.give_back();
                    return Err(if cap < max {
                        short(Limit::Requests, used.saturating_add(1) - cap, max)
                    } else {
                        exceeded(Limit::Requests, used, max, 0)
                    });
                }
            }
            if let Some(max) = q.max_bytes_written {
                // Never add what alone passes the limit: the add must not
                // wrap, even for a moment another request could see.
                if written > max {
                    took.give_back();
                    let used = usage.bytes_written.load(Ordering::Relaxed);
                    return Err(exceeded(Limit::BytesWritten, used, max, written));
                }
                let used = usage.bytes_written.fetch_add(written, Ordering::Relaxed);
                took.written = written;
                let cap = cap(Limit::BytesWritten, max);
                if used.saturating_add(written) > cap {
                    took.give_back();
                    return Err(if cap < max {
                        short(Limit::BytesWritten, used.saturating_add(written) - cap, max)
                    } else {
                        exceeded(Limit::BytesWritten, used, max, written)
                    });
                }
            }
            if q.max_bytes_read.is_some() {
                meter.usages.push(Arc::clone(&took.usage));
            }
            taken.push(took);
            Ok(())
        });
        if let Err(e) = result {
            // Take back what the quotas before the refusing one took.
            taken.iter().for_each(Taken::give_back);
            return Err(e);
        }
        Ok(meter)
    }
}

impl Claims {
    /// The refusal of a limit of this session or an ancestor (`session_id`)
    /// whose whole allowance is used (or, leased: leased by instances).
    pub fn exceeded(
        &self,
        session_id: &str,
        limit: Limit,
        used: u64,
        max: u64,
        demand: u64,
    ) -> QuotaError {
        QuotaError::Exceeded {
            owner: self.principal_of(session_id),
            limit,
            used,
            max,
            demand,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
pub(crate) mod tests {
    use super::*;
    use crate::policy::Scope;
    use crate::session::Identity;

    pub(crate) const NOW: u64 = 1_800_000_000;

    pub(crate) fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    /// A delegated session `sid` of alice's with `quota`, under `parents`.
    pub(crate) fn claims(sid: &str, quota: Quota, parents: Vec<ParentQuota>) -> Claims {
        let mut chain = vec!["user:alice".to_owned()];
        let mut parent_sessions = Vec::new();
        for (i, p) in parents.iter().enumerate() {
            if i > 0 {
                chain.push(format!("delegated:level-{i}"));
            }
            parent_sessions.push(p.session_id.clone());
        }
        chain.push("delegated:agent".to_owned());
        Claims {
            session_id: sid.into(),
            access_key_id: "SGIAAAAAAAAAAAAAAAAA".into(),
            identity: Identity::new("oidc", "alice"),
            scope: Scope::all(),
            issued_at: NOW,
            expires_at: NOW + 3600,
            chain,
            parent_scopes: Vec::new(),
            parent_sessions,
            quota,
            parent_quotas: parents,
        }
    }

    fn requests(n: u64) -> Quota {
        Quota {
            max_requests: Some(n),
            ..Quota::default()
        }
    }

    pub(crate) const GET: Demand = Demand {
        reads: true,
        writes: Some(0),
        copies: false,
    };

    pub(crate) fn put(n: u64) -> Demand {
        Demand {
            reads: false,
            writes: Some(n),
            copies: false,
        }
    }

    #[test]
    fn sizes_take_decimal_and_binary_units() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size(" 2 kib "), Ok(2048));
        assert_eq!(parse_size("3k"), Ok(3000));
        assert_eq!(parse_size("7B"), Ok(7));
        for bad in ["", "MiB", "1.5GiB", "-1", "10 MiBs", "99999999999TiB"] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.contains("not a size"), "{bad}: {e}");
        }
    }

    #[test]
    fn an_old_token_without_quotas_opens_and_a_quota_stays_compact() {
        let c = claims("s1", Quota::default(), Vec::new());
        let json = serde_json::to_string(&c).unwrap();
        assert!(
            !json.contains("\"q\"") && !json.contains("\"pq\""),
            "{json}"
        );
        let q = Quota {
            max_requests: Some(5),
            max_bytes_read: None,
            max_bytes_written: Some(10),
        };
        assert_eq!(serde_json::to_string(&q).unwrap(), r#"{"r":5,"bw":10}"#);
        let c = claims("s1", q, Vec::new());
        let back: Claims = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn the_request_past_the_limit_is_refused_naming_the_quota() {
        let ledger = QuotaLedger::new();
        let c = claims("s1", requests(3), Vec::new());
        for _ in 0..3 {
            ledger.admit(&c, GET, now()).unwrap();
        }
        let e = ledger.admit(&c, GET, now()).unwrap_err();
        assert_eq!(
            e,
            QuotaError::Exceeded {
                owner: "delegated:agent".into(),
                limit: Limit::Requests,
                used: 3,
                max: 3,
                demand: 0
            }
        );
        let s3 = e.to_s3_error("req-1");
        assert_eq!(s3.code, S3ErrorCode::AccessDenied);
        assert!(
            s3.message
                .contains("quota is used up (quota of delegated:agent: 3 of 3 requests used)"),
            "{}",
            s3.message
        );
        assert!(s3.message.contains("req-1"), "{}", s3.message);
        // Another session has its own count.
        ledger
            .admit(&claims("s2", requests(3), Vec::new()), GET, now())
            .unwrap();
        // A session without a quota is never charged.
        ledger
            .admit(&claims("s3", Quota::default(), Vec::new()), GET, now())
            .unwrap();
    }

    #[test]
    fn bytes_written_refuse_the_upload_that_would_pass_the_limit() {
        let ledger = QuotaLedger::new();
        let q = Quota {
            max_bytes_written: Some(100),
            ..Quota::default()
        };
        let c = claims("s1", q, Vec::new());
        ledger.admit(&c, put(60), now()).unwrap();
        let e = ledger.admit(&c, put(41), now()).unwrap_err();
        assert!(
            e.to_string()
                .contains("60 of 100 bytes written used, this request needs 41 more"),
            "{e}"
        );
        assert!(
            e.to_s3_error("r")
                .message
                .contains("quota would be exceeded"),
            "{e}"
        );
        // Refused: nothing was charged, so what fits still goes.
        ledger.admit(&c, put(40), now()).unwrap();
        ledger.admit(&c, put(0), now()).unwrap();
        assert!(ledger.admit(&c, put(1), now()).is_err());
        // Even an absurd declared length leaves the count as it was.
        let e = ledger.admit(&c, put(u64::MAX), now()).unwrap_err();
        assert!(
            e.to_string().contains("100 of 100 bytes written used"),
            "{e}"
        );
        // Copies and bodies of unknown length cannot be counted.
        let copy = Demand {
            copies: true,
            ..put(0)
        };
        assert!(matches!(
            ledger.admit(&c, copy, now()),
            Err(QuotaError::Copy { .. })
        ));
        let unknown = Demand {
            writes: None,
            ..put(0)
        };
        let e = ledger.admit(&c, unknown, now()).unwrap_err();
        assert_eq!(
            e.to_s3_error("r").code,
            S3ErrorCode::MissingContentLength,
            "{e}"
        );
    }

    #[test]
    fn bytes_read_stop_reads_once_reached_but_not_writes() {
        let ledger = QuotaLedger::new();
        let q = Quota {
            max_bytes_read: Some(100),
            ..Quota::default()
        };
        let c = claims("s1", q, Vec::new());
        let meter = ledger.admit(&c, GET, now()).unwrap();
        meter.read(70);
        // Below the limit: the read is admitted and may pass it.
        let meter = ledger.admit(&c, GET, now()).unwrap();
        meter.read(70);
        let e = ledger.admit(&c, GET, now()).unwrap_err();
        assert!(e.to_string().contains("140 of 100 bytes read used"), "{e}");
        ledger.admit(&c, put(10), now()).unwrap();
    }

    #[test]
    fn every_quota_in_the_chain_is_charged_and_a_refusal_takes_nothing() {
        let ledger = QuotaLedger::new();
        let parent = ParentQuota {
            session_id: "p1".into(),
            expires_at: NOW + 7200,
            quota: requests(2),
        };
        let child = claims("c1", requests(10), vec![parent.clone()]);
        let sibling = claims("c2", Quota::default(), vec![parent]);
        ledger.admit(&child, GET, now()).unwrap();
        ledger.admit(&sibling, GET, now()).unwrap();
        let e = ledger.admit(&child, GET, now()).unwrap_err();
        // Named by the chain: the parent is the root holder here.
        assert!(e.to_string().starts_with("quota of user:alice:"), "{e}");
        // The child's own count took back its charge: 1 used, not 2.
        let own = ledger.cache.get("c1").unwrap();
        assert_eq!(own.usage.requests.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_effective_quota_is_the_tightest_of_the_chain() {
        let parent = ParentQuota {
            session_id: "p1".into(),
            expires_at: NOW + 7200,
            quota: Quota {
                max_requests: Some(5),
                max_bytes_read: Some(1000),
                max_bytes_written: None,
            },
        };
        let c = claims(
            "c1",
            Quota {
                max_requests: Some(10),
                max_bytes_read: None,
                max_bytes_written: Some(7),
            },
            vec![parent],
        );
        assert_eq!(
            c.effective_quota().to_string(),
            "5 requests, 1000 bytes read, 7 bytes written"
        );
        assert_eq!(Quota::default().to_string(), "unlimited");
        // A child's own quota: what it asks for, capped; nothing more.
        let asked = Quota {
            max_requests: Some(100),
            max_bytes_read: Some(10),
            max_bytes_written: None,
        };
        assert_eq!(
            asked.capped_by(&c.effective_quota()).to_string(),
            "5 requests, 10 bytes read"
        );
    }
}
