//! Re-signing for the store: a lean SigV4 header signer.
//!
//! It signs exactly as `aws-sigv4` does with the settings s3gate used
//! (single percent-encoding, no path normalisation, `x-amz-content-sha256`
//! set, the session token signed, `authorization`, `user-agent`,
//! `x-amzn-trace-id` and `transfer-encoding` left unsigned), and the tests
//! hold it to that: `aws-sigv4` stays the oracle, and random requests must
//! get identical headers from both. What it does not do per request:
//! - derive the signing key: the four HMACs run once per (credentials, day)
//!   and the key is kept in [`SigningKeys`], read without a lock;
//! - build the canonical request: it is streamed into SHA-256 as written;
//! - build strings it can keep: the credential scope and the
//!   `Authorization` prefix live with the cached key, and the
//!   `x-amz-date` value with the second it names ([`amz_date_at`]).
//!
//! Owns no I/O and reads no clock (the time is passed in). Depends on
//! `sigv4` for the arithmetic the verifier uses too (signing key, string to
//! sign, canonical query).
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use aws_credential_types::Credentials;
use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use smallvec::SmallVec;
use zeroize::Zeroizing;

use crate::amz_header::{X_AMZ_CONTENT_SHA256, X_AMZ_DATE, X_AMZ_SECURITY_TOKEN};
use crate::constant_time::same_bytes;
use crate::sigv4::{ALGORITHM, AmzDate, SigningKey, hex32, push_query, signature_of_hash};
use crate::{byte_run, split_ascii};

/// Headers `aws-sigv4` never signs (its default exclusions): a proxy may
/// change them on the way.
const UNSIGNED: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::USER_AGENT,
    HeaderName::from_static("x-amzn-trace-id"),
    header::TRANSFER_ENCODING,
];

/// Slots of the signing-key cache. A store is signed with one set of
/// credentials (static keys) or one per caller role session; more callers
/// than slots only means some keys are derived again.
const SLOTS: usize = 64;

/// One derived key and what goes with it, for one access key, secret and
/// day.
struct Derived {
    access_key_id: String,
    secret: Zeroizing<String>,
    /// `YYYYMMDD`.
    date: [u8; 8],
    key: SigningKey,
    /// `YYYYMMDD/REGION/s3/aws4_request`.
    scope: String,
    /// `AWS4-HMAC-SHA256 Credential=AKID/SCOPE, SignedHeaders=`.
    authorization_prefix: String,
    /// The session token as a header value (marked sensitive).
    token: Option<HeaderValue>,
}

impl Derived {
    fn matches(&self, creds: &Credentials, date: &[u8; 8]) -> bool {
        self.date == *date
            && self.access_key_id == creds.access_key_id()
            && same_bytes(self.secret.as_bytes(), creds.secret_access_key().as_bytes())
            && self.token.as_ref().map(HeaderValue::as_bytes)
                == creds.session_token().map(str::as_bytes)
    }
}

/// Signing keys by access key id, each good for its day: a direct-mapped
/// table of atomically swapped entries, so the hot path takes no lock.
pub struct SigningKeys {
    region: String,
    slots: Box<[ArcSwapOption<Derived>]>,
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("a signed header value is not valid: {0}")]
    Header(#[from] http::header::InvalidHeaderValue),
}

impl SigningKeys {
    pub fn new(region: &str) -> SigningKeys {
        SigningKeys {
            region: region.to_owned(),
            slots: (0..SLOTS).map(|_| ArcSwapOption::empty()).collect(),
        }
    }

    /// The entry for these credentials on `date`, derived on a miss.
    fn get(&self, creds: &Credentials, date: &[u8; 8]) -> Result<Arc<Derived>, SignError> {
        let slot = &self.slots[slot_of(&[creds.access_key_id()], SLOTS)];
        if let Some(hit) = &*slot.load()
            && hit.matches(creds, date)
        {
            return Ok(Arc::clone(hit));
        }
        // `date` is ASCII digits (from `AmzDate`).
        let date_str = std::str::from_utf8(date).unwrap_or_default();
        let scope = format!("{date_str}/{}/s3/aws4_request", self.region);
        let derived = Arc::new(Derived {
            access_key_id: creds.access_key_id().to_owned(),
            secret: Zeroizing::new(creds.secret_access_key().to_owned()),
            date: *date,
            key: SigningKey::derive(
                creds.secret_access_key().as_bytes(),
                date_str,
                &self.region,
                "s3",
            ),
            authorization_prefix: format!(
                "{ALGORITHM} Credential={}/{scope}, SignedHeaders=",
                creds.access_key_id()
            ),
            scope,
            token: creds
                .session_token()
                .map(|t| {
                    HeaderValue::from_str(t).map(|mut v| {
                        v.set_sensitive(true);
                        v
                    })
                })
                .transpose()?,
        });
        slot.store(Some(Arc::clone(&derived)));
        Ok(derived)
    }

