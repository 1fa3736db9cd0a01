//! `s3gate credentials aws`: the caller's side of the AWS-identity exchange
//! (see `s3gate::identity::aws` for the gateway's side and the wire shape).
//!
//! Does I/O: the AWS credential chain, the gateway, and the cache file.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use aws_credential_types::provider::ProvideCredentials;
use bytes::Bytes;
use http_body_util::Full;
use sha2::{Digest, Sha256};

use s3gate::identity::aws::{check_announced_server_id, pinned_server_id, sign_caller_identity};
use s3gate::identity::http::HttpClient;
use s3gate::sts_api::read_fields;

/// A cached session is reused only while it has this much life left, so
/// a client never starts a request with credentials about to lapse.
const CACHE_MARGIN: Duration = Duration::from_secs(300);
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

/// A cached session with more than [`CACHE_MARGIN`] left.
pub(crate) fn cached(path: &Path, now: SystemTime) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let exp = time::OffsetDateTime::parse(
        v["Expiration"].as_str()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    let exp =
        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(exp.unix_timestamp()).ok()?);
    (exp > now + CACHE_MARGIN).then(|| text.trim().to_owned())
}

/// Writes a secret (a cached session, a keyring) for its owner only: the
/// folder is created 0700 if missing, the file is written 0600 under a
/// temporary name, synced, and renamed into place, so a reader never sees
/// half of it.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
