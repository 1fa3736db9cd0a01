//! `s3gate presign post`: a POST policy for a prefix, signed with the
//! caller's s3gate session, so a web page can let a browser upload without
//! ever holding keys. The form is what [`s3gate::s3::PostPolicy`] and
//! [`s3gate::sigv4::PostSignature`] check on the gateway: the bucket, keys
//! under the prefix, any `Content-Type` (or one starting with
//! `--content-type`), the session's token, and an optional
//! `content-length-range`.
//!
//! The form lives no longer than `--expires`, at most 7 days, and no
//! longer than the session that signs it (the rule presigned URLs follow,
//! `s3gate::login::share::lifetime`); the gateway refuses it once that
//! session has expired or been revoked, whatever its own expiry says.

use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use base64::Engine as _;
use serde_json::{Value, json};

use s3gate::login::share::{Lifetime, humanize, lifetime};
use s3gate::sigv4::CredentialScope;

#[derive(clap::Args)]
pub struct Args {
    /// Where uploads go: `s3://bucket/prefix/` (keys are
    /// `prefix/${filename}`).
    target: String,
    /// `MIN,MAX`: the file's size in bytes must be within this range.
    #[arg(long, value_parser = parse_range)]
    content_length_range: Option<(u64, u64)>,
    /// The file's `Content-Type` field must start with this (e.g.
    /// `image/`); the page sets that field. Default: any type.
    #[arg(long, value_name = "PREFIX")]
    content_type: Option<String>,
    #[command(flatten)]
    signing: super::signing::Signing,
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (min, max) = s
        .split_once(',')
        .ok_or_else(|| "expected MIN,MAX (bytes)".to_owned())?;
    let min: u64 = min.trim().parse().map_err(|_| "MIN is not a number")?;
    let max: u64 = max.trim().parse().map_err(|_| "MAX is not a number")?;
    if min > max {
        return Err("MIN is above MAX".into());
    }
    Ok((min, max))
}

/// What a form is made for.
pub struct Ask<'a> {
    pub gateway: &'a str,
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub expires: Duration,
    pub range: Option<(u64, u64)>,
    /// What the `Content-Type` field must start with (`None`: anything).
    pub content_type: Option<&'a str>,
    pub region: &'a str,
}

/// The form: `{"url", "fields"}`, signed with `creds` at `now`, and how
/// long it works: what was asked, at most 7 days and never past the
/// session's expiry (a form is refused once its session has expired, so one
/// that claims to live longer would only mislead whoever holds it).
pub fn form(
    ask: &Ask<'_>,
    creds: &aws_credential_types::Credentials,
    now: SystemTime,
) -> anyhow::Result<(Value, Lifetime)> {
    let life = lifetime(ask.expires, creds.expiry(), now).map_err(anyhow::Error::msg)?;
    let token = creds
        .session_token()
        .context("an s3gate session has a session token")?;
    let amz_date = time::OffsetDateTime::from(now)
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .context("formatting the date")?;
    let scope = CredentialScope::new(&amz_date[..8], ask.region, "s3");
    let credential = format!("{}/{}", creds.access_key_id(), scope.to_scope_string());
    let expiration = time::OffsetDateTime::from(now + life.valid_for)
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].000Z"
        ))
        .context("formatting the expiry")?;
    let mut conditions = vec![
        json!({"bucket": ask.bucket}),
        json!(["starts-with", "$key", ask.prefix]),
        json!([
            "starts-with",
            "$Content-Type",
            ask.content_type.unwrap_or("")
        ]),
        json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
        json!({"x-amz-credential": credential}),
        json!({"x-amz-date": amz_date}),
        json!({"x-amz-security-token": token}),
    ];
    if let Some((min, max)) = ask.range {
        conditions.push(json!(["content-length-range", min, max]));
    }
    let policy = json!({"expiration": expiration, "conditions": conditions}).to_string();
    let policy = base64::engine::general_purpose::STANDARD.encode(policy);
    let signature =
        s3gate::sigv4::sign_policy(creds.secret_access_key().as_bytes(), &scope, &policy);
    let form = json!({
        "url": format!("{}/{}", ask.gateway.trim_end_matches('/'), ask.bucket),
        "fields": {
            "key": format!("{}${{filename}}", ask.prefix),
            "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-credential": credential,
            "x-amz-date": amz_date,
            "x-amz-security-token": token,
            "policy": policy,
            "x-amz-signature": signature,
        },
    });
    Ok((form, life))
}

