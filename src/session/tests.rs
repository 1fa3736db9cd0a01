//! Session minting and opening, end to end through the public API.

#![allow(clippy::expect_used, reason = "a test panics on a broken fixture")]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

const NOW: u64 = 1_800_000_000;
const HOUR: Duration = Duration::from_secs(3600);

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

fn ring(id: &str, rng: &mut StdRng) -> Keyring {
    Keyring::generate(id, rng).expect("keyring")
}

fn alice() -> Identity {
    let mut id = Identity::new("oidc", "alice-sub");
    id.issuer = Some("https://idp.example.com".into());
    id.groups = vec!["dev".into()];
    id
}

fn scope() -> Scope {
    Scope::parse(&["read,list=s3://dev/home/alice/*"]).expect("scope")
}

fn mint(ring: &Keyring, rng: &mut StdRng) -> SessionCredentials {
    ring.mint(alice(), scope(), at(NOW), HOUR, vec!["root".into()], rng)
        .expect("mint")
}

#[test]
fn mint_then_open_round_trips() {
    let mut rng = rng();
    let ring = ring("k1", &mut rng);
    let creds = mint(&ring, &mut rng);
    assert!(
        is_session_access_key_id(&creds.access_key_id),
        "{}",
        creds.access_key_id
    );
    assert_eq!(creds.secret_access_key.expose().len(), 40);
    assert_eq!(creds.expires_at, at(NOW + 3600));
    assert_eq!(creds.session_id.len(), 32);

    let (claims, secret) = ring
        .open(&creds.access_key_id, &creds.session_token, at(NOW + 10))
        .expect("open");
    assert_eq!(secret, creds.secret_access_key);
    assert_eq!(claims.identity, alice());
    assert_eq!(claims.scope, scope());
    assert_eq!(claims.chain, ["root"]);
    assert_eq!(claims.session_id, creds.session_id);
    assert_eq!(claims.access_key_id, creds.access_key_id);
    assert_eq!((claims.issued_at, claims.expires_at), (NOW, NOW + 3600));
}

#[test]
fn sessions_are_distinct() {
    let mut rng = rng();
    let ring = ring("k1", &mut rng);
    let a = mint(&ring, &mut rng);
    let b = mint(&ring, &mut rng);
    assert_ne!(a.access_key_id, b.access_key_id);
    assert_ne!(a.secret_access_key, b.secret_access_key);
    assert_ne!(a.session_id, b.session_id);
    assert_ne!(a.session_token, b.session_token);
}

#[test]
fn token_is_compact() {
    let mut rng = rng();
    let ring = ring("k2026-11", &mut rng);
    let creds = ring
        .mint(
            Identity::new("mint", "dev"),
            Scope::all(),
            at(NOW),
            HOUR,
            vec![],
            &mut rng,
        )
        .expect("mint");
    assert!(
        creds.session_token.len() < 300,
        "{}",
        creds.session_token.len()
    );
}

#[test]
fn rotation_keeps_old_sessions_until_the_key_is_removed() {
    let mut rng = rng();
    let mut ring = ring("k1", &mut rng);
    let old = mint(&ring, &mut rng);
    ring.add_key("k2", &mut rng).expect("rotate");
    let new = mint(&ring, &mut rng);

    let header = |token: &str| URL_SAFE_NO_PAD.decode(token).expect("b64")[..4].to_vec();
    assert_eq!(header(&old.session_token), [1, 2, b'k', b'1']);
    assert_eq!(header(&new.session_token), [1, 2, b'k', b'2']);

    // Survives a reload from the file too.
    let ring = Keyring::parse(ring.to_toml().expose()).expect("reload");
    let open = |ring: &Keyring, c: &SessionCredentials| {
        ring.open(&c.access_key_id, &c.session_token, at(NOW + 1))
            .map(|(_, secret)| secret)
    };
    assert_eq!(open(&ring, &old), Ok(old.secret_access_key.clone()));
    assert_eq!(open(&ring, &new), Ok(new.secret_access_key.clone()));

    let mut ring = ring;
    ring.remove_key("k1").expect("retire");
    assert_eq!(open(&ring, &old), Err(SessionError::UnknownKey));
    assert_eq!(open(&ring, &new), Ok(new.secret_access_key.clone()));
}

