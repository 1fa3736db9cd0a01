//! The presigned-URL form: `X-Amz-Algorithm`, `X-Amz-Credential`,
//! `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`
//! and `X-Amz-Security-Token` in the query string; and telling a V4 query
//! apart from a Signature Version 2 one (`AWSAccessKeyId`, `Signature`).
//! Reads the query as [`crate::raw_query`] split it.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html>

use std::borrow::Cow;
use std::time::Duration;

use super::amz_date::AmzDate;
use super::authorization::{
    AuthForm, Authorization, PayloadMode, SigV4Headers, parse_credential, parse_signed_headers,
    text_of,
};
use super::canonical::{ALGORITHM, parse_signature};
use super::error::SigV4Error;
use crate::byte_run;
use crate::raw_query::RawQuery;
use crate::split_ascii;

/// The longest a presigned URL may live: 7 days, as S3 enforces.
pub const MAX_EXPIRES_SECS: u64 = 604_800;

/// Which kind of query-string authentication a request carries, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryAuth {
    None,
    V4,
    V2,
}

/// A cheap scan of the parameter names (SDKs never percent-encode these).
pub fn detect(query: &RawQuery<'_>) -> QueryAuth {
    let mut found = QueryAuth::None;
    for pair in query.pairs() {
        match pair.name {
            "X-Amz-Algorithm" | "X-Amz-Credential" | "X-Amz-Signature" => return QueryAuth::V4,
            "AWSAccessKeyId" | "Signature" => found = QueryAuth::V2,
            _ => {}
        }
    }
    found
}

/// Percent-decodes a query component (`+` is a space, as in the canonical
/// query), in one pass and borrowed when there is nothing to decode. A `%`
/// not followed by two hex digits stays as it is. Invalid UTF-8 is
/// refused.
fn decode(raw: &str) -> Result<Cow<'_, str>, SigV4Error> {
    let bytes = raw.as_bytes();
    // The bytes up to the next escape or `+` go out whole: a session token
    // is hundreds of bytes with an escape every few dozen, and pushing it a
    // byte at a time was ~6 instructions a byte. The run is found sixteen
    // bytes at a time; finding it a byte at a time was ~5 a byte, ~4,000
    // instructions of every presigned request.
    let plain = |b: u8| (b != b'%') & (b != b'+');
    let run_of = |from: usize| byte_run::kept(&bytes[from..], plain, plain);
    let first = run_of(0);
    if first == bytes.len() {
        return Ok(Cow::Borrowed(raw));
    }
    let hex = |b: Option<&u8>| b.and_then(|&b| crate::hex_digits::digit(b));
    let mut out = Vec::with_capacity(bytes.len());
    let (mut i, mut run) = (0, first);
    loop {
        out.extend_from_slice(&bytes[i..i + run]);
        i += run;
        let Some(&b) = bytes.get(i) else {
            break;
        };
        i += 1;
        match b {
            b'+' => out.push(b' '),
            _ => match (hex(bytes.get(i)), hex(bytes.get(i + 1))) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
        }
        run = run_of(i);
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| SigV4Error::QueryMalformed("a parameter is not valid UTF-8"))
}

/// The presigned URL's own parameters, each at most once, decoded.
#[derive(Default)]
struct Params<'a> {
    algorithm: Option<Cow<'a, str>>,
    credential: Option<Cow<'a, str>>,
    date: Option<Cow<'a, str>>,
    expires: Option<Cow<'a, str>>,
    signed_headers: Option<Cow<'a, str>>,
    signature: Option<Cow<'a, str>>,
    security_token: Option<Cow<'a, str>>,
}

