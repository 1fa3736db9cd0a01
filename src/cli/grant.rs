//! `s3gate grant`: hand an agent a narrower, shorter s3gate session. Calls
//! the gateway's STS `AssumeRole` signed with the caller's own s3gate
//! session (from the standard `AWS_*` environment variables) with an IAM
//! session policy built from `--read`/`--write`, and prints the child's
//! credentials.
//!
//! Does I/O: the environment and the gateway.

use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::Full;

use s3gate::identity::http::HttpClient;
use s3gate::session::Quota;
use s3gate::session::quota::parse_size;

/// The region s3gate's STS answers for; only the signature uses it.
const REGION: &str = "us-east-1";
/// Shown in the answer and audit only: s3gate grants nothing by a role.
const ROLE_ARN: &str = "arn:aws:iam::000000000000:role/s3gate-grant";

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `export AWS_…=…` lines for a shell.
    Env,
    /// `credential_process` JSON.
    Json,
}

/// The child's quota (see docs/delegation.md): counted by each gateway
/// instance, never looser than your own.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct QuotaArgs {
    /// At most N S3 requests.
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
    /// At most SIZE bytes read and SIZE written (e.g. 10MiB, 1GB), unless
    /// --max-bytes-read / --max-bytes-written say otherwise.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_bytes: Option<u64>,
    /// At most SIZE bytes read (object and listing bodies).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_bytes_read: Option<u64>,
    /// At most SIZE bytes written (request bodies).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_bytes_written: Option<u64>,
}

impl QuotaArgs {
    pub fn quota(&self) -> Quota {
        Quota {
            max_requests: self.max_requests,
            max_bytes_read: self.max_bytes_read.or(self.max_bytes),
            max_bytes_written: self.max_bytes_written.or(self.max_bytes),
        }
    }
}

/// Read: get objects (and their versions, tags, attributes) and list.
const READ_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetObjectAttributes",
    "s3:ListBucket",
];
/// Write: put objects, multipart included (creating and completing an
/// upload are `PutObject` in IAM).
const WRITE_ACTIONS: &[&str] = &[
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
];

/// `s3://bucket/prefix/` (or ending in `*`) is a prefix; anything else
/// one key. Returns the IAM resource ARN.
fn resource_arn(url: &str) -> anyhow::Result<String> {
    let Some(rest) = url.strip_prefix("s3://") else {
        bail!("`{url}` must start with s3://");
    };
    let Some((bucket, path)) = rest.split_once('/') else {
        bail!("`{url}` names no prefix: write s3://{rest}/ for the whole bucket");
    };
    if bucket.is_empty() {
        bail!("`{url}` names no bucket");
    }
    let star = if path.is_empty() || path.ends_with('/') {
        "*"
    } else {
        ""
    };
    Ok(format!("arn:aws:s3:::{bucket}/{path}{star}"))
}

/// The IAM session policy for the requested rights.
pub fn session_policy(read: &[String], write: &[String]) -> anyhow::Result<String> {
    let mut statements = Vec::new();
    for (urls, actions) in [(read, READ_ACTIONS), (write, WRITE_ACTIONS)] {
        if urls.is_empty() {
            continue;
        }
        let resources = urls
            .iter()
            .map(|u| resource_arn(u))
            .collect::<anyhow::Result<Vec<_>>>()?;
        statements.push(serde_json::json!({
            "Effect": "Allow",
            "Action": actions,
            "Resource": resources,
        }));
    }
    if statements.is_empty() {
        bail!("grant nothing? give at least one --read or --write");
    }
    Ok(serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string())
}

/// The caller's own s3gate session: the `AWS_*` environment variables, or
/// else the session `s3gate login` (or the `credentials sso` profile)
/// cached for this gateway.
pub(super) fn caller_credentials(
    gateway: &str,
    sso_cache: Option<&std::path::Path>,
) -> anyhow::Result<aws_credential_types::Credentials> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let from_env = |k: &str| {
        var(k).with_context(|| format!("{k} is not set: run s3gate grant with your s3gate session"))
    };
    if var("AWS_ACCESS_KEY_ID").is_some() {
        return Ok(aws_credential_types::Credentials::new(
            from_env("AWS_ACCESS_KEY_ID")?,
            from_env("AWS_SECRET_ACCESS_KEY")?,
            Some(from_env("AWS_SESSION_TOKEN")?),
            None,
            "s3gate-grant",
        ));
    }
    let cached = crate::cli::login::cached_session(gateway, sso_cache).with_context(|| {
        format!(
            "AWS_ACCESS_KEY_ID is not set and you are not signed in to {gateway}: run \
             `s3gate login --gateway {gateway}`, or export your s3gate session's AWS_* variables"
        )
    })?;
    let v: serde_json::Value = serde_json::from_str(&cached)?;
    let field = |k: &str| {
        v[k].as_str()
            .map(str::to_owned)
            .with_context(|| format!("the cached session lacks {k}"))
    };
    Ok(aws_credential_types::Credentials::new(
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        Some(field("SessionToken")?),
        None,
        "s3gate-grant",
    ))
}

