//! Integrity headers of a request body: `Content-MD5` and the
//! `x-amz-checksum-*` header (as opposed to a trailer, which `chunked.rs`
//! checks). s3gate verifies them itself over the payload it forwards, so a
//! body that fails one never becomes an object, whatever the store does with
//! the header. [`BodyChecks`] is parsed up front (a malformed value is
//! refused before the store is contacted) and fed the payload as it streams;
//! `body.rs` holds the last piece back until [`BodyChecks::finish`] passes.
//!
//! Pure: no I/O.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>,
//! RFC 1864 (Content-MD5).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use md5::Digest as _;

use super::checksum::{ChecksumAlgorithm, Checksummer};
use super::error::SigV4Error;
use crate::constant_time::same_bytes;

/// The integrity promises a request makes about its payload.
#[derive(Default)]
pub struct BodyChecks {
    md5: Option<(md5::Md5, [u8; 16])>,
    checksum: Option<(Checksummer, String)>,
}

impl std::fmt::Debug for BodyChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyChecks")
            .field("content_md5", &self.md5.is_some())
            .field(
                "checksum",
                &self.checksum.as_ref().map(|(c, _)| c.algorithm()),
            )
            .finish()
    }
}

impl BodyChecks {
    /// Reads `Content-MD5` and, when `checksum_headers` is true, the one
    /// `x-amz-checksum-<algorithm>` header. `checksum_headers` is false for
    /// CompleteMultipartUpload, whose checksum headers describe the whole
    /// object rather than the request body.
    pub fn from_headers(headers: &HeaderMap, checksum_headers: bool) -> Result<Self, SigV4Error> {
        let mut checks = Self::default();
        let mut md5_values = headers
            .get_all(http::header::HeaderName::from_static("content-md5"))
            .iter();
        if let Some(value) = md5_values.next() {
            if md5_values.next().is_some() {
                return Err(SigV4Error::InvalidDigest);
            }
            let digest = value
                .to_str()
                .ok()
                .and_then(|v| STANDARD.decode(v.trim()).ok())
                .and_then(|d| <[u8; 16]>::try_from(d.as_slice()).ok())
                .ok_or(SigV4Error::InvalidDigest)?;
            checks.md5 = Some((md5::Md5::new(), digest));
        }
        if !checksum_headers {
            return Ok(checks);
        }
        for (name, value) in headers {
            let Some(algorithm) = ChecksumAlgorithm::from_header_name(name.as_str()) else {
                // `x-amz-checksum-algorithm`/`-type` and unknown suffixes
                // are the store's to judge; they promise no digest.
                continue;
            };
            let value = value
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|v| {
                    STANDARD
                        .decode(v)
                        .is_ok_and(|d| d.len() == algorithm.digest_len())
                })
                .ok_or(SigV4Error::InvalidChecksumHeader(algorithm.header_name()))?;
            if checks
                .checksum
                .replace((algorithm.hasher(), value.to_owned()))
                .is_some()
            {
                return Err(SigV4Error::MultipleChecksumHeaders);
            }
        }
        Ok(checks)
    }

    /// Whether there is anything to check (else the body needs no hold-back).
    pub fn is_empty(&self) -> bool {
        self.md5.is_none() && self.checksum.is_none()
    }

    /// Feeds the next piece of the payload.
    pub fn update(&mut self, data: &[u8]) {
        if let Some((md5, _)) = &mut self.md5 {
            md5.update(data);
        }
        if let Some((checksum, _)) = &mut self.checksum {
            checksum.update(data);
        }
    }

    /// Compares the digests of everything fed with the promised ones.
    pub fn finish(&mut self) -> Result<(), SigV4Error> {
        if let Some((md5, expected)) = self.md5.take() {
            let actual = md5.finalize();
            if !same_bytes(actual.as_slice(), &expected) {
                return Err(SigV4Error::ContentMd5Mismatch);
            }
        }
        if let Some((checksum, expected)) = self.checksum.take()
            && !checksum.matches(&expected)
        {
            return Err(SigV4Error::ChecksumMismatch {
                algorithm: checksum.algorithm().display_name(),
            });
        }
        Ok(())
    }
}

