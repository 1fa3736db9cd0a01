//! Finding and parsing the signature: the parsed-but-unverified
//! [`Authorization`], its credential scope, the payload promise made by
//! `x-amz-content-sha256`, and the `Authorization: AWS4-HMAC-SHA256 …` header
//! form. The presigned query form lives in `presigned.rs`, the choice
//! between the two in `find.rs`; checking the signature lives in
//! `verify.rs`.
//!
//! Parsing is strict and cheap; nothing here touches the secret.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-auth-using-authorization-header.html>

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use http::header::{AUTHORIZATION, DATE};
use http::{HeaderMap, HeaderValue};

use super::amz_date::AmzDate;
use super::canonical::{ALGORITHM, SCAN_LIMIT, parse_hex32, parse_signature};
use super::error::SigV4Error;
use crate::split_ascii;

/// How the request carried its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthForm {
    Header,
    Presigned,
}

/// What `x-amz-content-sha256` promised about the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadMode {
    /// A hex SHA-256 of the whole body.
    Sha256([u8; 32]),
    /// `UNSIGNED-PAYLOAD` (and every presigned URL that did not sign the header).
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: signed `aws-chunked`.
    StreamingSigned { trailer: bool },
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: `aws-chunked` with a checksum trailer.
    StreamingUnsignedTrailer,
    /// No `x-amz-content-sha256` at all. S3 requires it, so this only occurs
    /// for other services (STS clients never send it): the payload hash must
    /// come from the body, see [`Authorization::verify_with_body_sha256`].
    Undeclared,
}

impl PayloadMode {
    /// Parses an `x-amz-content-sha256` value.
    pub fn parse(value: &str) -> Result<Self, SigV4Error> {
        Ok(match value {
            "UNSIGNED-PAYLOAD" => Self::Unsigned,
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Self::StreamingSigned { trailer: false },
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => Self::StreamingSigned { trailer: true },
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Self::StreamingUnsignedTrailer,
            hex => Self::Sha256(parse_hex32(hex).ok_or(SigV4Error::InvalidContentSha256)?),
        })
    }

    /// Is the body `aws-chunked`?
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            Self::StreamingSigned { .. } | Self::StreamingUnsignedTrailer
        )
    }
}

/// The credential scope: `<date>/<region>/<service>/aws4_request`, kept as
/// the one string it is signed as, its parts read from it. Parsed from a
/// header, it borrows the header's text; from a decoded query parameter,
/// it owns the decoded string.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialScope<'a> {
    /// `<date>/<region>/<service>/aws4_request`.
    scope: Cow<'a, str>,
    /// Where the date, region and service end in `scope`.
    date_end: usize,
    region_end: usize,
    service_end: usize,
}

impl fmt::Debug for CredentialScope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialScope")
            .field("date", &self.date())
            .field("region", &self.region())
            .field("service", &self.service())
            .finish()
    }
}

impl CredentialScope<'static> {
    /// The scope of `date` (`YYYYMMDD`), `region` and `service`.
    pub fn new(date: &str, region: &str, service: &str) -> CredentialScope<'static> {
        let mut scope = String::with_capacity(date.len() + region.len() + service.len() + 15);
        scope.push_str(date);
        scope.push('/');
        scope.push_str(region);
        scope.push('/');
        scope.push_str(service);
        scope.push_str("/aws4_request");
        CredentialScope {
            scope: Cow::Owned(scope),
            date_end: date.len(),
            region_end: date.len() + 1 + region.len(),
            service_end: date.len() + region.len() + service.len() + 2,
        }
    }
}

