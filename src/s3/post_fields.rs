//! What a browser form's fields make the upload do: the headers of the
//! ordinary `PutObject` the gateway sends in the form's place
//! ([`upload_headers`]), and the answer S3 gives a form
//! ([`FormAnswer`]: 204, 200, 201 with its XML, or the 303 redirect).
//!
//! Fields become headers only from a fixed list (the object's own HTTP
//! headers, `acl`, `tagging`, and `x-amz-*` other than the signature's
//! fields); the headers then go through the same table as any PutObject
//! (`classify` and [`super::headers`]), so a field implies the actions its
//! header would (`tagging` → `s3:PutObjectTagging`, `acl` →
//! `s3:PutObjectAcl`) and an unknown `x-amz-*` field is refused.
//!
//! Pure: no I/O, no clock.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html>

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use quick_xml::Reader;
use quick_xml::events::Event;

use super::error::{S3Error, S3ErrorCode};

/// The object's own HTTP headers a form may set, by field name.
const OBJECT_HEADERS: [&str; 6] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-type",
    "expires",
];

/// The signature's own fields: read by the gateway, never sent on.
const SIGNATURE_FIELDS: [&str; 5] = [
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-signature",
    "x-amz-security-token",
];

/// Fields that would describe the body's framing to the store: the file is
/// sent as a plain body whose length and payload hash s3gate sets itself.
const FRAMING_FIELDS: [&str; 4] = [
    "x-amz-content-sha256",
    "x-amz-decoded-content-length",
    "x-amz-trailer",
    "x-amz-sdk-checksum-algorithm",
];

/// S3's limit on an object's tags.
const MAX_TAGS: usize = 10;

/// Unreserved characters of a query string (RFC 3986), as S3 reads
/// `x-amz-tagging`.
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The headers of the PutObject a form stands for. `fields` are the form's
/// (lowercase names, `${filename}` already substituted).
pub fn upload_headers(fields: &[(String, String)]) -> Result<HeaderMap, S3Error> {
    let mut out = HeaderMap::new();
    for (name, value) in fields {
        let aws_chunked = name == "content-encoding"
            && value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("aws-chunked"));
        if FRAMING_FIELDS.contains(&name.as_str()) || aws_chunked {
            return Err(S3Error::new(
                S3ErrorCode::InvalidArgument,
                format!("The form field '{name}' describes a body framing a form does not have."),
            ));
        }
        let header = if OBJECT_HEADERS.contains(&name.as_str()) {
            name.clone()
        } else if name == "acl" {
            "x-amz-acl".to_owned()
        } else if name == "tagging" {
            let header = tagging_header(value)?;
            insert(&mut out, "x-amz-tagging", &header)?;
            continue;
        } else if name.starts_with("x-amz-") && !SIGNATURE_FIELDS.contains(&name.as_str()) {
            name.clone()
        } else {
            // key, policy, success_action_*, x-ignore-*, ...: the form's
            // own business.
            continue;
        };
        insert(&mut out, &header, value)?;
    }
    Ok(out)
}

fn insert(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), S3Error> {
    let invalid = || {
        S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!("The form field '{name}' cannot be a header of the object."),
        )
    };
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
    let value = HeaderValue::from_str(value).map_err(|_| invalid())?;
    headers.insert(name, value);
    Ok(())
}

/// The `tagging` field (S3's `<Tagging>` XML) as the `x-amz-tagging`
/// header of a PutObject: `key=value&...`, URL-encoded.
pub fn tagging_header(xml: &str) -> Result<String, S3Error> {
    let tags = parse_tagging(xml).map_err(|()| {
        S3Error::new(
            S3ErrorCode::MalformedXML,
            "The tagging field is not a well-formed <Tagging> document of at most 10 tags.",
        )
    })?;
    let mut out = String::new();
    for (key, value) in tags {
        if !out.is_empty() {
            out.push('&');
        }
        out.extend(utf8_percent_encode(&key, QUERY_ENCODE));
        out.push('=');
        out.extend(utf8_percent_encode(&value, QUERY_ENCODE));
    }
    Ok(out)
}

