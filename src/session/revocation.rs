//! The revocation list: which sessions are cut off before their expiry.
//!
//! Pure: parses the list's text, answers for a session's [`Claims`], and
//! computes the rewritten text of an S3-object list ([`rewrite`]); reading,
//! polling and writing the list is `live::revocation`,
//! which `s3gate revoke` calls.
//!
//! The list holds one JSON object per line. A file is appended to, never
//! rewritten; an S3 object (which cannot be appended to) is rewritten
//! whole, less the entries already void:
//!
//! ```text
//! {"session":"<session id>","until":1800000000,"reason":"leaked"}
//! {"identity":"user:alice","until":1800000000}
//! {"delegated_by":"user:alice","until":1800000000}
//! ```
//!
//! A `session` entry refuses that session and every session delegated from
//! it (directly or not: [`Claims::parent_sessions`]). An `identity` entry
//! refuses every session whose principal name (`user:alice`,
//! `delegated:agent-7`) is the session's identity or appears in its
//! delegation chain. A `delegated_by` entry refuses every session delegated
//! (directly or not) by that principal — it appears in the session's chain
//! before the session's own entry — while the principal's own sessions
//! keep working: the answer to "my agents' credentials leaked, not mine".
//! An entry counts until `until` (Unix seconds), which
//! `s3gate revoke` sets to when the longest session it could name would
//! have expired anyway. Lines that do not parse are skipped and counted,
//! so one bad line never unrevokes the rest.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Claims;
use crate::policy::principal_name;

/// Largest list read; past it the server keeps its last list and warns,
/// and `s3gate revoke` refuses to grow an S3-object list beyond it.
pub const MAX_REVOCATION_FILE_BYTES: u64 = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error(
        "the revocation list would be {0} bytes, over the {MAX_REVOCATION_FILE_BYTES}-byte cap, \
         with every entry still in force"
    )]
    TooLarge(usize),
    #[error("cannot encode the entry: {0}")]
    Encode(String),
}

/// The list's `text` with `entry` appended and the lines already void at
/// `now` dropped, so a list rewritten on every revocation does not grow
/// forever. A line that does not parse is kept as it is: it may be a newer
/// s3gate's, and dropping what one does not understand could unrevoke.
pub fn rewrite(text: &str, entry: &RevocationEntry, now: u64) -> Result<String, RewriteError> {
    /// What a line needs for its voidness to be known.
    #[derive(Deserialize)]
    struct Until {
        until: u64,
    }
    let new = serde_json::to_string(entry).map_err(|e| RewriteError::Encode(e.to_string()))?;
    let mut out = String::with_capacity(text.len() + new.len() + 1);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if serde_json::from_str::<Until>(line).is_ok_and(|u| u.until <= now) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&new);
    out.push('\n');
    if out.len() as u64 > MAX_REVOCATION_FILE_BYTES {
        return Err(RewriteError::TooLarge(out.len()));
    }
    Ok(out)
}

/// One line of the file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RevocationEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegated_by: Option<String>,
    /// Unix seconds; the entry is void from then on.
    pub until: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl RevocationEntry {
    /// When an entry naming `identity`, written at `now`, may be dropped:
    /// once every session it could name has expired anyway, `longest`
    /// (the longest session lifetime) later. Public access
    /// (`anonymous`) has no session that ever expires, so revoking it
    /// lasts until the entry is taken out of the list by hand.
    pub fn void_after(identity: Option<&str>, now: u64, longest: u64) -> u64 {
        if identity == Some(crate::principal::ANONYMOUS) {
            u64::MAX
        } else {
            now.saturating_add(longest)
        }
    }

    /// What the entry names, as the operator reads it.
    pub fn describe(&self) -> String {
        match (&self.session, &self.identity, &self.delegated_by) {
            (Some(s), _, _) => format!("session {s}"),
            (_, Some(i), _) => format!("principal {i}"),
            (_, _, Some(d)) => format!("every session delegated by {d}"),
            _ => "nothing".to_owned(),
        }
    }
}

