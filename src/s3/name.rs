//! Names on the wire: the bucket from `Host` (virtual-hosted style) or the
//! path, bucket-name rules, percent-decoding of keys and prefixes, the
//! refusal of `.`/`..` segments, and `x-amz-copy-source`. Pure.

use std::borrow::Cow;

use http::{HeaderMap, Uri};

use super::error::{S3Error, S3ErrorCode};
use crate::byte_run;
use crate::hex_digits::digit;
use crate::split_ascii;

/// The source object of CopyObject / UploadPartCopy, from `x-amz-copy-source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    pub bucket: String,
    /// Decoded key.
    pub key: String,
    pub version_id: Option<String>,
}

/// The host the request was sent to, without port: the `Host` header, or the
/// URI authority (HTTP/2 `:authority`) when there is none.
pub(super) fn host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    let raw = match headers.get(http::header::HOST) {
        Some(value) => value.to_str().ok()?,
        None => uri.authority()?.as_str(),
    };
    if raw.starts_with('[') {
        // IPv6 literal: never a virtual host.
        return None;
    }
    Some(split_ascii::split_once(raw, b':').map_or(raw, |(h, _)| h))
}

/// `bucket` when `host` is `bucket.<domain>` for a configured domain (ASCII
/// case-insensitive, as DNS is); `None` for path-style (including a host
/// equal to a domain). The longest matching domain wins, so with
/// `example.com` and `s3.example.com`, `b.s3.example.com` is bucket `b`.
pub(super) fn virtual_host_bucket<'h>(host: &'h str, domains: &[String]) -> Option<&'h str> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let mut best: Option<(usize, &'h str)> = None;
    for domain in domains {
        let domain = domain.trim_start_matches('.');
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        if domain.is_empty() {
            continue;
        }
        if host.eq_ignore_ascii_case(domain) {
            return None;
        }
        let Some(split) = host.len().checked_sub(domain.len() + 1) else {
            continue;
        };
        let (Some(bucket), Some(rest)) = (host.get(..split), host.get(split..)) else {
            continue;
        };
        if rest.starts_with('.')
            && rest[1..].eq_ignore_ascii_case(domain)
            && !bucket.is_empty()
            && best.is_none_or(|(len, _)| domain.len() > len)
        {
            best = Some((domain.len(), bucket));
        }
    }
    best.map(|(_, bucket)| bucket)
}

/// Loose bucket-name check, lenient like S3 for legacy (us-east-1) names:
/// 3–63 characters of ASCII letters, digits, `.`, `-` and `_`; never starting
/// with `_`, which is s3gate's own namespace (`/_s3gate/`).
pub(super) fn validate_bucket(bucket: &str) -> Result<(), S3Error> {
    let ok = (3..=63).contains(&bucket.len())
        && !bucket.starts_with('_')
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(S3Error::new(
            S3ErrorCode::InvalidBucketName,
            "The specified bucket is not valid.",
        ))
    }
}

/// Strict percent-decoding: `%` must be followed by two hex digits and the
/// result must be UTF-8. `plus_is_space` applies form decoding (query
/// values).
pub(super) fn decode(raw: &str, plus_is_space: bool) -> Option<String> {
    decoded(raw, plus_is_space).map(Cow::into_owned)
}

/// The name of a query parameter (`name` or `name=value`) as S3 reads it,
/// and as [`super::classify`] does: [`decode`]d, `+` a space. Borrowed
/// when there is nothing to decode. `None` when it is not valid percent-
/// encoded UTF-8 (a query classify refuses with `InvalidURI`).
pub fn param_name(pair: &str) -> Option<Cow<'_, str>> {
    decoded_param_name(pair.split_once('=').map_or(pair, |(name, _)| name))
}

/// [`param_name`] of a name already split from its value
/// ([`crate::raw_query::Pair::name`]).
pub fn decoded_param_name(name: &str) -> Option<Cow<'_, str>> {
    decoded(name, true)
}

