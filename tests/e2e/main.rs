//! End-to-end tests: s3gate between real S3 clients and real S3 servers.
//!
//! One test binary, so every test shares the servers the [`harness`] starts
//! once: the embedded store with SigV4 verification on (the verifying upstream),
//! an s3gate in front of it, and — from `S3GATE_TEST_MOTO` — moto in auth
//! mode with a second s3gate in front of it. The clients are the real ones:
//! the aws CLI and boto3 from the testbed venv, rclone, s3cmd, curl and the
//! Rust SDK; [`sign`] hand-crafts the requests no stock client sends.
//!
//! Run with `tests/run`, which installs and starts the testbed and exports
//! the `S3GATE_TEST_*` variables naming it. Without them, plain `cargo test`
//! skips every test that needs the testbed (each opens with
//! [`needs_testbed!`]) and says so, unless `CI` is set: then they fail.
//! The in-process tier (`tests/inproc`) needs nothing installed.

// Tests: a failed expectation is a failed test, and its message says which.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Returns from the calling test when the testbed is absent outside CI
/// (see [`harness::testbed_present`]). Defined before the modules so each
/// of them can use it.
macro_rules! needs_testbed {
    () => {
        if !crate::harness::testbed_present() {
            return;
        }
    };
}

mod anonymous;
mod assume_role;
mod audit;
mod aws_identity;
mod browser_data;
mod client;
#[path = "../common/mod.rs"]
mod common;
mod cors;
mod delegation;
mod dev;
mod escalation;
mod framing;
mod harness;
mod hostile;
mod identity;
mod idp;
mod implied;
mod login;
mod moto;
mod operations;
mod ops;
mod origin;
mod parity;
mod payload;
mod policy;
mod policy_cli;
mod portal_forwarded;
mod post;
mod presign;
mod quota;
mod refusal;
mod roundtrip;
mod scaleout;
mod sign;
mod store;
mod sts;
mod tls;
mod unread_body;
