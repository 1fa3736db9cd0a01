//! s3gate: an identity-aware reverse proxy for Amazon S3.
//!
//! A request flows down the pipeline, one module a stage:
//! [`s3`] classifies it, [`sigv4`] authenticates it against a sealed
//! [`session`], [`policy`] decides it, [`upstream`] re-signs and streams it to
//! the store, and [`audit`] records it. [`server`] wires the stages together
//! behind one port that also serves the [`sts_api`]; [`config`] is the file
//! that configures them and [`dev`] is the embedded single-machine default;
//! [`metrics`] counts what passes, for Prometheus. People sign in through
//! [`login`] (the browser portal and the CLI's login), which ends in the same
//! sealed sessions.
//!
//! Dependencies point down the pipeline: `s3`, `sigv4`, `session` and
//! `policy` are pure (no I/O, no clock reads: time is passed in); the adapters
//! (`upstream`, `audit`, `config`) do I/O; `server` and `dev` compose.

pub mod audit;
pub mod config;
pub mod dev;
pub mod identity;
pub mod login;
pub mod metrics;
pub mod policy;
pub mod s3;
pub mod server;
pub mod session;
pub mod sigv4;
pub mod sts_api;
pub mod upstream;

#[cfg(test)]
mod fuzz;