#[test]
fn every_altered_byte_is_refused() {
    let mut rng = rng();
    let ring = ring("k1", &mut rng);
    let creds = mint(&ring, &mut rng);
    let raw = URL_SAFE_NO_PAD.decode(&creds.session_token).expect("b64");
    for i in 0..raw.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut bad = raw.clone();
            bad[i] ^= flip;
            let token = URL_SAFE_NO_PAD.encode(&bad);
            let err = ring
                .open(&creds.access_key_id, &token, at(NOW))
                .expect_err("altered token opened");
            assert!(
                matches!(
                    err,
                    SessionError::Malformed | SessionError::UnknownKey | SessionError::Tampered
                ),
                "byte {i}: {err:?}"
            );
        }
    }
    // Truncated and extended tokens too.
    for len in 0..raw.len() {
        let token = URL_SAFE_NO_PAD.encode(&raw[..len]);
        assert!(
            ring.open(&creds.access_key_id, &token, at(NOW)).is_err(),
            "len {len}"
        );
    }
    let mut longer = raw.clone();
    longer.push(0);
    let token = URL_SAFE_NO_PAD.encode(&longer);
    assert!(ring.open(&creds.access_key_id, &token, at(NOW)).is_err());
}

#[test]
fn every_altered_character_is_refused() {
    let mut rng = rng();
    let ring = ring("k1", &mut rng);
    let creds = mint(&ring, &mut rng);
    let token = creds.session_token.as_bytes();
    for i in 0..token.len() {
        for replacement in [b'A', b'_', b'=', b' '] {
            if token[i] == replacement {
                continue;
            }
            let mut bad = token.to_vec();
            bad[i] = replacement;
            let bad = String::from_utf8(bad).expect("ascii");
            assert!(
                ring.open(&creds.access_key_id, &bad, at(NOW)).is_err(),
                "char {i} -> {}",
                char::from(replacement)
            );
        }
    }
}

#[test]
fn token_with_another_access_key_is_refused() {
    let mut rng = rng();
    let ring = ring("k1", &mut rng);
    let a = mint(&ring, &mut rng);
    let b = mint(&ring, &mut rng);
    for key in [b.access_key_id.as_str(), "", "SGIA", &a.access_key_id[..19]] {
        assert_eq!(
            ring.open(key, &a.session_token, at(NOW)).map(|_| ()),
            Err(SessionError::AccessKeyMismatch)
        );
    }
    assert_eq!(
        SessionError::AccessKeyMismatch.to_s3_error().code,
        crate::s3::S3ErrorCode::InvalidAccessKeyId
    );
}

#[test]
fn expired_at_and_after_expires_at() {
    let mut rng = rng();
    let ring = ring("k1", &mut rng);
    let c = mint(&ring, &mut rng);
    let open = |secs| {
        ring.open(&c.access_key_id, &c.session_token, at(secs))
            .map(|_| ())
    };
    assert_eq!(open(NOW + 3599), Ok(()));
    assert_eq!(open(NOW + 3600), Err(SessionError::Expired));
    assert_eq!(open(NOW + 100_000), Err(SessionError::Expired));
    let err = SessionError::Expired.to_s3_error();
    assert_eq!(err.code, crate::s3::S3ErrorCode::ExpiredToken);
    assert_eq!(err.message, "The provided token has expired.");
}

#[test]
fn foreign_keyring_is_refused() {
    let mut rng = rng();
    let ours = ring("k1", &mut rng);
    let theirs = ring("k1", &mut rng);
    let c = mint(&theirs, &mut rng);
    assert_eq!(
        ours.open(&c.access_key_id, &c.session_token, at(NOW))
            .map(|_| ()),
        Err(SessionError::Tampered)
    );
    let other_id = ring("k9", &mut rng);
    let c = mint(&other_id, &mut rng);
    assert_eq!(
        ours.open(&c.access_key_id, &c.session_token, at(NOW))
            .map(|_| ()),
        Err(SessionError::UnknownKey)
    );
    for e in [
        SessionError::Tampered,
        SessionError::UnknownKey,
        SessionError::Malformed,
    ] {
        let s3 = e.to_s3_error();
        assert_eq!(s3.code, crate::s3::S3ErrorCode::InvalidToken);
        assert_eq!(
            s3.message,
            "The provided token is malformed or otherwise invalid."
        );
    }
}

#[test]
fn oversized_and_garbage_tokens_are_malformed() {
    let mut rng = rng();
    let ring = ring("k1", &mut rng);
    let c = mint(&ring, &mut rng);
    let huge = "A".repeat(MAX_TOKEN_LEN + 1);
    for token in [huge.as_str(), "", "!!!!", "AQ", "AAAA", "AgJrMQ"] {
        assert_eq!(
            ring.open(&c.access_key_id, token, at(NOW)).map(|_| ()),
            Err(SessionError::Malformed),
            "{token:.20}"
        );
    }
}

