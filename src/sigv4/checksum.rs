//! Trailing checksums of `aws-chunked` uploads (`x-amz-trailer`): which
//! algorithm a trailer names, a running digest over the decoded data, and the
//! comparison with the trailer's value (base64 of the big-endian digest).
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// A checksum S3 accepts in a trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    /// From a trailer / header name such as `x-amz-checksum-crc32`
    /// (case-insensitive).
    pub fn from_header_name(name: &str) -> Option<Self> {
        let name = name.trim();
        let suffix = name
            .get(..15)
            .filter(|p| p.eq_ignore_ascii_case("x-amz-checksum-"))
            .and_then(|_| name.get(15..))?;
        [
            ("crc32", Self::Crc32),
            ("crc32c", Self::Crc32c),
            ("crc64nvme", Self::Crc64Nvme),
            ("sha1", Self::Sha1),
            ("sha256", Self::Sha256),
        ]
        .into_iter()
        .find(|(s, _)| s.eq_ignore_ascii_case(suffix))
        .map(|(_, a)| a)
    }

    /// The trailer's header name, lowercase.
    pub fn header_name(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The digest's length in bytes (before base64).
    pub fn digest_len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// The name S3 uses in messages (`CRC32`, `SHA256`, …).
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    pub fn hasher(self) -> Checksummer {
        match self {
            Self::Crc32 => Checksummer::Crc32(CrcDigest::new(CrcAlgorithm::Crc32IsoHdlc)),
            Self::Crc32c => Checksummer::Crc32c(CrcDigest::new(CrcAlgorithm::Crc32Iscsi)),
            Self::Crc64Nvme => Checksummer::Crc64Nvme(CrcDigest::new(CrcAlgorithm::Crc64Nvme)),
            Self::Sha1 => Checksummer::Sha1(Sha1::new()),
            Self::Sha256 => Checksummer::Sha256(Sha256::new()),
        }
    }
}

/// A running checksum over the decoded payload.
#[derive(Clone)]
pub enum Checksummer {
    Crc32(CrcDigest),
    Crc32c(CrcDigest),
    Crc64Nvme(CrcDigest),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl std::fmt::Debug for Checksummer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.algorithm().display_name())
    }
}

impl Checksummer {
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self {
            Self::Crc32(_) => ChecksumAlgorithm::Crc32,
            Self::Crc32c(_) => ChecksumAlgorithm::Crc32c,
            Self::Crc64Nvme(_) => ChecksumAlgorithm::Crc64Nvme,
            Self::Sha1(_) => ChecksumAlgorithm::Sha1,
            Self::Sha256(_) => ChecksumAlgorithm::Sha256,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc32(d) | Self::Crc32c(d) | Self::Crc64Nvme(d) => d.update(data),
            Self::Sha1(d) => d.update(data),
            Self::Sha256(d) => d.update(data),
        }
    }

    /// Does the digest so far equal `expected_b64` (base64 of the big-endian
    /// digest, as S3 sends and accepts it)? Malformed base64 is a mismatch.
    pub fn matches(&self, expected_b64: &str) -> bool {
        let Ok(expected) = STANDARD.decode(expected_b64.trim()) else {
            return false;
        };
        match self {
            // CRC32 digests fit in 32 bits; the truncation is the format.
            Self::Crc32(d) | Self::Crc32c(d) => {
                let crc = (d.finalize() & 0xffff_ffff) as u32;
                expected == crc.to_be_bytes()
            }
            Self::Crc64Nvme(d) => expected == d.finalize().to_be_bytes(),
            Self::Sha1(d) => expected == d.clone().finalize().as_slice(),
            Self::Sha256(d) => expected == d.clone().finalize().as_slice(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    fn b64_of(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
        // Independent of `Checksummer`: the crates' one-shot functions.
        let raw: Vec<u8> = match algorithm {
            ChecksumAlgorithm::Crc32 => crc_fast::crc32_iso_hdlc(data).to_be_bytes().to_vec(),
            ChecksumAlgorithm::Crc32c => crc_fast::crc32_iscsi(data).to_be_bytes().to_vec(),
            ChecksumAlgorithm::Crc64Nvme => crc_fast::crc64_nvme(data).to_be_bytes().to_vec(),
            ChecksumAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
            ChecksumAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        };
        STANDARD.encode(raw)
    }

    #[test]
    fn every_algorithm_matches_its_own_digest_streamed_in_pieces() {
        let data = b"hello, trailing checksum world";
        for algorithm in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
            ChecksumAlgorithm::Sha1,
            ChecksumAlgorithm::Sha256,
        ] {
            let mut h = algorithm.hasher();
            h.update(&data[..7]);
            h.update(&data[7..]);
            assert!(h.matches(&b64_of(algorithm, data)), "{algorithm:?}");
            assert!(!h.matches(&b64_of(algorithm, b"other")), "{algorithm:?}");
            assert!(!h.matches("not base64!"), "{algorithm:?}");
            assert_eq!(
                ChecksumAlgorithm::from_header_name(algorithm.header_name()),
                Some(algorithm)
            );
        }
    }

    #[test]
    fn crc32_check_value() {
        // The CRC-32/ISO-HDLC check value of "123456789" is 0xCBF43926.
        let mut h = ChecksumAlgorithm::Crc32.hasher();
        h.update(b"123456789");
        assert!(h.matches(&STANDARD.encode(0xCBF4_3926u32.to_be_bytes())));
    }

    #[test]
    fn header_names_are_recognised_case_insensitively() {
        assert_eq!(
            ChecksumAlgorithm::from_header_name("X-Amz-Checksum-CRC32C"),
            Some(ChecksumAlgorithm::Crc32c)
        );
        assert_eq!(
            ChecksumAlgorithm::from_header_name("x-amz-checksum-md5"),
            None
        );
        assert_eq!(ChecksumAlgorithm::from_header_name("x-amz-meta-a"), None);
    }
}
