//! `s3gate presign get|put|post`: links and forms that let someone without
//! keys reach one object or prefix, signed with the caller's own s3gate
//! session (the `AWS_*` environment variables, or the session `s3gate
//! login` cached for the gateway). Links are built by
//! [`s3gate::login::share`], as the portal's "Share a link" does; forms by
//! [`super::presign_post`].
//!
//! Does I/O: the environment and the session cache (no network).

use std::time::SystemTime;

use s3gate::login::share::{self, LinkMethod, Signer};

use super::presign_post;
use super::signing::Signing;

#[derive(clap::Subcommand)]
pub enum Command {
    /// A link that downloads one object: `s3gate presign get
    /// s3://bucket/key --expires 1h`.
    Get(LinkArgs),
    /// A link that uploads one object (`curl --upload-file FILE URL`).
    Put(LinkArgs),
    /// A browser upload form for a prefix (POST Object), printed as JSON
    /// like boto3's `generate_presigned_post`: `{"url": …, "fields": {…}}`.
    /// A web page posts the fields and a `file` to the URL; s3gate checks
    /// the form's policy, then the policy file, and stores the file under
    /// `PREFIX${filename}`.
    Post(presign_post::Args),
}

#[derive(clap::Args)]
pub struct LinkArgs {
    /// The object: `s3://bucket/key`.
    object: String,
    #[command(flatten)]
    signing: Signing,
}

/// `s3gate presign`.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Get(args) => link(LinkMethod::Get, &args),
        Command::Put(args) => link(LinkMethod::Put, &args),
        Command::Post(args) => presign_post::run(&args),
    }
}

fn link(method: LinkMethod, args: &LinkArgs) -> anyhow::Result<()> {
    let (bucket, key) = share::parse_object(&args.object).map_err(anyhow::Error::msg)?;
    let (endpoint, credentials) = args.signing.resolve()?;
    let signer = Signer {
        access_key_id: credentials.access_key_id(),
        secret_access_key: credentials.secret_access_key(),
        session_token: credentials.session_token().unwrap_or(""),
        expires_at: credentials.expiry(),
    };
    let link = share::presign(
        &endpoint,
        method,
        bucket,
        key,
        args.signing.expires,
        &args.signing.region,
        &signer,
        SystemTime::now(),
    )
    .map_err(anyhow::Error::msg)?;
    if let Some(asked) = link.life.clipped_from {
        eprintln!(
            "s3gate: --expires {} is past your session's expiry: the link works for {} (the \
             gateway refuses it once the session that signed it has expired)",
            share::humanize(asked),
            share::humanize(link.life.valid_for)
        );
    }
    println!("{}", link.url);
    Ok(())
}
