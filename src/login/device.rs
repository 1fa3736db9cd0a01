//! The little state logins keep in memory: device codes a signed-in person
//! approved, and one-time codes already traded.
//!
//! Both are per instance. A one-time code is also bound to the CLI's PKCE
//! verifier and lives two minutes, so a replay on another instance would
//! need the verifier too; the table only makes reuse on one instance
//! impossible. A device approval waits on the instance that recorded it
//! until a poll of the CLI reaches that instance: behind N instances that
//! is about N polls later, on average. The browser flow (`s3gate login`
//! without `--device`) keeps nothing here.
//! Depends on [`crate::session`] only.

use std::time::Duration;

use moka::sync::Cache;

use super::{CLI_CODE_TTL, DEVICE_CODE_TTL};
use crate::session::Identity;

/// Most device codes awaiting pickup at once; past it the oldest go.
const MAX_PENDING: u64 = 10_000;

/// Who approved a device code, and until when they are signed in.
#[derive(Debug, Clone)]
pub struct Approval {
    pub identity: Identity,
    /// The approving browser session's end (Unix seconds).
    pub session_exp: u64,
}

/// Where a device sign-in came from, recorded when its code is handed out
/// and shown to the person asked to approve it.
#[derive(Debug, Clone)]
pub struct DeviceRequest {
    /// Unix seconds.
    pub requested_at: u64,
    pub client: std::net::IpAddr,
    /// As the terminal sent it, cut to [`MAX_USER_AGENT`] characters.
    pub user_agent: Option<String>,
}

/// The longest user agent kept for the approval page.
pub const MAX_USER_AGENT: usize = 200;

pub struct LoginTables {
    approved: Cache<String, Approval>,
    used: Cache<String, ()>,
    requests: Cache<String, DeviceRequest>,
}

impl Default for LoginTables {
    fn default() -> Self {
        Self::new()
    }
}

impl LoginTables {
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
            requests: Cache::builder()
                .max_capacity(MAX_PENDING)
                .time_to_live(Duration::from_secs(DEVICE_CODE_TTL))
                .build(),
        }
    }

    /// Records where the sign-in showing `user_code` came from.
    pub fn record_request(&self, user_code: &str, request: DeviceRequest) {
        self.requests.insert(user_code.to_owned(), request);
    }

    /// Where the sign-in showing `user_code` came from, if this instance
    /// handed the code out.
    pub fn request(&self, user_code: &str) -> Option<DeviceRequest> {
        self.requests.get(user_code)
    }

    /// Records that `user_code` was approved.
    pub fn approve(&self, user_code: &str, approval: Approval) {
        self.approved.insert(user_code.to_owned(), approval);
    }

    /// The approval for `user_code`, handed out once.
    pub fn take(&self, user_code: &str) -> Option<Approval> {
        self.approved.remove(user_code)
    }

    /// True the first time a one-time code id is seen (on this instance).
    pub fn first_use(&self, code_id: &str) -> bool {
        self.used
            .entry(code_id.to_owned())
            .or_insert_with(|| ())
            .is_fresh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvals_are_taken_once_and_codes_used_once() {
        let t = LoginTables::new();
        assert!(t.take("BCDF-GHJK").is_none());
        t.approve(
            "BCDF-GHJK",
            Approval {
                identity: Identity::new("oidc", "alice"),
                session_exp: 10,
            },
        );
        assert_eq!(t.take("BCDF-GHJK").unwrap().identity.subject, "alice");
        assert!(t.take("BCDF-GHJK").is_none());
        assert!(t.first_use("c1"));
        assert!(!t.first_use("c1"));
        assert!(t.first_use("c2"));
    }
}
