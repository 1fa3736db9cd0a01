//! The `s3gate` command line, one file per command. Binary-only: the
//! library (`s3gate::…`) never depends on anything here.
//!
//! Each command file holds its clap arguments and the code that runs it;
//! this file holds the command tree and the process set-up (logging, the
//! crypto provider, the runtime, exit codes).

mod audit;
mod cache;
pub mod credentials;
mod dev;
mod grant;
mod keyring;
pub mod login;
mod policy;
mod presign;
mod presign_post;
mod probe;
mod revoke;
mod serve;
mod session;
mod signing;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// s3gate: an identity-aware reverse proxy for Amazon S3.
///
/// Callers prove who they are and get short-lived s3gate session
/// credentials; stock S3 clients (aws CLI, boto3, the SDKs, rclone, s3cmd)
/// then talk S3 to s3gate, which checks every request against the session,
/// re-signs it for the upstream store, streams it, and audits it.
#[derive(Parser)]
#[command(name = "s3gate", version, about, long_about)]
pub struct Cli {
    /// Threads that run requests. Default: the CPUs this process may use
    /// (its affinity mask and cgroup quota). With 1, requests run on one
    /// single-threaded scheduler, which costs less per request than a
    /// one-worker multi-threaded one; file and audit writes keep their own
    /// threads either way.
    #[arg(long, global = true, env = "S3GATE_WORKER_THREADS", value_name = "N")]
    worker_threads: Option<std::num::NonZeroUsize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per run")]
enum Command {
    /// Run the gateway from a config file (see config/s3gate.example.toml).
    Serve(serve::Args),
    /// Run everything on this machine: the gateway in front of a built-in
    /// S3 store over a local folder, with a session for user `dev`.
    ///
    /// Prints the shell lines that point the aws CLI and SDKs at it; audit
    /// lines go to stdout.
    Dev(dev::Args),
    /// The policy file: validate it, and ask what it decides.
    #[command(subcommand)]
    Policy(policy::Command),
    /// Sealed session credentials.
    #[command(subcommand)]
    Session(session::Command),
    /// The audit trail.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Ask a running s3gate whether it is healthy: exits 0 on HTTP 200.
    /// For container health checks (the image has no shell and no curl).
    Probe(probe::Args),
    /// The keyring that seals sessions.
    #[command(subcommand)]
    Keyring(keyring::Command),
    /// Obtain s3gate session credentials as a caller, printed as
    /// `credential_process` JSON (for an AWS profile).
    #[command(subcommand)]
    Credentials(credentials::Command),
    /// Sign in as a person through the gateway's single sign-on and cache
    /// the session for `s3gate credentials sso`.
    ///
    /// Opens your browser on the gateway's sign-in (the address is printed
    /// too); the gateway hands a one-time code to this command on
    /// 127.0.0.1, which trades it for credentials. `--device` signs in
    /// without a browser on this machine: it prints an address and a short
    /// code to enter in any browser, and waits.
    Login(login::LoginArgs),
    /// Forget the session `s3gate login` cached for a gateway: the next
    /// `credentials sso` (an aws command with the profile) signs in again.
    /// The credentials themselves live until they expire; revoke them to cut
    /// them off sooner.
    Logout(login::LogoutArgs),
    /// Write an aws CLI profile that reaches the gateway with your single
    /// sign-on: `credential_process = s3gate credentials sso …` and
    /// `endpoint_url`. Afterwards `aws --profile NAME s3 ls` just works, and
    /// signs you in again (in the browser) when the session has run out.
    Configure(login::ConfigureArgs),
    /// Hand an agent a narrower, shorter session: signs STS `AssumeRole`
    /// with your own s3gate session (the `AWS_*` environment variables, or
    /// else the session `s3gate login` cached for this gateway) and prints
    /// the child's credentials. The child may do only what both you
    /// and the grant allow, never past your own expiry, and every audit
    /// line of it names you.
    Grant(grant::Args),
    /// Cut sessions off before they expire: adds to the configured
    /// revocation list (`session.revocation_file`, or the S3 object
    /// `session.revocation_url`), which every instance re-reads every
    /// `session.revocation_poll` (default 5 s). Sessions delegated from a
    /// revoked one are refused too.
    Revoke(revoke::Args),
    /// Let someone without keys reach one object or prefix: `get`/`put`
    /// links and `post` browser upload forms, signed with your own s3gate
    /// session (the `AWS_*` environment variables, or else the session
    /// `s3gate login` cached for the gateway). A link or form never outlives
    /// that session: `--expires` past it is clipped (and said so), and the
    /// gateway refuses it once the session has expired or was revoked.
    #[command(subcommand)]
    Presign(presign::Command),
    /// Run only the built-in S3-compatible store (SigV4 verified), e.g. as
    /// an upstream for tests and benchmarks.
    Store(store::Args),
}

/// Parses the command line and runs the command; the process's exit code.
pub fn main() -> ExitCode {
    // Both ring (through some dependencies) and aws-lc-rs are linked in;
    // rustls needs to be told which one to use.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("S3GATE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // `policy` is pure file work with exit codes of its own: no runtime.
    let worker_threads = cli.worker_threads;
    let command = match cli.command {
        Command::Policy(command) => return policy::run(command),
        command => command,
    };
    let runtime = match runtime(worker_threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("s3gate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("s3gate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The runtime for `threads` workers (default: the CPUs available). One
/// CPU gets a current-thread scheduler: the load bench measured it at
/// about a fifth less CPU per small request than a multi-threaded runtime
/// with one worker, which pays for work stealing and cross-thread wakeups
/// it cannot use.
fn runtime(threads: Option<std::num::NonZeroUsize>) -> std::io::Result<tokio::runtime::Runtime> {
    let threads = threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, std::num::NonZeroUsize::get);
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build()
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(args).await,
        Command::Dev(args) => dev::run(args).await,
        // Handled before the runtime starts.
        Command::Policy(_) => Ok(()),
        Command::Session(command) => session::run(command),
        Command::Audit(command) => audit::run(command),
        Command::Probe(args) => probe::run(args).await,
        Command::Keyring(command) => keyring::run(command),
        Command::Credentials(command) => credentials::run(command).await,
        Command::Login(args) => login::run_login(args).await,
        Command::Logout(args) => login::run_logout(args),
        Command::Configure(args) => login::run_configure(args),
        Command::Grant(args) => grant::run(args).await,
        Command::Revoke(args) => revoke::run(args).await,
        Command::Store(args) => store::run(args).await,
        Command::Presign(command) => presign::run(command),
    }
}

/// Where cached sessions live: `$XDG_CACHE_HOME/s3gate` or
/// `~/.cache/s3gate`.
fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("s3gate"))
}
