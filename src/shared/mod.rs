//! State that instances behind one load balancer must share, beyond the
//! keyring: one-time codes already traded (CLI sign-in), device approvals
//! (device sign-in) and quota leases (delegated sessions' quotas).
//!
//! [`SharedState`] is the seam; [`memory::MemoryState`] is the default for
//! one instance (nothing leaves the process) and [`dynamodb::DynamoState`]
//! shares it through one DynamoDB table (`[shared] backend = "dynamodb"`).
//! [`quota::Quotas`] puts the leases in front of the pure
//! [`crate::session::QuotaLedger`].
//!
//! Every call can fail with [`SharedError`] (the table is unreachable,
//! throttled or refuses us): callers fail closed on it — a code is not
//! accepted, an approval is not recorded, a quota'd request is refused
//! once its instance's current lease is spent. Nothing becomes unlimited.
//!
//! An adapter: does I/O (the DynamoDB backend), reads no clock (time is
//! passed in). Depends on [`crate::session`] (the quota ledger),
//! [`crate::principal`], [`crate::config`], [`crate::metrics`] and, for
//! the AWS credential chain, [`crate::upstream::credentials`]; nothing
//! above it (the gateway calls it, never the reverse).

pub mod dynamodb;
pub mod memory;
pub mod quota;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::principal::Identity;
use crate::session::quota::Limit;

/// Who approved a device code, and until when they are signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub identity: Identity,
    /// The approving browser session's end (Unix seconds).
    pub session_exp: u64,
}

/// One quota counter shared by every instance: a session's limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseKey {
    pub session_id: String,
    pub limit: Limit,
}

impl LeaseKey {
    /// The counter's name in the shared store (`quota#<session>#r`).
    pub fn name(&self) -> String {
        let l = match self.limit {
            Limit::Requests => "r",
            Limit::BytesRead => "br",
            Limit::BytesWritten => "bw",
        };
        format!("quota#{}#{l}", self.session_id)
    }
}

/// The shared store could not answer. Never carries a secret: codes and
/// session ids are not in it, only the store's own error text.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the shared state store is unavailable: {0}")]
pub struct SharedError(pub String);

/// What instances share. Every method is one conditional write or read of
/// the store: atomic across instances.
#[async_trait]
pub trait SharedState: Send + Sync + std::fmt::Debug {
    /// True the first time a one-time code id is claimed, by any instance;
    /// false on every replay. `expires_at` (Unix seconds) is when the code
    /// itself expires: the claim need not be kept past it.
    async fn claim_code(&self, code_id: &str, expires_at: u64) -> Result<bool, SharedError>;

    /// Records that `user_code` was approved, until `expires_at`: true
    /// when this approval was recorded, false when the code had already
    /// been approved. The first approval stands, so a second person
    /// approving the same code cannot swap whose session the terminal
    /// receives.
    async fn put_approval(
        &self,
        user_code: &str,
        approval: &Approval,
        expires_at: u64,
    ) -> Result<bool, SharedError>;

    /// The approval for `user_code`, handed out once (read and removed in
    /// one step, so two polls on two instances cannot both get it).
    /// `now` (Unix seconds): an approval past its expiry is not handed out.
    async fn take_approval(
        &self,
        user_code: &str,
        now: u64,
    ) -> Result<Option<Approval>, SharedError>;

    /// Leases up to `want` more of a counter whose total may not pass
    /// `max`: the amount granted (less than `want` when less is left; 0
    /// when the whole allowance is leased). `expires_at`: the session's
    /// end, after which the counter may be forgotten.
    async fn lease(
        &self,
        key: &LeaseKey,
        want: u64,
        max: u64,
        expires_at: u64,
    ) -> Result<u64, SharedError>;

    /// Returns `n` leased but unused units of a counter.
    async fn give_back(&self, key: &LeaseKey, n: u64) -> Result<(), SharedError>;
}

/// The configured backend, and the quota counts that use it.
pub async fn from_config(
    config: &crate::config::Config,
) -> anyhow::Result<(Arc<dyn SharedState>, quota::Quotas)> {
    use crate::config::SharedBackend;
    Ok(match config.shared.backend {
        SharedBackend::Memory => (Arc::new(memory::MemoryState::new()), quota::Quotas::local()),
        SharedBackend::Dynamodb => {
            let state: Arc<dyn SharedState> = Arc::new(
                dynamodb::DynamoState::new(&config.shared, &config.upstream.region).await?,
            );
            let quotas = quota::Quotas::leased(
                Arc::clone(&state),
                config.shared.quota_block,
                config.shared.quota_block_bytes,
            );
            (state, quotas)
        }
    })
}
