//! `s3gate presign get|put s3://bucket/key`: a presigned URL for a person
//! to hand to someone (or something) without credentials, signed with the
//! caller's own s3gate session (the `AWS_*` environment variables, or the
//! session `s3gate login` cached for the gateway). The link itself is
//! built by [`s3gate::login::share`], as the portal's "Share a link" does.
//!
//! Does I/O: the environment and the session cache (no network).

use std::time::{Duration, SystemTime};

use s3gate::login::share::{self, LinkMethod, Signer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Download the object.
    Get,
    /// Upload the object (`curl --upload-file FILE URL`).
    Put,
}

#[derive(clap::Args)]
pub struct Args {
    /// What the link does.
    #[arg(value_enum)]
    method: Method,
    /// The object: `s3://bucket/key`.
    object: String,
    /// The gateway's base URL.
    #[arg(long, env = "S3GATE_GATEWAY")]
    gateway: String,
    /// How long the link works; never past your session's expiry (a longer
    /// value is clipped, and said so). At most 7 days.
    #[arg(long, default_value = "1h", value_parser = s3gate::config::duration::parse)]
    expires: Duration,
    /// The region to sign for (the bucket's store's, as the gateway
    /// serves it).
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
}

/// `s3gate presign`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let gateway = args.gateway.trim_end_matches('/');
    let (bucket, key) = share::parse_object(&args.object).map_err(anyhow::Error::msg)?;
    let credentials = super::grant::caller_credentials(
        gateway,
        super::default_cache_dir().as_deref(),
        "presign",
    )?;
    let signer = Signer {
        access_key_id: credentials.access_key_id(),
        secret_access_key: credentials.secret_access_key(),
        session_token: credentials.session_token().unwrap_or(""),
        expires_at: credentials.expiry(),
    };
    let method = match args.method {
        Method::Get => LinkMethod::Get,
        Method::Put => LinkMethod::Put,
    };
    let link = share::presign(
        gateway,
        method,
        bucket,
        key,
        args.expires,
        &args.region,
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
