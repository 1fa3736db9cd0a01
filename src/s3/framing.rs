//! What S3 refuses about a request's shape before it reads a byte of body:
//! an upload whose length is not announced (`411 MissingContentLength`),
//! user metadata over S3's 2 KiB (`MetadataTooLarge`), and a `Host` that is
//! not a host (`400 InvalidArgument`). Checked right after classification,
//! before any signature work, because each is cheap and none depends on
//! who the caller is.
//!
//! Pure: no I/O.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html>

use http::HeaderMap;
use http::header::{CONTENT_LENGTH, HOST};

use super::action::Operation;
use super::error::{S3Error, S3ErrorCode};
use crate::amz_header::{X_AMZ_DECODED_CONTENT_LENGTH, X_AMZ_METADATA_DIRECTIVE};

/// S3's limit on user-defined metadata: the UTF-8 bytes of every
/// `x-amz-meta-` name (without the prefix) and value, summed.
pub const MAX_USER_METADATA_BYTES: usize = 2 * 1024;

const META_PREFIX: &str = "x-amz-meta-";

/// Runs every check of this module.
pub fn check_request_shape(operation: Operation, headers: &HeaderMap) -> Result<(), S3Error> {
    check_host(headers)?;
    check_content_length(operation, headers)?;
    check_metadata_size(operation, headers)
}

/// PutObject and UploadPart need the length up front: S3 answers 411
/// otherwise. An `aws-chunked` body announces its payload length in
/// `x-amz-decoded-content-length` instead, which the signature check then
/// holds it to.
pub fn check_content_length(operation: Operation, headers: &HeaderMap) -> Result<(), S3Error> {
    if !matches!(operation, Operation::PutObject | Operation::UploadPart) {
        return Ok(());
    }
    if headers.contains_key(CONTENT_LENGTH) || headers.contains_key(X_AMZ_DECODED_CONTENT_LENGTH) {
        return Ok(());
    }
    Err(S3Error::new(
        S3ErrorCode::MissingContentLength,
        "You must provide the Content-Length HTTP header.",
    ))
}

/// Whether the request stores the `x-amz-meta-*` headers it carries:
/// PutObject and CreateMultipartUpload always; CopyObject only with
/// `x-amz-metadata-directive: REPLACE` (else S3 copies the source's).
fn stores_metadata(operation: Operation, headers: &HeaderMap) -> bool {
    match operation {
        Operation::PutObject | Operation::CreateMultipartUpload => true,
        Operation::CopyObject => headers
            .get(X_AMZ_METADATA_DIRECTIVE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"REPLACE")),
        _ => false,
    }
}

pub fn check_metadata_size(operation: Operation, headers: &HeaderMap) -> Result<(), S3Error> {
    if !stores_metadata(operation, headers) {
        return Ok(());
    }
    let size: usize = headers
        .iter()
        .filter_map(|(name, value)| {
            let key = name.as_str().strip_prefix(META_PREFIX)?;
            Some(key.len() + value.len())
        })
        .sum();
    if size > MAX_USER_METADATA_BYTES {
        return Err(S3Error::new(
            S3ErrorCode::MetadataTooLarge,
            format!(
                "Your metadata headers exceed the maximum allowed metadata size \
                 ({size} bytes; at most {MAX_USER_METADATA_BYTES})."
            ),
        ));
    }
    Ok(())
}

/// `Host` must be `host[:port]`: a name or an IP literal, nothing else. A
/// scheme, userinfo, a path or stray bytes mean the request was not built
/// by an HTTP client for this server, and any of them could make the
/// virtual-host classification and the signature disagree about which host
/// was meant.
pub fn check_host(headers: &HeaderMap) -> Result<(), S3Error> {
    let mut values = headers.get_all(HOST).iter();
    let bad = || {
        S3Error::new(
            S3ErrorCode::InvalidArgument,
            "The Host header is not a valid host.",
        )
    };
    let Some(value) = values.next() else {
        // HTTP/2 carries `:authority` instead, which hyper has parsed.
        return Ok(());
    };
    if values.next().is_some() {
        return Err(bad());
    }
    let host = value.to_str().map_err(|_| bad())?;
    if is_valid_host(host) {
        Ok(())
    } else {
        Err(bad())
    }
}

/// `name[:port]` or `[v6][:port]`, per RFC 3986's `host [ ":" port ]` with a
/// reg-name limited to what DNS and IP literals use.
pub fn is_valid_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty()
            || !v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("v6", Some(port)),
                None => return false,
            },
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65_535)
    });
    name_ok && port_ok
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn uploads_without_a_length_are_411_unless_aws_chunked_announces_one() {
        for op in [Operation::PutObject, Operation::UploadPart] {
            let err = check_content_length(op, &headers(&[])).unwrap_err();
            assert_eq!(err.code, S3ErrorCode::MissingContentLength);
            assert_eq!(err.status(), http::StatusCode::LENGTH_REQUIRED);
            assert!(check_content_length(op, &headers(&[("content-length", "0")])).is_ok());
            assert!(
                check_content_length(op, &headers(&[("x-amz-decoded-content-length", "5")]))
                    .is_ok()
            );
        }
        assert!(check_content_length(Operation::GetObject, &headers(&[])).is_ok());
    }

    #[test]
    fn metadata_over_two_kib_is_too_large() {
        let exactly = "v".repeat(MAX_USER_METADATA_BYTES - 1);
        let h = headers(&[("x-amz-meta-a", &exactly)]);
        assert!(check_metadata_size(Operation::PutObject, &h).is_ok());
        let over = "v".repeat(MAX_USER_METADATA_BYTES);
        let h = headers(&[("x-amz-meta-a", &over)]);
        let err = check_metadata_size(Operation::PutObject, &h).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::MetadataTooLarge);
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
        // Many small entries count together.
        let half = "v".repeat(1100);
        let h = headers(&[("x-amz-meta-a", &half), ("x-amz-meta-b", &half)]);
        assert!(check_metadata_size(Operation::CreateMultipartUpload, &h).is_err());
        assert!(check_metadata_size(Operation::GetObject, &h).is_ok());
        // A copy keeps the source's metadata unless told to replace it.
        assert!(check_metadata_size(Operation::CopyObject, &h).is_ok());
        let replace = headers(&[
            ("x-amz-meta-a", &half),
            ("x-amz-meta-b", &half),
            ("x-amz-metadata-directive", "REPLACE"),
        ]);
        assert!(check_metadata_size(Operation::CopyObject, &replace).is_err());
    }

    #[test]
    fn hosts_with_schemes_userinfo_or_garbage_are_refused() {
        for good in [
            "localhost",
            "127.0.0.1:7070",
            "bucket.s3.example.com",
            "[::1]",
            "[::1]:443",
            "s3gate_internal",
        ] {
            assert!(is_valid_host(good), "{good}");
        }
        for bad in [
            "http://example.com",
            "user@example.com",
            "user:pw@example.com",
            "example.com/path",
            "example.com:",
            "example.com:99999",
            "example.com:80:80",
            "",
            "exa mple.com",
            "[::1",
            "[]:80",
            "example.com?x",
        ] {
            assert!(!is_valid_host(bad), "{bad}");
        }
        let err = check_host(&headers(&[("host", "a.example"), ("host", "b.example")]));
        assert_eq!(err.unwrap_err().code, S3ErrorCode::InvalidArgument);
    }
}