impl<'a> Params<'a> {
    /// Picks them out of the query's pairs; a repeated one is refused (two
    /// spellings of one URL's authentication).
    fn collect(query: &RawQuery<'a>) -> Result<Self, SigV4Error> {
        let mut p = Params::default();
        for pair in query.pairs() {
            let value = pair.value_or_empty();
            let slot = match pair.name {
                "X-Amz-Algorithm" => &mut p.algorithm,
                "X-Amz-Credential" => &mut p.credential,
                "X-Amz-Date" => &mut p.date,
                "X-Amz-Expires" => &mut p.expires,
                "X-Amz-SignedHeaders" => &mut p.signed_headers,
                "X-Amz-Signature" => &mut p.signature,
                "X-Amz-Security-Token" => &mut p.security_token,
                _ => continue,
            };
            if slot.replace(decode(value)?).is_some() {
                return Err(SigV4Error::QueryMalformed(
                    "an X-Amz-* parameter is repeated",
                ));
            }
        }
        Ok(p)
    }
}

/// The presigned form, from the query's parameters and the headers
/// SigV4 reads (`found`).
pub(super) fn parse_query<'a>(
    found: &SigV4Headers<'a>,
    query: &RawQuery<'a>,
) -> Result<Authorization<'a>, SigV4Error> {
    authorization(found, Params::collect(query)?)
}

