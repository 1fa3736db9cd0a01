//! A request's raw query string, split once into its `name[=value]` pairs.
//!
//! Owns only the splitting: every stage that reads the query (classify,
//! the presigned-URL detection and parse, the canonical query the
//! signature is checked against, the anonymous check, the query forwarded
//! to the store) walks these pairs instead of splitting the bytes again,
//! so they cannot disagree about what the query says: the stage that
//! verifies a signature and the stage that forwards see the same
//! parameters.
//!
//! A leaf: depends on nothing in the crate but the leaf
//! [`crate::byte_run`], and decodes nothing. Names and
//! values stay as sent (percent-encoded, `+` not a space); what a stage
//! makes of them is its own business. Empty pieces (`a&&b`, a trailing
//! `&`) are not pairs: every stage skipped them, or read them as a
//! nameless parameter that matched nothing. A piece without `=` keeps its
//! value `None`, apart from `a=` (`Some("")`), since S3 reads a valueless
//! subresource such as `?acl` as a flag.

use smallvec::SmallVec;

use crate::byte_run;

/// How many pairs are held without allocating: a presigned GET carries
/// seven `X-Amz-*` parameters and rarely more than a few others.
const INLINE_PAIRS: usize = 12;

/// One `name[=value]` piece of the query, as sent. `Debug` shows the name
/// only: a presigned URL's values include its session token and signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Pair<'a> {
    /// The whole piece, `name=value` (what is forwarded).
    pub piece: &'a str,
    /// Up to the first `=` (the whole piece when there is none).
    pub name: &'a str,
    /// After the first `=`; `None` when the piece has no `=`.
    pub value: Option<&'a str>,
}

impl<'a> Pair<'a> {
    /// The value, or `""` for a piece without `=` (as the canonical query
    /// and every parameter reader treat it).
    pub fn value_or_empty(&self) -> &'a str {
        self.value.unwrap_or("")
    }
}

impl std::fmt::Debug for Pair<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair")
            .field("name", &self.name)
            .field("value", &self.value.map(|_| "<redacted>"))
            .finish()
    }
}

/// The query's pairs in the order sent. `Debug` shows the pairs' names
/// only (see [`Pair`]).
#[derive(Clone, Default)]
pub struct RawQuery<'a> {
    /// The query as sent (without the `?`); `None` when the URI has none,
    /// which the store is told as it was.
    raw: Option<&'a str>,
    pairs: SmallVec<[Pair<'a>; INLINE_PAIRS]>,
}

impl std::fmt::Debug for RawQuery<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.pairs.iter()).finish()
    }
}

impl<'a> RawQuery<'a> {
    /// Splits `raw` (the URI's query, `None` when it has none).
    ///
    /// The `&` and `=` are found sixteen bytes at a time
    /// ([`crate::byte_run`]): `str::split` set up a `memchr` for every
    /// piece, ~3,400 instructions for a presigned URL's query (its session
    /// token alone is ~450 bytes).
    pub fn new(raw: Option<&'a str>) -> Self {
        let text = raw.unwrap_or("");
        let bytes = text.as_bytes();
        let not = |sep: u8| move |b: u8| b != sep;
        let mut pairs = SmallVec::new();
        let mut start = 0;
        while start <= bytes.len() {
            let end = start + byte_run::kept(&bytes[start..], not(b'&'), not(b'&'));
            // Cut at ASCII bytes, so always on char boundaries.
            if let Some(piece) = text.get(start..end).filter(|p| !p.is_empty()) {
                let eq = byte_run::kept(piece.as_bytes(), not(b'='), not(b'='));
                pairs.push(match (piece.get(..eq), piece.get(eq + 1..)) {
                    (Some(name), Some(value)) => Pair {
                        piece,
                        name,
                        value: Some(value),
                    },
                    _ => Pair {
                        piece,
                        name: piece,
                        value: None,
                    },
                });
            }
            start = end + 1;
        }
        Self { raw, pairs }
    }

    /// The query of `uri`, split.
    pub fn of(uri: &'a http::Uri) -> Self {
        Self::new(uri.query())
    }

    /// The query as sent; `None` when the URI had none.
    pub fn raw(&self) -> Option<&'a str> {
        self.raw
    }

    /// The pairs, in the order sent.
    pub fn pairs(&self) -> &[Pair<'a>] {
        &self.pairs
    }

    /// Whether there is no pair at all (an absent, empty or all-`&` query).
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Random raw queries for the differential tests of the stages that read
/// a query: the ones that split it themselves before this type were kept
/// as oracles, and each is fed the same strings as its new form.
#[cfg(test)]
pub(crate) mod arbitrary {
    use proptest::prelude::*;

    /// A presigned GET's parameters, valid (AWS's documented example), so
    /// that the parse reaches its end and not only its first refusal.
    pub(crate) const PRESIGNED: [&str; 6] = [
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request",
        "X-Amz-Date=20130524T000000Z",
        "X-Amz-Expires=86400",
        "X-Amz-SignedHeaders=host",
        "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
    ];

