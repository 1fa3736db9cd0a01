//! The body of DeleteObjects (`POST /bucket?delete`): the keys it deletes,
//! each of which must be authorised like a single DeleteObject.
//!
//! Owns reading that one XML document; depends only on [`super::error`] and
//! quick-xml. The caller bounds the body size before calling.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html>

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::error::{S3Error, S3ErrorCode};

/// S3 refuses a DeleteObjects request naming more keys than this.
pub const MAX_DELETE_KEYS: usize = 1000;

/// Deepest element nesting accepted (`Delete/Object/Key` is 3; unknown
/// elements are skipped but not to unbounded depth).
const MAX_DEPTH: usize = 16;

/// The `(key, versionId)` pairs of a DeleteObjects body, in document order.
///
/// Keys are returned exactly as S3 will read them: entities and character
/// references decoded, line endings normalised as XML requires, nothing
/// trimmed. Refused with `MalformedXML`: not well-formed XML, a root other
/// than `Delete`, an `Object` without exactly one `Key`, no objects, more
/// than [`MAX_DELETE_KEYS`], or a DTD (no entity definitions, ever).
///
/// A key with a `.` or `..` path segment is refused with `InvalidArgument`,
/// as classify refuses it in a path (see [`super::refuse_dot_segments`]).
pub fn delete_objects_keys(body: &[u8]) -> Result<Vec<(String, Option<String>)>, S3Error> {
    let keys = parse(body).map_err(|()| {
        S3Error::new(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
    })?;
    for (key, _) in &keys {
        super::refuse_dot_segments(key)?;
    }
    Ok(keys)
}

/// Which text we are collecting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Key,
    VersionId,
}

fn parse(body: &[u8]) -> Result<Vec<(String, Option<String>)>, ()> {
    let mut reader = Reader::from_reader(body);
    // Names of the open elements; only their local names matter (S3's
    // namespace is optional on input).
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut out = Vec::new();
    // The Object being read: its key and version, when seen.
    let mut key: Option<String> = None;
    let mut version: Option<String> = None;
    let mut field: Option<Field> = None;
    let mut text = String::new();
    let mut seen_root = false;

    loop {
        let event = reader.read_event().map_err(|_| ())?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                let empty = matches!(event, Event::Empty(_));
                let name = start.local_name().as_ref().to_vec();
                if field.is_some() || stack.len() >= MAX_DEPTH {
                    return Err(());
                }
                match (stack.len(), name.as_slice()) {
                    (0, b"Delete") if !seen_root => seen_root = true,
                    (0, _) => return Err(()),
                    (1, b"Object") if stack[0] == b"Delete" => {
                        if out.len() == MAX_DELETE_KEYS {
                            return Err(());
                        }
                        key = None;
                        version = None;
                        if empty {
                            // An Object without a Key.
                            return Err(());
                        }
                    }
                    (2, b"Key" | b"VersionId") if stack[1] == b"Object" => {
                        let f = if name == b"Key" {
                            Field::Key
                        } else {
                            Field::VersionId
                        };
                        let already = match f {
                            Field::Key => key.is_some(),
                            Field::VersionId => version.is_some(),
                        };
                        if already {
                            return Err(());
                        }
                        if empty {
                            store(f, String::new(), &mut key, &mut version);
                        } else {
                            field = Some(f);
                            text.clear();
                        }
                    }
                    // Quiet, ETag, LastModifiedTime, Size, …: not ours.
                    _ => {}
                }
                if !empty {
                    stack.push(name);
                }
            }
            Event::End(_) => {
                let name = stack.pop().ok_or(())?;
                if let Some(f) = field.take() {
                    store(f, std::mem::take(&mut text), &mut key, &mut version);
                } else if stack.len() == 1 && name == b"Object" {
                    out.push((key.take().ok_or(())?, version.take()));
                }
            }
            Event::Text(t) => {
                if field.is_some() {
                    let raw = std::str::from_utf8(&t).map_err(|_| ())?;
                    let normalised = normalise_newlines(raw);
                    let unescaped = quick_xml::escape::unescape(&normalised).map_err(|_| ())?;
                    text.push_str(&unescaped);
                }
            }
            Event::CData(c) => {
                if field.is_some() {
                    let raw = std::str::from_utf8(&c).map_err(|_| ())?;
                    text.push_str(&normalise_newlines(raw));
                }
            }
            // A DTD could define entities; S3 documents have none.
            Event::DocType(_) => return Err(()),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() || !seen_root || out.is_empty() {
        return Err(());
    }
    Ok(out)
}

fn store(f: Field, value: String, key: &mut Option<String>, version: &mut Option<String>) {
    match f {
        Field::Key => *key = Some(value),
        Field::VersionId => *version = Some(value),
    }
}

