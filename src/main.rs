//! The `s3gate` command: serve the gateway, run the embedded dev setup, and
//! the operator's and callers' tools. The commands live in [`cli`].

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
