//! Fuzz targets for the parsers of caller input outside SigV4 (those live
//! in `sigv4::fuzz`): S3 path and virtual-host classification, the
//! DeleteObjects XML, browser upload forms and their POST policies, the STS form and the policy documents it carries, JWT
//! headers and claims, the policy file and the revocation list, the HTTP/1
//! request head and its body framing (`server::h1`); and, though
//! not the caller's, the store's response heads and chunked bodies
//! (`upstream::h1`), which a broken store or a box in front of it may garble.
//!
//! They are property tests that run on stable in plain `cargo test`, each
//! for `PROPTEST_CASES` cases (proptest's default, 256, in CI); raise it for
//! a longer local run: `PROPTEST_CASES=100000 cargo test --lib fuzz`. Inputs
//! are both raw bytes and mutations of a valid document, so most cases get
//! past the first check. A failure prints the minimal input, which becomes
//! a named regression test in the parser's own module.

use http::{HeaderMap, HeaderValue, Method, Uri};
use proptest::prelude::*;

use crate::mutation::mutated;

/// Raw bytes, or a mutation of `seed`, as text (lossy).
fn text_near(seed: &str) -> impl Strategy<Value = String> + use<> {
    prop_oneof![mutated(seed), prop::collection::vec(any::<u8>(), 0..200)]
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

const DELETE_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Object><Key>a/b.txt</Key></Object><Object><Key>c&amp;d</Key><VersionId>3</VersionId></Object><Quiet>true</Quiet></Delete>";
const IAM_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::bucket/prefix/*"},{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bucket","Condition":{"StringLike":{"s3:prefix":["prefix/*"]}}}]}"#;
const STS_FORM: &str = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=agent-7&DurationSeconds=900&Policy=%7B%7D";
// A JWS whose segments decode: {"alg":"RS256","kid":"k1"} . claims . signature.
const JWT: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwic3ViIjoiYWxpY2UiLCJhdWQiOiJ1cm46czNnYXRlIiwiZXhwIjoyMDAwMDAwMDAwLCJlbWFpbF92ZXJpZmllZCI6dHJ1ZX0.c2lnbmF0dXJl";
const POST_POLICY: &str = r#"{"expiration":"2030-01-01T00:00:00.000Z","conditions":[{"bucket":"b"},["starts-with","$key","up/"],["content-length-range",1,"100"],["eq","$Content-Type","text/plain"],{"tagging":"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>"}]}"#;
const FORM: &str = "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nup/${filename}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"x-amz-meta-a\"\r\n\r\nv\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--XyZ--\r\n";
const REVOCATIONS: &str = "{\"session\":\"s-1\",\"until\":2000000000}\n{\"identity\":\"user:alice\",\"until\":2000000000,\"reason\":\"left\"}\n{\"delegated_by\":\"user:bob\",\"until\":1}\n";

proptest! {
    #[test]
    fn classify_never_panics_and_names_what_it_touches(
        method in prop::sample::select(vec!["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH"]),
        path in prop_oneof![
            "(/([a-zA-Z0-9._~%!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2}){0,12}){1,4}/?",
            text_near("/bucket/key/with/../parts"),
        ],
        query in prop_oneof![
            Just(String::new()),
            "(uploads|uploadId=[a-z0-9]{1,4}|partNumber=[0-9]{1,3}|versionId=[a-z0-9]{0,3}|delete|acl|tagging|list-type=2|prefix=[a-z/]{0,4}|location|versioning|x-id=[A-Za-z]{1,9}|[a-z-]{1,8}=?)(&(uploads|uploadId=1|delete|acl|tagging|policy|cors|[a-z-]{1,8}=[a-z]{0,3})){0,3}",
        ],
        host in prop_oneof![
            Just("s3gate.test".to_owned()),
            "[a-z0-9.-]{0,20}\\.s3gate\\.test(:[0-9]{1,5})?",
            "[ -~]{0,30}",
        ],
        copy_source in prop::option::of("[ -~]{0,40}"),
    ) {
        let target = if query.is_empty() { path } else { format!("{path}?{query}") };
        let Ok(uri) = target.parse::<Uri>() else { return Ok(()) };
        let mut headers = HeaderMap::new();
        if let Ok(h) = HeaderValue::from_str(&host) {
            headers.insert(http::header::HOST, h);
        }
        if let Some(Ok(c)) = copy_source.as_deref().map(HeaderValue::from_str) {
            headers.insert("x-amz-copy-source", c);
        }
        let Ok(method) = Method::from_bytes(method.as_bytes()) else { return Ok(()) };
        if let Ok(s3) = crate::s3::classify(&method, &uri, &headers, &["s3gate.test".to_owned()]) {
            // Every request names at least one resource to authorize, and
            // no bucket s3gate would forward can be one of its own paths.
            prop_assert!(!s3.resources.is_empty());
            if let Some(bucket) = &s3.bucket {
                prop_assert!(!bucket.starts_with('_'), "{bucket}");
            }
        }
    }

    #[test]
    fn delete_objects_xml_never_panics(body in prop_oneof![mutated(DELETE_XML), prop::collection::vec(any::<u8>(), 0..300)]) {
        if let Ok(keys) = crate::s3::delete_objects_keys(&body) {
            prop_assert!(keys.len() <= crate::s3::MAX_DELETE_KEYS);
        }
    }

    #[test]
    fn delete_objects_keys_round_trip(keys in prop::collection::vec("[ -~\u{e9}\u{4e2d}]{1,30}", 1..20)) {
        let mut doc = crate::xml::Doc::new();
        doc.element("Delete", &[], |d| {
            for k in &keys {
                d.element("Object", &[], |d| d.text("Key", k));
            }
        });
        let xml = doc.finish();
        let parsed = crate::s3::delete_objects_keys(xml.as_bytes());
        // Keys with `.`/`..` segments are refused by design (a store may
        // resolve them); every other batch comes back exactly.
        if keys.iter().any(|k| crate::s3::refuse_dot_segments(k).is_err()) {
            prop_assert!(parsed.is_err());
            return Ok(());
        }
        prop_assert!(parsed.is_ok(), "{:?}", parsed.err());
        let parsed: Vec<String> = parsed.unwrap_or_default().into_iter().map(|(k, _)| k).collect();
        prop_assert_eq!(parsed, keys);
    }

    #[test]
    fn sts_form_and_its_parameters_never_panic(body in prop_oneof![mutated(STS_FORM), prop::collection::vec(any::<u8>(), 0..300)]) {
        let form = crate::sts_api::StsForm::parse(&body);
        let _ = crate::sts_api::RoleRequest::parse(&form, Some("default"));
        let _ = crate::sts_api::requested_quota(&form);
        if let Some(policy) = form.get("Policy") {
            let _ = crate::iam::scope_from_iam_json(policy);
        }
    }

    #[test]
    fn session_policy_documents_never_panic(text in text_near(IAM_POLICY)) {
        let _ = crate::iam::scope_from_iam_json(&text);
    }

    #[test]
    fn jwt_header_and_claims_never_panic(
        token in text_near(JWT),
        claims in text_near(r#"{"iss":"https://issuer.example","sub":"alice","aud":["urn:s3gate"],"exp":2000000000,"nbf":1,"email_verified":true,"groups":["a"]}"#),
        now in 0u64..4_000_000_000,
    ) {
        let _ = crate::identity::jwt::ParsedToken::parse(&token);
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&claims) {
            let _ = crate::identity::jwt::validate_claims(&map, &oidc_config(), now);
        }
    }

    #[test]
    fn policy_file_never_panics(
        text in prop_oneof![
            text_near(include_str!("../config/policy.multi-account.toml")),
            text_near(include_str!("../config/policy.single-account.toml")),
            text_near(include_str!("../config/policy.dev.toml")),
        ],
    ) {
        let _ = crate::policy::Policy::parse(&text, "fuzz.toml");
    }

    #[test]
    fn post_policies_never_panic_and_hold_forms_to_their_conditions(
        doc in text_near(POST_POLICY),
        key in "[ -~]{0,12}",
        len in 0u64..200,
    ) {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(doc.as_bytes());
        if let Ok(policy) = crate::s3::PostPolicy::parse(&encoded) {
            let fields = vec![("key".to_owned(), key.clone())];
            let at = std::time::UNIX_EPOCH;
            let checked = policy.check(&crate::s3::Submitted { fields: &fields, bucket: "b", file_length: len }, at);
            // Whatever else it says, a form outside a length range it
            // names never passes.
            if let Some((min, max)) = policy.length_range() && (len < min || len > max) {
                prop_assert!(checked.is_err());
            }
        }
        let _ = crate::s3::tagging_header(&doc);
    }

    #[test]
    fn form_heads_never_panic_and_stay_within_the_cap(
        body in prop_oneof![mutated(FORM), prop::collection::vec(any::<u8>(), 0..300)],
        cut in any::<prop::sample::Index>(),
    ) {
        let end = if body.is_empty() { 0 } else { cut.index(body.len() + 1) };
        if let Ok(Some(head)) = crate::s3::parse_head(&body[..end], "XyZ") {
            prop_assert!(head.file_offset <= end);
            prop_assert!(head.file_offset <= crate::s3::MAX_PRE_FILE_BYTES);
            let _ = crate::s3::file_length(body.len() as u64, head.file_offset, "XyZ");
        }
    }

    #[test]
    fn a_form_head_read_in_pieces_is_the_head_read_whole(
        body in prop_oneof![mutated(FORM), prop::collection::vec(any::<u8>(), 0..300)],
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        // The body as it would arrive: prefixes, each longer than the last.
        let mut ends: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
        ends.push(body.len());
        ends.sort_unstable();
        ends.dedup();
        let mut reader = crate::s3::HeadReader::new("XyZ");
        for end in ends {
            let piecewise = reader.read(&body[..end]);
            let whole = crate::s3::parse_head(&body[..end], "XyZ");
            prop_assert_eq!(&piecewise, &whole, "at {} of {}", end, body.len());
            if !matches!(whole, Ok(None)) {
                break;
            }
        }
    }

    #[test]
    fn revocation_list_never_panics_and_rewriting_keeps_what_it_cannot_read(
        text in text_near(REVOCATIONS),
        now in 0u64..3_000_000_000,
    ) {
        let _ = crate::session::RevocationList::parse(&text, now);
        let entry = crate::session::RevocationEntry {
            session: Some("s-new".into()),
            identity: None,
            delegated_by: None,
            until: now + 60,
            reason: String::new(),
        };
        if let Ok(rewritten) = crate::session::revocation::rewrite(&text, &entry, now) {
            // A line it could not read is never dropped: dropping it could
            // unrevoke someone.
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                if serde_json::from_str::<serde_json::Value>(line).is_err() {
                    prop_assert!(rewritten.contains(line.trim()), "{line:?} dropped");
                }
            }
            let list = crate::session::RevocationList::parse(&rewritten, now);
            prop_assert!(!list.is_empty(), "the new entry is in the rewritten list");
        }
    }
}

fn oidc_config() -> crate::config::OidcIssuerConfig {
    let text = "[upstream]\n[session]\nkeyring = \"k\"\n[[identity.oidc]]\nissuer = \"https://issuer.example\"\naudiences = [\"urn:s3gate\"]\n";
    match crate::config::Config::parse(text, std::path::Path::new("t.toml")) {
        Ok(mut c) => c.identity.oidc.remove(0),
        Err(e) => unreachable!("{e}"),
    }
}

/// A store's response as it might come: a head near a valid one, and a
/// body chunked at random sizes.
const STORE_HEAD: &str = "HTTP/1.1 200 OK\r\nx-amz-request-id: R1\r\nContent-Length: 5\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n";

proptest! {
    /// Whatever a store sends, the head parser answers (a head, more
    /// please, or an error) and never takes more than it was given.
    #[test]
    fn store_response_heads_never_panic(raw in prop_oneof![
        mutated(STORE_HEAD),
        prop::collection::vec(any::<u8>(), 0..300),
    ]) {
        let mut buf = bytes::BytesMut::from(&raw[..]);
        let before = buf.len();
        if let Ok(Some(head)) = crate::upstream::h1::parse_response_head(&mut buf, &Method::GET) {
            prop_assert!(buf.len() < before);
            if head.framing == crate::upstream::h1::Framing::UntilClose {
                prop_assert!(!head.keep_alive);
            }
        }
    }

    /// A body chunked at any sizes, read in pieces of any size, decodes to
    /// itself, and what follows it is left in the buffer.
    #[test]
    fn chunked_bodies_round_trip(
        body in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(1usize..200, 1..8),
        step in 1usize..64,
    ) {
        use crate::http1::{Chunked, Decoded};
        let mut wire = Vec::new();
        let mut rest = &body[..];
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let n = (*cut.next().unwrap_or(&1)).min(rest.len());
            wire.extend_from_slice(format!("{n:X};x=y\r\n").as_bytes());
            wire.extend_from_slice(&rest[..n]);
            wire.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        wire.extend_from_slice(b"0\r\nx-trailer: t\r\n\r\nNEXT");
        let mut dec = Chunked::new();
        let mut buf = bytes::BytesMut::new();
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            match dec.decode(&mut buf) {
                Ok(Decoded::Data(d)) => out.extend_from_slice(&d),
                Ok(Decoded::End) => break,
                Ok(Decoded::More) => {
                    prop_assert!(fed < wire.len(), "ran out of input");
                    let end = (fed + step).min(wire.len());
                    buf.extend_from_slice(&wire[fed..end]);
                    fed = end;
                }
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
        prop_assert_eq!(out, body);
        buf.extend_from_slice(&wire[fed..]);
        prop_assert_eq!(&buf[..], b"NEXT");
    }

    /// Random bytes as a chunked body: an answer, never a panic or a loop.
    #[test]
    fn chunked_decoder_never_panics(raw in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut dec = crate::http1::Chunked::new();
        let mut buf = bytes::BytesMut::from(&raw[..]);
        for _ in 0..400 {
            match dec.decode(&mut buf) {
                Ok(crate::http1::Decoded::Data(_)) => {}
                _ => break,
            }
        }
    }
}

/// A caller's request head near a valid one, with a body.
const CALLER_HEAD: &str = "PUT /bucket/key?x-id=PutObject HTTP/1.1\r\nHost: s3.example\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: keep-alive\r\n\r\nhello";

/// Header lines that frame a body or manage the connection, each in
/// spellings a front end might read differently.
const FRAMING_LINES: &[&str] = &[
    "Content-Length: 5",
    "Content-Length: 0",
    "content-length: 5, 5",
    "Content-Length:  7 ",
    "Content-Length: +5",
    "Transfer-Encoding: chunked",
    "transfer-encoding: CHUNKED",
    "Transfer-Encoding: gzip, chunked",
    "Transfer-Encoding: chunked, identity",
    "Transfer-Encoding: identity",
    "Transfer-Encoding: \tchunked",
    "Connection: close",
    "Connection: keep-alive",
    "Expect: 100-continue",
    "X-Other: 1",
];

proptest! {
    /// Whatever a caller sends, the request head parser answers (a head,
    /// more please, or a refusal) and never takes more than it was given.
    #[test]
    fn caller_request_heads_never_panic(raw in prop_oneof![
        mutated(CALLER_HEAD),
        prop::collection::vec(any::<u8>(), 0..300),
    ]) {
        use crate::server::h1::{HeadLimits, parse_request_head};
        let limits = HeadLimits { max_bytes: 1024, max_headers: 20 };
        let mut buf = bytes::BytesMut::from(&raw[..]);
        let before = buf.len();
        if let Ok(Some(_)) = parse_request_head(&mut buf, limits) {
            prop_assert!(buf.len() < before);
        }
    }

    /// Any mix of framing headers is read one way or refused: a head that
    /// parses has at most one `Content-Length` and one `Transfer-Encoding`,
    /// never both, and a chunked body only from exactly `chunked`; HTTP/1.0
    /// never gets a transfer coding.
    #[test]
    fn caller_framing_is_never_ambiguous(
        lines in prop::collection::vec(prop::sample::select(FRAMING_LINES), 0..5),
        http10 in any::<bool>(),
    ) {
        use crate::server::h1::{BodyFraming, HeadLimits, parse_request_head};
        let version = if http10 { "1.0" } else { "1.1" };
        let head = format!("POST /b/k HTTP/{version}\r\n{}\r\n\r\n", lines.join("\r\n"));
        let limits = HeadLimits { max_bytes: 4096, max_headers: 20 };
        let lengths = lines.iter().filter(|l| l.to_ascii_lowercase().starts_with("content-length")).count();
        let codings = lines.iter().filter(|l| l.to_ascii_lowercase().starts_with("transfer-encoding")).count();
        let parsed = parse_request_head(&mut bytes::BytesMut::from(head.as_str()), limits);
        if let Ok(Some(h)) = parsed {
            prop_assert!(lengths <= 1 && codings <= 1 && lengths + codings <= 1, "{head:?}");
            prop_assert!(!(http10 && codings == 1), "{head:?}");
            if codings == 1 {
                prop_assert_eq!(h.body, BodyFraming::Chunked, "{:?}", head);
                let line = lines.iter().find(|l| l.to_ascii_lowercase().starts_with("transfer-encoding")).copied().unwrap_or("");
                let value = line.split_once(':').map_or("", |(_, v)| v).trim();
                prop_assert!(value.eq_ignore_ascii_case("chunked"), "{head:?}");
            }
        } else {
            prop_assert!(parsed.is_err(), "a whole head asked for more: {head:?}");
        }
    }
}