/// The entries in force, indexed for a lookup per request.
#[derive(Debug, Default, Clone)]
pub struct RevocationList {
    sessions: HashMap<String, (u64, String)>,
    identities: HashMap<String, (u64, String)>,
    delegators: HashMap<String, (u64, String)>,
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
            // Exactly one kind a line: a line naming two is ambiguous
            // (an operator's hand edit), so it is counted, not guessed at.
            match (entry.session, entry.identity, entry.delegated_by) {
                (Some(s), None, None) => keep_longer(&mut list.sessions, s),
                (None, Some(i), None) => keep_longer(&mut list.identities, i),
                (None, None, Some(d)) => keep_longer(&mut list.delegators, d),
                _ => list.skipped += 1,
            }
        }
        list
    }

    pub fn len(&self) -> usize {
        self.sessions.len() + self.identities.len() + self.delegators.len()
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
        // Every request asks, and the list is almost always empty or has no
        // entry of a kind: skip what cannot match, and the principal name
        // (an allocation) unless an identity entry could use it.
        if self.is_empty() {
            return None;
        }
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
        if !self.identities.is_empty() {
            let name = principal_name(&claims.identity);
            for principal in std::iter::once(&name).chain(claims.chain.iter()) {
                if let Some((_, reason)) = live(self.identities.get(principal), now) {
                    return Some(because(&format!("principal {principal}"), reason));
                }
            }
        }
        // The chain's last entry is the session itself (empty for a session
        // nobody delegated); the ones before it delegated it.
        let delegators = claims.chain.split_last().map_or(&[][..], |(_, d)| d);
        for principal in delegators {
            if let Some((_, reason)) = live(self.delegators.get(principal), now) {
                return Some(because(
                    &format!("every session delegated by {principal}"),
                    reason,
                ));
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
    fn revoking_public_access_lasts_past_every_session_lifetime() {
        let (now, longest) = (1_000, 3_600);
        let entry = |identity: &str| RevocationEntry {
            session: None,
            identity: Some(identity.into()),
            delegated_by: None,
            until: RevocationEntry::void_after(Some(identity), now, longest),
            reason: "closed".into(),
        };
        let text = rewrite("", &entry("anonymous"), now).unwrap();
        let text = rewrite(&text, &entry("user:alice"), now).unwrap();
        // Long after any session could still be alive: the person's entry
        // is void, public access stays closed (anonymous claims never
        // expire, so an entry that did would reopen it on its own).
        let later = now + 1000 * longest;
        let list = RevocationList::parse(&text, later);
        let mut public = claims("", &[], &[]);
        public.identity = crate::principal::anonymous();
        public.expires_at = u64::MAX;
        assert!(list.revoked(&public, later).is_some(), "{text}");
        let mut alice = claims("s", &[], &[]);
        alice.expires_at = later + 1;
        assert!(list.revoked(&alice, later).is_none(), "{text}");
        assert!(
            RevocationList::parse(&text, now + 1)
                .revoked(&alice, now + 1)
                .is_some()
        );
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

    #[test]
    fn a_rewrite_appends_and_drops_only_what_is_void() {
        let text = "{\"session\":\"old\",\"until\":5}\n\n\
                    {\"session\":\"live\",\"until\":50}\n\
                    {\"future_kind\":\"x\",\"until\":50}\n\
                    not json\n";
        let entry = RevocationEntry {
            session: None,
            identity: None,
            delegated_by: Some("user:alice".into()),
            until: 60,
            reason: "agents".into(),
        };
        let out = rewrite(text, &entry, 10).unwrap();
        assert_eq!(
            out,
            "{\"session\":\"live\",\"until\":50}\n\
             {\"future_kind\":\"x\",\"until\":50}\n\
             not json\n\
             {\"delegated_by\":\"user:alice\",\"until\":60,\"reason\":\"agents\"}\n"
        );
        let list = RevocationList::parse(&out, 10);
        assert_eq!((list.len(), list.skipped), (2, 2));
        // Rewriting an empty (missing) list yields the one entry.
        assert_eq!(
            RevocationList::parse(&rewrite("", &entry, 10).unwrap(), 10).len(),
            1
        );
        // At the cap it refuses rather than drop live entries.
        let big = format!("{{\"session\":\"{}\",\"until\":50}}\n", "s".repeat(9 << 20));
        assert!(matches!(
            rewrite(&big, &entry, 10),
            Err(RewriteError::TooLarge(_))
        ));
    }

    #[test]
    fn a_delegated_by_entry_spares_the_delegators_own_sessions() {
        let list = RevocationList::parse(
            "{\"delegated_by\":\"user:alice\",\"until\":50,\"reason\":\"agents leaked\"}\n\
             {\"delegated_by\":\"delegated:agent-7\",\"until\":50}\n\
             {\"session\":\"s\",\"delegated_by\":\"user:x\",\"until\":50}",
            10,
        );
        assert_eq!(list.skipped, 1, "a line naming two kinds is refused");
        // Alice's own session: not delegated by anyone.
        assert!(list.revoked(&claims("a", &[], &[]), 20).is_none());
        // Her agent, and its child.
        let agent = claims("g", &["a"], &["user:alice", "delegated:agent-1"]);
        let why = list.revoked(&agent, 20).unwrap();
        assert!(
            why.contains("delegated by user:alice") && why.contains("agents leaked"),
            "{why}"
        );
        let child = claims(
            "c",
            &["a", "g"],
            &["user:alice", "delegated:agent-1", "delegated:sub"],
        );
        assert!(list.revoked(&child, 20).is_some());
        assert!(list.revoked(&child, 50).is_none(), "void after `until`");
        // Another root's agent-7 keeps working itself; what it delegated
        // does not.
        let mut bob = claims("b7", &["b"], &["user:bob", "delegated:agent-7"]);
        bob.identity = Identity::new("mint", "bob");
        assert!(list.revoked(&bob, 20).is_none());
        bob.chain.push("delegated:helper".into());
        assert!(list.revoked(&bob, 20).is_some());
    }
}
