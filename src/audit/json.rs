//! The audit record's JSON line, written field by field.
//!
//! The derived `Serialize` of [`AuditEvent`] stays: it is the schema's
//! statement and the oracle this writer is tested against, byte for byte
//! (`write_matches_serde` below). Written through serde, a record went
//! through a map serializer (the two flattened subjects make it one) and
//! escaped every string a byte at a time: ~10,000 instructions a record on
//! the writer thread, which shares the request path's core. Here each name
//! is a literal and a string without anything to escape, nearly all of
//! them, is copied whole; anything else goes through `serde_json` as before.
//!
//! Pure: bytes in, bytes out. Depends on the event types of [`super`] and
//! on [`crate::session::Subject`], and on the leaf [`crate::byte_run`].

use std::io::Write as _;
use std::net::SocketAddr;

use super::{AuditEvent, Reason, SharedSubject, rfc3339_millis};
use crate::byte_run;
use crate::session::Subject;

/// `,"name":`, a member's name with the comma before it, as one literal:
/// one copy a member instead of four pushes. Names have nothing to
/// escape.
macro_rules! member {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}

/// Appends `event` as one JSON object (no newline) to `out`.
pub(super) fn write_event(out: &mut Vec<u8>, event: &AuditEvent) {
    // Every field by name: a field added to the event and not written here
    // is a compile error, not a record that silently lacks it.
    let AuditEvent {
        v,
        time,
        request_id,
        api,
        who,
        subject,
        auth,
        operation,
        bucket,
        key,
        decision,
        rule,
        policy_version,
        reason,
        error,
        status,
        bytes_in,
        bytes_out,
        duration_ms,
        complete,
        client,
        source_ip,
        user_agent,
        upstream_request_id,
        upstream,
        upstream_role_session,
    } = event;
    let mut w = Fields { out };
    // `v` is always the first member, so every later one starts with the
    // comma that `member!` puts in its literal.
    w.out.extend_from_slice(b"{\"v\":");
    push_decimal(w.out, (*v).into());
    w.name(member!("time"));
    w.out.push(b'"');
    w.out.extend_from_slice(&rfc3339_millis(time.0));
    w.out.push(b'"');
    w.string(member!("request_id"), request_id);
    w.string(member!("api"), api);
    w.subject(who);
    if let Some(SharedSubject(shared)) = subject {
        w.subject(shared);
    }
    w.optional(member!("auth"), *auth);
    w.optional(member!("operation"), *operation);
    w.optional(member!("bucket"), bucket.as_deref());
    w.optional(member!("key"), key.as_deref());
    w.string(member!("decision"), decision);
    w.optional(member!("rule"), rule.as_deref());
    w.optional(member!("policy_version"), policy_version.as_deref());
    w.name(member!("reason"));
    match reason {
        Reason::Text(text) => push_string(w.out, text),
        Reason::Granted(rule) => {
            // As `Reason`'s `Display` spells it; only the rule's id can
            // need escaping, the words around it never do.
            w.out.extend_from_slice(b"\"allowed by grant `");
            push_contents(w.out, rule);
            w.out.extend_from_slice(b"`; within the session's scope\"");
        }
    }
    w.optional(member!("error"), *error);
    w.integer(member!("status"), (*status).into());
    w.integer(member!("bytes_in"), *bytes_in);
    w.integer(member!("bytes_out"), *bytes_out);
    w.float(member!("duration_ms"), *duration_ms);
    w.name(member!("complete"));
    w.out
        .extend_from_slice(if *complete { b"true" } else { b"false" });
    if let Some(addr) = client {
        w.name(member!("client"));
        push_address(w.out, addr);
    }
    w.optional(member!("source_ip"), source_ip.as_deref());
    w.optional(member!("user_agent"), user_agent.as_deref());
    w.optional(
        member!("upstream_request_id"),
        upstream_request_id.as_deref(),
    );
    w.optional(member!("upstream"), upstream.as_deref());
    w.optional(
        member!("upstream_role_session"),
        upstream_role_session.as_deref(),
    );
    w.out.push(b'}');
}

/// The object being written, after its first member.
struct Fields<'a> {
    out: &'a mut Vec<u8>,
}

