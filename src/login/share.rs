//! Presigned links a person hands out: an ordinary SigV4 presigned URL for
//! one object, signed with the person's own s3gate session, so the gateway
//! verifies it like any other request and refuses it once that session
//! expires or is revoked. Used by the portal's "Share a link" and by
//! `s3gate presign`.
//!
//! Pure: the time is passed in. A link never outlives the session that
//! signs it: a longer lifetime is clipped to the session's expiry, and the
//! caller is told ([`lifetime`], which `s3gate presign post` uses too).
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html>

use std::time::{Duration, SystemTime};

/// The longest a SigV4 presigned URL (or a form signed by s3gate) may be
/// valid: S3's limit, 7 days, as the gateway enforces it.
pub const MAX_PRESIGN: Duration = Duration::from_secs(crate::sigv4::MAX_EXPIRES_SECS);

/// Bytes kept as they are in the path: S3's unreserved set and `/`.
const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMethod {
    Get,
    Put,
}

/// What to sign with: the person's session credentials, and until when
/// they hold (`None`: unknown, the gateway still refuses the link when they
/// lapse).
pub struct Signer<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: &'a str,
    pub expires_at: Option<SystemTime>,
}

/// A link: its URL, and how long it works ([`Lifetime`]).
#[derive(Debug)]
pub struct Link {
    pub url: String,
    pub life: Lifetime,
}

/// How long something signed with a session works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub valid_for: Duration,
    /// The lifetime asked for, when the session's expiry cut it short.
    pub clipped_from: Option<Duration>,
}

/// The lifetime of a link or form asked to work `expires`, signed with a
/// session ending at `session_end` (`None`: unknown; the gateway still
/// refuses it once the session lapses): between 1s and [`MAX_PRESIGN`],
/// else refused, and cut to the session's end, in whole seconds. The one
/// rule for every presigned URL and POST policy s3gate signs.
pub fn lifetime(
    expires: Duration,
    session_end: Option<SystemTime>,
    now: SystemTime,
) -> Result<Lifetime, String> {
    if expires.as_secs() == 0 || expires > MAX_PRESIGN {
        return Err("a link or form lasts between 1s and 7 days".into());
    }
    let mut life = Lifetime {
        valid_for: expires,
        clipped_from: None,
    };
    if let Some(at) = session_end {
        let left = Duration::from_secs(at.duration_since(now).unwrap_or_default().as_secs());
        if left.is_zero() {
            return Err("the session has expired: sign in again".into());
        }
        if left < expires {
            life = Lifetime {
                valid_for: left,
                clipped_from: Some(expires),
            };
        }
    }
    Ok(life)
}

/// `s3://bucket/key` split, or why it is not one.
pub fn parse_object(object: &str) -> Result<(&str, &str), String> {
    object
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or_else(|| format!("`{object}` is not s3://bucket/key"))
}

/// The presigned URL for `method` on `bucket`/`key` at the gateway `base`,
/// valid `expires` or until the signer's session expires if sooner.
#[allow(
    clippy::too_many_arguments,
    reason = "a link is these seven things and a clock reading"
)]
pub fn presign(
    base: &str,
    method: LinkMethod,
    bucket: &str,
    key: &str,
    expires: Duration,
    region: &str,
    signer: &Signer<'_>,
    now: SystemTime,
) -> Result<Link, String> {
    use aws_sigv4::http_request::{
        PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
        UriPathNormalizationMode, sign,
    };
    use aws_smithy_runtime_api::client::identity::Identity as SmithyIdentity;

    let life = lifetime(expires, signer.expires_at, now)?;
    let url = format!(
        "{}/{bucket}/{}",
        base.trim_end_matches('/'),
        percent_encoding::utf8_percent_encode(key, PATH)
    );
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(life.valid_for);
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let identity: SmithyIdentity = aws_credential_types::Credentials::new(
        signer.access_key_id,
        signer.secret_access_key,
        Some(signer.session_token.to_owned()),
        signer.expires_at,
        "s3gate-share",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot sign: {e}"))?
        .into();
    let method = match method {
        LinkMethod::Get => "GET",
        LinkMethod::Put => "PUT",
    };
    let signable = SignableRequest::new(
        method,
        &url,
        std::iter::empty(),
        SignableBody::UnsignedPayload,
    )
    .map_err(|e| format!("cannot sign {url}: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("cannot sign: {e}"))?
        .into_parts();
    let mut req = http::Request::builder()
        .method(method)
        .uri(&url)
        .body(())
        .map_err(|e| format!("not a URL: {e}"))?;
    instructions.apply_to_request_http1x(&mut req);
    Ok(Link {
        url: req.uri().to_string(),
        life,
    })
}

/// `1h 5m 3s`, for notes.
pub fn humanize(d: Duration) -> String {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_clipped_to_its_session_and_encodes_the_key() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let signer = |exp: SystemTime| Signer {
            access_key_id: "ASIAX",
            secret_access_key: "secret",
            session_token: "tok",
            expires_at: Some(exp),
        };
        let session = signer(now + Duration::from_secs(1800));
        let link = |method, key: &str, secs, s: &Signer<'_>| {
            presign(
                "http://gw/",
                method,
                "b",
                key,
                Duration::from_secs(secs),
                "us-east-1",
                s,
                now,
            )
        };
        let got = link(LinkMethod::Get, "a b/c.txt", 3600, &session).unwrap();
        let url = &got.url;
        assert!(url.starts_with("http://gw/b/a%20b/c.txt?"), "{url}");
        assert!(url.contains("X-Amz-Expires=1800"), "{url}");
        assert!(url.contains("X-Amz-Security-Token=tok"), "{url}");
        assert_eq!(got.life.clipped_from, Some(Duration::from_secs(3600)));
        assert_eq!(humanize(got.life.valid_for), "30m");
        let got = link(LinkMethod::Put, "k", 600, &session).unwrap();
        assert!(got.url.contains("X-Amz-Expires=600"), "{}", got.url);
        assert_eq!(got.life.clipped_from, None);
        let expired = signer(now - Duration::from_secs(1));
        assert!(link(LinkMethod::Get, "k", 60, &expired).is_err());
        assert!(link(LinkMethod::Get, "k", 8 * 24 * 3600, &session).is_err());
        for bad in ["b/k", "s3://b", "s3://b/", "s3:///k"] {
            assert!(parse_object(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_object("s3://b/k/x").unwrap(), ("b", "k/x"));
    }
}
