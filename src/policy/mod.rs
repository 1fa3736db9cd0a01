//! Access decisions. For now: a session's scope, a list of actions on
//! `s3://bucket/prefix*` patterns.
//!
//! Pure: no I/O.

use serde::{Deserialize, Serialize};

use crate::s3::Action;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Scope {}

impl Scope {
    pub fn allows(&self, _action: Action, _resource: &str) -> bool {
        unimplemented!()
    }
}
