//! The revocation list: which sessions are cut off before their expiry.
//!
//! Pure: parses the list's text and answers for a session's [`Claims`];
//! reading and polling the file is the server's (`server::revocation`),
//! appending to it is `s3gate revoke`'s.
//!
//! The file holds one JSON object per line, appended to, never rewritten:
//!
//! ```text
//! {"session":"<session id>","until":1800000000,"reason":"leaked"}
//! {"identity":"user:alice","until":1800000000}
//! ```
//!
//! A `session` entry refuses that session and every session delegated from
//! it (directly or not: [`Claims::parent_sessions`]). An `identity` entry
//! refuses every session whose principal name (`user:alice`,
//! `delegated:agent-7`) is the session's identity or appears in its
//! delegation chain. An entry counts until `until` (Unix seconds), which
//! `s3gate revoke` sets to when the longest session it could name would
//! have expired anyway. Lines that do not parse are skipped and counted,
//! so one bad line never unrevokes the rest.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Claims;
use crate::policy::principal_name;

/// Largest list read; past it the server keeps its last list and warns.
pub const MAX_REVOCATION_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// One line of the file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RevocationEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Unix seconds; the entry is void from then on.
    pub until: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// The entries in force, indexed for a lookup per request.
#[derive(Debug, Default, Clone)]
pub struct RevocationList {
    sessions: HashMap<String, (u64, String)>,
    identities: HashMap<String, (u64, String)>,
    /// Lines skipped as unreadable.
    pub skipped: usize,
}

impl RevocationList {
    /// Reads the file's text; entries already void at `now` are dropped.
    pub fn parse(text: &str, now: u64) -> RevocationList {
        let mut list = RevocationList::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(entry) = serde_json::from_str::<RevocationEntry>(line) else {
                list.skipped += 1;
                continue;
            };
            if entry.until <= now {
                continue;
            }
            let value = (entry.until, entry.reason);
            let keep_longer = |map: &mut HashMap<String, (u64, String)>, key: String| {
                let slot = map.entry(key).or_insert_with(|| value.clone());
                if slot.0 < value.0 {
                    *slot = value.clone();
                }
            };
            match (entry.session, entry.identity) {
                (Some(s), None) => keep_longer(&mut list.sessions, s),
                (None, Some(i)) => keep_longer(&mut list.identities, i),
                _ => list.skipped += 1,
            }
        }
        list
    }

    pub fn len(&self) -> usize {
        self.sessions.len() + self.identities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Why the session is revoked at `now`, if it is.
    pub fn revoked(&self, claims: &Claims, now: u64) -> Option<String> {
        fn live(hit: Option<&(u64, String)>, now: u64) -> Option<&(u64, String)> {
            hit.filter(|(until, _)| *until > now)
        }
        let because = |what: &str, reason: &str| {
            if reason.is_empty() {
                format!("{what} was revoked")
            } else {
                format!("{what} was revoked: {reason}")
            }
        };
        for id in std::iter::once(&claims.session_id).chain(claims.parent_sessions.iter()) {
            if let Some((_, reason)) = live(self.sessions.get(id), now) {
                let what = if *id == claims.session_id {
                    format!("session {id}")
                } else {
                    format!("delegating session {id}")
                };
                return Some(because(&what, reason));
            }
        }
        let name = principal_name(&claims.identity);
        for principal in std::iter::once(&name).chain(claims.chain.iter()) {
            if let Some((_, reason)) = live(self.identities.get(principal), now) {
                return Some(because(&format!("principal {principal}"), reason));
            }
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;
    use crate::policy::Scope;
    use crate::session::Identity;

    fn claims(sid: &str, parents: &[&str], chain: &[&str]) -> Claims {
        Claims {
            session_id: sid.into(),
            access_key_id: "AK".into(),
            identity: Identity::new("mint", "alice"),
            scope: Scope::all(),
            issued_at: 0,
            expires_at: 100,
            chain: chain.iter().map(|c| (*c).to_owned()).collect(),
            parent_sessions: parents.iter().map(|c| (*c).to_owned()).collect(),
            parent_scopes: Vec::new(),
            quota: Default::default(),
            parent_quotas: Vec::new(),
        }
    }

    #[test]
    fn a_revoked_session_takes_its_children_but_not_its_siblings() {
        let list = RevocationList::parse(
            "{\"session\":\"p\",\"until\":50,\"reason\":\"leaked\"}\nnot json\n",
            10,
        );
        assert_eq!(list.skipped, 1);
        assert!(
            list.revoked(&claims("p", &[], &[]), 20)
                .unwrap()
                .contains("leaked")
        );
        assert!(list.revoked(&claims("c", &["p"], &[]), 20).is_some());
        assert!(list.revoked(&claims("q", &[], &[]), 20).is_none());
        // Void once the entry's `until` has passed.
        assert!(list.revoked(&claims("p", &[], &[]), 50).is_none());
        assert!(RevocationList::parse("{\"session\":\"p\",\"until\":5}", 10).is_empty());
    }

    #[test]
    fn an_identity_entry_matches_the_principal_and_the_chain() {
        let list = RevocationList::parse(
            "{\"identity\":\"user:alice\",\"until\":50}\n{\"identity\":\"delegated:agent-7\",\"until\":50}",
            10,
        );
        assert!(list.revoked(&claims("a", &[], &[]), 20).is_some());
        let mut bob = claims("b", &[], &["user:bob", "delegated:agent-7"]);
        bob.identity = Identity::new("mint", "bob");
        assert!(list.revoked(&bob, 20).is_some());
        bob.chain = vec!["user:bob".into(), "delegated:agent-8".into()];
        assert!(list.revoked(&bob, 20).is_none());
    }
}