impl CredentialScope<'_> {
    /// The same scope, owning its text: to keep beyond the request.
    pub fn into_owned(self) -> CredentialScope<'static> {
        CredentialScope {
            scope: Cow::Owned(self.scope.into_owned()),
            date_end: self.date_end,
            region_end: self.region_end,
            service_end: self.service_end,
        }
    }

    /// `YYYYMMDD`.
    pub fn date(&self) -> &str {
        self.scope.get(..self.date_end).unwrap_or_default()
    }

    /// Checked against what the gateway serves by [`CredentialScope::check`].
    pub fn region(&self) -> &str {
        self.scope
            .get(self.date_end + 1..self.region_end)
            .unwrap_or_default()
    }

    /// `s3` for S3 requests, `sts` for the STS API: checked by
    /// [`CredentialScope::check`].
    pub fn service(&self) -> &str {
        self.scope
            .get(self.region_end + 1..self.service_end)
            .unwrap_or_default()
    }

    /// `20130524/us-east-1/s3/aws4_request`.
    pub fn as_str(&self) -> &str {
        &self.scope
    }

    /// `20130524/us-east-1/s3/aws4_request`, owned.
    pub fn to_scope_string(&self) -> String {
        self.as_str().to_owned()
    }

    /// The scope must name the service this is, and a region the gateway
    /// serves: a signature for another service or region is not meant for
    /// us (and S3 refuses it the same way). `expected` is the region named
    /// in the refusal, so SDKs can retry there; `presigned` picks the
    /// error's form.
    pub fn check(
        &self,
        presigned: bool,
        serves_region: impl Fn(&str) -> bool,
        expected: &str,
        service: &str,
    ) -> Result<(), SigV4Error> {
        if self.service() != service {
            return Err(SigV4Error::WrongService {
                presigned,
                expected: service.to_owned(),
            });
        }
        if !serves_region(self.region()) {
            return Err(SigV4Error::WrongRegion {
                presigned,
                region: self.region().to_owned(),
                expected: expected.to_owned(),
            });
        }
        Ok(())
    }
}

/// A parsed, not yet verified, signature. Its text borrows the request's
/// (a header-signed request's access key id, scope, signed headers and
/// session token are slices of its headers: no copy a request), except
/// what a presigned URL had percent-escaped, which is decoded into owned
/// strings.
pub struct Authorization<'a> {
    pub form: AuthForm,
    pub access_key_id: Cow<'a, str>,
    /// From `x-amz-security-token` (header) or `X-Amz-Security-Token` (query).
    /// Secret-ish: never printed by `Debug`.
    pub security_token: Option<Cow<'a, str>>,
    pub payload: PayloadMode,
    pub credential: CredentialScope<'a>,
    /// When the client signed (`X-Amz-Date`, or `Date`).
    pub signed_at: SystemTime,
    /// Presigned URLs: `X-Amz-Expires`.
    pub expires_in: Option<Duration>,
    pub(super) amz_date: AmzDate,
    /// Lowercase, `;`-separated, in the client's order.
    pub(super) signed_headers: Cow<'a, str>,
    pub(super) signature: [u8; 32],
    /// The `x-amz-content-sha256` header as sent (trimmed), when there is
    /// one: the canonical request's payload line, read once with the
    /// other headers rather than looked up again to verify.
    pub(super) content_sha256: Option<&'a str>,
}

impl fmt::Debug for Authorization<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("form", &self.form)
            .field("access_key_id", &self.access_key_id)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .field("payload", &self.payload)
            .field("credential", &self.credential)
            .field("amz_date", &self.amz_date)
            .field("expires_in", &self.expires_in)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &"<redacted>")
            .finish()
    }
}

impl<'a> Authorization<'a> {
    pub fn credential(&self) -> &CredentialScope<'a> {
        &self.credential
    }

    /// The signed header names, lowercase.
    pub fn signed_headers(&self) -> impl Iterator<Item = &str> {
        split_ascii::split(&self.signed_headers, b';')
    }
}