/// `s3gate presign post`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let rest = args
        .target
        .strip_prefix("s3://")
        .context("the target is s3://bucket/prefix/")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    anyhow::ensure!(!bucket.is_empty(), "the target names no bucket");
    let (endpoint, creds) = args.signing.resolve()?;
    let ask = Ask {
        gateway: &endpoint,
        bucket,
        prefix,
        expires: args.signing.expires,
        range: args.content_length_range,
        content_type: args.content_type.as_deref(),
        region: &args.signing.region,
    };
    let (form, life) = form(&ask, &creds, SystemTime::now())?;
    if let Some(asked) = life.clipped_from {
        eprintln!(
            "s3gate: --expires {} is past your session's expiry: the form works for {}",
            humanize(asked),
            humanize(life.valid_for)
        );
    }
    println!("{form:#}");
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;
    use s3gate::s3::{PostPolicy, Submitted};
    use s3gate::sigv4::PostSignature;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    /// Session credentials ending at `end` (`None`: unknown).
    fn creds(end: Option<SystemTime>) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new("ASIAKEY", "secret", Some("token".into()), end, "t")
    }

    /// A form for `photos/in/`, asked to live `secs`.
    fn ask(secs: u64) -> Ask<'static> {
        Ask {
            gateway: "https://s3gate.example/",
            bucket: "photos",
            prefix: "in/",
            expires: Duration::from_secs(secs),
            range: None,
            content_type: None,
            region: "us-east-1",
        }
    }

    /// A form's fields, as a page would post them.
    fn fields_of(form: &Value) -> Vec<(String, String)> {
        form["fields"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect()
    }

    /// A form's policy, decoded.
    fn policy_of(form: &Value) -> PostPolicy {
        PostPolicy::parse(form["fields"]["policy"].as_str().unwrap()).unwrap()
    }

    /// `policy` holding `fields` with a file of `len` bytes, at `at`.
    fn check(
        policy: &PostPolicy,
        fields: &[(String, String)],
        len: u64,
        at: SystemTime,
    ) -> Result<(), s3gate::s3::PolicyError> {
        policy.check(
            &Submitted {
                fields,
                bucket: "photos",
                file_length: len,
            },
            at,
        )
    }

    #[test]
    fn the_form_is_one_the_gateway_accepts_for_the_prefix_only() {
        let now = now();
        let ask = Ask {
            range: Some((1, 10)),
            ..ask(3600)
        };
        let (form, _) = form(&ask, &creds(None), now).unwrap();
        assert_eq!(form["url"], "https://s3gate.example/photos");
        let fields = fields_of(&form);
        let field = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let sig = PostSignature::parse(field).unwrap();
        let keys = s3gate::sigv4::SigningKeyCache::new();
        sig.verify(b"secret", &keys, field("policy").unwrap())
            .unwrap();
        let policy = policy_of(&form);
        let mut submitted = fields.clone();
        submitted[0].1 = "in/cat.jpg".into();
        submitted.push(("content-type".into(), "image/jpeg".into()));
        assert_eq!(check(&policy, &submitted, 5, now), Ok(()));
        assert!(check(&policy, &submitted, 11, now).is_err());
        assert!(check(&policy, &submitted, 5, now + Duration::from_secs(3600)).is_err());
        submitted[0].1 = "out/cat.jpg".into();
        assert!(check(&policy, &submitted, 5, now).is_err());
    }

    #[test]
    fn a_form_can_pin_the_content_type() {
        let ask = Ask {
            content_type: Some("image/"),
            ..ask(600)
        };
        let (form, _) = form(&ask, &creds(None), now()).unwrap();
        let policy = policy_of(&form);
        let with_type = |t: &str| {
            let mut f = fields_of(&form);
            f[0].1 = "in/a".into();
            f.push(("content-type".into(), t.into()));
            check(&policy, &f, 1, now())
        };
        assert_eq!(with_type("image/png"), Ok(()));
        assert!(with_type("text/html").is_err());
        assert!(with_type("").is_err());
    }

    #[test]
    fn a_form_never_outlives_seven_days_nor_its_session() {
        let now = now();
        let day = 24 * 3600;
        // Past S3's 7 days: refused, as a presigned URL is.
        assert!(form(&ask(8 * day), &creds(None), now).is_err());
        let (made, life) = form(&ask(7 * day), &creds(None), now).unwrap();
        assert_eq!(
            policy_of(&made).expiration,
            now + Duration::from_secs(7 * day)
        );
        assert_eq!(life.clipped_from, None);
        // Never past the session that signs it.
        let end = now + Duration::from_secs(1800);
        let (made, life) = form(&ask(3600), &creds(Some(end)), now).unwrap();
        assert_eq!(policy_of(&made).expiration, end);
        assert_eq!(life.clipped_from, Some(Duration::from_secs(3600)));
        assert!(form(&ask(60), &creds(Some(now)), now).is_err());
    }
}