    /// Signs a request head for the store, as `aws-sigv4` would: sets
    /// `x-amz-date`, `x-amz-content-sha256`, the session token if any, and
    /// `authorization` in `headers` (which must hold `host`).
    /// `path_and_query` is the request target as sent; `payload_sha256` the
    /// hex hash or `UNSIGNED-PAYLOAD`.
    pub fn sign(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &mut HeaderMap,
        payload_sha256: HeaderValue,
        creds: &Credentials,
        now: SystemTime,
    ) -> Result<(), SignError> {
        let (amz_date, amz_date_value) = amz_date_at(now)?;
        let mut date = [0u8; 8];
        date.copy_from_slice(amz_date.date().as_bytes());
        let derived = self.get(creds, &date)?;

        headers.insert(X_AMZ_DATE, amz_date_value);
        if let Some(token) = &derived.token {
            headers.insert(X_AMZ_SECURITY_TOKEN, token.clone());
        }
        // Moved, not cloned: a clone of a value made from new bytes is a
        // second allocation. The canonical request's last line reads it
        // back from the signed headers.
        headers.insert(X_AMZ_CONTENT_SHA256, payload_sha256);

        // The canonical request, hashed as it is written.
        let mut h = Sha256::new();
        let (path, query) =
            split_ascii::split_once(path_and_query, b'?').unwrap_or((path_and_query, ""));
        h.update(method.as_bytes());
        h.update(b"\n");
        h.update(if path.is_empty() { "/" } else { path }.as_bytes());
        h.update(b"\n");
        if !query.is_empty() {
            let mut canonical = Vec::with_capacity(2 * query.len());
            push_query(&mut canonical, query);
            h.update(&canonical);
        }
        h.update(b"\n");
        // One pass over the map: every signed value with its name, sorted
        // by name. The sort is stable and the map yields a name's values
        // in `get_all`'s order, so each name's values stay in it. Values
        // that are not visible ASCII are sent but not signed, as
        // `aws-sigv4` leaves them out (and a name left with none is not
        // signed at all).
        // On the stack: a store request carries a handful of headers.
        let mut signed: SmallVec<[(&HeaderName, &HeaderValue); 16]> = SmallVec::new();
        signed.extend(
            headers
                .iter()
                .filter(|(n, v)| !UNSIGNED.contains(n) && is_visible_text(v.as_bytes())),
        );
        signed.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        let mut signed_len = 0;
        let mut previous: Option<&HeaderName> = None;
        let mut payload_line: &[u8] = b"";
        for &(name, value) in &signed {
            if name == X_AMZ_CONTENT_SHA256 {
                payload_line = value.as_bytes();
            }
            if previous == Some(name) {
                h.update(b",");
            } else {
                if previous.is_some() {
                    h.update(b"\n");
                }
                h.update(name.as_str().as_bytes());
                h.update(b":");
                signed_len += name.as_str().len() + 1;
                previous = Some(name);
            }
            update_trimmed(&mut h, value.as_bytes());
        }
        if previous.is_some() {
            h.update(b"\n");
        }
        h.update(b"\n");
        let mut authorization =
            String::with_capacity(derived.authorization_prefix.len() + signed_len + 75);
        authorization.push_str(&derived.authorization_prefix);
        let mut previous: Option<&HeaderName> = None;
        for &(name, _) in &signed {
            if previous == Some(name) {
                continue;
            }
            if previous.is_some() {
                authorization.push(';');
            }
            authorization.push_str(name.as_str());
            previous = Some(name);
        }
        let signed_headers = &authorization[derived.authorization_prefix.len()..];
        h.update(signed_headers.as_bytes());
        h.update(b"\n");
        // Set above, and always visible ASCII (a hex hash or a literal), so
        // it is among the signed values.
        h.update(payload_line);
        let hash: [u8; 32] = h.finalize().into();

        drop(signed);
        let signature = signature_of_hash(&derived.key, amz_date.as_str(), &derived.scope, &hash);
        authorization.push_str(", Signature=");
        // Lowercase hex digits only.
        authorization.push_str(std::str::from_utf8(&hex32(&signature)).unwrap_or_default());
        headers.insert(header::AUTHORIZATION, HeaderValue::try_from(authorization)?);
        Ok(())
    }
}

