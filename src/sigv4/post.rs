//! The signature of a browser form upload (POST Object): the form's
//! `x-amz-algorithm`, `x-amz-credential`, `x-amz-date` and
//! `x-amz-signature` fields, the signature being the HMAC of the base64
//! `policy` field under the usual derived signing key.
//!
//! There is no request to canonicalise and no clock skew to check: the
//! policy's own `expiration` bounds the form (`s3::PostPolicy`), and the
//! session it names bounds the signer. That expiration may lie at most 7
//! days past `x-amz-date`, as a presigned URL's `X-Amz-Expires` may
//! ([`PostSignature::check_lifetime`]). Comparison is constant-time.
//!
//! Pure: no I/O, no clock.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-post-example.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html>

use std::fmt;
use std::time::{Duration, SystemTime};

use super::amz_date::AmzDate;
use super::authorization::{CredentialScope, parse_credential};
use super::canonical::{ALGORITHM, SigningKey, parse_signature, policy_signature};
use super::key_cache::SigningKeyCache;
use crate::constant_time::same_bytes;
use crate::s3::{S3Error, S3ErrorCode};

/// Why a form's signature fields are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostSignatureError {
    /// A signature field is missing (its name, as S3 spells it).
    Missing(&'static str),
    /// A signature field does not parse (its name).
    Invalid(&'static str),
    /// `x-amz-algorithm` is not `AWS4-HMAC-SHA256`.
    Algorithm,
    /// The credential's date is not `x-amz-date`'s.
    DateMismatch,
    /// The signature is not the policy's under the session's key.
    Mismatch,
    /// The policy expires more than 7 days after `x-amz-date`.
    TooLong,
    /// `x-amz-date` is further ahead of the gateway's clock than clocks
    /// drift: a form dated ahead would stretch the 7 days.
    FutureDated,
}

impl fmt::Display for PostSignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(name) => write!(f, "Bucket POST must contain a field named '{name}'."),
            Self::Invalid(name) => write!(f, "The form field '{name}' is malformed."),
            Self::Algorithm => {
                f.write_str("Only AWS4-HMAC-SHA256 is supported as x-amz-algorithm.")
            }
            Self::DateMismatch => {
                f.write_str("The date of x-amz-credential is not the date of x-amz-date.")
            }
            Self::Mismatch => f.write_str(
                "The request signature we calculated does not match the signature you provided. \
                 Check your key and signing method.",
            ),
            Self::TooLong => f.write_str(
                "Invalid according to Policy: the policy expires more than 7 days after \
                 x-amz-date.",
            ),
            Self::FutureDated => f.write_str(
                "The difference between the form's x-amz-date and the server time is too large.",
            ),
        }
    }
}

impl PostSignatureError {
    pub fn to_s3_error(&self) -> S3Error {
        let code = match self {
            Self::Mismatch => S3ErrorCode::SignatureDoesNotMatch,
            Self::TooLong => S3ErrorCode::AccessDenied,
            Self::FutureDated => S3ErrorCode::RequestTimeTooSkewed,
            _ => S3ErrorCode::InvalidArgument,
        };
        S3Error::new(code, self.to_string())
    }
}

/// A form's parsed, not yet verified, signature.
pub struct PostSignature {
    pub access_key_id: String,
    pub credential: CredentialScope<'static>,
    /// `x-amz-date`.
    signed_at: SystemTime,
    signature: [u8; 32],
}

impl fmt::Debug for PostSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostSignature")
            .field("access_key_id", &self.access_key_id)
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl PostSignature {
    /// Reads the four signature fields (`field` looks one up by its
    /// lowercase name).
    pub fn parse<'a>(
        field: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<PostSignature, PostSignatureError> {
        use PostSignatureError as E;
        let algorithm = field("x-amz-algorithm").ok_or(E::Missing("x-amz-algorithm"))?;
        if algorithm != ALGORITHM {
            return Err(E::Algorithm);
        }
        let credential = field("x-amz-credential").ok_or(E::Missing("x-amz-credential"))?;
        let (access_key_id, credential) = parse_credential(credential.into(), false)
            .map_err(|_| E::Invalid("x-amz-credential"))?;
        let date = field("x-amz-date").ok_or(E::Missing("x-amz-date"))?;
        let date = AmzDate::parse_iso(date).ok_or(E::Invalid("x-amz-date"))?;
        if date.date() != credential.date() {
            return Err(E::DateMismatch);
        }
        let signature = field("x-amz-signature").ok_or(E::Missing("x-amz-signature"))?;
        let signature = parse_signature(signature).ok_or(E::Invalid("x-amz-signature"))?;
        Ok(PostSignature {
            access_key_id: access_key_id.into_owned(),
            credential: credential.into_owned(),
            signed_at: date.system_time(),
            signature,
        })
    }

    /// Checks the signature over `policy` (the field as sent, base64) with
    /// the session's secret, its signing key taken from `keys`, the cache
    /// of `secret`'s derived key (and no other secret's), as header and
    /// presigned requests take it: a page posting many forms signed by one
    /// session derives the key once a day.
    pub fn verify(
        &self,
        secret: &[u8],
        keys: &SigningKeyCache,
        policy: &str,
    ) -> Result<(), PostSignatureError> {
        let c = &self.credential;
        let key = keys.key(secret, c.date(), c.region(), c.service());
        let expected = policy_signature(&key, policy);
        if same_bytes(&expected, &self.signature) {
            Ok(())
        } else {
            Err(PostSignatureError::Mismatch)
        }
    }
}