#[test]
fn oversized_claims_are_not_minted() {
    let mut rng = rng();
    let ring = ring("k1", &mut rng);
    let mut many = alice();
    many.groups = (0..=MAX_GROUPS).map(|i| format!("g{i}")).collect();
    let r = ring.mint(many, scope(), at(NOW), HOUR, vec![], &mut rng);
    assert_eq!(r.map(|_| ()), Err(SessionError::ClaimsTooLarge));
    let mut huge = alice();
    huge.subject = "x".repeat(MAX_TOKEN_LEN);
    let r = ring.mint(huge, scope(), at(NOW), HOUR, vec![], &mut rng);
    assert_eq!(r.map(|_| ()), Err(SessionError::ClaimsTooLarge));
    let chain = vec!["p".to_owned(); MAX_CHAIN + 1];
    let r = ring.mint(alice(), scope(), at(NOW), HOUR, chain, &mut rng);
    assert_eq!(r.map(|_| ()), Err(SessionError::ClaimsTooLarge));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let mut rng = rng();
    let ring = ring("k1", &mut rng);
    let c = mint(&ring, &mut rng);
    let shown = format!("{c:?} {ring:?}");
    assert!(!shown.contains(c.secret_access_key.expose()));
    assert!(!shown.contains(&c.session_token));
    assert!(shown.contains(&c.access_key_id));
    assert!(shown.contains("k1"));
}

#[test]
fn access_key_id_shape() {
    assert!(is_session_access_key_id("SGIAABCDEFGHIJ234567"));
    assert!(!is_session_access_key_id("ASIAABCDEFGHIJ234567"));
    assert!(!is_session_access_key_id("SGIAABCDEFGHIJ23456"));
    assert!(!is_session_access_key_id("SGIAABCDEFGHIJ234561"));
    assert!(!is_session_access_key_id("SGIAabcdefghij234567"));
}

#[test]
fn identity_optional_fields_are_omitted_when_sealed() {
    let json = serde_json::to_string(&Identity::new("mint", "dev")).expect("json");
    assert_eq!(json, r#"{"method":"mint","subject":"dev"}"#);
    let back: Identity = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, Identity::new("mint", "dev"));
}

#[test]
fn cached_open_matches_open_and_keeps_every_check() {
    let mut rng = rng();
    let ring = ring("k1", &mut rng);
    let creds = mint(&ring, &mut rng);
    let (claims, secret) = ring
        .open(&creds.access_key_id, &creds.session_token, at(NOW + 10))
        .expect("open");
    // The miss opens, the hit serves the same session.
    for _ in 0..2 {
        let opened = ring
            .open_shared(&creds.access_key_id, &creds.session_token, at(NOW + 10))
            .expect("open_shared");
        assert_eq!(opened.claims, claims);
        assert_eq!(opened.secret, secret);
    }
    // A cached session still belongs to its own access key only.
    let other = mint(&ring, &mut rng);
    assert_eq!(
        ring.open_shared(&other.access_key_id, &creds.session_token, at(NOW + 10))
            .expect_err("another access key"),
        SessionError::AccessKeyMismatch
    );
    // Expiry is checked against the request's time on every hit.
    assert_eq!(
        ring.open_shared(&creds.access_key_id, &creds.session_token, at(NOW + 3600))
            .expect_err("expired"),
        SessionError::Expired
    );
    assert_eq!(
        ring.open_shared(&creds.access_key_id, &creds.session_token, at(NOW + 10))
            .expect("still open before expiry")
            .claims,
        claims
    );
    // An altered token is not the cached one: it is opened, and refused.
    let mut altered = creds.session_token.clone();
    altered.push('A');
    assert!(
        ring.open_shared(&creds.access_key_id, &altered, at(NOW + 10))
            .is_err()
    );
}

/// The cache finds a session by the access key id a request presents, so
/// what keeps another token from being served that session is the
/// comparison with the token that opened it: every character of a cached
/// token, altered, is refused, and the refusal does not push the cached
/// session out (the access key id is not a secret; anyone may present it).
#[test]
fn a_cached_session_is_served_only_for_its_own_token() {
    let mut rng = rng();
    let ring = ring("k1", &mut rng);
    let creds = mint(&ring, &mut rng);
    let other = mint(&ring, &mut rng);
    let open = |token: &str| ring.open_shared(&creds.access_key_id, token, at(NOW + 10));
    let cached = open(&creds.session_token).expect("opens");
    let token = creds.session_token.as_bytes();
    for i in 0..token.len() {
        let replacement = if token[i] == b'A' { b'B' } else { b'A' };
        let mut bad = token.to_vec();
        bad[i] = replacement;
        let bad = String::from_utf8(bad).expect("ascii");
        assert!(open(&bad).is_err(), "char {i} altered was served");
    }
    for bad in [
        &creds.session_token[..creds.session_token.len() - 1],
        "",
        &format!("{}A", creds.session_token),
    ] {
        assert!(open(bad).is_err(), "{} chars were served", bad.len());
    }
    // Another session's valid token, presented with this access key id.
    assert_eq!(
        open(&other.session_token).map(|_| ()),
        Err(SessionError::AccessKeyMismatch)
    );
    let again = open(&creds.session_token).expect("still opens");
    assert!(
        Arc::ptr_eq(&cached, &again),
        "the refusals evicted the entry"
    );
}