impl Fields<'_> {
    /// A member's name, spelled by [`member!`].
    fn name(&mut self, member: &str) {
        self.out.extend_from_slice(member.as_bytes());
    }

    fn string(&mut self, name: &str, value: &str) {
        self.name(name);
        push_string(self.out, value);
    }

    /// Left out when `None`, as `skip_serializing_if = "Option::is_none"`.
    fn optional(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.string(name, value);
        }
    }

    /// An integer, in decimal as `serde_json` writes it.
    fn integer(&mut self, name: &str, value: u64) {
        self.name(name);
        push_decimal(self.out, value);
    }

    /// A float as `serde_json` writes it (shortest round-trip, a
    /// non-finite one as `null`).
    fn float(&mut self, name: &str, value: f64) {
        self.name(name);
        let _ = serde_json::to_writer(&mut *self.out, &value);
    }

    fn strings(&mut self, name: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        self.name(name);
        self.out.push(b'[');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            push_string(self.out, value);
        }
        self.out.push(b']');
    }

    /// A subject's members, in its declaration order, each left out when
    /// empty (as its derive does).
    fn subject(&mut self, subject: &Subject) {
        let Subject {
            session_id,
            access_key_id,
            identity,
            identity_method,
            issuer,
            username,
            groups,
            aws_account,
            aws_role,
            aws_session,
            chain,
        } = subject;
        self.optional(member!("session_id"), session_id.as_deref());
        self.optional(member!("access_key_id"), access_key_id.as_deref());
        self.optional(member!("identity"), identity.as_deref());
        self.optional(member!("identity_method"), identity_method.as_deref());
        self.optional(member!("issuer"), issuer.as_deref());
        self.optional(member!("username"), username.as_deref());
        self.strings(member!("groups"), groups);
        self.optional(member!("aws_account"), aws_account.as_deref());
        self.optional(member!("aws_role"), aws_role.as_deref());
        self.optional(member!("aws_session"), aws_session.as_deref());
        self.strings(member!("chain"), chain);
    }
}

/// `n` in decimal, by `itoa` (what `serde_json` writes integers with):
/// two digits a step from a table. Through `serde_json` or `fmt` each
/// number paid a serializer or formatter pass; a digit at a time, with a
/// division each, the record's nine numbers (four of them the client's
/// octets) were ~650 instructions.
fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A client address as a JSON string, as its `Display` spells it. An IPv4
/// address, nearly every client's, is written by hand (`fmt` took ~1,300
/// instructions a record for it); an IPv6 one through `fmt`. Neither
/// needs escaping: digits, dots, colons, brackets, hex and a `%` scope.
fn push_address(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            out.push(b'"');
            for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_decimal(out, octet.into());
            }
            out.push(b':');
            push_decimal(out, v4.port().into());
            out.push(b'"');
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "\"{addr}\"");
        }
    }
}

/// Whether JSON needs none of `s`'s bytes escaped: no quote, backslash or
/// control character. Most of a record's strings are short (an
/// operation, a decision, a bucket, a request id), so eight bytes a step
/// ([`byte_run::all_by_words`]): a byte at a time they were ~1,900
/// instructions of a record's ~5,600.
fn plain(s: &str) -> bool {
    byte_run::all_by_words(
        s.as_bytes(),
        |b| (b >= 0x20) & (b != b'"') & (b != b'\\'),
        |w| {
            byte_run::below_in(w, 0x20) | byte_run::equal_in(w, b'"') | byte_run::equal_in(w, b'\\')
        },
    )
}