/// `now` as a signing timestamp, and as the `x-amz-date` value that
/// carries it. Both are kept for the second they name, one per thread:
/// formatting the date and copying it into a new header value was ~300
/// instructions of every request, for a value that changes once a second.
/// A kept value is handed out as a clone, which shares its bytes.
fn amz_date_at(now: SystemTime) -> Result<(AmzDate, HeaderValue), SignError> {
    thread_local! {
        static LAST: RefCell<Option<(AmzDate, HeaderValue)>> = const { RefCell::new(None) };
    }
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    LAST.with_borrow_mut(|last| {
        if let Some((date, value)) = last.as_ref()
            && date.unix_seconds() == second
        {
            return Ok((*date, value.clone()));
        }
        let date = AmzDate::from_system_time(now);
        let value = HeaderValue::from_str(date.as_str())?;
        *last = Some((date, value.clone()));
        Ok((date, value))
    })
}

/// What `HeaderValue::to_str` accepts (visible ASCII and tab), tested by
/// [`byte_run::all`]'s vector loop: `to_str` goes a byte at a time, ~4
/// instructions a byte, and a role session's ~1 KiB token is in every
/// store request.
fn is_visible_text(bytes: &[u8]) -> bool {
    byte_run::all(bytes, |b| (0x20..0x7f).contains(&b) | (b == b'\t'))
}

/// A header value as SigV4 canonicalises it (as `aws-sigv4` does): spaces
/// trimmed at both ends and runs of spaces collapsed into one.
fn update_trimmed(h: &mut Sha256, value: &[u8]) {
    let start = value.iter().position(|&c| c != b' ');
    let Some(start) = start else { return };
    let end = value
        .iter()
        .rposition(|&c| c != b' ')
        .map_or(start, |e| e + 1);
    let mut rest = &value[start..end];
    // Nearly every value (a date, a hash, a session token) holds no space
    // and goes in whole; the search for a pair of spaces below goes a byte
    // at a time, ~6 instructions a byte of a ~1 KiB token.
    if byte_run::all(rest, |b| b != b' ') {
        h.update(rest);
        return;
    }
    while let Some(at) = rest.windows(2).position(|w| w == b"  ") {
        h.update(&rest[..=at]);
        let skip = rest[at..].iter().take_while(|&&c| c == b' ').count();
        rest = &rest[at + skip..];
    }
    h.update(rest);
}