fn parse_tagging(xml: &str) -> Result<Vec<(String, String)>, ()> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut tags = Vec::new();
    let mut key: Option<String> = None;
    let mut value: Option<String> = None;
    loop {
        match reader.read_event().map_err(|_| ())? {
            Event::Start(start) => {
                let name = start.local_name().as_ref().to_vec();
                let expected: &[u8] = match path.len() {
                    0 => b"Tagging",
                    1 => b"TagSet",
                    2 => b"Tag",
                    3 if name == b"Key" || name == b"Value" => &name,
                    _ => return Err(()),
                };
                if name != expected {
                    return Err(());
                }
                path.push(name);
            }
            Event::Empty(start) => {
                // `<Value/>`: an empty value; an empty set is no tags.
                match (path.len(), start.local_name().as_ref()) {
                    (3, b"Value") => value = Some(String::new()),
                    (1, b"TagSet") => {}
                    _ => return Err(()),
                }
            }
            Event::Text(text) => {
                let text = text.unescape().map_err(|_| ())?.into_owned();
                match path.last().map(Vec::as_slice) {
                    Some(b"Key") => key = Some(text),
                    Some(b"Value") => value = Some(text),
                    _ if text.trim().is_empty() => {}
                    _ => return Err(()),
                }
            }
            Event::End(_) => {
                if path.pop().as_deref() == Some(b"Tag".as_slice()) {
                    let k = key.take().ok_or(())?;
                    tags.push((k, value.take().unwrap_or_default()));
                    if tags.len() > MAX_TAGS {
                        return Err(());
                    }
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) => {}
            // No DTD (no entity definitions, ever), no CDATA tricks.
            _ => return Err(()),
        }
    }
    if !path.is_empty() {
        return Err(());
    }
    Ok(tags)
}

/// What a form upload answers, from its `success_action_redirect` and
/// `success_action_status` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormAnswer {
    /// 303 to this URL (the redirect with `bucket`, `key`, `etag` added).
    Redirect(String),
    /// 200 or 204, no body.
    Empty(StatusCode),
    /// 201 with S3's `PostResponse` XML.
    Created,
}

impl FormAnswer {
    /// S3's choice: a redirect that is an http(s) URL wins; else the
    /// status asked for when it is 200 or 201; else 204.
    pub fn choose(fields: &[(String, String)], bucket: &str, key: &str, etag: &str) -> FormAnswer {
        let field = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        // `redirect` is the field's old name, still honoured by S3.
        let redirect = field("success_action_redirect").or_else(|| field("redirect"));
        if let Some(url) =
            redirect.filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        {
            let mut out = url.to_owned();
            out.push(if url.contains('?') { '&' } else { '?' });
            for (i, (name, value)) in [("bucket", bucket), ("key", key), ("etag", etag)]
                .into_iter()
                .enumerate()
            {
                if i > 0 {
                    out.push('&');
                }
                out.push_str(name);
                out.push('=');
                out.extend(utf8_percent_encode(value, QUERY_ENCODE));
            }
            return FormAnswer::Redirect(out);
        }
        match field("success_action_status") {
            Some("200") => FormAnswer::Empty(StatusCode::OK),
            Some("201") => FormAnswer::Created,
            _ => FormAnswer::Empty(StatusCode::NO_CONTENT),
        }
    }
}

/// The `PostResponse` document of a 201.
pub fn post_response_xml(location: &str, bucket: &str, key: &str, etag: &str) -> String {
    let mut doc = crate::xml::Doc::with_declaration();
    doc.element("PostResponse", &[], |d| {
        d.text("Location", location);
        d.text("Bucket", bucket);
        d.text("Key", key);
        d.text("ETag", etag);
    });
    doc.finish()
}