impl PostSignature {
    /// Whether a policy expiring at `expiration` lives no longer than a
    /// presigned URL may: 7 days from its signing, its signing not later
    /// than `now` (give or take `verify::MAX_SKEW`, as for a
    /// presigned URL). (Its session may end sooner; the gateway checks that
    /// apart.)
    pub fn check_lifetime(
        &self,
        expiration: SystemTime,
        now: SystemTime,
    ) -> Result<(), PostSignatureError> {
        if self.signed_at > now + super::verify::MAX_SKEW {
            return Err(PostSignatureError::FutureDated);
        }
        let max = Duration::from_secs(super::MAX_EXPIRES_SECS);
        if expiration > self.signed_at + max {
            return Err(PostSignatureError::TooLong);
        }
        Ok(())
    }
}

/// The `x-amz-signature` of a form: what [`PostSignature::verify`] checks,
/// for the signer's side (`s3gate presign post`).
pub fn sign_policy(secret: &[u8], scope: &CredentialScope, policy: &str) -> String {
    let key = SigningKey::derive(secret, scope.date(), scope.region(), scope.service());
    hex::encode(policy_signature(&key, policy))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    // The AWS example "Browser-Based Upload using HTTP POST (Using AWS
    // Signature Version 4)": its policy, secret and the signature it shows.
    const POLICY: &str = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const SIGNATURE: &str = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e";

    fn fields(signature: &str) -> Vec<(&'static str, String)> {
        vec![
            ("x-amz-algorithm", "AWS4-HMAC-SHA256".into()),
            (
                "x-amz-credential",
                "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request".into(),
            ),
            ("x-amz-date", "20151229T000000Z".into()),
            ("x-amz-signature", signature.into()),
        ]
    }

    fn parse(f: &[(&'static str, String)]) -> Result<PostSignature, PostSignatureError> {
        PostSignature::parse(|name| f.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()))
    }

    #[test]
    fn the_aws_example_form_signature_verifies_and_any_other_does_not() {
        let sig = parse(&fields(SIGNATURE)).unwrap();
        assert_eq!(sig.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(
            sign_policy(SECRET.as_bytes(), &sig.credential, POLICY),
            SIGNATURE
        );
        // From the session's cache: the same answers, the first use filling
        // it and the second reading it.
        let keys = SigningKeyCache::new();
        for _ in 0..2 {
            assert_eq!(sig.verify(SECRET.as_bytes(), &keys, POLICY), Ok(()));
            assert_eq!(
                sig.verify(SECRET.as_bytes(), &keys, "another policy"),
                Err(PostSignatureError::Mismatch)
            );
        }
        assert_eq!(
            sig.verify(b"another secret", &SigningKeyCache::new(), POLICY),
            Err(PostSignatureError::Mismatch)
        );
        let mut tampered = POLICY.to_owned();
        tampered.push('=');
        assert_eq!(
            sig.verify(SECRET.as_bytes(), &SigningKeyCache::new(), &tampered),
            Err(PostSignatureError::Mismatch)
        );
        assert_eq!(
            PostSignatureError::Mismatch.to_s3_error().code,
            S3ErrorCode::SignatureDoesNotMatch
        );
    }

    #[test]
    fn a_policy_lives_at_most_seven_days_past_its_date() {
        let sig = parse(&fields(SIGNATURE)).unwrap();
        let signed = AmzDate::parse_iso("20151229T000000Z")
            .unwrap()
            .system_time();
        let week = Duration::from_secs(7 * 24 * 3600);
        assert_eq!(sig.check_lifetime(signed + week, signed), Ok(()));
        let err = sig
            .check_lifetime(signed + week + Duration::from_secs(1), signed)
            .unwrap_err();
        assert_eq!(err, PostSignatureError::TooLong);
        assert_eq!(err.to_s3_error().code, S3ErrorCode::AccessDenied);
        // Dated a year ahead, a week "from its date" would be a year and a
        // week from now: refused, as a presigned URL dated ahead is.
        let year = Duration::from_secs(365 * 24 * 3600);
        let before = signed - year;
        let err = sig.check_lifetime(signed + week, before).unwrap_err();
        assert_eq!(err, PostSignatureError::FutureDated);
        assert_eq!(err.to_s3_error().code, S3ErrorCode::RequestTimeTooSkewed);
        // Within the clock skew allowed, it passes.
        let skewed = signed - Duration::from_secs(10 * 60);
        assert_eq!(sig.check_lifetime(signed + week, skewed), Ok(()));
    }

    #[test]
    fn missing_or_malformed_fields_are_named() {
        for (drop, want) in [
            (
                "x-amz-algorithm",
                PostSignatureError::Missing("x-amz-algorithm"),
            ),
            (
                "x-amz-credential",
                PostSignatureError::Missing("x-amz-credential"),
            ),
            ("x-amz-date", PostSignatureError::Missing("x-amz-date")),
            (
                "x-amz-signature",
                PostSignatureError::Missing("x-amz-signature"),
            ),
        ] {
            let f: Vec<_> = fields(SIGNATURE)
                .into_iter()
                .filter(|(n, _)| *n != drop)
                .collect();
            assert_eq!(parse(&f).unwrap_err(), want);
        }
        let mut f = fields(SIGNATURE);
        f[0].1 = "AWS4-ECDSA-P256-SHA256".into();
        assert_eq!(parse(&f).unwrap_err(), PostSignatureError::Algorithm);
        let mut f = fields(SIGNATURE);
        f[2].1 = "20151230T000000Z".into();
        assert_eq!(parse(&f).unwrap_err(), PostSignatureError::DateMismatch);
        let mut f = fields(SIGNATURE);
        f[3].1 = SIGNATURE.to_uppercase();
        assert_eq!(
            parse(&f).unwrap_err(),
            PostSignatureError::Invalid("x-amz-signature")
        );
    }
}
