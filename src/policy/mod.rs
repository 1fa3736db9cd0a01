//! Access decisions. For now: a session's scope, a list of actions on
//! `s3://bucket/prefix*` patterns.
//!
//! Pure: no I/O.

use serde::{Deserialize, Serialize};

use crate::s3::Action;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Scope {}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(_s: &str) -> Result<Self, String> {
        unimplemented!()
    }
}

impl Scope {
    pub fn from_rules(_rules: &[String]) -> Result<Self, String> {
        unimplemented!()
    }
    pub fn allows(&self, _action: Action, _resource: &str) -> bool {
        unimplemented!()
    }
}
