//! The query string as classification reads it: the operation-selecting
//! subresource, the parameters that matter, and the `x-amz-*` parameters S3
//! reads as headers. An unknown parameter makes the request unclassifiable.
//! Pure; reads the query as [`crate::raw_query`] split it.

use super::error::{S3Error, S3ErrorCode};
use super::name::{decode, decoded_param_name};
use crate::raw_query::RawQuery;

/// Subresources that select the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sub {
    Acl,
    Attributes,
    Cors,
    Delete,
    Encryption,
    Lifecycle,
    Location,
    Policy,
    Tagging,
    UploadId,
    Uploads,
    Versioning,
    Versions,
}

/// What classification needs from the query string.
#[derive(Debug, Default)]
pub(super) struct Query {
    /// The operation-selecting subresource; `None` when there is none.
    pub(super) sub: Option<Sub>,
    /// More than one selecting subresource, or a parameter we do not know.
    pub(super) unclassifiable: bool,
    pub(super) part_number: bool,
    pub(super) version_id: Option<String>,
    /// Raw (still encoded) `prefix` value.
    pub(super) prefix: Option<String>,
    pub(super) list_type: Option<String>,
    /// `x-amz-*` parameters other than presigned-URL authentication
    /// (decoded, name lowercase): S3 reads them as headers.
    pub(super) amz: Vec<(String, String)>,
}

/// Query parameters of a presigned URL's own authentication (checked by
/// sigv4, never forwarded), lowercase.
pub const PRESIGN_PARAMS: [&str; 7] = [
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-signedheaders",
    "x-amz-signature",
    "x-amz-security-token",
];

impl Query {
    /// `None` when the request cannot be classified (unknown parameter or two
    /// selecting subresources); `Some(None)` when no subresource selects.
    pub(super) fn selector(&self) -> Option<Option<Sub>> {
        if self.unclassifiable {
            None
        } else {
            Some(self.sub)
        }
    }

