//! The XML documents s3gate writes itself (S3's `<Error>`, STS's answers),
//! built with quick-xml's writer so every text node is escaped by one
//! implementation. Pure; reading XML stays with the module that reads it
//! (`s3::delete`, `sts_api::read_fields`).

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// A document being written, element by element.
pub struct Doc {
    writer: Writer<Vec<u8>>,
}

// Writing into a `Vec<u8>` cannot fail, so the writer's `io::Result`s are
// dropped: there is no error for a caller to handle.
impl Doc {
    /// An empty document, without an XML declaration (STS answers have
    /// none).
    pub fn new() -> Self {
        Self {
            writer: Writer::new(Vec::with_capacity(512)),
        }
    }

    /// A document that starts with `<?xml version="1.0" encoding="UTF-8"?>`
    /// (S3 answers have one).
    pub fn with_declaration() -> Self {
        let mut doc = Self::new();
        let _ = doc
            .writer
            .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        doc.writer.get_mut().push(b'\n');
        doc
    }

    /// `<name attrs…>` + what `inner` writes + `</name>`.
    pub fn element(&mut self, name: &str, attrs: &[(&str, &str)], inner: impl FnOnce(&mut Doc)) {
        let mut start = BytesStart::new(name);
        for attr in attrs {
            start.push_attribute(*attr);
        }
        let _ = self.writer.write_event(Event::Start(start));
        inner(self);
        let _ = self.writer.write_event(Event::End(BytesEnd::new(name)));
    }

    /// `<name>text</name>`, the text escaped.
    pub fn text(&mut self, name: &str, text: &str) {
        let _ = self
            .writer
            .create_element(name)
            .write_text_content(BytesText::new(text));
    }

    fn into_bytes(self) -> Vec<u8> {
        self.writer.into_inner()
    }

    /// The document as text.
    pub fn finish(self) -> String {
        // Only `&str`s went in, so the bytes are UTF-8.
        String::from_utf8(self.into_bytes()).unwrap_or_default()
    }
}

impl Default for Doc {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_elements_with_escaped_text_and_attributes() {
        let mut doc = Doc::with_declaration();
        doc.element("Root", &[("xmlns", "urn:x")], |d| {
            d.text("A", "x<y & \"z\"'");
            d.element("B", &[], |d| d.text("C", "1"));
        });
        assert_eq!(
            doc.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Root xmlns=\"urn:x\">\
             <A>x&lt;y &amp; &quot;z&quot;&apos;</A><B><C>1</C></B></Root>"
        );
    }
}
