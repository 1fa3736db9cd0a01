//! S3 listing semantics over keys in S3's order (UTF-8 bytes, which is
//! Rust's `str` order): prefix, delimiter and common prefixes, markers and
//! continuation tokens, `max-keys`, and `encoding-type=url`. Pure.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html>

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Where the previous page ended: after a key, or after a whole common
/// prefix (every key under it was rolled up into that one entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    Key(String),
    Prefix(String),
}

impl Marker {
    /// A client-given `marker`/`start-after`/`key-marker`: a common prefix
    /// when it is one under this prefix and delimiter, else a key.
    pub fn from_client(marker: &str, prefix: &str, delimiter: Option<&str>) -> Self {
        match common_prefix(marker, prefix, delimiter) {
            Some(cp) if cp == marker => Self::Prefix(marker.to_owned()),
            _ => Self::Key(marker.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Key(s) | Self::Prefix(s) => s,
        }
    }

    fn skips(&self, key: &str) -> bool {
        match self {
            Self::Key(m) => key <= m.as_str(),
            Self::Prefix(p) => key <= p.as_str() || key.starts_with(p.as_str()),
        }
    }

    /// The opaque `NextContinuationToken`.
    pub fn token(&self) -> String {
        let (tag, s) = match self {
            Self::Key(s) => ('k', s),
            Self::Prefix(s) => ('p', s),
        };
        URL_SAFE_NO_PAD.encode(format!("{tag}{s}"))
    }

    /// `None` for a token this store did not issue.
    pub fn from_token(token: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut chars = text.chars();
        let tag = chars.next()?;
        let rest = chars.as_str().to_owned();
        match tag {
            'k' => Some(Self::Key(rest)),
            'p' => Some(Self::Prefix(rest)),
            _ => None,
        }
    }
}

/// The common prefix `key` rolls up into, if any: the key up to and
/// including the first delimiter after `prefix`.
pub fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.strip_prefix(prefix)?;
    let at = rest.find(delimiter)?;
    key.get(..prefix.len() + at + delimiter.len())
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page<T> {
    pub entries: Vec<T>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
    /// Where this page ended (the last entry or prefix), when truncated.
    pub next: Option<Marker>,
}

/// Pages `items` (in key order) after `after`, keeping keys under `prefix`
/// and rolling keys up at `delimiter`; entries and prefixes together are at
/// most `max`.
pub fn page<T>(
    items: impl IntoIterator<Item = (String, T)>,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&Marker>,
    max: usize,
) -> Page<T> {
    let mut page = Page {
        entries: Vec::new(),
        prefixes: Vec::new(),
        truncated: false,
        next: None,
    };
    let mut last: Option<Marker> = None;
    for (key, item) in items {
        if !key.starts_with(prefix) || after.is_some_and(|m| m.skips(&key)) {
            continue;
        }
        let cp = common_prefix(&key, prefix, delimiter);
        if let (Some(cp), Some(Marker::Prefix(p))) = (cp, &last)
            && cp == p
        {
            continue;
        }
        if page.entries.len() + page.prefixes.len() >= max {
            page.truncated = true;
            page.next = last;
            return page;
        }
        match cp {
            Some(cp) => {
                page.prefixes.push(cp.to_owned());
                last = Some(Marker::Prefix(cp.to_owned()));
            }
            None => {
                last = Some(Marker::Key(key));
                page.entries.push(item);
            }
        }
    }
    page
}

/// `encoding-type=url`: what S3 escapes so that clients, which decode with
/// `+` as a space, get the key back exactly. `/` stays readable.
const URL_KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

pub fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, URL_KEY).to_string()
}

/// Applies `encoding-type` to a value of the response.
pub fn encoder(encoding_type: Option<&s3s::dto::EncodingType>) -> fn(&str) -> String {
    match encoding_type.map(s3s::dto::EncodingType::as_str) {
        Some(s3s::dto::EncodingType::URL) => url_encode,
        _ => str::to_owned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<(String, String)> {
        let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        v.sort();
        v.into_iter().map(|k| (k.clone(), k)).collect()
    }

    #[test]
    fn delimiter_rolls_up_and_pages_never_repeat_a_prefix() {
        let items = keys(&["a/1", "a/2", "a/3", "b", "c/1", "d"]);
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let p = page(items.clone(), "", Some("/"), after.as_ref(), 1);
            seen.extend(p.entries.iter().cloned());
            seen.extend(p.prefixes.iter().cloned());
            if !p.truncated {
                break;
            }
            after = p.next.map(|m| Marker::from_token(&m.token()).unwrap_or(m));
        }
        assert_eq!(seen, ["a/", "b", "c/", "d"]);
    }

    #[test]
    fn a_folder_marker_under_its_own_prefix_is_a_key_not_a_prefix() {
        let items = keys(&["a/", "a/x", "a/y/z"]);
        let p = page(items.clone(), "a/", Some("/"), None, 1);
        assert_eq!(p.entries, ["a/"]);
        let next = p.next.unwrap();
        assert_eq!(next, Marker::Key("a/".into()));
        let p = page(items, "a/", Some("/"), Some(&next), 10);
        assert_eq!(p.entries, ["a/x"]);
        assert_eq!(p.prefixes, ["a/y/"]);
    }

    #[test]
    fn keys_sort_by_utf8_bytes() {
        let items = keys(&["é", "z", "Z", "a b", "a+b", "a%b", "a//b", "a/b"]);
        let p = page(items, "", None, None, 100);
        assert_eq!(
            p.entries,
            ["Z", "a b", "a%b", "a+b", "a//b", "a/b", "z", "é"]
        );
    }

    #[test]
    fn start_after_and_max_keys() {
        let items = keys(&["a", "b", "c", "d"]);
        let p = page(
            items,
            "",
            None,
            Some(&Marker::from_client("b", "", None)),
            1,
        );
        assert_eq!(p.entries, ["c"]);
        assert!(p.truncated);
    }

    #[test]
    fn empty_delimiter_is_no_delimiter() {
        let items = keys(&["a/b", "c"]);
        let p = page(items, "", Some(""), None, 10);
        assert_eq!(p.entries, ["a/b", "c"]);
    }

    #[test]
    fn url_encoding_keeps_every_key_decodable_with_plus_as_space() {
        assert_eq!(url_encode("a b+c%d/é\u{0}"), "a%20b%2Bc%25d/%C3%A9%00");
    }

    #[test]
    fn tokens_round_trip_and_foreign_tokens_are_refused() {
        for m in [Marker::Key("a/ é".into()), Marker::Prefix("x/".into())] {
            assert_eq!(Marker::from_token(&m.token()), Some(m));
        }
        assert_eq!(Marker::from_token("not a token!"), None);
    }
}