/// The `Authorization: AWS4-HMAC-SHA256 …` header form.
pub(super) fn parse_header<'a>(
    found: &SigV4Headers<'a>,
    value: &'a HeaderValue,
) -> Result<Authorization<'a>, SigV4Error> {
    let malformed = SigV4Error::HeaderMalformed;
    let value = value.to_str().map_err(|_| malformed("not visible ASCII"))?;
    // ASCII trims, here and below: `to_str` leaves visible ASCII and tabs
    // only, whose whitespace `trim_ascii` and `trim` agree on, and
    // `trim` decodes chars to look for Unicode spaces that cannot be there.
    let value = value.trim_ascii();
    let Some(rest) = value.strip_prefix(ALGORITHM).filter(|r| r.starts_with(' ')) else {
        // `AWS AKID:signature` is Signature Version 2.
        if value.starts_with("AWS ") {
            return Err(SigV4Error::SignatureV2);
        }
        if value.starts_with("AWS4-") && !value.starts_with(ALGORITHM) {
            return Err(SigV4Error::UnsupportedAlgorithm { presigned: false });
        }
        return Err(malformed("expected AWS4-HMAC-SHA256"));
    };

    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in split_ascii::split(rest, b',') {
        let component = component.trim_ascii();
        let (key, val) = split_ascii::split_once(component, b'=')
            .ok_or_else(|| malformed("each component must be Key=Value"))?;
        let slot = match key.trim_ascii() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(malformed("unknown component")),
        };
        if slot.replace(val.trim_ascii()).is_some() {
            return Err(malformed("repeated component"));
        }
    }
    let credential = credential.ok_or_else(|| malformed("missing Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| malformed("missing SignedHeaders"))?;
    let signature = signature.ok_or_else(|| malformed("missing Signature"))?;

    let (access_key_id, scope) = parse_credential(Cow::Borrowed(credential), false)?;
    let signed_headers = parse_signed_headers(Cow::Borrowed(signed_headers), false)?;
    let signature = parse_signature(signature)
        .ok_or_else(|| malformed("Signature must be 64 lowercase hexadecimal characters"))?;

    let amz_date = found.date()?;
    if amz_date.date() != scope.date() {
        return Err(SigV4Error::CredentialDateMismatch { presigned: false });
    }

    let content_sha256 = text_of(found.content_sha256)?;
    let payload = match content_sha256 {
        Some(v) => PayloadMode::parse(v)?,
        // STS and other services' clients never send it; S3 requires it.
        None if scope.service() != "s3" => PayloadMode::Undeclared,
        None => return Err(SigV4Error::MissingContentSha256),
    };
    let security_token = text_of(found.security_token)
        .map_err(|_| malformed("x-amz-security-token is not visible ASCII"))?
        .map(Cow::Borrowed);

    Ok(Authorization {
        form: AuthForm::Header,
        access_key_id,
        security_token,
        payload,
        credential: scope,
        signed_at: amz_date.system_time(),
        expires_in: None,
        amz_date,
        signed_headers,
        signature,
        content_sha256,
    })
}

use crate::amz_header::{X_AMZ_CONTENT_SHA256, X_AMZ_DATE, X_AMZ_SECURITY_TOKEN};

/// The request headers SigV4 reads: the first value of each (as
/// `HeaderMap::get` gives it), and whether a second `Authorization`
/// follows the first.
///
/// Up to [`SCAN_LIMIT`] values they are found in one pass along the map,
/// comparing names; beyond, each is looked up. Each lookup hashed its
/// name first (~250 instructions, four or five a request), where a
/// compare that fails on the length is a few.
#[derive(Default)]
pub(super) struct SigV4Headers<'a> {
    pub(super) authorization: Option<&'a HeaderValue>,
    pub(super) repeated_authorization: bool,
    amz_date: Option<&'a HeaderValue>,
    date: Option<&'a HeaderValue>,
    pub(super) content_sha256: Option<&'a HeaderValue>,
    pub(super) security_token: Option<&'a HeaderValue>,
}

impl<'a> SigV4Headers<'a> {
    pub(super) fn of(headers: &'a HeaderMap) -> Self {
        if headers.len() <= SCAN_LIMIT {
            Self::scanned(headers)
        } else {
            Self::looked_up(headers)
        }
    }

