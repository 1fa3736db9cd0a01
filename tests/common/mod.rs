//! Fixtures both test tiers share: the in-process tier (`tests/inproc`,
//! plain `cargo test`, nothing installed) and the real-client tier
//! (`tests/e2e`, through `tests/run`). Each binary includes this folder with
//! `#[path = "../common/mod.rs"] mod common;`.
//!
//! What is here starts or describes real servers on loopback: a gateway's
//! config text and keyring, the Rust SDK client, and an OIDC issuer with a
//! key made at start. Nothing here is a stand-in for s3gate code.

// Each binary uses its own subset of the fixtures.
#![allow(dead_code)]

pub mod client;
pub mod config;
pub mod issuer;
pub mod ports;
pub mod random;
