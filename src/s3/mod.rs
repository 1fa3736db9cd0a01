//! S3 on the wire: which operation a request is, which resources it touches,
//! and the XML error shape every refusal is rendered in.
//!
//! Pure: no I/O, no clock. Keys are kept exactly as the upstream will see
//! them (no normalisation of `..`, `//` or `%2F`).
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html>

mod action;
mod classify;
mod delete;
mod error;
mod framing;

pub use action::{Action, Operation, UnknownAction};
pub use classify::{Addressing, CopySource, S3Request, classify};
pub use delete::{MAX_DELETE_KEYS, delete_objects_keys};
pub use error::{S3Error, S3ErrorCode, push_escaped};
pub use framing::{MAX_USER_METADATA_BYTES, check_request_shape, is_valid_host};