/// The slot, in `0..slots`, of an entry named by `parts` in a
/// direct-mapped table (this one's signing keys, the role sessions'
/// recent requests): FNV-1a over each part and a separator after it, so
/// that `("ab", "c")` and `("a", "bc")` differ. Not a defence against
/// chosen collisions, which cost only a cache miss.
pub(super) fn slot_of(parts: &[&str], slots: usize) -> usize {
    let mut hash: u32 = 0x811c_9dc5;
    for part in parts {
        for &b in part.as_bytes() {
            hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        hash = (hash ^ 0xff).wrapping_mul(0x0100_0193);
    }
    (hash as usize) % slots
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use std::sync::LazyLock;
    use std::time::{Duration, UNIX_EPOCH};

    use aws_smithy_runtime_api::client::identity::Identity;
    use percent_encoding::utf8_percent_encode;
    use proptest::prelude::*;

    use super::*;

    const REGION: &str = "eu-west-3";

    /// The oracle: the request head signed by `aws-sigv4`, exactly as
    /// `Upstream::sign_head` did before this signer (same settings, the
    /// same visible-ASCII filter, its headers applied the same way).
    fn oracle(r: &Req<'_>) -> HeaderMap {
        let Req {
            method,
            path_and_query,
            headers,
            payload,
            creds,
            now,
        } = *r;
        use aws_sigv4::http_request::{
            PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
            SigningSettings, UriPathNormalizationMode, sign,
        };
        let identity: Identity = creds.clone().into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let body = if payload == "UNSIGNED-PAYLOAD" {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Precomputed(payload.to_owned())
        };
        let signable = SignableRequest::new(
            method,
            std::borrow::Cow::Borrowed(path_and_query),
            headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
            body,
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut out = headers.clone();
        for h in instructions.into_parts().0 {
            let mut value = HeaderValue::from_str(h.value()).unwrap();
            value.set_sensitive(h.sensitive());
            out.insert(h.name(), value);
        }
        out
    }

    /// A request head to sign.
    #[derive(Clone, Copy)]
    struct Req<'a> {
        method: &'a str,
        path_and_query: &'a str,
        headers: &'a HeaderMap,
        payload: &'a str,
        creds: &'a Credentials,
        now: SystemTime,
    }

    /// Signs `r` with `keys` and checks the result against the oracle's.
    fn check(keys: &SigningKeys, r: &Req<'_>) -> HeaderMap {
        let mut out = r.headers.clone();
        keys.sign(
            r.method,
            r.path_and_query,
            &mut out,
            HeaderValue::from_str(r.payload).unwrap(),
            r.creds,
            r.now,
        )
        .unwrap();
        assert_same(&out, &oracle(r));
        out
    }

    /// Same names, same values in the same order, same sensitivity.
    fn assert_same(lean: &HeaderMap, oracle: &HeaderMap) {
        assert_eq!(lean.len(), oracle.len(), "{lean:?}\n{oracle:?}");
        for name in oracle.keys() {
            let a: Vec<_> = lean.get_all(name).iter().collect();
            let b: Vec<_> = oracle.get_all(name).iter().collect();
            assert_eq!(a, b, "{name}");
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x.is_sensitive(), y.is_sensitive(), "{name} sensitivity");
            }
        }
    }

    fn creds(akid: &str, secret: &str, token: Option<&str>) -> Credentials {
        Credentials::new(akid, secret, token.map(str::to_owned), None, "test")
    }

    fn head(host: &str, extra: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        for (k, v) in extra {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        h
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn signs_a_get_as_aws_sigv4_does() {
        let keys = SigningKeys::new(REGION);
        let c = creds(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
        );
        let h = head(
            "127.0.0.1:9000",
            &[("range", b"bytes=0-9"), ("user-agent", b"aws-cli/1.36")],
        );
        let now = at(1_764_923_647);
        let ours = check(
            &keys,
            &Req {
                method: "GET",
                path_and_query: "/photos/a%20b.jpg",
                headers: &h,
                payload: "UNSIGNED-PAYLOAD",
                creds: &c,
                now,
            },
        );
        // The user agent is sent, not signed.
        let auth = ours.get(header::AUTHORIZATION).unwrap().to_str().unwrap();
        assert!(
            auth.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"),
            "{auth}"
        );
    }

    #[test]
    fn a_cached_key_is_used_only_for_its_own_secret_token_and_day() {
        // One access key id, and what changes under it: the secret (keys
        // rotated in place), the session token (a refreshed role session),
        // the day. Each must be signed with its own key, not the cached one.
        let keys = SigningKeys::new(REGION);
        let h = head("store.example:443", &[]);
        let day = 1_764_892_800;
        let cases = [
            (
                creds("ASIAONE", "secret-one", Some("token-1")),
                at(day + 10),
            ),
            (
                creds("ASIAONE", "secret-two", Some("token-1")),
                at(day + 20),
            ),
            (
                creds("ASIAONE", "secret-two", Some("token-2")),
                at(day + 30),
            ),
            (creds("ASIAONE", "secret-two", None), at(day + 40)),
            (creds("ASIAONE", "secret-two", None), at(day + 86_400 + 40)),
            (
                creds("ASIAONE", "secret-one", Some("token-1")),
                at(day + 86_400 + 50),
            ),
        ];
        for (c, now) in &cases {
            for _ in 0..2 {
                let put = Req {
                    method: "PUT",
                    path_and_query: "/b/k?uploads",
                    headers: &h,
                    payload: "UNSIGNED-PAYLOAD",
                    creds: c,
                    now: *now,
                };
                check(&keys, &put);
            }
        }
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed_as_aws_sigv4_does() {
        let keys = SigningKeys::new(REGION);
        let c = creds("AKID", "secret", Some("tok"));
        let h = head(
            "h",
            &[
                ("x-amz-meta-a", b"  a   b  c "),
                ("x-amz-meta-a", b"\tx\t y"),
                ("x-amz-meta-b", b"   "),
                ("x-amz-meta-c", "caf\u{e9}".as_bytes()),
                ("x-amz-meta-d", b"ok"),
                ("x-amz-meta-d", "\u{e9}".as_bytes()),
            ],
        );
        let now = at(1_700_000_000);
        let put = Req {
            method: "PUT",
            path_and_query: "/b/k",
            headers: &h,
            payload: "UNSIGNED-PAYLOAD",
            creds: &c,
            now,
        };
        check(&keys, &put);
    }

    /// One cache for every case, so that entries are hit, missed and
    /// replaced (a few access key ids, each with several secrets).
    static SHARED: LazyLock<SigningKeys> = LazyLock::new(|| SigningKeys::new(REGION));

    /// A query component: unreserved and sub-delim bytes, `%XX` escapes of
    /// ASCII, and percent-encoded UTF-8 text.
    fn component() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                "[a-zA-Z0-9._~!$'()*+,;:@/-]{1,4}",
                "%[0-7][0-9A-Fa-f]",
                any::<char>().prop_map(|c| utf8_percent_encode(
                    &c.to_string(),
                    percent_encoding::NON_ALPHANUMERIC
                )
                .to_string()),
            ],
            0..4,
        )
        .prop_map(|v| v.concat())
    }

    /// Sorting is by name only, so a name's values must keep their order
    /// through it. An unstable sort keeps it too below ~20 elements (it
    /// falls back to an insertion sort), which the proptest never passes:
    /// here are 48 values over three names, interleaved.
    #[test]
    fn many_values_of_a_name_keep_their_order() {
        let keys = SigningKeys::new(REGION);
        let c = creds("AKIAONE", "s1", Some("FwoGZXIvYXdzE"));
        let mut h = head("store", &[]);
        for i in 0..48 {
            let name = ["x-amz-meta-b", "x-amz-meta-a", "if-match"][i % 3];
            h.append(name, HeaderValue::from(i));
        }
        check(
            &keys,
            &Req {
                method: "GET",
                path_and_query: "/b/k",
                headers: &h,
                payload: "UNSIGNED-PAYLOAD",
                creds: &c,
                now: at(1_764_923_647),
            },
        );
    }

    fn header_value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => "[ \t!-~]{0,12}".prop_map(String::into_bytes),
            1 => prop::collection::vec(prop_oneof![Just(b' '), Just(b'\t'), 0x21u8..0x7f, 0x80u8..=0xff], 0..8),
        ]
    }

    proptest! {
        #[test]
        fn random_requests_get_the_headers_aws_sigv4_gives_them(
            method in prop::sample::select(vec!["GET", "HEAD", "PUT", "POST", "DELETE"]),
            bucket in "[a-z0-9][a-z0-9.-]{1,10}",
            key in prop::option::of(any::<String>()),
            query in prop::collection::vec((component(), prop::option::of(component())), 0..4),
            headers in prop::collection::vec((
                prop::sample::select(vec![
                    "content-type", "range", "if-match", "cache-control", "content-md5",
                    "x-amz-meta-a", "x-amz-meta-b", "x-amz-acl", "x-amz-tagging",
                    "user-agent", "x-amzn-trace-id", "content-length", "expect",
                    "transfer-encoding", "authorization",
                ]),
                header_value(),
            ), 0..8),
            host in prop::sample::select(vec!["127.0.0.1:9000", "bucket.s3.eu-west-3.amazonaws.com", "store"]),
            payload in prop::option::of(any::<[u8; 32]>()),
            akid in prop::sample::select(vec!["AKIAONE", "ASIATWO", "AKIATHREE"]),
            secret in prop::sample::select(vec!["s1", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "s3"]),
            token in prop::option::of(prop::sample::select(vec!["FwoGZXIvYXdzE", "IQoJb3JpZ2luX2VjE+/="])),
            secs in 946_684_800u64..4_102_444_800,
        ) {
            let mut path_and_query = format!("/{bucket}");
            if let Some(key) = &key {
                path_and_query.push('/');
                path_and_query.extend(utf8_percent_encode(key, super::super::PATH_ENCODE));
            }
            for (i, (name, value)) in query.iter().enumerate() {
                path_and_query.push(if i == 0 { '?' } else { '&' });
                path_and_query.push_str(name);
                if let Some(value) = value {
                    path_and_query.push('=');
                    path_and_query.push_str(value);
                }
            }
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static(host));
            for (name, value) in &headers {
                let Ok(value) = HeaderValue::from_bytes(value) else { continue };
                h.append(*name, value);
            }
            let payload = payload.map_or_else(|| "UNSIGNED-PAYLOAD".to_owned(), hex::encode);
            let c = creds(akid, secret, token);
            let now = at(secs);
            check(&SHARED, &Req {
                method,
                path_and_query: &path_and_query,
                headers: &h,
                payload: &payload,
                creds: &c,
                now,
            });
        }
    }
}