    pub(super) fn parse(query: &RawQuery<'_>) -> Result<Query, S3Error> {
        let bad = || S3Error::new(S3ErrorCode::InvalidURI, "Couldn't parse the specified URI.");
        let mut q = Query::default();
        for pair in query.pairs() {
            let raw_value = pair.value;
            let name = decoded_param_name(pair.name).ok_or_else(bad)?;
            let sub = match &*name {
                "acl" => Some(Sub::Acl),
                "attributes" => Some(Sub::Attributes),
                "cors" => Some(Sub::Cors),
                "delete" => Some(Sub::Delete),
                "encryption" => Some(Sub::Encryption),
                "lifecycle" => Some(Sub::Lifecycle),
                "location" => Some(Sub::Location),
                "policy" => Some(Sub::Policy),
                "tagging" => Some(Sub::Tagging),
                "uploadId" => Some(Sub::UploadId),
                "uploads" => Some(Sub::Uploads),
                "versioning" => Some(Sub::Versioning),
                "versions" => Some(Sub::Versions),
                _ => None,
            };
            if let Some(sub) = sub {
                if q.sub.is_some() {
                    q.unclassifiable = true;
                }
                q.sub = Some(sub);
                continue;
            }
            let dup = |seen: bool| {
                if seen {
                    Err(S3Error::new(
                        S3ErrorCode::InvalidArgument,
                        "A query parameter was given more than once.",
                    ))
                } else {
                    Ok(())
                }
            };
            match &*name {
                "prefix" => {
                    dup(q.prefix.is_some())?;
                    q.prefix = Some(raw_value.unwrap_or("").to_owned());
                }
                "versionId" => {
                    dup(q.version_id.is_some())?;
                    let value = decode(raw_value.unwrap_or(""), true).ok_or_else(bad)?;
                    q.version_id = Some(value);
                }
                "list-type" => {
                    dup(q.list_type.is_some())?;
                    let value = decode(raw_value.unwrap_or(""), true).ok_or_else(bad)?;
                    q.list_type = Some(value);
                }
                "partNumber" => {
                    dup(q.part_number)?;
                    q.part_number = true;
                }
                // Parameters that refine an operation without changing which
                // one it is or what it touches.
                "delimiter"
                | "marker"
                | "max-keys"
                | "encoding-type"
                | "continuation-token"
                | "fetch-owner"
                | "start-after"
                | "key-marker"
                | "version-id-marker"
                | "upload-id-marker"
                | "max-uploads"
                | "max-parts"
                | "part-number-marker"
                | "max-buckets"
                | "bucket-region"
                | "response-content-type"
                | "response-content-language"
                | "response-expires"
                | "response-cache-control"
                | "response-content-disposition"
                | "response-content-encoding"
                | "x-id" => {}
                // Presigned-URL authentication (checked by sigv4), or a
                // header hoisted into the URL, which the header table decides.
                // Compared without lowering a copy: a presigned GET carries
                // seven of them, and only the others are kept.
                n if n.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-amz-")) => {
                    if !PRESIGN_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(n)) {
                        let value = decode(raw_value.unwrap_or(""), true).ok_or_else(bad)?;
                        q.amz.push((n.to_ascii_lowercase(), value));
                    }
                }
                _ => q.unclassifiable = true,
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use proptest::prelude::*;

    use super::super::name::param_name;
    use super::*;

    /// `Query::parse` as it was when it split the raw query itself: the
    /// oracle for the parse over the pairs split once.
    fn parse_splitting(raw: &str) -> Result<Query, S3Error> {
        let bad = || S3Error::new(S3ErrorCode::InvalidURI, "Couldn't parse the specified URI.");
        let mut q = Query::default();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let raw_value = pair.split_once('=').map(|(_, v)| v);
            let name = param_name(pair).ok_or_else(bad)?;
            let sub = match &*name {
                "acl" => Some(Sub::Acl),
                "attributes" => Some(Sub::Attributes),
                "cors" => Some(Sub::Cors),
                "delete" => Some(Sub::Delete),
                "encryption" => Some(Sub::Encryption),
                "lifecycle" => Some(Sub::Lifecycle),
                "location" => Some(Sub::Location),
                "policy" => Some(Sub::Policy),
                "tagging" => Some(Sub::Tagging),
                "uploadId" => Some(Sub::UploadId),
                "uploads" => Some(Sub::Uploads),
                "versioning" => Some(Sub::Versioning),
                "versions" => Some(Sub::Versions),
                _ => None,
            };
            if let Some(sub) = sub {
                if q.sub.is_some() {
                    q.unclassifiable = true;
                }
                q.sub = Some(sub);
                continue;
            }
            let dup = |seen: bool| {
                if seen {
                    Err(S3Error::new(
                        S3ErrorCode::InvalidArgument,
                        "A query parameter was given more than once.",
                    ))
                } else {
                    Ok(())
                }
            };
            match &*name {
                "prefix" => {
                    dup(q.prefix.is_some())?;
                    q.prefix = Some(raw_value.unwrap_or("").to_owned());
                }
                "versionId" => {
                    dup(q.version_id.is_some())?;
                    let value = decode(raw_value.unwrap_or(""), true).ok_or_else(bad)?;
                    q.version_id = Some(value);
                }
                "list-type" => {
                    dup(q.list_type.is_some())?;
                    let value = decode(raw_value.unwrap_or(""), true).ok_or_else(bad)?;
                    q.list_type = Some(value);
                }
                "partNumber" => {
                    dup(q.part_number)?;
                    q.part_number = true;
                }
                // Parameters that refine an operation without changing which
                // one it is or what it touches.
                "delimiter"
                | "marker"
                | "max-keys"
                | "encoding-type"
                | "continuation-token"
                | "fetch-owner"
                | "start-after"
                | "key-marker"
                | "version-id-marker"
                | "upload-id-marker"
                | "max-uploads"
                | "max-parts"
                | "part-number-marker"
                | "max-buckets"
                | "bucket-region"
                | "response-content-type"
                | "response-content-language"
                | "response-expires"
                | "response-cache-control"
                | "response-content-disposition"
                | "response-content-encoding"
                | "x-id" => {}
                // Presigned-URL authentication (checked by sigv4), or a
                // header hoisted into the URL, which the header table decides.
                // Compared without lowering a copy: a presigned GET carries
                // seven of them, and only the others are kept.
                n if n.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-amz-")) => {
                    if !PRESIGN_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(n)) {
                        let value = decode(raw_value.unwrap_or(""), true).ok_or_else(bad)?;
                        q.amz.push((n.to_ascii_lowercase(), value));
                    }
                }
                _ => q.unclassifiable = true,
            }
        }
        Ok(q)
    }

    /// The `x-amz-*` parameters as `Query::parse` kept them when it
    /// lowered every such name before comparing it: the oracle for the
    /// comparison that lowers only what it keeps.
    fn amz_by_lowering(raw: &str) -> Option<Vec<(String, String)>> {
        let mut amz = Vec::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let name = param_name(pair)?;
            if !name
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case("x-amz-"))
            {
                continue;
            }
            let lower = name.to_ascii_lowercase();
            if !PRESIGN_PARAMS.contains(&lower.as_str()) {
                let value = pair.split_once('=').map_or("", |(_, v)| v);
                amz.push((lower, decode(value, true)?));
            }
        }
        Some(amz)
    }

    fn amz_name() -> impl Strategy<Value = String> {
        let known = PRESIGN_PARAMS
            .iter()
            .map(|p| (*p).to_owned())
            .chain(
                [
                    "x-amz-meta-a",
                    "x-amz-tagging",
                    "x-amz-credentiaL2",
                    "x-amz-",
                ]
                .map(String::from),
            )
            .collect::<Vec<_>>();
        (
            prop::sample::select(known),
            prop::collection::vec(any::<bool>(), 24),
        )
            .prop_map(|(name, upper)| {
                name.chars()
                    .zip(upper.into_iter().cycle())
                    .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn amz_parameters_are_kept_as_lowering_every_name_kept_them(
            pairs in prop::collection::vec(
                (
                    prop_oneof![amz_name(), "[a-zA-Z%+-]{0,8}", "X%2[dD]Amz-[A-Za-z]{0,10}"],
                    "[a-zA-Z0-9%+/=]{0,8}",
                ),
                0..8,
            ),
        ) {
            let raw = pairs
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            let expected = amz_by_lowering(&raw);
            // The oracle covers the `x-amz-*` parameters only: a query
            // refused for another reason says nothing about them.
            if let Ok(q) = Query::parse(&RawQuery::new(Some(&raw))) {
                prop_assert_eq!(Some(q.amz), expected);
            }
        }
    }

    proptest! {
        #[test]
        fn parse_reads_the_pairs_as_splitting_the_query_read_it(
            raw in crate::raw_query::arbitrary::query(),
        ) {
            prop_assert_eq!(
                format!("{:?}", Query::parse(&RawQuery::new(Some(&raw)))),
                format!("{:?}", parse_splitting(&raw))
            );
        }
    }
}
