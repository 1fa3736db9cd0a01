//! The `s3gate` command: serve the gateway, run the embedded dev setup, and
//! the operator's and callers' tools. The commands live in [`cli`].

// The serving futures nest deep enough that a release build's layout
// queries pass the default limit of 128, as they do in the library.
#![recursion_limit = "256"]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}

/// mimalloc instead of glibc's malloc: a proxied request makes dozens of
/// short-lived allocations (hyper's heads, the signer's and the audit
/// record's strings), and the load bench measured mimalloc at about an
/// eighth less CPU per small request (benches/load/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
