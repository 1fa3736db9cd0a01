//! The `s3gate` command: serve the gateway, run the embedded dev setup, and
//! the operator's tools (session minting, keyrings, a standalone store).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use s3gate::audit::iso8601;
use s3gate::config::{Config, duration};
use s3gate::policy::{Caller, Policy, Scope, identity_from_principal, lint, principal_name};
use s3gate::s3::Action;
use s3gate::session::{Identity, Keyring};

mod credentials;
mod grant;
mod sso;

/// s3gate: an identity-aware reverse proxy for Amazon S3.
///
/// Callers prove who they are and get short-lived s3gate session
/// credentials; stock S3 clients (aws CLI, boto3, the SDKs, rclone, s3cmd)
/// then talk S3 to s3gate, which checks every request against the session,
/// re-signs it for the upstream store, streams it, and audits it.
#[derive(Parser)]
#[command(name = "s3gate", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway from a config file (see config/s3gate.example.toml).
    Serve {
        /// The TOML config file.
        #[arg(long, short, env = "S3GATE_CONFIG")]
        config: PathBuf,
    },
    /// Run everything on this machine: the gateway in front of a built-in
    /// S3 store over a local folder, with a session for user `dev`.
    ///
    /// Prints the shell lines that point the aws CLI and SDKs at it; audit
    /// lines go to stdout.
    Dev {
        /// Where the gateway listens.
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: SocketAddr,
        /// The store's folder; each sub-folder is a bucket. Bucket `dev` is
        /// created at start.
        #[arg(long, default_value = "./s3gate-data")]
        data: PathBuf,
        /// Also write the shell lines to this file (`source` it).
        #[arg(long)]
        env_file: Option<PathBuf>,
        /// How long the dev session lasts.
        #[arg(long, default_value = "12h", value_parser = duration::parse)]
        ttl: Duration,
        /// A policy file to use (reloaded on change) instead of the built-in
        /// one that lets user `dev` do everything.
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// The policy file: validate it, and ask what it decides.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Sealed session credentials.
    #[command(subcommand)]
    Session(SessionCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Ask a running s3gate whether it is healthy: exits 0 on HTTP 200.
    /// For container health checks (the image has no shell and no curl).
    Probe {
        /// An `http://` URL.
        #[arg(default_value = "http://127.0.0.1:7070/_s3gate/healthz")]
        url: String,
        #[arg(long, default_value = "3s", value_parser = duration::parse)]
        timeout: Duration,
    },
    /// The keyring that seals sessions.
    #[command(subcommand)]
    Keyring(KeyringCommand),
    /// Obtain s3gate session credentials as a caller, printed as
    /// `credential_process` JSON (for an AWS profile).
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Sign in as a person through the gateway's single sign-on and cache
    /// the session for `s3gate credentials sso`.
    ///
    /// Opens your browser on the gateway's sign-in (the address is printed
    /// too); the gateway hands a one-time code to this command on
    /// 127.0.0.1, which trades it for credentials. `--device` signs in
    /// without a browser on this machine: it prints an address and a short
    /// code to enter in any browser, and waits.
    Login {
        /// The gateway's base URL.
        #[arg(long, env = "S3GATE_GATEWAY")]
        gateway: String,
        /// Sign in from another device's browser with a short code.
        #[arg(long)]
        device: bool,
        /// Print the sign-in address; do not start a browser.
        #[arg(long)]
        no_browser: bool,
        /// How long to wait for the sign-in.
        #[arg(long, default_value = "5m", value_parser = duration::parse)]
        timeout: Duration,
        /// Where the session is cached. Default: `$XDG_CACHE_HOME/s3gate`
        /// or `~/.cache/s3gate`.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Also print the credentials as `credential_process` JSON.
        #[arg(long)]
        print: bool,
    },
    /// Forget the session `s3gate login` cached for a gateway: the next
    /// `credentials sso` (an aws command with the profile) signs in again.
    /// The credentials themselves live until they expire; revoke them to cut
    /// them off sooner.
    Logout {
        /// The gateway's base URL.
        #[arg(long, env = "S3GATE_GATEWAY")]
        gateway: String,
        /// Where the session is cached.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
    /// Write an aws CLI profile that reaches the gateway with your single
    /// sign-on: `credential_process = s3gate credentials sso …` and
    /// `endpoint_url`. Afterwards `aws --profile NAME s3 ls` just works, and
    /// signs you in again (in the browser) when the session has run out.
    Configure {
        /// The gateway's base URL.
        #[arg(long, env = "S3GATE_GATEWAY")]
        gateway: String,
        /// The profile to write (replaced if it exists).
        #[arg(long, default_value = "s3gate")]
        profile: String,
        /// The region the profile names (s3gate accepts any; it must match
        /// what clients sign for).
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Sign in with a device code rather than a browser on this machine.
        #[arg(long)]
        device: bool,
        /// The aws config file. Default: `$AWS_CONFIG_FILE` or
        /// `~/.aws/config`.
        #[arg(long)]
        config_file: Option<PathBuf>,
    },
    /// Hand an agent a narrower, shorter session: signs STS `AssumeRole`
    /// with your own s3gate session (the `AWS_*` environment variables, or
    /// else the session `s3gate login` cached for this gateway) and prints
    /// the child's credentials. The child may do only what both you
    /// and the grant allow, never past your own expiry, and every audit
    /// line of it names you.
    Grant {
        /// The gateway's base URL.
        #[arg(long, env = "S3GATE_GATEWAY")]
        gateway: String,
        /// Read (get and list) under `s3://bucket/prefix/`, or one key
        /// (`s3://bucket/key`). Repeatable.
        #[arg(long)]
        read: Vec<String>,
        /// Write (put, multipart) under `s3://bucket/prefix/`, or one key.
        /// Repeatable.
        #[arg(long)]
        write: Vec<String>,
        /// Lifetime (within the gateway's session bounds; never past yours).
        #[arg(long, default_value = "15m", value_parser = duration::parse)]
        ttl: Duration,
        /// The child session's name, shown in the chain of every audit line.
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "env")]
        format: grant::Format,
        #[command(flatten)]
        quota: grant::QuotaArgs,
    },
    /// Cut sessions off before they expire: adds to the configured
    /// revocation list (`session.revocation_file`, or the S3 object
    /// `session.revocation_url`), which every instance re-reads every
    /// `session.revocation_poll` (default 5 s). Sessions delegated from a
    /// revoked one are refused too.
    #[command(group(
        clap::ArgGroup::new("what")
            .required(true)
            .args(["session", "identity", "delegated_by"])
    ))]
    Revoke {
        #[arg(long, short, env = "S3GATE_CONFIG")]
        config: PathBuf,
        /// A session id (the audit lines' `session_id`).
        #[arg(long)]
        session: Option<String>,
        /// A principal name (`user:alice`, `delegated:agent-7`): every
        /// session of it, and every session delegated through it.
        #[arg(long)]
        identity: Option<String>,
        /// A principal name: every session it delegated, directly or not
        /// (its agents and theirs), while its own sessions keep working.
        #[arg(long)]
        delegated_by: Option<String>,
        /// Shown to the refused caller and in the audit.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Run only the built-in S3-compatible store (SigV4 verified),
    /// e.g. as an upstream for tests and benchmarks.
    Store {
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: SocketAddr,
        /// The folder; each sub-folder is a bucket.
        #[arg(long)]
        data: PathBuf,
        /// The one access key the store accepts.
        #[arg(long, env = "S3GATE_STORE_ACCESS_KEY_ID")]
        access_key_id: String,
        /// Its secret (prefer the environment variable: arguments are
        /// visible to other users of the machine).
        #[arg(long, env = "S3GATE_STORE_SECRET_ACCESS_KEY", hide_env_values = true)]
        secret_access_key: String,
    },
}