    /// Names every reader cares about, in the spellings that could trip
    /// one up: other cases, an encoded `-`, `+`, empty, non-ASCII.
    fn name() -> impl Strategy<Value = String> {
        let known = [
            "acl",
            "uploads",
            "uploadId",
            "versionId",
            "versionid",
            "prefix",
            "list-type",
            "partNumber",
            "delimiter",
            "x-id",
            "response-content-type",
            "response%2Dcontent-type",
            "x-amz-meta-a",
            "x-amz-tagging",
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Date",
            "X-Amz-Expires",
            "X-Amz-SignedHeaders",
            "X-Amz-Signature",
            "X-Amz-Security-Token",
            "x-amz-signature",
            "X-AMZ-SIGNATURE",
            "X%2DAmz-Credential",
            "X-Amz-Signature%",
            "AWSAccessKeyId",
            "Signature",
            "awsaccesskeyid",
            "",
            "+",
            "a+b",
            "\u{e9}t\u{e9}",
            "%C3%A9",
            "%zz",
            "%",
        ];
        prop_oneof![
            3 => prop::sample::select(known.to_vec()).prop_map(str::to_owned),
            1 => "[a-zA-Z%+=\u{e9}-]{0,6}",
        ]
    }

    /// Values with escapes valid and broken, `=`, `+` and non-ASCII.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "([a-zA-Z0-9=+/._~ -]|%[0-9a-fA-F]{2}|%[g-z]|%|%C3%A9|%FF|\u{e9}){0,8}",
            prop::sample::select(vec!["AWS4-HMAC-SHA256", "86400", "host", "2", "GetObject"])
                .prop_map(str::to_owned),
        ]
    }

    /// One piece: `name`, `name=` or `name=value`.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            name(),
            (name(), value()).prop_map(|(n, v)| format!("{n}={v}")),
        ]
    }

    /// A query: random pieces, or a valid presigned set with some of them,
    /// joined by `&` or `&&`, sometimes with a `&` at either end.
    pub(crate) fn query() -> impl Strategy<Value = String> {
        let pieces = prop::collection::vec(piece(), 0..8);
        let presigned = prop::collection::vec(piece(), 0..4).prop_flat_map(|extra| {
            let mut all: Vec<String> = PRESIGNED.iter().map(|p| (*p).to_owned()).collect();
            all.extend(extra);
            Just(all).prop_shuffle()
        });
        (
            prop_oneof![pieces, presigned],
            prop::collection::vec(any::<bool>(), 12),
            any::<(bool, bool)>(),
        )
            .prop_map(|(pieces, doubled, (lead, trail))| {
                let mut out = String::new();
                if lead {
                    out.push('&');
                }
                for (i, p) in pieces.iter().enumerate() {
                    if i > 0 {
                        out.push_str(if doubled[i % doubled.len()] {
                            "&&"
                        } else {
                            "&"
                        });
                    }
                    out.push_str(p);
                }
                if trail {
                    out.push('&');
                }
                out
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn split(raw: &str) -> Vec<(&str, Option<&str>)> {
        RawQuery::new(Some(raw))
            .pairs()
            .iter()
            .map(|p| (p.name, p.value))
            .collect()
    }

    #[test]
    fn pieces_split_at_the_first_equals_sign() {
        assert_eq!(
            split("acl&a=&b=c=d&%3D=x"),
            [
                ("acl", None),
                ("a", Some("")),
                ("b", Some("c=d")),
                ("%3D", Some("x"))
            ]
        );
    }

    #[test]
    fn empty_pieces_are_no_pairs() {
        assert_eq!(split("&&a=1&&&b&"), [("a", Some("1")), ("b", None)]);
        assert!(RawQuery::new(Some("&&")).is_empty());
        assert!(RawQuery::new(None).is_empty());
        assert_eq!(RawQuery::new(None).raw(), None);
        assert_eq!(RawQuery::new(Some("")).raw(), Some(""));
    }

    #[test]
    fn a_typical_presigned_query_is_held_inline() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Date=b\
                 &X-Amz-Expires=1&X-Amz-SignedHeaders=host&X-Amz-Signature=c\
                 &X-Amz-Security-Token=d&x-id=GetObject&versionId=v";
        assert!(!RawQuery::new(Some(q)).pairs.spilled());
    }

    #[test]
    fn debug_never_shows_a_value() {
        let q = RawQuery::new(Some(
            "X-Amz-Security-Token=SECRETTOKEN&X-Amz-Signature=abc123&acl",
        ));
        let shown = format!("{q:?}");
        for value in ["SECRETTOKEN", "abc123"] {
            assert!(!shown.contains(value), "{shown}");
        }
        assert!(
            shown.contains("X-Amz-Security-Token") && shown.contains("acl"),
            "{shown}"
        );
    }

    proptest! {
        /// The pairs are the query's non-empty pieces, in order, and each
        /// piece is its name, then `=` and its value when it has one.
        #[test]
        fn pairs_rebuild_the_query(
            raw in prop_oneof![
                "[a=&%+\u{e9}]{0,24}",
                // Pieces long enough to hold whole 16-byte blocks.
                "([a%+\u{e9}]{0,40}(=[a=%\u{e9}]{0,40})?&{0,2}){0,5}",
            ],
        ) {
            let q = RawQuery::new(Some(&raw));
            let pieces: Vec<&str> = raw.split('&').filter(|p| !p.is_empty()).collect();
            prop_assert_eq!(q.pairs().iter().map(|p| p.piece).collect::<Vec<_>>(), pieces);
            for p in q.pairs() {
                let rebuilt = match p.value {
                    Some(v) => format!("{}={v}", p.name),
                    None => p.name.to_owned(),
                };
                prop_assert_eq!(rebuilt, p.piece);
                prop_assert!(p.value.is_some() || !p.name.contains('='));
                prop_assert!(!p.name.contains('='));
            }
        }
    }
}
