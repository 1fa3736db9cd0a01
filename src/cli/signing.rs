//! What `s3gate presign` signs with and for: whose session (the `AWS_*`
//! environment variables, or the session `s3gate login` cached for the
//! gateway), which S3 endpoint the link or form points at, for how long and
//! for which region. Shared by links (`get`, `put`) and forms (`post`).
//!
//! Does I/O: the environment and the session cache (no network).

use std::time::Duration;

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
