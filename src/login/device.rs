//! Where each device sign-in came from (address, program, when), recorded
//! by the instance that hands out its code and shown on the approval page,
//! so the person approving sees what they approve.
//!
//! Per instance, in memory: unlike approvals and traded codes (kept in
//! [`crate::shared`]), nothing breaks without it. When the approval page is
//! served by another instance than the one that handed out the code, the
//! page says the details are not known there, and the person decides on the
//! code alone (as before this table existed).
//! Depends on nothing of the crate.

use std::time::Duration;

use moka::sync::Cache;

use super::DEVICE_CODE_TTL;

/// Most device codes awaiting approval at once; past it the oldest go.
const MAX_PENDING: u64 = 10_000;

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

/// The device requests this instance handed codes out for, by user code.
pub struct DeviceRequests {
    requests: Cache<String, DeviceRequest>,
}

impl Default for DeviceRequests {
    fn default() -> Self {
        Self {
            requests: Cache::builder()
                .max_capacity(MAX_PENDING)
                .time_to_live(Duration::from_secs(DEVICE_CODE_TTL))
                .build(),
        }
    }
}

impl DeviceRequests {
    /// Records where the sign-in showing `user_code` came from.
    pub fn record(&self, user_code: &str, request: DeviceRequest) {
        self.requests.insert(user_code.to_owned(), request);
    }

    /// Where the sign-in showing `user_code` came from, if this instance
    /// handed the code out.
    pub fn get(&self, user_code: &str) -> Option<DeviceRequest> {
        self.requests.get(user_code)
    }
}