/// `s` as a JSON string, quotes included.
fn push_string(out: &mut Vec<u8>, s: &str) {
    if plain(s) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// `s` escaped as inside a JSON string, without the quotes.
fn push_contents(out: &mut Vec<u8>, s: &str) {
    if plain(s) {
        out.extend_from_slice(s.as_bytes());
    } else {
        let start = out.len();
        let _ = serde_json::to_writer(&mut *out, s);
        // serde_json wrote `"…"`: keep what is between the quotes.
        out.pop();
        out.remove(start);
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;

    use super::*;
    use crate::audit::Stamp;

    /// Text that needs every kind of escape, and none.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9 ./:_-]{0,24}",
            "[\"\\\\\u{0}-\u{1f}\u{7f}a é\u{2028}😀]{0,12}",
            ".{0,16}",
        ]
    }

    fn maybe_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(text())
    }

    fn subject() -> impl Strategy<Value = Subject> {
        (
            (maybe_text(), maybe_text(), maybe_text(), maybe_text()),
            (
                maybe_text(),
                maybe_text(),
                proptest::collection::vec(text(), 0..3),
            ),
            (
                maybe_text(),
                maybe_text(),
                maybe_text(),
                proptest::collection::vec(text(), 0..3),
            ),
        )
            .prop_map(
                |(
                    (session_id, access_key_id, identity, identity_method),
                    (issuer, username, groups),
                    (aws_account, aws_role, aws_session, chain),
                )| Subject {
                    session_id,
                    access_key_id,
                    identity,
                    identity_method,
                    issuer,
                    username,
                    groups,
                    aws_account,
                    aws_role,
                    aws_session,
                    chain,
                },
            )
    }

    fn label() -> impl Strategy<Value = Option<&'static str>> {
        proptest::option::of(proptest::sample::select(vec![
            "presigned",
            "GetObject",
            "deny",
            "AccessDenied",
            "",
        ]))
    }

    fn event() -> impl Strategy<Value = AuditEvent> {
        (
            (
                any::<u32>(),
                0u64..5_000_000_000_000,
                text(),
                subject(),
                proptest::option::of(subject()),
                label(),
                label(),
            ),
            (
                maybe_text(),
                maybe_text(),
                maybe_text(),
                maybe_text(),
                prop_oneof![
                    text().prop_map(Reason::Text),
                    text().prop_map(|r| Reason::Granted(r.into()))
                ],
                label(),
            ),
            (
                any::<u16>(),
                any::<u64>(),
                any::<u64>(),
                prop_oneof![any::<f64>(), Just(0.0), Just(f64::NAN), Just(1.5e-7)],
                any::<bool>(),
                proptest::option::of(prop_oneof![
                    any::<SocketAddr>(),
                    Just("127.0.0.1:53442".parse::<SocketAddr>().unwrap()),
                    Just("0.0.0.0:0".parse::<SocketAddr>().unwrap()),
                    Just("[::1]:9000".parse::<SocketAddr>().unwrap()),
                    Just("[fe80::1%2]:80".parse::<SocketAddr>().unwrap())
                ]),
            ),
            (
                maybe_text(),
                maybe_text(),
                maybe_text(),
                maybe_text(),
                maybe_text(),
            ),
        )
            .prop_map(
                |(
                    (v, millis, request_id, who, shared, auth, operation),
                    (bucket, key, rule, policy_version, reason, error),
                    (status, bytes_in, bytes_out, duration_ms, complete, client),
                    (source_ip, user_agent, upstream_request_id, upstream, upstream_role_session),
                )| AuditEvent {
                    v,
                    time: Stamp(SystemTime::UNIX_EPOCH + Duration::from_millis(millis)),
                    request_id,
                    api: "s3",
                    who,
                    subject: shared.map(|s| SharedSubject(Arc::new(s))),
                    auth,
                    operation,
                    bucket: bucket.map(Into::into),
                    key: key.map(Into::into),
                    decision: "allow",
                    rule: rule.map(Into::into),
                    policy_version: policy_version.map(Into::into),
                    reason,
                    error,
                    status,
                    bytes_in,
                    bytes_out,
                    duration_ms,
                    complete,
                    client,
                    source_ip,
                    user_agent,
                    upstream_request_id,
                    upstream: upstream.map(Into::into),
                    upstream_role_session,
                },
            )
    }

    proptest! {
        /// The hand-written line is the derived serializer's, byte for byte.
        #[test]
        fn write_matches_serde(event in event()) {
            let mut line = Vec::new();
            write_event(&mut line, &event);
            let oracle = serde_json::to_vec(&event).unwrap();
            prop_assert_eq!(
                String::from_utf8(line).unwrap(),
                String::from_utf8(oracle).unwrap()
            );
        }
    }

    #[test]
    fn a_default_event_is_the_derived_line() {
        let event = AuditEvent::default();
        let mut line = Vec::new();
        write_event(&mut line, &event);
        assert_eq!(line, serde_json::to_vec(&event).unwrap());
    }
}
