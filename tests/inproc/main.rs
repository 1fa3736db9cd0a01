//! The in-process tier: end-to-end tests that plain `cargo test` runs in
//! seconds with nothing installed.
//!
//! Each test starts its own servers on loopback in this process (see
//! [`stack`]): the embedded store with SigV4 verification on, an s3gate
//! gateway in front of it deciding by a policy the test writes inline, and
//! a small OIDC issuer with a key made at start. The client is the Rust SDK
//! (S3 and STS) or, for the portal's browser routes, a plain HTTP client
//! that follows nothing by itself. The real-client tier (`tests/e2e`, run by
//! `tests/run`) drives the aws CLI, boto3, rclone and others against moto
//! and node-oidc-provider; fixtures both use are in `tests/common`.

// Tests: a failed expectation is a failed test, and its message says which.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod portal;
mod s3;
mod stack;
mod sts;
