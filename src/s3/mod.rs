//! S3 on the wire: which operation a request is, which resources it touches,
//! and the XML error shape every refusal is rendered in.
//!
//! Pure: no I/O, no clock. Reads the query as [`crate::raw_query`] split
//! it ([`classify_with_query`]); percent-escapes' digits through
//! `crate::hex_digits`. Keys are kept exactly as the upstream will
//! see them (no normalisation of `//` or `%2F`); keys with `.` or `..` path
//! segments, which some stores resolve, are refused. Every header and
//! `x-amz-*` query parameter is passed, mapped to the action it implies, or
//! refused ([`headers`]).
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html>

mod action;
mod classify;
pub mod cors;
mod delete;
mod error;
mod form;
mod framing;
mod headers;
mod name;
mod own;
mod post_fields;
mod post_policy;
mod query;

pub use action::{Action, Operation, UnknownAction};
pub use classify::{Addressing, S3Request, classify, classify_with_query};
pub use delete::{MAX_DELETE_KEYS, delete_objects_keys};
pub use error::{S3Error, S3ErrorCode};
pub use form::{
    FileBody, FileCheck, FormError, FormHead, HeadReader, MAX_PRE_FILE_BYTES, boundary,
    file_length, parse_head,
};
pub use headers::{Effect, Encryption, amz_effect, forwarded as header_forwarded};
pub use name::{CopySource, decoded_param_name, param_name, refuse_dot_segments};
pub use own::touches_own_object;
pub use post_fields::{FormAnswer, encode_key, post_response_xml, tagging_header, upload_headers};
pub use post_policy::{Condition, PolicyError, PostPolicy, Submitted, substitute_filename};
pub use query::PRESIGN_PARAMS;

pub use framing::{MAX_USER_METADATA_BYTES, check_request_shape, is_valid_host};
