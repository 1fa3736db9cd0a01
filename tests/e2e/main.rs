//! End-to-end tests: s3gate between real S3 clients and real S3 servers.
//!
//! One test binary, so every test shares the servers the [`harness`] starts
//! once: an s3s-fs store with SigV4 verification on (the verifying upstream),
//! an s3gate in front of it, and — from `S3GATE_TEST_MOTO` — moto in auth
//! mode with a second s3gate in front of it. The clients are the real ones:
//! the aws CLI and boto3 from the testbed venv, rclone, s3cmd, curl and the
//! Rust SDK; [`sign`] hand-crafts the requests no stock client sends.
//!
//! Run with `tests/run`, which installs and starts the testbed; plain
//! `cargo test` works only with the `S3GATE_TEST_*` variables it exports.

// Tests: a failed expectation is a failed test, and its message says which.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod assume_role;
mod audit;
mod aws_identity;
mod client;
mod delegation;
mod dev;
mod harness;
mod hostile;
mod identity;
mod idp;
mod login;
mod moto;
mod operations;
mod ops;
mod payload;
mod policy;
mod policy_cli;
mod quota;
mod refusal;
mod roundtrip;
mod scaleout;
mod sign;
mod sts;
mod tls;
