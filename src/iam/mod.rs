//! IAM's JSON policy language, both directions s3gate speaks it:
//!
//! - [`from_iam`] reads the session policy a caller passes to s3gate's own
//!   STS `AssumeRole` (delegation) into a [`crate::policy::Scope`];
//! - [`to_iam`] writes the session policy s3gate passes to AWS STS
//!   `AssumeRole` for the upstream role, from the caller's grants, so the
//!   store enforces the grant a second time.
//!
//! Pure: no I/O. Sits above `policy` (it reads and writes its scopes and
//! patterns) and below `gateway` and `upstream`, which call it.

pub mod from_iam;
pub mod to_iam;

pub use from_iam::{MAX_SESSION_POLICY_BYTES, SessionPolicyError, scope_from_iam_json};
pub use to_iam::{IamRenderError, session_policy};