pub(super) fn decoded(raw: &str, plus_is_space: bool) -> Option<Cow<'_, str>> {
    let bytes = raw.as_bytes();
    let special = |b: u8| b == b'%' || plus_is_space && b == b'+';
    // One pass that never stops early: two `contains` were two `memchr`s,
    // whose set-up cost more than the scan on the short parameter names
    // this reads most often (three times each a presigned request), and
    // those are tested eight bytes a step.
    let plus = if plus_is_space { b'+' } else { b'%' };
    if byte_run::all_by_words(
        bytes,
        |b| (b != b'%') & (b != plus),
        |w| byte_run::equal_in(w, b'%') | byte_run::equal_in(w, plus),
    ) {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // The bytes up to the next escape go out whole.
        let run = bytes[i..]
            .iter()
            .position(|&b| special(b))
            .unwrap_or(bytes.len() - i);
        out.extend_from_slice(&bytes[i..i + run]);
        i += run;
        match bytes.get(i) {
            None => break,
            Some(b'%') => {
                let hi = digit(*bytes.get(i + 1)?)?;
                let lo = digit(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            Some(_) => {
                out.push(b' ');
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Refuses a key with a `.` or `..` segment (between `/`s, or at either
/// end): S3 reads it literally, a store that maps keys to paths may resolve
/// it, and s3gate authorises keys literally.
pub fn refuse_dot_segments(key: &str) -> Result<(), S3Error> {
    // Split as bytes: `str::split` sets up a searcher per segment, and
    // every request with a key runs this.
    if key
        .as_bytes()
        .split(|&b| b == b'/')
        .any(|segment| segment == b"." || segment == b"..")
    {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "s3gate refuses keys with `.` or `..` path segments: a store may resolve them \
             to another key than the one authorised.",
        ));
    }
    Ok(())
}

pub(super) fn invalid_copy_source() -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidArgument,
        "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.",
    )
}

pub(super) fn invalid_argument_prefix() -> S3Error {
    S3Error::new(S3ErrorCode::InvalidArgument, "Invalid prefix encoding.")
}

/// Parses `x-amz-copy-source`: `bucket/key` or `/bucket/key`, URL-encoded,
/// optionally followed by `?versionId=ID`. Returns the source and its raw
/// (still encoded) key. Anything else (access-point ARNs, other parameters)
/// is refused: a copy whose source s3gate cannot name cannot be authorised.
pub(super) fn parse_copy_source(value: &str) -> Result<(CopySource, &str), S3Error> {
    let (path, query) = match value.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (value, None),
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    let (bucket, raw_key) = path.split_once('/').ok_or_else(invalid_copy_source)?;
    if raw_key.is_empty() {
        return Err(invalid_copy_source());
    }
    validate_bucket(bucket)?;
    let key = decode(raw_key, false).ok_or_else(invalid_copy_source)?;
    refuse_dot_segments(&key)?;
    let version_id = match query {
        None => None,
        Some(query) => {
            let raw = query
                .strip_prefix("versionId=")
                .filter(|v| !v.is_empty() && !v.contains('&'))
                .ok_or_else(invalid_copy_source)?;
            Some(decode(raw, true).ok_or_else(invalid_copy_source)?)
        }
    };
    Ok((
        CopySource {
            bucket: bucket.to_owned(),
            key,
            version_id,
        },
        raw_key,
    ))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// `decoded` as it was before it copied runs whole and scanned once:
    /// the oracle.
    fn decoded_bytewise(raw: &str, plus_is_space: bool) -> Option<Cow<'_, str>> {
        let bytes = raw.as_bytes();
        if !(bytes.contains(&b'%') || plus_is_space && bytes.contains(&b'+')) {
            return Some(Cow::Borrowed(raw));
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' => {
                    let hi = digit(*bytes.get(i + 1)?)?;
                    let lo = digit(*bytes.get(i + 2)?)?;
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                b'+' if plus_is_space => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).ok().map(Cow::Owned)
    }

    proptest! {
        /// Escapes good and bad (a lone `%`, one digit, a non-digit,
        /// invalid UTF-8 once decoded), `+`, multi-byte text: the same
        /// answer, and borrowed exactly when the oracle borrows.
        #[test]
        fn decoding_is_the_bytewise_decoding(
            raw in prop::collection::vec(
                prop_oneof![
                    8 => "[a-z0-9/+ ._~-]{1,4}",
                    3 => "%[0-9a-fA-F]{2}",
                    1 => "%[c-fC-F][0-9a-fA-F]%[89abAB][0-9a-fA-F]",
                    1 => "é",
                    // A bad escape makes the whole answer `None`, so rarely.
                    1 => prop::sample::select(vec!["%", "%4", "%zz"]).prop_map(str::to_owned),
                ],
                0..12,
            ).prop_map(|pieces| pieces.concat()),
            plus_is_space: bool,
        ) {
            let new = decoded(&raw, plus_is_space);
            let old = decoded_bytewise(&raw, plus_is_space);
            prop_assert_eq!(
                matches!(new, Some(Cow::Borrowed(_))),
                matches!(old, Some(Cow::Borrowed(_)))
            );
            prop_assert_eq!(new, old);
        }
    }
}
