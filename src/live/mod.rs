//! What changes while the gateway runs: the policy and the keyring
//! (reloaded on change), the revocation list (polled from a file or an S3
//! object), the readiness state (draining, upstream reachability) and what
//! is in flight per caller.
//!
//! This is the I/O side of pure stages: `policy` and `session` decide,
//! this module keeps their inputs current. Depends on `config`, `policy`,
//! `session`, `upstream` (to read an S3-held list) and `metrics`; nothing
//! here knows a request.

pub mod health;
pub mod inflight;
pub mod keyring;
pub mod policy;
pub mod revocation;
pub mod watched;

pub use health::Health;
pub use inflight::{Held, InFlight};
pub use keyring::LiveKeyring;
pub use policy::LivePolicy;
pub use revocation::Revocations;
