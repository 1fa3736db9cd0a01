//! `s3gate presign get|put s3://bucket/key`: a presigned URL for a person
//! to hand to someone (or something) without credentials, signed with the
//! caller's own s3gate session (the `AWS_*` environment variables, or the
//! session `s3gate login` cached for the gateway).
//!
//! The URL is an ordinary SigV4 presigned URL that the gateway verifies
//! like any other; it carries the session token, so it is refused once the
//! session expires (`ExpiredToken`) or is revoked, whatever `--expires`
//! said. When the session's expiry is known, a longer `--expires` is
//! clipped to it, and the command says so.
//!
//! Does I/O: the environment and the session cache (no network).

use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};

/// The longest a SigV4 presigned URL may be valid (S3's limit, 7 days).
const MAX_PRESIGN: Duration = Duration::from_secs(7 * 24 * 3600);

/// Bytes kept as they are in the path: S3's unreserved set and `/`.
const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

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

/// A link's URL, and a note for the person when `--expires` was clipped.
pub struct Link {
    pub url: String,
    pub note: Option<String>,
}

/// The presigned URL for `method` on `object`, signed with `credentials`
/// at `now`, valid `expires` or until the session's expiry if sooner.
pub fn presign(
    gateway: &str,
    method: Method,
    object: &str,
    expires: Duration,
    region: &str,
    credentials: &aws_credential_types::Credentials,
    now: SystemTime,
) -> anyhow::Result<Link> {
    use aws_sigv4::http_request::{
        PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
        UriPathNormalizationMode, sign,
    };
    use aws_smithy_runtime_api::client::identity::Identity as SmithyIdentity;

    let Some((bucket, key)) = object
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
    else {
        bail!("`{object}` is not s3://bucket/key");
    };
    if expires.is_zero() || expires > MAX_PRESIGN {
        bail!("--expires must be between 1s and 7d");
    }
    let mut valid = expires;
    let mut note = None;
    if let Some(expiry) = credentials.expiry() {
        let left = expiry.duration_since(now).unwrap_or_default();
        if left.as_secs() == 0 {
            bail!("your s3gate session has expired: sign in again (`s3gate login`)");
        }
        if left < valid {
            valid = Duration::from_secs(left.as_secs());
            note = Some(format!(
                "--expires {} is past your session's expiry: the link works for {} (the \
                 gateway refuses it once the session that signed it has expired)",
                humanize(expires),
                humanize(valid)
            ));
        }
    }
    let url = format!(
        "{}/{bucket}/{}",
        gateway.trim_end_matches('/'),
        percent_encoding::utf8_percent_encode(key, PATH)
    );
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(valid);
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let identity: SmithyIdentity = credentials.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(now)
        .settings(settings)
        .build()
        .context("signing parameters")?
        .into();
    let method = match method {
        Method::Get => "GET",
        Method::Put => "PUT",
    };
    let signable = SignableRequest::new(
        method,
        &url,
        std::iter::empty(),
        SignableBody::UnsignedPayload,
    )
    .context("signing")?;
    let (instructions, _) = sign(signable, &params).context("signing")?.into_parts();
    let mut req = http::Request::builder()
        .method(method)
        .uri(&url)
        .body(())
        .context("the URL")?;
    instructions.apply_to_request_http1x(&mut req);
    Ok(Link {
        url: req.uri().to_string(),
        note,
    })
}

/// `1h 5m 3s`, for notes.
fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = Vec::new();
    if h > 0 {
        out.push(format!("{h}h"));
    }
    if m > 0 {
        out.push(format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push(format!("{s}s"));
    }
    out.join(" ")
}

/// `s3gate presign`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let gateway = args.gateway.trim_end_matches('/');
    let credentials = super::grant::caller_credentials(
        gateway,
        super::default_cache_dir().as_deref(),
        "presign",
    )?;
    let link = presign(
        gateway,
        args.method,
        &args.object,
        args.expires,
        &args.region,
        &credentials,
        SystemTime::now(),
    )?;
    if let Some(note) = &link.note {
        eprintln!("s3gate: {note}");
    }
    println!("{}", link.url);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    fn creds(expiry: Option<SystemTime>) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new("ASIAX", "secret", Some("tok".into()), expiry, "t")
    }

    #[test]
    fn expires_is_clipped_to_the_session_and_said_so() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let session = creds(Some(now + Duration::from_secs(1800)));
        let link = |method, object: &str, secs, c: &aws_credential_types::Credentials| {
            presign(
                "http://gw",
                method,
                object,
                Duration::from_secs(secs),
                "us-east-1",
                c,
                now,
            )
        };
        let got = link(Method::Get, "s3://b/a b/c.txt", 3600, &session).unwrap();
        let url = &got.url;
        assert!(url.starts_with("http://gw/b/a%20b/c.txt?"), "{url}");
        assert!(url.contains("X-Amz-Expires=1800"), "{url}");
        assert!(url.contains("X-Amz-Security-Token=tok"), "{url}");
        assert!(got.note.unwrap().contains("works for 30m"));
        let got = link(Method::Put, "s3://b/k", 600, &session).unwrap();
        assert!(got.url.contains("X-Amz-Expires=600"), "{}", got.url);
        assert!(got.note.is_none());
        let expired = creds(Some(now - Duration::from_secs(1)));
        assert!(link(Method::Get, "s3://b/k", 60, &expired).is_err());
        for bad in ["b/k", "s3://b", "s3://b/", "s3:///k"] {
            assert!(link(Method::Get, bad, 60, &session).is_err(), "{bad}");
        }
    }
}
