//! s3gate: an identity-aware reverse proxy for Amazon S3.
//!
//! A request flows down the pipeline, one module a stage:
//! [`s3`] classifies it, [`sigv4`] authenticates it against a sealed
//! [`session`], [`policy`] decides it, [`upstream`] re-signs and streams it to
//! the store, and [`audit`] records it. [`gateway`] wires the stages together
//! (the S3 pipeline, the [`sts_api`], the sign-in portal) and [`server`] is
//! the transport under it (listener, TLS, connection limits, shutdown);
//! [`request_body`] is the caller's body as it hands it over, which knows
//! whether it was read to its end.
//! [`live`] keeps what changes while running current (policy and keyring
//! reload, revocation list, readiness); [`config`] is the file that
//! configures it all and [`dev`] the embedded single-machine default; [`metrics`] counts
//! what passes, for Prometheus. People sign in through [`login`] (the
//! relying party and its pages), which ends in the same sealed sessions.
//! [`raw_query`] splits a request's query once, for every stage that
//! reads it (a leaf); `hex_digits` is the one hex-digit table of `s3` and
//! `sigv4` (a leaf), and `byte_run` finds the runs their decoders and
//! encoders copy whole, sixteen bytes at a time (a leaf).
//! [`secret_file`] writes the files that hold secrets for their owner only
//! and refuses a keyring file others could read.
//!
//! Dependencies point down the pipeline: `s3`, `sigv4`, `session` and
//! `policy` are pure (no I/O, no clock reads: time is passed in); the adapters
//! (`identity`, `upstream`, `audit`, `live`, `config`) do I/O; `gateway`,
//! `server` and `dev` compose. The command line is binary-only (`src/cli/`).
// The S3 phases, the form upload inside them and the connection around
// them make one deep future; its layout needs more query depth than the
// default 128 (boxing it instead would cost an allocation a request).
#![recursion_limit = "256"]

pub(crate) mod amz_header;
pub mod audit;
pub(crate) mod byte_run;
pub mod calendar;
pub mod config;
pub(crate) mod constant_time;
pub mod dev;
pub mod forwarded;
pub mod gateway;
pub(crate) mod hex_digits;
pub mod http1;
pub mod iam;
pub mod identity;
pub mod live;
pub mod login;
pub mod metrics;
pub mod policy;
pub mod principal;
pub mod raw_query;
pub mod request_body;
pub mod s3;
pub mod secret_file;
pub mod server;
pub mod session;
pub mod shared;
pub mod sigv4;
pub(crate) mod split_ascii;
pub mod store;
pub mod sts_api;
pub mod upstream;
pub mod xml;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod mutation;