    fn scanned(headers: &'a HeaderMap) -> Self {
        let mut found = Self::default();
        for (name, value) in headers {
            let slot = match name.as_str() {
                "authorization" => {
                    // The map yields a name's values one after another.
                    found.repeated_authorization |= found.authorization.is_some();
                    &mut found.authorization
                }
                "x-amz-date" => &mut found.amz_date,
                "date" => &mut found.date,
                "x-amz-content-sha256" => &mut found.content_sha256,
                "x-amz-security-token" => &mut found.security_token,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        found
    }

    fn looked_up(headers: &'a HeaderMap) -> Self {
        let mut authorization = headers.get_all(AUTHORIZATION).iter();
        Self {
            authorization: authorization.next(),
            repeated_authorization: authorization.next().is_some(),
            amz_date: headers.get(X_AMZ_DATE),
            date: headers.get(DATE),
            content_sha256: headers.get(X_AMZ_CONTENT_SHA256),
            security_token: headers.get(X_AMZ_SECURITY_TOKEN),
        }
    }

    /// `x-amz-date`, or else `date` (RFC 1123).
    fn date(&self) -> Result<AmzDate, SigV4Error> {
        if let Some(v) = self.amz_date {
            let v = v.to_str().map_err(|_| SigV4Error::InvalidDate)?;
            return AmzDate::parse_iso(v.trim_ascii()).ok_or(SigV4Error::InvalidDate);
        }
        if let Some(v) = self.date {
            let v = v.to_str().map_err(|_| SigV4Error::InvalidDate)?;
            return AmzDate::parse_http_date(v).ok_or(SigV4Error::InvalidDate);
        }
        Err(SigV4Error::MissingDate)
    }
}

/// A header's value as text, trimmed; non-ASCII is the caller's malformed
/// request.
pub(super) fn text_of(value: Option<&HeaderValue>) -> Result<Option<&str>, SigV4Error> {
    match value {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim_ascii()))
            .map_err(|_| SigV4Error::InvalidContentSha256),
    }
}

fn malformed_for(presigned: bool, reason: &'static str) -> SigV4Error {
    if presigned {
        SigV4Error::QueryMalformed(reason)
    } else {
        SigV4Error::HeaderMalformed(reason)
    }
}

/// `AKID/YYYYMMDD/region/service/aws4_request`. A borrowed `value` (a
/// header's text) gives borrowed parts; an owned one (a decoded query
/// parameter) becomes the scope in place, and the access key id a copy.
pub(super) fn parse_credential(
    value: Cow<'_, str>,
    presigned: bool,
) -> Result<(Cow<'_, str>, CredentialScope<'_>), SigV4Error> {
    let bad = || {
        malformed_for(
            presigned,
            "Credential must be <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request",
        )
    };
    let mut it = split_ascii::split(&value, b'/');
    let (Some(akid), Some(date), Some(region), Some(service), Some(terminator), None) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return Err(bad());
    };
    if akid.is_empty()
        || date.len() != 8
        || !date.bytes().all(|b| b.is_ascii_digit())
        || region.is_empty()
        || service.is_empty()
        || terminator != "aws4_request"
    {
        return Err(bad());
    }
    let date_end = date.len();
    let region_end = date_end + 1 + region.len();
    let service_end = region_end + 1 + service.len();
    let skip = akid.len() + 1;
    let (access_key_id, scope) = match value {
        Cow::Owned(mut owned) => {
            let akid = Cow::Owned(owned.get(..skip - 1).ok_or_else(bad)?.to_owned());
            owned.drain(..skip);
            (akid, Cow::Owned(owned))
        }
        Cow::Borrowed(text) => (
            Cow::Borrowed(text.get(..skip - 1).ok_or_else(bad)?),
            Cow::Borrowed(text.get(skip..).ok_or_else(bad)?),
        ),
    };
    Ok((
        access_key_id,
        CredentialScope {
            scope,
            date_end,
            region_end,
            service_end,
        },
    ))
}

/// The bytes a signed header's name may have: lowercase token characters
/// (RFC 9110), by table, as every request's list is checked.
static NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        table[c] = b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || matches!(
                b,
                b'-' | b'_'
                    | b'.'
                    | b'!'
                    | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'^'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        c += 1;
    }
    table
};