/// A form upload's file is checked by the same digests as a PUT's body.
impl crate::s3::FileCheck for BodyChecks {
    fn update(&mut self, data: &[u8]) {
        BodyChecks::update(self, data);
    }

    fn finish(&mut self) -> Result<(), crate::s3::FormError> {
        BodyChecks::finish(self).map_err(|e| {
            let err = e.to_s3_error();
            crate::s3::FormError::Digest(err.code, err.message.into_owned())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    // RFC 1321's test suite: MD5("abc") = 900150983cd24fb0d6963f7d28e17f72.
    const MD5_ABC: &str = "kAFQmDzST7DWlj99KOF/cg==";

    #[test]
    fn content_md5_of_the_payload_passes_and_any_other_fails() {
        let mut ok = BodyChecks::from_headers(&headers(&[("content-md5", MD5_ABC)]), true).unwrap();
        ok.update(b"a");
        ok.update(b"bc");
        assert_eq!(ok.finish(), Ok(()));
        let mut bad =
            BodyChecks::from_headers(&headers(&[("content-md5", MD5_ABC)]), true).unwrap();
        bad.update(b"abd");
        assert_eq!(bad.finish(), Err(SigV4Error::ContentMd5Mismatch));
        assert_eq!(
            SigV4Error::ContentMd5Mismatch.to_s3_error().code,
            crate::s3::S3ErrorCode::BadDigest
        );
    }

    #[test]
    fn empty_or_non_base64_or_short_content_md5_is_invalid_digest() {
        for bad in ["", "not base64!", "YWJj", "kAFQmDzST7DWlj99KOF/cg=="] {
            let h = if bad == MD5_ABC {
                headers(&[("content-md5", bad), ("content-md5", bad)])
            } else {
                headers(&[("content-md5", bad)])
            };
            let err = BodyChecks::from_headers(&h, true).unwrap_err();
            assert_eq!(err, SigV4Error::InvalidDigest, "{bad:?}");
            assert_eq!(
                err.to_s3_error().code,
                crate::s3::S3ErrorCode::InvalidDigest
            );
        }
    }

    #[test]
    fn checksum_header_is_verified_unless_it_describes_the_whole_object() {
        // CRC-32 of "123456789" is 0xCBF43926.
        let h = headers(&[("x-amz-checksum-crc32", "y/Q5Jg==")]);
        let mut ok = BodyChecks::from_headers(&h, true).unwrap();
        ok.update(b"123456789");
        assert_eq!(ok.finish(), Ok(()));
        let mut bad = BodyChecks::from_headers(&h, true).unwrap();
        bad.update(b"123456780");
        assert_eq!(
            bad.finish(),
            Err(SigV4Error::ChecksumMismatch { algorithm: "CRC32" })
        );
        assert!(BodyChecks::from_headers(&h, false).unwrap().is_empty());
    }

    #[test]
    fn malformed_or_repeated_checksum_headers_are_refused_up_front() {
        let h = headers(&[("x-amz-checksum-sha256", "YWJj")]);
        assert_eq!(
            BodyChecks::from_headers(&h, true).unwrap_err(),
            SigV4Error::InvalidChecksumHeader("x-amz-checksum-sha256")
        );
        let h = headers(&[
            ("x-amz-checksum-crc32", "y/Q5Jg=="),
            ("x-amz-checksum-crc32c", "y/Q5Jg=="),
        ]);
        assert_eq!(
            BodyChecks::from_headers(&h, true).unwrap_err(),
            SigV4Error::MultipleChecksumHeaders
        );
        let h = headers(&[("x-amz-checksum-algorithm", "CRC32")]);
        assert!(BodyChecks::from_headers(&h, true).unwrap().is_empty());
    }
}