/// `key` percent-encoded for a URL path (`/` kept).
pub fn encode_key(key: &str) -> String {
    const PATH: &AsciiSet = &QUERY_ENCODE.remove(b'/');
    utf8_percent_encode(key, PATH).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn only_object_headers_acl_tagging_and_amz_fields_become_headers() {
        let h = upload_headers(&fields(&[
            ("key", "a/b"),
            ("policy", "e30="),
            ("content-type", "image/png"),
            ("acl", "private"),
            ("x-amz-meta-color", "blue"),
            ("x-amz-credential", "AKID/20250101/us-east-1/s3/aws4_request"),
            ("x-amz-security-token", "token"),
            ("x-amz-signature", "00"),
            ("success_action_status", "201"),
            ("x-ignore-me", "1"),
            ("tagging", "<Tagging><TagSet><Tag><Key>a b</Key><Value>1&amp;2</Value></Tag></TagSet></Tagging>"),
        ]))
        .unwrap();
        let names: Vec<&str> = h.keys().map(http::HeaderName::as_str).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "x-amz-acl",
                "x-amz-meta-color",
                "x-amz-tagging"
            ]
        );
        assert_eq!(h["x-amz-tagging"], "a%20b=1%262");
    }

    #[test]
    fn fields_describing_a_body_framing_are_refused() {
        for (name, value) in [
            ("x-amz-decoded-content-length", "5"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
            ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ("content-encoding", "gzip, aws-chunked"),
        ] {
            let err = upload_headers(&fields(&[(name, value)])).unwrap_err();
            assert_eq!(err.code, S3ErrorCode::InvalidArgument, "{name}");
        }
        assert!(upload_headers(&fields(&[("content-encoding", "gzip")])).is_ok());
    }

    #[test]
    fn tagging_must_be_a_tagging_document_of_at_most_ten_tags() {
        assert_eq!(
            tagging_header("<Tagging><TagSet><Tag><Key>k</Key><Value/></Tag><Tag><Key>j</Key><Value>v</Value></Tag></TagSet></Tagging>").unwrap(),
            "k=&j=v"
        );
        let eleven: String = (0..11)
            .map(|i| format!("<Tag><Key>k{i}</Key><Value>v</Value></Tag>"))
            .collect();
        for bad in [
            "not xml".to_owned(),
            "<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>".to_owned(),
            "<Other/>".to_owned(),
            "<!DOCTYPE x [<!ENTITY e \"e\">]><Tagging/>".to_owned(),
            format!("<Tagging><TagSet>{eleven}</TagSet></Tagging>"),
            "<Tagging><TagSet>".to_owned(),
        ] {
            assert_eq!(
                tagging_header(&bad).unwrap_err().code,
                S3ErrorCode::MalformedXML,
                "{bad}"
            );
        }
    }

    #[test]
    fn the_answer_is_the_redirect_else_the_status_asked_for_else_204() {
        let answer =
            |pairs: &[(&str, &str)]| FormAnswer::choose(&fields(pairs), "b", "a/c d", "\"e\"");
        assert_eq!(
            answer(&[
                ("success_action_redirect", "https://app.example/done?x=1"),
                ("success_action_status", "201")
            ]),
            FormAnswer::Redirect(
                "https://app.example/done?x=1&bucket=b&key=a%2Fc%20d&etag=%22e%22".into()
            )
        );
        assert_eq!(
            answer(&[("redirect", "http://app.example/done")]),
            FormAnswer::Redirect(
                "http://app.example/done?bucket=b&key=a%2Fc%20d&etag=%22e%22".into()
            )
        );
        // Not an http(s) URL: ignored, as S3 ignores it.
        assert_eq!(
            answer(&[("success_action_redirect", "javascript:alert(1)")]),
            FormAnswer::Empty(StatusCode::NO_CONTENT)
        );
        assert_eq!(
            answer(&[("success_action_status", "200")]),
            FormAnswer::Empty(StatusCode::OK)
        );
        assert_eq!(
            answer(&[("success_action_status", "201")]),
            FormAnswer::Created
        );
        assert_eq!(
            answer(&[("success_action_status", "404")]),
            FormAnswer::Empty(StatusCode::NO_CONTENT)
        );
        assert_eq!(answer(&[]), FormAnswer::Empty(StatusCode::NO_CONTENT));
        let xml = post_response_xml("http://h/b/k", "b", "k", "\"e\"");
        assert!(xml.contains("<PostResponse><Location>http://h/b/k</Location><Bucket>b</Bucket><Key>k</Key><ETag>&quot;e&quot;</ETag></PostResponse>"), "{xml}");
    }
}
