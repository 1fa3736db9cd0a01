//! What changes while the gateway runs: the policy (reloaded on change),
//! the revocation list (polled from a file or an S3 object) and the
//! readiness state (draining, upstream reachability).
//!
//! This is the I/O side of pure stages: `policy` and `session` decide,
//! this module keeps their inputs current. Depends on `config`, `policy`,
//! `session`, `upstream` (to read an S3-held list) and `metrics`; nothing
//! here knows a request.

pub mod health;
pub mod policy;
pub mod revocation;

pub use health::Health;
pub use policy::LivePolicy;
pub use revocation::Revocations;