#[test]
fn cached_sessions_of_a_removed_key_no_longer_open() {
    let mut rng = rng();
    let mut ring = ring("k1", &mut rng);
    let old = mint(&ring, &mut rng);
    ring.open_shared(&old.access_key_id, &old.session_token, at(NOW + 10))
        .expect("opens while k1 is held");
    ring.add_key("k2", &mut rng).expect("add k2");
    ring.open_shared(&old.access_key_id, &old.session_token, at(NOW + 10))
        .expect("k1 still opens its sessions");
    ring.remove_key("k1").expect("remove k1");
    assert_eq!(
        ring.open_shared(&old.access_key_id, &old.session_token, at(NOW + 10))
            .expect_err("k1 is gone"),
        SessionError::UnknownKey
    );
}

#[test]
fn a_delegated_session_needs_its_own_scope_and_every_parent_scope() {
    use crate::s3::Action;
    let mut rng = rng();
    let ring = ring("k1", &mut rng);
    // The child asked for everything under home/; its parent holds only
    // home/alice/: the child gets the overlap, never the rest.
    let asked = Scope::parse(&["*=s3://dev/home/*"]).expect("scope");
    let creds = ring
        .mint_delegated(
            alice(),
            asked,
            crate::session::Delegation {
                parent_scopes: vec![scope()],
                parent_sessions: vec!["parent".into()],
                ..Default::default()
            },
            at(NOW),
            HOUR,
            vec!["user:alice".into(), "delegated:agent-7".into()],
            &mut rng,
        )
        .expect("mint");
    let (claims, _) = ring
        .open(&creds.access_key_id, &creds.session_token, at(NOW + 1))
        .expect("open");
    assert_eq!(claims.parent_scopes, vec![scope()]);
    let req = |a: Action, r: &str| vec![(a, r.to_owned())];
    assert!(
        claims
            .first_denied(&req(Action::GetObject, "s3://dev/home/alice/x"))
            .is_none()
    );
    assert!(
        claims
            .first_denied(&req(Action::GetObject, "s3://dev/home/bob/x"))
            .is_some()
    );
    assert!(
        claims
            .first_denied(&req(Action::PutObject, "s3://dev/home/alice/x"))
            .is_some()
    );
}

mod delegation_property {
    //! For random scopes and chains of delegations, built as STS
    //! `AssumeRole` builds them: no child's scopes allow a pair its
    //! parent's refuse.

    use proptest::prelude::*;

    use super::*;
    use crate::s3::Action;

    const RULES: [&str; 8] = [
        "*=s3://*",
        "read=s3://b/*",
        "read,list=s3://b/p/*",
        "write=s3://b/p/*",
        "delete=s3://c/*",
        "s3:GetObject=s3://b/p/k",
        "*=s3://c/*",
        "list=s3://b",
    ];
    const PAIRS: [(Action, &str); 6] = [
        (Action::GetObject, "s3://b/p/k"),
        (Action::PutObject, "s3://b/p/k"),
        (Action::GetObject, "s3://b/q"),
        (Action::DeleteObject, "s3://c/k"),
        (Action::ListBucket, "s3://b"),
        (Action::Unclassified, "s3://c/k"),
    ];

    fn scope() -> impl Strategy<Value = Scope> {
        proptest::sample::subsequence(RULES.to_vec(), 0..3)
            .prop_map(|rules| Scope::parse(&rules).expect("scope"))
    }

    fn claims(scope: Scope, parent_scopes: Vec<Scope>) -> Claims {
        Claims {
            session_id: "s".into(),
            access_key_id: "SGIAAAAAAAAAAAAAAAAA".into(),
            expires_at: 1,
            parent_scopes,
            ..Claims::unsealed(alice(), scope)
        }
    }

    proptest! {
        #[test]
        fn no_child_scope_allows_what_its_parent_refuses(
            root in scope(),
            asked in proptest::collection::vec(proptest::option::of(scope()), 1..4),
            pair in proptest::sample::select(PAIRS.to_vec()),
        ) {
            let mut parent = claims(root, Vec::new());
            for requested in asked {
                let (scope, parents) = parent.child_scopes(requested);
                let child = claims(scope, parents);
                let req = vec![(pair.0, pair.1.to_owned())];
                prop_assert!(
                    child.first_denied(&req).is_some() || parent.first_denied(&req).is_none(),
                    "child {:?} allows {pair:?}, parent {:?} refuses",
                    child.scopes().collect::<Vec<_>>(),
                    parent.scopes().collect::<Vec<_>>()
                );
                parent = child;
            }
        }
    }
}