/// Signs `body` as an STS POST to `url` (SigV4, service `sts`).
fn signed_request(
    url: &str,
    body: String,
    credentials: &aws_credential_types::Credentials,
    now: SystemTime,
) -> anyhow::Result<http::Request<Full<Bytes>>> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_smithy_runtime_api::client::identity::Identity as SmithyIdentity;

    let uri: http::Uri = url.parse().with_context(|| format!("not a URL: {url}"))?;
    let host = uri
        .authority()
        .with_context(|| format!("{url} has no host"))?
        .as_str()
        .to_owned();
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let identity: SmithyIdentity = credentials.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("sts")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .context("signing parameters")?
        .into();
    let headers = [("host", host.as_str()), ("content-type", content_type)];
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .context("signing")?;
    let (instructions, _) = sign(signable, &params).context("signing")?.into_parts();
    let mut req = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))?;
    instructions.apply_to_request_http1x(&mut req);
    Ok(req)
}

/// Asks the gateway for the child session and renders it.
/// What a grant asks for.
pub struct Ask<'a> {
    pub read: &'a [String],
    pub write: &'a [String],
    pub ttl: Duration,
    /// The child session's name.
    pub name: &'a str,
    pub quota: Quota,
}

pub async fn grant(
    gateway: &str,
    ask: Ask<'_>,
    format: Format,
    sso_cache: Option<&std::path::Path>,
) -> anyhow::Result<String> {
    let Ask {
        read,
        write,
        ttl,
        name,
        quota,
    } = ask;
    let gateway = gateway.trim_end_matches('/');
    let policy = session_policy(read, write)?;
    let credentials = caller_credentials(gateway, sso_cache)?;
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", "AssumeRole")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", ROLE_ARN)
        .append_pair("RoleSessionName", name)
        .append_pair("Policy", &policy)
        .append_pair("DurationSeconds", &ttl.as_secs().to_string());
    for (param, limit) in [
        ("MaxRequests", quota.max_requests),
        ("MaxBytesRead", quota.max_bytes_read),
        ("MaxBytesWritten", quota.max_bytes_written),
    ] {
        if let Some(n) = limit {
            form.append_pair(param, &n.to_string());
        }
    }
    let req = signed_request(
        &format!("{gateway}/"),
        form.finish(),
        &credentials,
        SystemTime::now(),
    )?;
    let issued =
        crate::cli::credentials::exchange(&HttpClient::new(), gateway, req, "AssumeRoleResponse")
            .await?;
    let crate::cli::credentials::Issued {
        access_key_id: key,
        secret_access_key: secret,
        session_token: token,
        expiration,
    } = &issued;
    let quota_note = if quota.is_empty() {
        String::new()
    } else {
        format!(
            "; asked for a quota of {quota} (never looser than yours; each gateway instance counts its own)"
        )
    };
    Ok(match format {
        Format::Json => issued.credential_process_json(),
        Format::Env => format!(
            "# s3gate session `{name}`, delegated from yours; expires {expiration}{quota_note}\n\
             export AWS_ACCESS_KEY_ID={key}\n\
             export AWS_SECRET_ACCESS_KEY={secret}\n\
             export AWS_SESSION_TOKEN={token}\n\
             export AWS_ENDPOINT_URL={gateway}\n\
             export AWS_DEFAULT_REGION={REGION}"
        ),
    })
}

#[derive(clap::Args)]
pub struct Args {
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
    #[arg(long, default_value = "15m", value_parser = s3gate::config::duration::parse)]
    ttl: Duration,
    /// The child session's name, shown in the chain of every audit line.
    #[arg(long)]
    name: String,
    #[arg(long, value_enum, default_value = "env")]
    format: Format,
    #[command(flatten)]
    quota: QuotaArgs,
}

/// `s3gate grant`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let ask = Ask {
        read: &args.read,
        write: &args.write,
        ttl: args.ttl,
        name: &args.name,
        quota: args.quota.quota(),
    };
    let out = grant(
        &args.gateway,
        ask,
        args.format,
        super::default_cache_dir().as_deref(),
    )
    .await?;
    println!("{out}");
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_keys_become_arns() {
        assert_eq!(resource_arn("s3://b/p/").unwrap(), "arn:aws:s3:::b/p/*");
        assert_eq!(resource_arn("s3://b/").unwrap(), "arn:aws:s3:::b/*");
        assert_eq!(
            resource_arn("s3://b/k.txt").unwrap(),
            "arn:aws:s3:::b/k.txt"
        );
        assert!(resource_arn("s3://b").is_err());
        assert!(resource_arn("b/p/").is_err());
    }

    #[test]
    fn the_policy_is_one_the_gateway_reads() {
        let p = session_policy(&["s3://b/in/".into()], &["s3://b/out/".into()]).unwrap();
        let scope = s3gate::iam::scope_from_iam_json(&p).unwrap();
        use s3gate::s3::Action;
        assert!(scope.allows(Action::GetObject, "s3://b/in/x"));
        assert!(scope.allows(Action::PutObject, "s3://b/out/x"));
        assert!(!scope.allows(Action::PutObject, "s3://b/in/x"));
        assert!(!scope.allows(Action::DeleteObject, "s3://b/out/x"));
    }
}
