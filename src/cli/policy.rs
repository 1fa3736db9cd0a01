//! `s3gate policy`: validate a policy file (`check`) and ask what it
//! decides (`explain`). Pure file work, no runtime; the exit codes are part
//! of the interface (scripts and CI use them).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use s3gate::policy::{Caller, Policy, identity_from_principal, lint, principal_name};
use s3gate::s3::Action;

#[derive(clap::Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per run")]
pub enum Command {
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
        /// Ask for a session the identity delegated under this name
        /// (`s3gate grant --name`); repeat for one that session delegated,
        /// outermost first.
        #[arg(long = "delegated", value_name = "NAME")]
        delegated: Vec<String>,
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

fn read_policy(path: &std::path::Path) -> Result<Policy, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Policy::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())
}

/// `s3gate policy …`: pure file work, no runtime. Exit codes are part of
/// the interface (scripts and CI use them).
pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Check { file, strict } => {
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
        Command::Explain {
            policy,
            identity,
            groups,
            email,
            username,
            mfa,
            delegated,
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
            // A delegated session's chain, as the gateway seals it.
            let mut chain = Vec::new();
            for name in &delegated {
                let parent = chain.last().cloned().unwrap_or_else(|| principal_name(&id));
                chain.push(s3gate::policy::delegated_name(&parent, name));
            }
            if !chain.is_empty() {
                chain.insert(0, principal_name(&id));
            }
            let caller = Caller {
                identity: &id,
                name: None,
                chain: &chain,
                client: source_ip,
                now,
            };
            let decision = policy.decide_session(&caller, &[(action, resource.clone())]);
            println!("{decision}");
            println!("  identity: {}", principal_name(&id));
            if let Some(session) = chain.last() {
                println!("  session:  {session}");
            }
            println!(
                "  policy:   {} (version {})",
                policy_file.display(),
                policy.version()
            );
            if decision.allowed {
                println!("  grants under this upstream role:");
                for g in policy.session_grants_for(&caller, decision.role.as_deref()) {
                    println!("    {}={} (`{}`)", g.actions, g.resource, g.rule);
                }
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}