/// `host;range;x-amz-date`: lowercase header names, `host` required. One
/// pass over bytes, not two `str::split`s: this runs on every request.
pub(super) fn parse_signed_headers(
    value: Cow<'_, str>,
    presigned: bool,
) -> Result<Cow<'_, str>, SigV4Error> {
    // No branch out on a byte: splitting into pieces and checking each
    // (`all` stops early) cost ~1,000 instructions for a ~60-byte list.
    let bytes = value.as_bytes();
    let (mut valid, mut host, mut start) = (true, false, 0);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b';' {
            valid &= i > start;
            host |= &bytes[start..i] == b"host";
            start = i + 1;
        } else {
            valid &= NAME_BYTE[usize::from(b)];
        }
    }
    valid &= bytes.len() > start;
    host |= &bytes[start..] == b"host";
    if !valid {
        return Err(malformed_for(
            presigned,
            "SignedHeaders must be lowercase header names separated by ';'",
        ));
    }
    // Without `host` a signature could be replayed against another endpoint.
    if !host {
        return Err(SigV4Error::HostNotSigned { presigned });
    }
    Ok(value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;
    use crate::sigv4::parse;
    use http::request::Parts;

    fn parts(headers: &[(&str, &str)], uri: &str) -> Parts {
        let mut b = http::Request::builder().method("GET").uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    const GOOD: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn with_auth(auth: &str) -> Parts {
        parts(
            &[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("authorization", auth),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-content-sha256", EMPTY),
            ],
            "/test.txt",
        )
    }

    /// The credential's parts as `parse_credential` read them when it
    /// owned each one: the oracle.
    fn credential_parts(value: &str) -> Option<[String; 4]> {
        let mut it = value.split('/');
        let (Some(akid), Some(date), Some(region), Some(service), Some(terminator), None) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        ) else {
            return None;
        };
        let ok = !akid.is_empty()
            && date.len() == 8
            && date.bytes().all(|b| b.is_ascii_digit())
            && !region.is_empty()
            && !service.is_empty()
            && terminator == "aws4_request";
        ok.then(|| [akid, date, region, service].map(str::to_owned))
    }

    proptest::proptest! {
        #[test]
        fn credential_parts_are_read_as_when_each_was_owned(
            value in "(AKIA[A-Z0-9]{0,4}|é|)(/(2013052[0-9]|[0-9]{7,9}|us-east-1|é|s3|sts|aws4_request|)){0,6}",
            owned: bool,
        ) {
            let input = if owned { Cow::Owned(value.clone()) } else { Cow::Borrowed(value.as_str()) };
            let parsed = parse_credential(input, owned).ok().map(|(akid, scope)| {
                assert_eq!(scope, CredentialScope::new(scope.date(), scope.region(), scope.service()));
                // A header's text is borrowed, not copied.
                assert_eq!(matches!(akid, Cow::Borrowed(_)), !owned);
                assert_eq!(matches!(scope.scope, Cow::Borrowed(_)), !owned);
                [akid.into_owned(), scope.date().to_owned(), scope.region().to_owned(), scope.service().to_owned()]
            });
            proptest::prop_assert_eq!(parsed, credential_parts(&value));
        }

        /// The headers SigV4 reads, found along the map, are the values
        /// the lookups by name give: the first of each, the same value
        /// (not an equal one), and a second `Authorization` noticed.
        #[test]
        fn the_headers_found_along_the_map_are_the_ones_looked_up(
            names in proptest::collection::vec(
                proptest::sample::select(&[
                    "authorization", "x-amz-date", "date", "x-amz-content-sha256",
                    "x-amz-security-token", "host", "x-amz-dat", "dates",
                    "authorizatio", "x-amz-security-tokens", "range",
                ][..]),
                0..24,
            ),
        ) {
            let mut headers = http::HeaderMap::new();
            for (i, name) in names.iter().enumerate() {
                headers.append(*name, HeaderValue::from_str(&format!("v{i}")).unwrap());
            }
            let picked = |f: &SigV4Headers<'_>| {
                let at = |v: Option<&HeaderValue>| v.map(std::ptr::from_ref);
                (
                    [at(f.authorization), at(f.amz_date), at(f.date)],
                    [at(f.content_sha256), at(f.security_token)],
                    f.repeated_authorization,
                )
            };
            proptest::prop_assert_eq!(
                picked(&SigV4Headers::scanned(&headers)),
                picked(&SigV4Headers::looked_up(&headers))
            );
        }

        #[test]
        fn signed_headers_are_read_as_when_split_as_text(
            value in "(host|Host|x-amz-date|hos|hostx|range|a_b!~|a b|a:b|é|)(;(host|Host|x-amz-date|hos|hostx|range|a_b!~|a b|a:b|é|)){0,5}",
            presigned: bool,
        ) {
            let parsed = parse_signed_headers(Cow::Borrowed(&value), presigned);
            proptest::prop_assert_eq!(
                parsed.map(Cow::into_owned),
                signed_headers_split_as_text(&value, presigned)
            );
        }
    }

    /// `parse_signed_headers` as it was, with two `str::split`s: the
    /// oracle for the byte-wise one.
    fn signed_headers_split_as_text(value: &str, presigned: bool) -> Result<String, SigV4Error> {
        let valid_name = |n: &str| {
            !n.is_empty()
                && n.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.!#$%&'*+^`|~".contains(&b)
                })
        };
        if !value.split(';').all(valid_name) {
            return Err(malformed_for(
                presigned,
                "SignedHeaders must be lowercase header names separated by ';'",
            ));
        }
        if !value.split(';').any(|n| n == "host") {
            return Err(SigV4Error::HostNotSigned { presigned });
        }
        Ok(value.to_owned())
    }

    #[test]
    fn header_form_parses_into_its_parts() {
        let parts = with_auth(GOOD);
        let a = parse(&parts).unwrap();
        assert_eq!(a.form, AuthForm::Header);
        assert_eq!(a.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(a.credential.region(), "us-east-1");
        assert_eq!(a.credential.service(), "s3");
        assert_eq!(
            a.credential.to_scope_string(),
            "20130524/us-east-1/s3/aws4_request"
        );
        assert!(matches!(a.payload, PayloadMode::Sha256(_)));
        let debug = format!("{a:?}");
        assert!(!debug.contains("f0e8bdb8"), "{debug}");
    }

    #[test]
    fn no_auth_at_all_is_missing() {
        let p = parts(&[("host", "h")], "/b/k?prefix=a");
        assert_eq!(parse(&p).unwrap_err(), SigV4Error::Missing);
    }

    #[test]
    fn signature_v2_header_is_refused_with_its_own_error() {
        let p = with_auth("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=");
        assert_eq!(parse(&p).unwrap_err(), SigV4Error::SignatureV2);
    }

    #[test]
    fn signature_v2_query_is_refused_with_its_own_error() {
        let p = parts(
            &[("host", "h")],
            "/b/k?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1141889120&Signature=vjbyPxybd%2F",
        );
        assert_eq!(parse(&p).unwrap_err(), SigV4Error::SignatureV2);
    }

    #[test]
    fn malformed_credentials_are_header_malformed() {
        for cred in [
            "AKID/20130524/us-east-1/s3",
            "AKID/20130524/us-east-1/s3/aws4_request/extra",
            "/20130524/us-east-1/s3/aws4_request",
            "AKID/2013052/us-east-1/s3/aws4_request",
            "AKID/20130524//s3/aws4_request",
            "AKID/20130524/us-east-1/s3/aws5_request",
        ] {
            let auth = GOOD.replace(
                "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
                cred,
            );
            let err = parse(&with_auth(&auth)).unwrap_err();
            assert!(
                matches!(err, SigV4Error::HeaderMalformed(_)),
                "{cred}: {err:?}"
            );
            assert_eq!(
                err.to_s3_error().code,
                crate::s3::S3ErrorCode::AuthorizationHeaderMalformed
            );
        }
    }

    #[test]
    fn malformed_header_components_are_refused() {
        for auth in [
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 garbage",
            "AWS4-HMAC-SHA256Credential=x",
            "Bearer abc",
        ] {
            let err = parse(&with_auth(auth)).unwrap_err();
            assert!(
                matches!(err, SigV4Error::HeaderMalformed(_)),
                "{auth}: {err:?}"
            );
        }
        let short_sig = GOOD.replace("bdb41", "");
        assert!(matches!(
            parse(&with_auth(&short_sig)).unwrap_err(),
            SigV4Error::HeaderMalformed(_)
        ));
        let sigv4a = GOOD.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256");
        assert_eq!(
            parse(&with_auth(&sigv4a)).unwrap_err(),
            SigV4Error::UnsupportedAlgorithm { presigned: false }
        );
    }

    #[test]
    fn signature_must_be_lowercase_hex() {
        let upper = GOOD.replace(
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            "F0E8BDB87C964420E857BD35B5D6ED310BD44F0170ABA48DD91039C6036BDB41",
        );
        assert!(matches!(
            parse(&with_auth(&upper)).unwrap_err(),
            SigV4Error::HeaderMalformed(_)
        ));
    }

    #[test]
    fn scope_must_name_the_service_and_a_region_served() {
        let parts = with_auth(GOOD);
        let a = parse(&parts).unwrap();
        let serves = |r: &str| r == "us-east-1" || r == "eu-west-1";
        assert_eq!(a.credential.check(false, serves, "eu-west-1", "s3"), Ok(()));
        let err = a
            .credential
            .check(false, |r| r == "eu-west-1", "eu-west-1", "s3")
            .unwrap_err();
        let s3 = err.to_s3_error();
        assert_eq!(
            s3.code,
            crate::s3::S3ErrorCode::AuthorizationHeaderMalformed
        );
        assert!(
            s3.message
                .contains("'us-east-1' is wrong; expecting 'eu-west-1'")
        );
        assert!(s3.to_xml("r").contains("<Region>eu-west-1</Region>"));
        let err = a
            .credential
            .check(false, serves, "us-east-1", "sts")
            .unwrap_err();
        assert_eq!(
            err.to_s3_error().code,
            crate::s3::S3ErrorCode::AuthorizationHeaderMalformed
        );
    }

    #[test]
    fn host_must_be_signed() {
        let auth = GOOD.replace("SignedHeaders=host;range;", "SignedHeaders=range;");
        assert_eq!(
            parse(&with_auth(&auth)).unwrap_err(),
            SigV4Error::HostNotSigned { presigned: false }
        );
    }

    #[test]
    fn credential_date_must_be_the_request_date() {
        let auth = GOOD.replace("/20130524/", "/20130523/");
        assert_eq!(
            parse(&with_auth(&auth)).unwrap_err(),
            SigV4Error::CredentialDateMismatch { presigned: false }
        );
    }

    #[test]
    fn content_sha256_values() {
        assert_eq!(
            PayloadMode::parse("UNSIGNED-PAYLOAD").unwrap(),
            PayloadMode::Unsigned
        );
        assert_eq!(
            PayloadMode::parse("STREAMING-AWS4-HMAC-SHA256-PAYLOAD").unwrap(),
            PayloadMode::StreamingSigned { trailer: false }
        );
        assert_eq!(
            PayloadMode::parse("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER").unwrap(),
            PayloadMode::StreamingSigned { trailer: true }
        );
        assert_eq!(
            PayloadMode::parse("STREAMING-UNSIGNED-PAYLOAD-TRAILER").unwrap(),
            PayloadMode::StreamingUnsignedTrailer
        );
        assert_eq!(
            PayloadMode::parse("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD").unwrap_err(),
            SigV4Error::InvalidContentSha256
        );
        assert_eq!(
            PayloadMode::parse("abc").unwrap_err(),
            SigV4Error::InvalidContentSha256
        );
    }

    #[test]
    fn s3_header_auth_requires_content_sha256() {
        let p = parts(
            &[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("authorization", GOOD),
                ("x-amz-date", "20130524T000000Z"),
            ],
            "/test.txt",
        );
        let err = parse(&p).unwrap_err();
        assert_eq!(err, SigV4Error::MissingContentSha256);
        assert_eq!(
            err.to_s3_error().code,
            crate::s3::S3ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn sts_header_auth_may_omit_content_sha256() {
        let auth = GOOD.replace("/s3/", "/sts/");
        let p = parts(
            &[
                ("host", "sts.example"),
                ("authorization", &auth),
                ("x-amz-date", "20130524T000000Z"),
            ],
            "/",
        );
        assert_eq!(parse(&p).unwrap().payload, PayloadMode::Undeclared);
    }

    #[test]
    fn dates_must_be_present_and_valid() {
        let p = parts(
            &[
                ("host", "h"),
                ("authorization", GOOD),
                ("x-amz-content-sha256", EMPTY),
            ],
            "/",
        );
        assert_eq!(parse(&p).unwrap_err(), SigV4Error::MissingDate);
        let p = parts(
            &[
                ("host", "h"),
                ("authorization", GOOD),
                ("x-amz-content-sha256", EMPTY),
                ("x-amz-date", "2013-05-24"),
            ],
            "/",
        );
        assert_eq!(parse(&p).unwrap_err(), SigV4Error::InvalidDate);
    }

    #[test]
    fn header_and_query_auth_together_are_refused() {
        let p = parts(
            &[("authorization", GOOD)],
            "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256",
        );
        assert_eq!(parse(&p).unwrap_err(), SigV4Error::MultipleAuthMechanisms);
    }
}
