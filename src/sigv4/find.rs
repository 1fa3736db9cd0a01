//! Finding the signature: the `Authorization` header, or a presigned query
//! string, never both. Depends on both forms' parsers (`authorization.rs`,
//! `presigned.rs`), which depend on neither this nor each other's
//! dispatch, and on the query as [`crate::raw_query`] split it.

use http::request::Parts;

use super::authorization::{Authorization, SigV4Headers, parse_header};
use super::error::SigV4Error;
use super::presigned::{self, QueryAuth};
use crate::raw_query::RawQuery;

/// Finds the signature in the request: the `Authorization` header or a
/// presigned query string.
pub fn parse(parts: &Parts) -> Result<Authorization<'_>, SigV4Error> {
    parse_with_query(parts, &RawQuery::of(&parts.uri))
}

/// [`parse`] with the request's query already split (once a request, for
/// every stage that reads it).
pub fn parse_with_query<'a>(
    parts: &'a Parts,
    query: &RawQuery<'a>,
) -> Result<Authorization<'a>, SigV4Error> {
    let query_auth = presigned::detect(query);
    let found = SigV4Headers::of(&parts.headers);
    if found.repeated_authorization {
        return Err(SigV4Error::HeaderMalformed(
            "more than one Authorization header",
        ));
    }
    match (found.authorization, query_auth) {
        (Some(_), QueryAuth::V4) => Err(SigV4Error::MultipleAuthMechanisms),
        (Some(value), _) => parse_header(&found, value),
        (None, QueryAuth::V4) => presigned::parse_query(&found, query),
        (None, QueryAuth::V2) => Err(SigV4Error::SignatureV2),
        (None, QueryAuth::None) => Err(SigV4Error::Missing),
    }
}
