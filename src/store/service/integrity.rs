//! What a body must pass before it is stored: the declared length, Content-MD5
//! and checksums (headers or trailers), and the tags it carries.

use super::*;

/// Turns a failed receive into the caller's error: their stream's own S3
/// error (a bad chunk signature, a payload hash mismatch) when it is one.
pub(in crate::store) fn receive_error(e: ReceiveError) -> S3Error {
    match e {
        ReceiveError::Body(e) => match e.downcast::<S3Error>() {
            Ok(s3) => *s3,
            Err(e) => {
                let mut err = S3Error::new(S3ErrorCode::IncompleteBody);
                err.set_source(e);
                err
            }
        },
        ReceiveError::Io(e) => internal(e),
    }
}

/// The additional checksums a write asks for: declared values and
/// `x-amz-checksum-algorithm` (whose value may come in a trailer).
pub(in crate::store) fn hasher_for(
    declared: &Checksums,
    algorithm: Option<&ChecksumAlgorithm>,
) -> S3Result<s3s::checksum::ChecksumHasher> {
    let mut h = s3s::checksum::ChecksumHasher::default();
    let mut enable = |name: &str| -> S3Result<()> {
        match name {
            ChecksumAlgorithm::CRC32 => h.crc32 = Some(Default::default()),
            ChecksumAlgorithm::CRC32C => h.crc32c = Some(Default::default()),
            ChecksumAlgorithm::CRC64NVME => h.crc64nvme = Some(Default::default()),
            ChecksumAlgorithm::SHA1 => h.sha1 = Some(Default::default()),
            ChecksumAlgorithm::SHA256 => h.sha256 = Some(Default::default()),
            _ => return Err(s3_error!(InvalidRequest, "unsupported checksum algorithm")),
        }
        Ok(())
    };
    for (value, name) in [
        (&declared.crc32, ChecksumAlgorithm::CRC32),
        (&declared.crc32c, ChecksumAlgorithm::CRC32C),
        (&declared.crc64nvme, ChecksumAlgorithm::CRC64NVME),
        (&declared.sha1, ChecksumAlgorithm::SHA1),
        (&declared.sha256, ChecksumAlgorithm::SHA256),
    ] {
        if value.is_some() {
            enable(name)?;
        }
    }
    if let Some(a) = algorithm {
        enable(&a.as_str().to_ascii_uppercase())?;
    }
    Ok(h)
}

/// Adds checksums that arrived as trailers of an aws-chunked body.
pub(in crate::store) fn merge_trailers(
    declared: &mut Checksums,
    trailers: Option<&s3s::TrailingHeaders>,
) {
    let Some(map) = trailers.and_then(s3s::TrailingHeaders::take) else {
        return;
    };
    let get = |name: &str| {
        map.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    for (slot, name) in [
        (&mut declared.crc32, "x-amz-checksum-crc32"),
        (&mut declared.crc32c, "x-amz-checksum-crc32c"),
        (&mut declared.crc64nvme, "x-amz-checksum-crc64nvme"),
        (&mut declared.sha1, "x-amz-checksum-sha1"),
        (&mut declared.sha256, "x-amz-checksum-sha256"),
    ] {
        if slot.is_none() {
            *slot = get(name);
        }
    }
}

/// Every integrity check of a received body: declared length, Content-MD5
/// and each declared checksum. Only a body that passes gets a name.
pub(in crate::store) fn verify(
    received: &Received,
    content_length: Option<i64>,
    content_md5: Option<&str>,
    declared: &Checksums,
) -> S3Result<Checksums> {
    if let Some(n) = content_length
        && u64::try_from(n).ok() != Some(received.size)
    {
        return Err(s3_error!(
            IncompleteBody,
            "The body is not as long as declared"
        ));
    }
    if let Some(md5) = content_md5 {
        use base64::Engine as _;
        let want = base64::engine::general_purpose::STANDARD
            .decode(md5.trim())
            .ok()
            .filter(|d| d.len() == 16)
            .ok_or_else(|| s3_error!(InvalidDigest))?;
        if want != received.md5 {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
    }
    let got = Checksums::from(received.checksums.clone());
    for (want, have, name) in [
        (&declared.crc32, &got.crc32, "CRC32"),
        (&declared.crc32c, &got.crc32c, "CRC32C"),
        (&declared.crc64nvme, &got.crc64nvme, "CRC64NVME"),
        (&declared.sha1, &got.sha1, "SHA1"),
        (&declared.sha256, &got.sha256, "SHA256"),
    ] {
        if want.is_some() && want != have {
            return Err(s3_error!(
                BadDigest,
                "The {name} you specified did not match the calculated checksum."
            ));
        }
    }
    Ok(got)
}

pub(in crate::store) fn check_tags(tags: &[(String, String)]) -> S3Result<()> {
    let mut names: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    let unique = names.windows(2).all(|w| w[0] != w[1]);
    let sized = tags
        .iter()
        .all(|(k, v)| (1..=128).contains(&k.chars().count()) && v.chars().count() <= 256);
    if tags.len() > MAX_OBJECT_TAGS || !unique || !sized {
        return Err(s3_error!(InvalidTag, "The tag set is not valid"));
    }
    Ok(())
}
