//! `s3gate credentials aws`: the caller's side of the AWS-identity exchange
//! (see `s3gate::identity::aws` for the gateway's side and the wire shape).
//!
//! Does I/O: the AWS credential chain, the gateway, and the cache file.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use aws_credential_types::provider::ProvideCredentials;
use bytes::Bytes;
use http_body_util::Full;
use sha2::{Digest, Sha256};

use s3gate::config::duration;
use s3gate::identity::aws::{check_announced_server_id, pinned_server_id, sign_caller_identity};
use s3gate::identity::http::HttpClient;
use s3gate::sts_api::read_fields;

use super::cache::{cached, write_private};
use super::login;
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(30);

/// Returns `credential_process` JSON for a session proving this machine's
/// AWS identity to `gateway`. The signature names `server_id` (default: the
/// gateway URL's host), never what the gateway announces: an announcement
/// naming another id is refused.
pub async fn aws(
    gateway: &str,
    server_id: Option<&str>,
    duration: Option<Duration>,
    source_profile: Option<String>,
    cache_dir: Option<&Path>,
) -> anyhow::Result<String> {
    let gateway = gateway.trim_end_matches('/');
    let pinned = pinned_server_id(gateway, server_id).map_err(|e| anyhow::anyhow!(e))?;
    let cache_file = cache_dir.map(|d| {
        let key = hex::encode(&Sha256::digest(gateway.as_bytes())[..12]);
        d.join(format!("aws-{key}.json"))
    });
    if let Some(path) = &cache_file
        && let Some(json) = cached(path, SystemTime::now())
    {
        return Ok(json);
    }

    let http = HttpClient::new();
    let announced = http
        .get_json(&format!("{gateway}/_s3gate/aws-identity"), GATEWAY_TIMEOUT)
        .await
        .map_err(|e| anyhow::anyhow!("the gateway does not offer AWS identity: {e}"))?;
    let field = |k: &str| {
        announced[k]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("the gateway's announcement lacks `{k}`"))
    };
    let (server_id, sts_endpoint, region) = (
        field("server_id")?,
        field("sts_endpoint")?,
        field("region")?,
    );
    check_announced_server_id(&pinned, &server_id).map_err(|e| anyhow::anyhow!(e))?;

    let credentials = workload_credentials(source_profile)
        .provide_credentials()
        .await
        .context("no AWS credentials found (environment, web identity, ECS, EC2 metadata)")?;
    let headers = sign_caller_identity(
        &sts_endpoint,
        &region,
        &server_id,
        &credentials,
        SystemTime::now(),
    )
    .map_err(|e| anyhow::anyhow!("cannot sign GetCallerIdentity: {e}"))?;

    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", "AssumeRoleWithAwsIdentity")
        .append_pair("Version", "2011-06-15")
        .append_pair("CallerIdentityHeaders", &headers);
    if let Some(d) = duration {
        form.append_pair("DurationSeconds", &d.as_secs().to_string());
    }
    let req = http::Request::post(format!("{gateway}/"))
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(Full::new(Bytes::from(form.finish())))?;
    let json = exchange(&http, gateway, req, "AssumeRoleWithAwsIdentityResponse")
        .await?
        .credential_process_json();
    if let Some(path) = &cache_file
        && let Err(e) = write_private(path, &json)
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot cache the session");
    }
    Ok(json)
}

/// Session credentials as the gateway's STS API issued them.
pub struct Issued {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// ISO 8601, as STS writes it.
    pub expiration: String,
}

impl Issued {
    /// `credential_process` output.
    pub fn credential_process_json(&self) -> String {
        serde_json::json!({
            "Version": 1,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "SessionToken": self.session_token,
            "Expiration": self.expiration,
        })
        .to_string()
    }
}

