//! `s3gate presign get|put|post`: links and forms that let someone without
//! keys reach one object or prefix, signed with the caller's own s3gate
//! session (the `AWS_*` environment variables, or the session `s3gate
//! login` cached for the gateway). Links are built by
//! [`s3gate::login::share`], as the portal's "Share a link" does; forms by
//! [`super::presign_post`].
//!
//! Does I/O: the environment and the session cache (no network).

use std::time::{Duration, SystemTime};

use s3gate::login::share::{self, LinkMethod, Signer};

use super::presign_post;

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

/// Where a link or form is signed for, and by whom.
#[derive(clap::Args)]
pub struct Signing {
    /// The gateway you signed in to (`s3gate login --gateway`): whose cached
    /// session signs, when no `AWS_*` variables are set. Default: the
    /// endpoint.
    #[arg(long, env = "S3GATE_GATEWAY", required_unless_present = "endpoint_url")]
    pub gateway: Option<String>,
    /// The S3 endpoint the link or form points at. Default: the gateway's
    /// URL. Set it when the portal has a host of its own (`login.s3_url`):
    /// the portal's host serves no S3.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// How long it works; never past your session's expiry (a longer value
    /// is clipped, and said so). At most 7 days.
    #[arg(long, default_value = "1h", value_parser = s3gate::config::duration::parse)]
    pub expires: Duration,
    /// The region to sign for (the bucket's store's, as the gateway
    /// serves it).
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
}

impl Signing {
    /// The gateway's URL, the endpoint's, and the caller's credentials.
    pub fn resolve(&self) -> anyhow::Result<(String, aws_credential_types::Credentials)> {
        let url = |u: &Option<String>| u.as_deref().map(super::login::gateway_url).transpose();
        let (gateway, endpoint) = match (url(&self.gateway)?, url(&self.endpoint_url)?) {
            (Some(gateway), Some(endpoint)) => (gateway, endpoint),
            (Some(one), None) | (None, Some(one)) => (one.clone(), one),
            (None, None) => anyhow::bail!("name the gateway: --gateway or --endpoint-url"),
        };
        let credentials = super::grant::caller_credentials(
            &gateway,
            super::default_cache_dir().as_deref(),
            "presign",
        )?;
        Ok((endpoint, credentials))
    }
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
    if let Some(asked) = link.clipped_from {
        eprintln!(
            "s3gate: --expires {} is past your session's expiry: the link works for {} (the \
             gateway refuses it once the session that signed it has expired)",
            share::humanize(asked),
            share::humanize(link.valid_for)
        );
    }
    println!("{}", link.url);
    Ok(())
}