#[derive(Subcommand)]
enum SessionCommand {
    /// Mint session credentials directly (break-glass, tests). Prints
    /// `credential_process` JSON, so a profile can use it as is.
    Mint {
        #[arg(long, short, env = "S3GATE_CONFIG")]
        config: PathBuf,
        /// Who the session is for (appears in every audit line).
        #[arg(long)]
        user: String,
        /// What it may do: `ACTIONS=s3://bucket/prefix*`, where ACTIONS is a
        /// comma list of groups (read, write, list, delete, *) and action
        /// names (s3:GetObject). Repeat for more rules.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Lifetime, e.g. 15m, 1h (at most the config's session.max_ttl).
        #[arg(long, default_value = "1h", value_parser = duration::parse)]
        ttl: Duration,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of an audit file written with
    /// `[audit] chain = true`. Exits 0 when every link holds, 1 at the
    /// first broken link (named by line number).
    Verify {
        /// The audit file (JSON lines).
        file: PathBuf,
    },
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per run")]
enum PolicyCommand {
    /// Validate a policy file and warn about rules that are probably
    /// mistakes (grants a deny makes unreachable, overlapping denies, `*`
    /// everywhere). Exit 0 when valid, 1 when not (or, with --strict, when
    /// there are warnings).
    Check {
        file: PathBuf,
        /// Treat warnings as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Would IDENTITY be allowed ACTION on RESOURCE, and by which rule?
    /// Prints the decision; exit 0 when allowed, 1 when denied, 2 on error.
    Explain {
        /// The policy file.
        #[arg(long)]
        policy: PathBuf,
        /// Who asks, spelled as the audit log's `identity`: user:NAME,
        /// oidc:ISSUER#SUB, aws:role/ACCOUNT/ROLE, aws:ARN.
        #[arg(long = "as", value_name = "IDENTITY")]
        identity: String,
        /// A group the identity is in (repeat for more).
        #[arg(long = "group")]
        groups: Vec<String>,
        #[arg(long)]
        email: Option<String>,
        /// The username (`${identity.username}`). Default: NAME of user:NAME.
        #[arg(long)]
        username: Option<String>,
        /// The login used a second factor.
        #[arg(long)]
        mfa: bool,
        /// The session was delegated by this principal (repeat, outermost
        /// first).
        #[arg(long = "delegated-by")]
        chain: Vec<String>,
        /// The client's address, for source_cidr conditions.
        #[arg(long)]
        source_ip: Option<IpAddr>,
        /// When (RFC 3339). Default: now.
        #[arg(long)]
        at: Option<String>,
        /// The S3 action, e.g. s3:GetObject.
        action: String,
        /// s3://bucket/key (s3://bucket for bucket-level actions,
        /// s3://bucket/prefix for listings).
        resource: String,
    },
}

#[derive(Subcommand)]
enum CredentialsCommand {
    /// Prove this machine's AWS identity (ECS task role, Lambda, EC2
    /// instance role, environment keys) to the gateway and get a session.
    ///
    /// Signs an `sts:GetCallerIdentity` for the STS endpoint and server id
    /// the gateway announces (`/_s3gate/aws-identity`); the gateway sends it
    /// to STS itself and mints a session for the ARN STS names. The session
    /// is cached (owner-only file) until shortly before it expires. Use as
    /// `credential_process = s3gate credentials aws --gateway URL`.
    Aws {
        /// The gateway's base URL.
        #[arg(long, env = "S3GATE_GATEWAY")]
        gateway: String,
        /// Session lifetime to ask for (within the gateway's bounds).
        #[arg(long, value_parser = duration::parse)]
        duration: Option<Duration>,
        /// Sign with this AWS profile's credentials instead of the workload
        /// chain (environment, web identity, ECS, EC2 metadata).
        #[arg(long)]
        source_profile: Option<String>,
        /// Where the cached session lives. Default: `$XDG_CACHE_HOME/s3gate`
        /// or `~/.cache/s3gate`.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Always ask the gateway, never the cache.
        #[arg(long)]
        no_cache: bool,
    },
    /// A person's session from the gateway's single sign-on: the cached one
    /// while it has more than 5 minutes left, else a new sign-in (as
    /// `s3gate login`, with the prompts on the terminal). Use as
    /// `credential_process = s3gate credentials sso --gateway URL`;
    /// `s3gate configure` writes that profile.
    Sso {
        /// The gateway's base URL.
        #[arg(long, env = "S3GATE_GATEWAY")]
        gateway: String,
        /// Sign in from another device's browser with a short code.
        #[arg(long)]
        device: bool,
        /// How long to wait for a sign-in.
        #[arg(long, default_value = "5m", value_parser = duration::parse)]
        timeout: Duration,
        /// Where the session is cached.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeyringCommand {
    /// Write a new keyring file with one fresh key.
    New {
        /// The file to create (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
        /// Key id. Default: `k` and today's date.
        #[arg(long)]
        id: Option<String>,
    },
    /// Add a fresh key to a keyring: new sessions use it, existing sessions
    /// keep working until their key is removed from the file.
    Rotate {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        id: Option<String>,
    },
}

fn main() -> ExitCode {
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("s3gate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::Policy(command) = cli.command {
        return policy_command(command);
    }
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("s3gate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn read_policy(path: &std::path::Path) -> Result<Policy, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Policy::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())
}

/// `s3gate policy …`: pure file work, no runtime. Exit codes are part of
/// the interface (scripts and CI use them).
fn policy_command(command: PolicyCommand) -> ExitCode {
    match command {
        PolicyCommand::Check { file, strict } => {
            let policy = match read_policy(&file) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("s3gate policy check: {e}");
                    return ExitCode::from(1);
                }
            };
            let lints = lint(&policy);
            for l in &lints {
                println!("{}:{l}", file.display());
            }
            println!(
                "{}: valid, version {}, {} grants, {} denies, {} warnings",
                file.display(),
                policy.version(),
                policy.grants().len(),
                policy.denies().len(),
                lints.len()
            );
            if strict && !lints.is_empty() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        PolicyCommand::Explain {
            policy,
            identity,
            groups,
            email,
            username,
            mfa,
            chain,
            source_ip,
            at,
            action,
            resource,
        } => {
            let fail = |e: String| {
                eprintln!("s3gate policy explain: {e}");
                ExitCode::from(2)
            };
            let policy_file = policy;
            let policy = match read_policy(&policy_file) {
                Ok(p) => p,
                Err(e) => return fail(e),
            };
            let mut id = match identity_from_principal(&identity) {
                Ok(id) => id,
                Err(e) => return fail(format!("--as: {e}")),
            };
            id.groups = groups;
            id.email = email;
            if username.is_some() {
                id.username = username;
            }
            id.mfa = mfa.then_some(true);
            let Some(action) = Action::parse(&action) else {
                return fail(format!(
                    "unknown action `{action}` (expected an S3 action such as s3:GetObject)"
                ));
            };
            if !resource.starts_with("s3://") {
                return fail(format!("resource `{resource}` must start with s3://"));
            }
            let now = match at {
                None => SystemTime::now(),
                Some(t) => match time::OffsetDateTime::parse(
                    &t,
                    &time::format_description::well_known::Rfc3339,
                ) {
                    Ok(t) => {
                        SystemTime::UNIX_EPOCH
                            + Duration::from_secs(u64::try_from(t.unix_timestamp()).unwrap_or(0))
                    }
                    Err(_) => return fail(format!("--at `{t}` is not an RFC 3339 time")),
                },
            };
            let caller = Caller {
                identity: &id,
                chain: &chain,
                client: source_ip,
                now,
            };
            let decision = policy.explain(&caller, action, &resource);
            println!("{decision}");
            println!("  identity: {}", principal_name(&id));
            println!(
                "  policy:   {} (version {})",
                policy_file.display(),
                policy.version()
            );
            if decision.allowed {
                println!("  grants under this upstream role:");
                for g in policy.grants_for(&caller, decision.role.as_deref()) {
                    println!("    {}={} (`{}`)", g.actions, g.resource, g.rule);
                }
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            let running = s3gate::server::start(config).await?;
            tracing::info!(
                listen = %running.addr,
                policy.version = %running.policy.current().version(),
                "s3gate serving"
            );
            let reloader = reload_on_sighup(running.policy.clone())?;
            // SIGTERM: readyz fails, the listener closes, in-flight
            // requests finish (up to server.drain_timeout), then exit 0.
            running.run_until(shutdown_signal()).await;
            reloader.abort();
            tracing::info!("s3gate stopped");
            Ok(())
        }
        Command::Dev {
            listen,
            data,
            env_file,
            ttl,
            policy,
        } => {
            s3gate::dev::run(s3gate::dev::DevOptions {
                listen,
                data,
                env_file,
                ttl,
                policy,
            })
            .await
        }
        // Handled before the runtime starts.
        Command::Policy(_) => Ok(()),
        Command::Session(SessionCommand::Mint {
            config,
            user,
            scopes,
            ttl,
        }) => mint(&config, &user, &scopes, ttl),
        Command::Probe { url, timeout } => {
            let status = tokio::time::timeout(timeout, probe(&url))
                .await
                .map_err(|_| anyhow::anyhow!("{url}: no answer within {timeout:?}"))??;
            if status == 200 {
                Ok(())
            } else {
                anyhow::bail!("{url}: HTTP {status}")
            }
        }
        Command::Audit(AuditCommand::Verify { file }) => {
            let f = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            match s3gate::audit::chain::verify(std::io::BufReader::new(f)) {
                Ok(n) => {
                    println!("{}: {n} records, chain intact", file.display());
                    Ok(())
                }
                Err(e) => anyhow::bail!("{}: chain broken: {e}", file.display()),
            }
        }
        Command::Keyring(KeyringCommand::New { out, id }) => {
            if out.exists() {
                anyhow::bail!("{} exists; refusing to overwrite a keyring", out.display());
            }
            let id = id.unwrap_or_else(default_key_id);
            let keyring = Keyring::generate(&id, &mut rand::rng())?;
            credentials::write_private(&out, keyring.to_toml().expose())
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!("wrote {} with key `{id}`", out.display());
            Ok(())
        }
        Command::Keyring(KeyringCommand::Rotate { file, id }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let mut keyring =
                Keyring::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let id = id.unwrap_or_else(default_key_id);
            keyring.add_key(&id, &mut rand::rng())?;
            credentials::write_private(&file, keyring.to_toml().expose())
                .with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!(
                "added key `{id}` to {}; new sessions use it",
                file.display()
            );
            Ok(())
        }
        Command::Credentials(CredentialsCommand::Aws {
            gateway,
            duration,
            source_profile,
            cache_dir,
            no_cache,
        }) => {
            let cache_dir = if no_cache {
                None
            } else {
                cache_dir.or_else(default_cache_dir)
            };
            let json =
                credentials::aws(&gateway, duration, source_profile, cache_dir.as_deref()).await?;
            println!("{json}");
            Ok(())
        }
        Command::Credentials(CredentialsCommand::Sso {
            gateway,
            device,
            timeout,
            cache_dir,
        }) => {
            let login = sso::Login {
                gateway: sso::gateway_url(&gateway)?,
                device,
                no_browser: false,
                timeout,
                cache_dir: cache_dir.or_else(default_cache_dir),
            };
            let json = login.credentials(&mut sso::Progress::terminal()).await?;
            println!("{json}");
            Ok(())
        }
        Command::Login {
            gateway,
            device,
            no_browser,
            timeout,
            cache_dir,
            print,
        } => {
            let login = sso::Login {
                gateway: sso::gateway_url(&gateway)?,
                device,
                no_browser,
                timeout,
                cache_dir: cache_dir.or_else(default_cache_dir),
            };
            let json = login.sign_in(&mut sso::Progress::stderr()).await?;
            if print {
                println!("{json}");
            }
            Ok(())
        }
        Command::Logout { gateway, cache_dir } => {
            let gateway = sso::gateway_url(&gateway)?;
            let dir = cache_dir
                .or_else(default_cache_dir)
                .context("no cache folder: set HOME or XDG_CACHE_HOME, or pass --cache-dir")?;
            if sso::forget(&gateway, &dir)? {
                eprintln!("Signed out of {gateway} on this machine.");
            } else {
                eprintln!("Not signed in to {gateway} on this machine.");
            }
            Ok(())
        }
        Command::Configure {
            gateway,
            profile,
            region,
            device,
            config_file,
        } => {
            let gateway = sso::gateway_url(&gateway)?;
            let path = config_file.or_else(sso::aws_config_path).context(
                "no aws config file: set HOME or AWS_CONFIG_FILE, or pass --config-file",
            )?;
            let exe = std::env::current_exe().context("cannot find this program's path")?;
            sso::configure(
                &path,
                &sso::Profile {
                    name: &profile,
                    gateway: &gateway,
                    region: &region,
                    device,
                },
                &exe,
            )?;
            eprintln!(
                "Wrote profile `{profile}` to {}.\nTry it:\n\n  aws --profile {profile} s3 ls\n\nThe first \
                 command signs you in{}; later ones reuse the session until it expires.",
                path.display(),
                if device {
                    " with a device code"
                } else {
                    " in your browser"
                }
            );
            Ok(())
        }
        Command::Revoke {
            config,
            session,
            identity,
            delegated_by,
            reason,
        } => {
            revoke(
                &config,
                s3gate::session::RevocationEntry {
                    session,
                    identity,
                    delegated_by,
                    until: 0,
                    reason,
                },
            )
            .await
        }
        Command::Grant {
            gateway,
            read,
            write,
            ttl,
            name,
            format,
            quota,
        } => {
            let ask = grant::Ask {
                read: &read,
                write: &write,
                ttl,
                name: &name,
                quota: quota.quota(),
            };
            let out = grant::grant(&gateway, ask, format, default_cache_dir().as_deref()).await?;
            println!("{out}");
            Ok(())
        }
        Command::Store {
            listen,
            data,
            access_key_id,
            secret_access_key,
        } => {
            let (addr, task) =
                s3gate::dev::start_store(listen, &data, &access_key_id, &secret_access_key).await?;
            eprintln!("s3gate store on http://{addr} over {}", data.display());
            tokio::select! {
                _ = task => {}
                _ = shutdown_signal() => {}
            }
            Ok(())
        }
    }
}

fn mint(
    config: &std::path::Path,
    user: &str,
    scopes: &[String],
    ttl: Duration,
) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    if ttl > config.session.max_ttl {
        anyhow::bail!(
            "--ttl {}s is longer than session.max_ttl ({}s)",
            ttl.as_secs(),
            config.session.max_ttl.as_secs()
        );
    }
    let scope = Scope::parse(scopes).map_err(|e| anyhow::anyhow!("--scope: {e}"))?;
    let text = config.session.keyring_text()?;
    let keyring = Keyring::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.session.keyring.display()))?;
    let mut identity = Identity::new("mint", user);
    identity.username = Some(user.to_owned());
    let creds = keyring.mint(
        identity,
        scope,
        SystemTime::now(),
        ttl,
        Vec::new(),
        &mut rand::rng(),
    )?;
    let out = serde_json::json!({
        "Version": 1,
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key.expose(),
        "SessionToken": creds.session_token,
        "Expiration": iso8601(creds.expires_at),
    });
    println!("{out}");
    Ok(())
}

/// Adds one entry to the configured revocation list.
async fn revoke(
    config: &std::path::Path,
    mut entry: s3gate::session::RevocationEntry,
) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    // Void once every session it could name has expired anyway.
    let longest = config.session.max_ttl.max(config.identity.max_session_ttl);
    entry.until = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_add(longest.as_secs());
    let list = s3gate::server::revocation::append(&config, &entry).await?;
    eprintln!(
        "revoked {} in {list}; instances refuse it within {}s",
        entry.describe(),
        config.session.revocation_poll.as_secs()
    );
    Ok(())
}

fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("s3gate"))
}

/// `GET url` over plain HTTP/1.1; the response's status code.
async fn probe(url: &str) -> anyhow::Result<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let uri: http::Uri = url.parse().with_context(|| format!("not a URL: {url}"))?;
    if uri.scheme_str() != Some("http") {
        anyhow::bail!("{url}: only http:// URLs can be probed");
    }
    let host = uri.host().unwrap_or("127.0.0.1");
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut stream = tokio::net::TcpStream::connect((host, port))
        .await
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await?;
    std::str::from_utf8(&head)
        .ok()
        .and_then(|h| h.strip_prefix("HTTP/1.1 "))
        .and_then(|code| code.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{url}: not an HTTP response"))
}

fn default_key_id() -> String {
    let date = iso8601(SystemTime::now());
    format!("k{}", &date[..10])
}

/// SIGHUP reloads the policy file now (whether or not it is watched).
fn reload_on_sighup(
    policy: std::sync::Arc<s3gate::server::LivePolicy>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot listen for SIGHUP")?;
    Ok(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the policy");
            policy.reload().await;
        }
    }))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}