/// Sends an STS form request to the gateway and reads the credentials in
/// its `response` element; a refusal becomes an error naming STS's code.
pub async fn exchange(
    http: &HttpClient,
    gateway: &str,
    req: http::Request<Full<Bytes>>,
    response: &str,
) -> anyhow::Result<Issued> {
    let answer = http
        .send(req, 64 * 1024, GATEWAY_TIMEOUT)
        .await
        .map_err(|e| anyhow::anyhow!("{gateway}: {e}"))?;
    let body = String::from_utf8_lossy(&answer.body);
    if !answer.status.is_success() {
        let f = read_fields(&body, "ErrorResponse", &["Code", "Message"]).unwrap_or_default();
        bail!(
            "the gateway refused ({}): {} {}",
            answer.status,
            f.get("Code").map_or("", String::as_str),
            f.get("Message").map_or("", String::as_str)
        );
    }
    let mut f = read_fields(
        &body,
        response,
        &[
            "AccessKeyId",
            "SecretAccessKey",
            "SessionToken",
            "Expiration",
        ],
    )
    .map_err(|e| anyhow::anyhow!("unexpected answer from the gateway: {e}"))?;
    let mut take = |k: &str| {
        f.remove(k)
            .ok_or_else(|| anyhow::anyhow!("the gateway's answer lacks {k}"))
    };
    Ok(Issued {
        access_key_id: take("AccessKeyId")?,
        secret_access_key: take("SecretAccessKey")?,
        session_token: take("SessionToken")?,
        expiration: take("Expiration")?,
    })
}

/// The credential chain of a workload: environment, web identity, ECS
/// container credentials, EC2 instance metadata. Unlike the SDKs' default
/// chain it skips the profile file, because the profile running this
/// helper names it as its `credential_process` (it would call itself);
/// `--source-profile` picks a profile explicitly.
fn workload_credentials(source_profile: Option<String>) -> impl ProvideCredentials {
    use aws_config::meta::credentials::CredentialsProviderChain;
    let chain = match source_profile {
        Some(p) => CredentialsProviderChain::first_try(
            "Profile",
            aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(p)
                .build(),
        )
        .or_else(
            "Environment",
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        ),
        None => CredentialsProviderChain::first_try(
            "Environment",
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        ),
    };
    chain
        .or_else(
            "WebIdentityToken",
            aws_config::web_identity_token::WebIdentityTokenCredentialsProvider::builder().build(),
        )
        .or_else(
            "EcsContainer",
            aws_config::ecs::EcsCredentialsProvider::builder().build(),
        )
        .or_else(
            "Ec2InstanceMetadata",
            aws_config::imds::credentials::ImdsCredentialsProvider::builder().build(),
        )
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Prove this machine's AWS identity (ECS task role, Lambda, EC2
    /// instance role, environment keys) to the gateway and get a session.
    ///
    /// Signs an `sts:GetCallerIdentity` for the STS endpoint the gateway
    /// announces (`/_s3gate/aws-identity`) and the server id this client
    /// pins (refusing an announcement of another); the gateway sends it
    /// to STS itself and mints a session for the ARN STS names. The session
    /// is cached (owner-only file) until shortly before it expires. Use as
    /// `credential_process = s3gate credentials aws --gateway URL`.
    Aws {
        /// The gateway's base URL.
        #[arg(long, env = "S3GATE_GATEWAY")]
        gateway: String,
        /// The server id to sign for (the gateway's
        /// `identity.aws.server_id`). Default: the gateway URL's host. An
        /// announcement naming another id is refused, so a look-alike
        /// gateway cannot relay the signature to the real one.
        #[arg(long, env = "S3GATE_SERVER_ID")]
        server_id: Option<String>,
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

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Aws {
            gateway,
            server_id,
            duration,
            source_profile,
            cache_dir,
            no_cache,
        } => {
            let cache_dir = if no_cache {
                None
            } else {
                cache_dir.or_else(super::default_cache_dir)
            };
            let json = aws(
                &gateway,
                server_id.as_deref(),
                duration,
                source_profile,
                cache_dir.as_deref(),
            )
            .await?;
            println!("{json}");
            Ok(())
        }
        Command::Sso {
            gateway,
            device,
            timeout,
            cache_dir,
        } => {
            let login = login::Login {
                gateway: login::gateway_url(&gateway)?,
                device,
                no_browser: false,
                timeout,
                cache_dir: cache_dir.or_else(super::default_cache_dir),
            };
            let json = login.credentials(&mut login::Progress::terminal()).await?;
            println!("{json}");
            Ok(())
        }
    }
}