/// The signature the parameters describe, checked field by field.
fn authorization<'a>(
    found: &SigV4Headers<'a>,
    p: Params<'a>,
) -> Result<Authorization<'a>, SigV4Error> {
    let malformed = SigV4Error::QueryMalformed;
    let algorithm = p
        .algorithm
        .ok_or_else(|| malformed("missing X-Amz-Algorithm"))?;
    if algorithm != ALGORITHM {
        if algorithm.starts_with("AWS4-") {
            return Err(SigV4Error::UnsupportedAlgorithm { presigned: true });
        }
        return Err(malformed("X-Amz-Algorithm must be AWS4-HMAC-SHA256"));
    }
    let credential = p
        .credential
        .ok_or_else(|| malformed("missing X-Amz-Credential"))?;
    let date = p.date.ok_or_else(|| malformed("missing X-Amz-Date"))?;
    let expires = p
        .expires
        .ok_or_else(|| malformed("missing X-Amz-Expires"))?;
    let signed_headers = p
        .signed_headers
        .ok_or_else(|| malformed("missing X-Amz-SignedHeaders"))?;
    let signature = p
        .signature
        .ok_or_else(|| malformed("missing X-Amz-Signature"))?;

    let (access_key_id, scope) = parse_credential(credential, true)?;
    let signed_headers = parse_signed_headers(signed_headers, true)?;
    let signature = parse_signature(&signature)
        .ok_or_else(|| malformed("X-Amz-Signature must be 64 lowercase hexadecimal characters"))?;
    let amz_date = AmzDate::parse_iso(&date).ok_or_else(|| {
        malformed("X-Amz-Date must be in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'")
    })?;
    if amz_date.date() != scope.date() {
        return Err(SigV4Error::CredentialDateMismatch { presigned: true });
    }
    let expires = expires
        .parse::<u64>()
        .ok()
        .filter(|s| (1..=MAX_EXPIRES_SECS).contains(s))
        .ok_or(SigV4Error::InvalidExpires)?;

    // A presigned URL's payload is unsigned unless the client also sent and
    // signed `x-amz-content-sha256`; an unsigned one is not a promise.
    let content_sha256 = text_of(found.content_sha256)?;
    let payload = match content_sha256 {
        Some(v)
            if split_ascii::split(&signed_headers, b';').any(|n| n == "x-amz-content-sha256") =>
        {
            PayloadMode::parse(v)?
        }
        _ => PayloadMode::Unsigned,
    };
    let security_token = match p.security_token {
        Some(t) => Some(t),
        None => text_of(found.security_token)
            .map_err(|_| malformed("x-amz-security-token is not visible ASCII"))?
            .map(Cow::Borrowed),
    };

    Ok(Authorization {
        form: AuthForm::Presigned,
        access_key_id,
        security_token,
        payload,
        credential: scope,
        signed_at: amz_date.system_time(),
        expires_in: Some(Duration::from_secs(expires)),
        amz_date,
        signed_headers,
        signature,
        content_sha256,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;
    use crate::sigv4::parse;
    use http::request::Parts;

    /// `detect` as it was when it split the raw query itself: the oracle.
    fn detect_splitting(query: &str) -> QueryAuth {
        if query.is_empty() {
            return QueryAuth::None;
        }
        let mut found = QueryAuth::None;
        for piece in query.split('&') {
            let name = piece.split_once('=').map_or(piece, |(n, _)| n);
            match name {
                "X-Amz-Algorithm" | "X-Amz-Credential" | "X-Amz-Signature" => return QueryAuth::V4,
                "AWSAccessKeyId" | "Signature" => found = QueryAuth::V2,
                _ => {}
            }
        }
        found
    }

    /// The parameters `parse_query` picked out as it did when it split
    /// the raw query itself: the oracle for [`Params::collect`]. What it
    /// makes of them ([`authorization`]) did not change and is shared.
    fn params_splitting(query: &str) -> Result<Params<'_>, SigV4Error> {
        let malformed = SigV4Error::QueryMalformed;
        let mut p = Params::default();
        for piece in query.split('&') {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let slot = match name {
                "X-Amz-Algorithm" => &mut p.algorithm,
                "X-Amz-Credential" => &mut p.credential,
                "X-Amz-Date" => &mut p.date,
                "X-Amz-Expires" => &mut p.expires,
                "X-Amz-SignedHeaders" => &mut p.signed_headers,
                "X-Amz-Signature" => &mut p.signature,
                "X-Amz-Security-Token" => &mut p.security_token,
                _ => continue,
            };
            if slot.replace(decode(value)?).is_some() {
                return Err(malformed("an X-Amz-* parameter is repeated"));
            }
        }
        Ok(p)
    }

    const AWS_EXAMPLE: &str = "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

    fn parts(uri: &str) -> Parts {
        http::Request::builder()
            .uri(uri)
            .header("host", "examplebucket.s3.amazonaws.com")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn presigned_query_parses() {
        let request = parts(AWS_EXAMPLE);
        let a = parse(&request).unwrap();
        assert_eq!(a.form, AuthForm::Presigned);
        assert_eq!(a.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(a.credential.as_str(), "20130524/us-east-1/s3/aws4_request");
        assert_eq!(
            (
                a.credential.date(),
                a.credential.region(),
                a.credential.service()
            ),
            ("20130524", "us-east-1", "s3")
        );
        assert_eq!(a.expires_in, Some(Duration::from_secs(86_400)));
        assert_eq!(a.payload, PayloadMode::Unsigned);
        assert_eq!(a.security_token, None);
    }

    #[test]
    fn presigned_security_token_comes_from_the_query() {
        let uri = format!("{AWS_EXAMPLE}&X-Amz-Security-Token=FQo%2Bab%2F%3D");
        let request = parts(&uri);
        let a = parse(&request).unwrap();
        assert_eq!(a.security_token.as_deref(), Some("FQo+ab/="));
        assert!(!format!("{a:?}").contains("FQo"));
    }

    #[test]
    fn expires_must_be_between_one_second_and_seven_days() {
        for bad in ["604801", "0", "-1", "abc", ""] {
            let uri = AWS_EXAMPLE.replace("X-Amz-Expires=86400", &format!("X-Amz-Expires={bad}"));
            let err = parse(&parts(&uri)).unwrap_err();
            assert_eq!(err, SigV4Error::InvalidExpires, "{bad}");
            assert_eq!(
                err.to_s3_error().code,
                crate::s3::S3ErrorCode::AuthorizationQueryParametersError
            );
            // As S3 answers it (Ceph's s3-tests, written against AWS, say so).
            assert_eq!(err.to_s3_error().status(), http::StatusCode::FORBIDDEN);
        }
        let uri = AWS_EXAMPLE.replace("X-Amz-Expires=86400", "X-Amz-Expires=604800");
        assert!(parse(&parts(&uri)).is_ok());
    }

    #[test]
    fn missing_or_repeated_parameters_are_query_errors() {
        let missing = AWS_EXAMPLE.replace("&X-Amz-Date=20130524T000000Z", "");
        assert!(matches!(
            parse(&parts(&missing)).unwrap_err(),
            SigV4Error::QueryMalformed(_)
        ));
        let repeated = format!("{AWS_EXAMPLE}&X-Amz-Expires=1");
        assert!(matches!(
            parse(&parts(&repeated)).unwrap_err(),
            SigV4Error::QueryMalformed(_)
        ));
        let bad_cred = AWS_EXAMPLE.replace("%2Fus-east-1", "");
        assert!(matches!(
            parse(&parts(&bad_cred)).unwrap_err(),
            SigV4Error::QueryMalformed(_)
        ));
    }

    #[test]
    fn presigned_host_must_be_signed() {
        let uri = AWS_EXAMPLE.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=range");
        assert_eq!(
            parse(&parts(&uri)).unwrap_err(),
            SigV4Error::HostNotSigned { presigned: true }
        );
    }

    /// How parameters were decoded before [`decode`] did it in one pass:
    /// the oracle.
    fn decode_in_two_passes(raw: &str) -> Result<String, SigV4Error> {
        let spaced = raw.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map(std::borrow::Cow::into_owned)
            .map_err(|_| SigV4Error::QueryMalformed("a parameter is not valid UTF-8"))
    }

    proptest::proptest! {
        #[test]
        fn decode_is_the_two_pass_decoding(
            raw in "([a-zA-Z0-9/=+ %._-]|%[0-9a-fA-F]{2}|%[c-fC-F][0-9a-fA-F]%[89abAB][0-9a-fA-F]|\u{e9})*",
        ) {
            proptest::prop_assert_eq!(
                decode(&raw).map(Cow::into_owned),
                decode_in_two_passes(&raw)
            );
        }
    }

    #[test]
    fn decode_borrows_what_has_nothing_to_decode() {
        assert!(matches!(decode("AWS4-HMAC-SHA256"), Ok(Cow::Borrowed(_))));
        assert_eq!(decode("a%2Fb+c%2B%zz%4").unwrap(), "a/b c+%zz%4");
    }

    #[test]
    fn detect_tells_v4_from_v2_from_none() {
        let detect = |q| detect(&RawQuery::new(Some(q)));
        assert_eq!(detect(""), QueryAuth::None);
        assert_eq!(detect("prefix=a&max-keys=2"), QueryAuth::None);
        assert_eq!(
            detect("AWSAccessKeyId=A&Signature=s&Expires=1"),
            QueryAuth::V2
        );
        assert_eq!(detect("X-Amz-Algorithm=AWS4-HMAC-SHA256"), QueryAuth::V4);
    }

    /// Everything a parse result says, the redacted parts included (its
    /// `Debug` leaves out the token and the signature).
    fn seen(r: &Result<Authorization, SigV4Error>) -> String {
        match r {
            Ok(a) => format!(
                "{a:?} token={:?} signature={:?} signed_at={:?}",
                a.security_token, a.signature, a.signed_at
            ),
            Err(e) => format!("{e:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn detect_and_parse_read_the_pairs_as_splitting_the_query_read_them(
            raw in crate::raw_query::arbitrary::query(),
            token_header in proptest::option::of("[A-Za-z0-9+/=]{1,8}"),
        ) {
            let mut builder = http::Request::builder()
                .uri(format!("/b/k?{raw}"))
                .header("host", "examplebucket.s3.amazonaws.com");
            if let Some(token) = token_header {
                builder = builder.header("x-amz-security-token", token);
            }
            let Ok(req) = builder.body(()) else {
                // Not a URI http accepts: no request to compare.
                return Ok(());
            };
            let parts = req.into_parts().0;
            let query = RawQuery::of(&parts.uri);
            let raw = parts.uri.query().unwrap_or("");
            proptest::prop_assert_eq!(detect(&query), detect_splitting(raw));
            proptest::prop_assert_eq!(
                seen(&parse_query(&SigV4Headers::of(&parts.headers), &query)),
                seen(&params_splitting(raw).and_then(|p| authorization(&SigV4Headers::of(&parts.headers), p)))
            );
        }
    }
}