/// XML 1.0 §2.11: a parser passes `\r\n` and a lone `\r` on as `\n`. S3's
/// parser does, so the key we authorise must too. (`&#13;` stays a `\r`:
/// references are expanded after this step.)
fn normalise_newlines(raw: &str) -> Cow<'_, str> {
    if raw.contains('\r') {
        Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(raw)
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    fn keys(xml: &str) -> Vec<(String, Option<String>)> {
        match delete_objects_keys(xml.as_bytes()) {
            Ok(k) => k,
            Err(e) => panic!("{xml}: {e}"),
        }
    }

    fn pair(k: &str, v: Option<&str>) -> (String, Option<String>) {
        (k.to_owned(), v.map(str::to_owned))
    }

    #[test]
    fn reads_keys_and_versions() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Quiet>true</Quiet>
              <Object><Key>a/b.txt</Key></Object>
              <Object><Key>c</Key><VersionId>v1</VersionId><ETag>"x"</ETag></Object>
            </Delete>"#;
        assert_eq!(
            keys(xml),
            vec![pair("a/b.txt", None), pair("c", Some("v1"))]
        );
    }

    #[test]
    fn keys_with_dot_segments_are_refused() {
        // One bad key refuses the batch, wherever it is.
        for key in ["a/../b", "..", "./a", "a/.", "&#46;&#46;/x"] {
            let xml = format!(
                "<Delete><Object><Key>ok</Key></Object><Object><Key>{key}</Key></Object></Delete>"
            );
            let got = delete_objects_keys(xml.as_bytes()).map_err(|e| e.code);
            assert_eq!(got, Err(S3ErrorCode::InvalidArgument), "{key}");
        }
        let xml = "<Delete><Object><Key>a/..b/.c</Key></Object></Delete>";
        assert_eq!(keys(xml), vec![pair("a/..b/.c", None)]);
    }

    #[test]
    fn decodes_entities_and_keeps_whitespace() {
        let xml = "<Delete><Object><Key> a&amp;b&lt;&gt;&quot;&apos;&#x41;&#66;/..x </Key></Object>\
                   <Object><Key><![CDATA[x&amp;<y>]]></Key></Object>\
                   <Object><Key>l1&#13;&#10;l2\r\nl3\rl4</Key></Object>\
                   <Object><Key>p<!-- c -->q</Key></Object></Delete>";
        assert_eq!(
            keys(xml),
            vec![
                pair(" a&b<>\"'AB/..x ", None),
                pair("x&amp;<y>", None),
                pair("l1\r\nl2\nl3\nl4", None),
                pair("pq", None),
            ]
        );
    }

    #[test]
    fn empty_key_element_is_an_empty_key() {
        assert_eq!(
            keys("<Delete><Object><Key/></Object></Delete>"),
            vec![pair("", None)]
        );
    }

    #[test]
    fn accepts_exactly_the_limit() {
        let mut xml = String::from("<Delete>");
        for i in 0..MAX_DELETE_KEYS {
            xml.push_str(&format!("<Object><Key>k{i}</Key></Object>"));
        }
        xml.push_str("</Delete>");
        assert_eq!(keys(&xml).len(), MAX_DELETE_KEYS);
        let over = xml.replace("</Delete>", "<Object><Key>one-more</Key></Object></Delete>");
        assert!(delete_objects_keys(over.as_bytes()).is_err());
    }

    #[test]
    fn refuses_malformed_bodies() {
        for xml in [
            "",
            "not xml",
            "<Delete></Delete>",
            "<Delete><Object></Object></Delete>",
            "<Delete><Object/></Delete>",
            "<Delete><Object><VersionId>v</VersionId></Object></Delete>",
            "<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
            "<Delete><Object><Key>a</Key></Object>",
            "<Delete><Object><Key>a</Kee></Object></Delete>",
            "<Remove><Object><Key>a</Key></Object></Remove>",
            "<Delete><Object><Key>a<b/></Key></Object></Delete>",
            "<Delete><Object><Key>&unknown;</Key></Object></Delete>",
            "<!DOCTYPE d [<!ENTITY x \"y\">]><Delete><Object><Key>&x;</Key></Object></Delete>",
            "<Delete><Object><Key>a</Key></Object></Delete><Delete/>",
        ] {
            let err = delete_objects_keys(xml.as_bytes()).expect_err(xml);
            assert_eq!(err.code, S3ErrorCode::MalformedXML, "{xml}");
        }
        assert!(delete_objects_keys(b"<Delete><Object><Key>\xff</Key></Object></Delete>").is_err());
        let deep = format!("<Delete>{}{}</Delete>", "<x>".repeat(40), "</x>".repeat(40));
        assert!(delete_objects_keys(deep.as_bytes()).is_err());
    }

    #[test]
    fn objects_nested_elsewhere_are_not_keys() {
        let xml = "<Delete><Other><Object><Key>hidden</Key></Object></Other>\
                   <Object><Key>k</Key></Object></Delete>";
        assert_eq!(keys(xml), vec![pair("k", None)]);
    }
}
