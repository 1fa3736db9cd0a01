//! `multipart/form-data` as a browser form upload sends it: the small
//! fields before the `file` part, read whole and capped ([`HeadReader`]),
//! then the file part itself, streamed and never buffered ([`FileBody`]).
//!
//! S3 reads the form the same way: the fields preceding the file are at
//! most 20 KiB (`MaxPostPreDataLengthExceededError`), and the file is the
//! last part. The file's length must be known before the store is sent a
//! byte (S3 takes no chunked PUT), so it is derived from the request's
//! `Content-Length` ([`file_length`]) and [`FileBody`] holds the file to it
//! exactly: it never yields a byte past that length, and it holds its last
//! piece back until the closing boundary is seen where it must be. A form
//! that turns out longer, shorter or broken therefore ends the upstream
//! request short of its length, and the store stores nothing.
//!
//! Pure: no I/O of its own (it polls the body it is given), no clock.
//!
//! Spec: RFC 7578 (multipart/form-data), RFC 2046 §5.1 (boundaries);
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html>

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

use super::error::{S3Error, S3ErrorCode};

/// S3's limit on the form fields that precede the file.
pub const MAX_PRE_FILE_BYTES: usize = 20 * 1024;

/// Why a form cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// The request is not `multipart/form-data` with a boundary.
    NotMultipart,
    /// The body is not well-formed multipart; the reason is static text.
    Malformed(&'static str),
    /// More than [`MAX_PRE_FILE_BYTES`] before the file part.
    PreDataTooLarge,
    /// No part named `file`.
    NoFile,
    /// A field given twice: s3gate and the store could read different ones.
    Repeated(String),
    /// The file did not end where the request's length said it would (a
    /// part after the file, or a body cut short).
    FileLength,
    /// The caller's connection failed mid-body.
    Body(String),
    /// The file does not match a digest its form promised (an
    /// `x-amz-checksum-*` field): S3's code and message.
    Digest(S3ErrorCode, String),
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMultipart => {
                f.write_str("Bucket POST must be of the enclosure-type multipart/form-data.")
            }
            Self::Malformed(why) => write!(
                f,
                "The body of your POST request is not well-formed multipart/form-data: {why}."
            ),
            Self::PreDataTooLarge => {
                f.write_str("Your POST request fields preceeding the upload file were too large.")
            }
            Self::NoFile => f.write_str("POST requires exactly one file upload per request."),
            Self::Repeated(name) => write!(f, "The form field '{name}' is given more than once."),
            Self::FileLength => f.write_str(
                "The file part must be the form's last part, followed only by the closing \
                 boundary: s3gate derives the object's length from the request's.",
            ),
            Self::Body(why) => write!(f, "The request body could not be read: {why}."),
            Self::Digest(_, why) => f.write_str(why),
        }
    }
}

impl std::error::Error for FormError {}

impl FormError {
    /// S3's code for the failure.
    pub fn to_s3_error(&self) -> S3Error {
        let code = match self {
            Self::NotMultipart => S3ErrorCode::PreconditionFailed,
            Self::Malformed(_) | Self::FileLength => S3ErrorCode::MalformedPOSTRequest,
            Self::PreDataTooLarge => S3ErrorCode::MaxPostPreDataLengthExceededError,
            Self::NoFile | Self::Repeated(_) => S3ErrorCode::InvalidArgument,
            Self::Body(_) => S3ErrorCode::IncompleteBody,
            Self::Digest(code, _) => *code,
        };
        S3Error::new(code, self.to_string())
    }
}

/// A digest the file is checked against as it streams (the form's
/// `x-amz-checksum-*` fields; `sigv4::BodyChecks` is one): fed every byte
/// of the file in order, asked at the end, before the last piece leaves.
pub trait FileCheck: Send {
    fn update(&mut self, data: &[u8]);
    fn finish(&mut self) -> Result<(), FormError>;
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Result<String, FormError> {
    let mut params = content_type.split(';');
    let media = params.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return Err(FormError::NotMultipart);
    }
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("boundary") {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            // RFC 2046: 1 to 70 characters.
            if value.is_empty() || value.len() > 70 {
                return Err(FormError::NotMultipart);
            }
            return Ok(value.to_owned());
        }
    }
    Err(FormError::NotMultipart)
}

/// The fields before the file, and where the file's bytes begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormHead {
    /// Lowercase names (S3 compares them case-insensitively), in order.
    pub fields: Vec<(String, String)>,
    /// The file part's `filename`, as the browser sent it.
    pub filename: Option<String>,
    /// Bytes of the body before the file's first byte.
    pub file_offset: usize,
}

/// Parses the start of a form body up to the first byte of its `file`
/// part. `Ok(None)`: the head is not complete yet, read more (over a body
/// arriving in pieces, [`HeadReader`] does not start over each time).
pub fn parse_head(buf: &[u8], boundary: &str) -> Result<Option<FormHead>, FormError> {
    HeadReader::new(boundary).read(buf)
}

/// [`parse_head`] over a body that arrives in pieces: each call is given
/// the whole body so far (only ever grown) and resumes where the last one
/// stopped, after the last whole field, and a search for the end of a
/// part's headers or value resumes past the bytes already searched. A
/// head arriving byte by byte therefore costs about its length, not its
/// length squared.
#[derive(Debug)]
pub struct HeadReader {
    dash: String,
    delimiter: String,
    stage: Stage,
    fields: Vec<(String, String)>,
    /// Where the search for the current stage's marker resumes: past what
    /// earlier calls searched, less the marker's length (it may straddle).
    searched: usize,
}

/// Where a [`HeadReader`] is.
#[derive(Debug)]
enum Stage {
    /// Before the opening boundary.
    Start,
    /// After a boundary, at this offset: `--` closes the form, CRLF opens
    /// a part whose headers follow.
    Part(usize),
    /// In field `name`'s value, which starts at `content`.
    Value { name: String, content: usize },
}

impl HeadReader {
    pub fn new(boundary: &str) -> HeadReader {
        HeadReader {
            dash: format!("--{boundary}"),
            delimiter: format!("\r\n--{boundary}"),
            stage: Stage::Start,
            fields: Vec::new(),
            searched: 0,
        }
    }

    /// The head once `buf` (the body so far) holds it; `Ok(None)`: read
    /// more.
    pub fn read(&mut self, buf: &[u8]) -> Result<Option<FormHead>, FormError> {
        let more = |scanned: usize| {
            if scanned > MAX_PRE_FILE_BYTES {
                Err(FormError::PreDataTooLarge)
            } else {
                Ok(None)
            }
        };
        loop {
            // Taken out while this step runs, put back when it waits.
            match std::mem::replace(&mut self.stage, Stage::Start) {
                Stage::Start => {
                    let dash = self.dash.as_bytes();
                    if buf.len() < dash.len() + 2 {
                        return if dash.starts_with(&buf[..buf.len().min(dash.len())]) {
                            Ok(None)
                        } else {
                            Err(FormError::Malformed("it does not start with its boundary"))
                        };
                    }
                    if !buf.starts_with(dash) {
                        return Err(FormError::Malformed("it does not start with its boundary"));
                    }
                    self.enter(Stage::Part(dash.len()));
                }
                Stage::Part(pos) => {
                    match buf.get(pos..pos + 2) {
                        None => {
                            self.stage = Stage::Part(pos);
                            return more(buf.len());
                        }
                        Some(b"--") => return Err(FormError::NoFile),
                        Some(b"\r\n") => {}
                        Some(_) => {
                            return Err(FormError::Malformed("a boundary is followed by junk"));
                        }
                    }
                    let headers_at = pos + 2;
                    let Some(header_len) = search(&mut self.searched, buf, headers_at, b"\r\n\r\n")
                    else {
                        self.stage = Stage::Part(pos);
                        return more(buf.len());
                    };
                    let headers = std::str::from_utf8(&buf[headers_at..headers_at + header_len])
                        .map_err(|_| FormError::Malformed("a part's headers are not UTF-8"))?;
                    let (name, filename) = disposition(headers)?;
                    let content = headers_at + header_len + 4;
                    if content > MAX_PRE_FILE_BYTES {
                        return Err(FormError::PreDataTooLarge);
                    }
                    if name == "file" {
                        return Ok(Some(FormHead {
                            fields: std::mem::take(&mut self.fields),
                            filename,
                            file_offset: content,
                        }));
                    }
                    self.enter(Stage::Value { name, content });
                }
                Stage::Value { name, content } => {
                    let delimiter = self.delimiter.as_bytes();
                    let Some(value_len) = search(&mut self.searched, buf, content, delimiter)
                    else {
                        self.stage = Stage::Value { name, content };
                        return more(buf.len());
                    };
                    let value = std::str::from_utf8(&buf[content..content + value_len])
                        .map_err(|_| FormError::Malformed("a field's value is not UTF-8"))?;
                    if self.fields.iter().any(|(n, _)| *n == name) {
                        return Err(FormError::Repeated(name));
                    }
                    self.fields.push((name, value.to_owned()));
                    let next = content + value_len + delimiter.len();
                    self.enter(Stage::Part(next));
                }
            }
        }
    }

    fn enter(&mut self, stage: Stage) {
        self.stage = stage;
        self.searched = 0;
    }
}

/// Where `needle` starts in `buf[from..]`, searching from `searched` on
/// when that is further; when it is not there yet, `searched` becomes how
/// far a later call need not look again (less the needle's length, as it
/// may straddle the end).
fn search(searched: &mut usize, buf: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let start = (*searched).max(from).min(buf.len());
    match find(&buf[start..], needle) {
        Some(at) => Some(start + at - from),
        None => {
            *searched = buf
                .len()
                .saturating_sub(needle.len().saturating_sub(1))
                .max(from);
            None
        }
    }
}

/// The `name` (lowercased) and `filename` of a part's
/// `Content-Disposition: form-data` header.
fn disposition(headers: &str) -> Result<(String, Option<String>), FormError> {
    let malformed = FormError::Malformed("a part has no form-data Content-Disposition with a name");
    let value = headers
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-disposition")
                .then_some(value.trim())
        })
        .ok_or_else(|| malformed.clone())?;
    let mut rest = value;
    let kind = take_token(&mut rest);
    if !kind.eq_ignore_ascii_case("form-data") {
        return Err(malformed);
    }
    let mut name = None;
    let mut filename = None;
    while let Some(after) = rest.trim_start().strip_prefix(';') {
        rest = after.trim_start();
        let key = take_token(&mut rest).to_ascii_lowercase();
        let Some(after) = rest.trim_start().strip_prefix('=') else {
            return Err(FormError::Malformed(
                "a Content-Disposition parameter has no value",
            ));
        };
        rest = after.trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            // Browsers escape `"` as `%22`; a backslash escape is RFC 2616's.
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            out.push(next);
                        }
                    }
                    c => out.push(c),
                }
            }
            let end = end.ok_or(FormError::Malformed("an unterminated quoted parameter"))?;
            rest = &quoted[end..];
            out
        } else {
            take_token(&mut rest).to_owned()
        };
        match key.as_str() {
            "name" => name = Some(value.to_ascii_lowercase()),
            "filename" => filename = Some(value),
            _ => {}
        }
    }
    Ok((name.ok_or(malformed)?, filename))
}

fn take_token<'a>(rest: &mut &'a str) -> &'a str {
    let s = rest.trim_start();
    let end = s.find([';', '=']).unwrap_or(s.len());
    let (token, after) = s.split_at(end);
    *rest = after;
    token.trim()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The file's length, when the file is the last part: the body's length
/// less what precedes the file and the closing `\r\n--BOUNDARY--\r\n`
/// every browser and HTTP library sends.
pub fn file_length(body_length: u64, file_offset: usize, boundary: &str) -> Option<u64> {
    let closing = 2 + 2 + boundary.len() + 2 + 2;
    body_length.checked_sub(file_offset as u64 + closing as u64)
}

/// The file part of a form, streamed: exactly `length` bytes or an error,
/// the last piece held back until the closing boundary is where the length
/// says. `B` is the rest of the body after the head; `start` the bytes of
/// the file already read with the head.
pub struct FileBody<B> {
    inner: B,
    delimiter: Vec<u8>,
    /// Bytes that may still be the start of the delimiter.
    window: BytesMut,
    /// The delimiter was seen; what follows it.
    after: Option<BytesMut>,
    length: u64,
    emitted: u64,
    held: Option<Bytes>,
    inner_done: bool,
    finished: bool,
    check: Option<Box<dyn FileCheck>>,
}

impl<B> fmt::Debug for FileBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileBody")
            .field("length", &self.length)
            .field("emitted", &self.emitted)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<B> FileBody<B> {
    pub fn new(inner: B, start: &[u8], boundary: &str, length: u64) -> Self {
        let mut body = Self {
            inner,
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            window: BytesMut::new(),
            after: None,
            length,
            emitted: 0,
            held: None,
            inner_done: false,
            finished: false,
            check: None,
        };
        body.window.extend_from_slice(start);
        body
    }

    /// Checks the file against `check` too; a mismatch ends the stream
    /// before its last piece.
    #[must_use]
    pub fn checked(mut self, check: Box<dyn FileCheck>) -> Self {
        self.check = Some(check);
        self
    }

    /// The file's bytes now known not to be part of the delimiter.
    fn scan(&mut self) -> Bytes {
        if let Some(after) = &mut self.after {
            after.extend_from_slice(&self.window.split());
            return Bytes::new();
        }
        if let Some(at) = find(&self.window, &self.delimiter) {
            let file = self.window.split_to(at).freeze();
            let mut rest = self.window.split();
            let _ = rest.split_to(self.delimiter.len());
            self.after = Some(rest);
            return file;
        }
        let keep = self.delimiter.len() - 1;
        let safe = self.window.len().saturating_sub(keep);
        self.window.split_to(safe).freeze()
    }

    fn fail(&mut self, err: FormError) -> Poll<Option<Result<Frame<Bytes>, FormError>>> {
        self.finished = true;
        self.held = None;
        Poll::Ready(Some(Err(err)))
    }
}

impl<B> Body for FileBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: fmt::Display,
{
    type Data = Bytes;
    type Error = FormError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, FormError>>> {
        let this = self.get_mut();
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            let file = this.scan();
            if !file.is_empty() {
                let held = this.held.as_ref().map_or(0, |h| h.len() as u64);
                if this.emitted + held + file.len() as u64 > this.length {
                    return this.fail(FormError::FileLength);
                }
                if let Some(check) = &mut this.check {
                    check.update(&file);
                }
                if let Some(previous) = this.held.replace(file) {
                    this.emitted += previous.len() as u64;
                    return Poll::Ready(Some(Ok(Frame::data(previous))));
                }
            }
            if this.inner_done {
                // The file must have ended at exactly its length, and the
                // form right after it.
                let closed = this.after.as_ref().is_some_and(|a| a.starts_with(b"--"));
                let held = this.held.as_ref().map_or(0, |h| h.len() as u64);
                if !closed || this.emitted + held != this.length {
                    let err = if this.after.is_none() {
                        FormError::Malformed("the form ends inside the file")
                    } else {
                        FormError::FileLength
                    };
                    return this.fail(err);
                }
                if let Some(Err(err)) = this.check.as_mut().map(|c| c.finish()) {
                    return this.fail(err);
                }
                this.finished = true;
                return match this.held.take() {
                    Some(last) => {
                        this.emitted += last.len() as u64;
                        Poll::Ready(Some(Ok(Frame::data(last))))
                    }
                    None => Poll::Ready(None),
                };
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                None => this.inner_done = true,
                Some(Err(e)) => return this.fail(FormError::Body(e.to_string())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if this.after.as_ref().is_some_and(|a| a.len() > 1024) {
                            // Only `--` and an epilogue may follow the file.
                            return this.fail(FormError::FileLength);
                        }
                        this.window.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.length.saturating_sub(self.emitted))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use std::convert::Infallible;

    use http_body_util::{BodyExt, StreamBody};

    use super::*;

    const B: &str = "----WebKitFormBoundary7MA4YWxkTrZu0gW";

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn form(fields: &[(&str, &str)], file: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in fields {
            out.extend_from_slice(
                format!("--{B}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                    .as_bytes(),
            );
        }
        out.extend_from_slice(
            format!(
                "--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a b.txt\"\r\n\
                 Content-Type: text/plain\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(file);
        out.extend_from_slice(format!("\r\n--{B}--\r\n").as_bytes());
        out
    }

    /// Streams `body` in pieces of `step` bytes through a FileBody, the
    /// way the gateway does: head first, then the rest.
    fn stream(body: &[u8], step: usize) -> Result<Vec<u8>, FormError> {
        let mut read = 0;
        let mut reader = HeadReader::new(B);
        let head = loop {
            read = (read + step).min(body.len());
            if let Some(head) = reader.read(&body[..read])? {
                break head;
            }
            assert!(read < body.len(), "no head in the whole body");
        };
        let length = file_length(body.len() as u64, head.file_offset, B).unwrap();
        let rest: Vec<Result<Frame<Bytes>, Infallible>> = body[read..]
            .chunks(step)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let inner = StreamBody::new(futures_util::stream::iter(rest));
        let file = FileBody::new(inner, &body[head.file_offset..read], B, length);
        let collected = block_on(file.collect())?;
        Ok(collected.to_bytes().to_vec())
    }

    #[test]
    fn content_types_other_than_multipart_form_data_are_refused() {
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={B}")).unwrap(),
            B
        );
        assert_eq!(
            boundary("Multipart/Form-Data; boundary=\"a b\"").unwrap(),
            "a b"
        );
        for bad in [
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/mixed; boundary=x",
            "multipart/form-data; boundary=",
        ] {
            assert_eq!(boundary(bad), Err(FormError::NotMultipart), "{bad}");
        }
        assert_eq!(
            FormError::NotMultipart.to_s3_error().status(),
            http::StatusCode::PRECONDITION_FAILED
        );
    }

    #[test]
    fn the_head_holds_the_fields_in_order_and_the_files_name() {
        let body = form(&[("Key", "up/${filename}"), ("Policy", "e30=")], b"hello");
        let head = parse_head(&body, B).unwrap().unwrap();
        assert_eq!(
            head.fields,
            vec![
                ("key".to_owned(), "up/${filename}".to_owned()),
                ("policy".to_owned(), "e30=".to_owned())
            ]
        );
        assert_eq!(head.filename.as_deref(), Some("a b.txt"));
        assert_eq!(&body[head.file_offset..head.file_offset + 5], b"hello");
        // Any shorter prefix asks for more.
        for cut in 0..head.file_offset {
            assert_eq!(parse_head(&body[..cut], B), Ok(None), "{cut}");
        }
    }

    #[test]
    fn a_head_read_piece_by_piece_is_the_head_read_whole() {
        // Values holding near-delimiters, CRLFs and a blank line, which a
        // resumed search must neither miss nor find early.
        let body = form(
            &[
                ("key", "up/${filename}"),
                ("x-amz-meta-a", "one\r\n--bound\r\n\r\ntwo\r\n-"),
                ("x-amz-meta-b", &format!("\r\n-{B}")),
            ],
            b"file",
        );
        let whole = parse_head(&body, B).unwrap().unwrap();
        assert_eq!(whole.fields[1].1, "one\r\n--bound\r\n\r\ntwo\r\n-");
        for step in [1, 2, 3, 7, 64] {
            let mut reader = HeadReader::new(B);
            let mut read = 0;
            let head = loop {
                read = (read + step).min(body.len());
                if let Some(head) = reader.read(&body[..read]).unwrap() {
                    break head;
                }
                assert!(read < body.len(), "step {step}: no head");
            };
            assert_eq!(head, whole, "step {step}");
        }
        // Refusals come the same way piece by piece.
        let big = "v".repeat(MAX_PRE_FILE_BYTES);
        let body = form(&[("x-amz-meta-big", &big)], b"x");
        let mut reader = HeadReader::new(B);
        let refused = (1..=body.len())
            .step_by(5)
            .find_map(|n| reader.read(&body[..n]).err());
        assert_eq!(refused, Some(FormError::PreDataTooLarge));
    }

    #[test]
    fn the_file_streams_whole_whatever_the_piece_sizes() {
        // A file holding near-delimiters and CRLFs must come out unchanged.
        // (RFC 2046: the content never holds the whole delimiter.)
        let mut file = format!("x\r\n--{}x\r\n-\r\n--{}", &B[..B.len() - 1], &B[..10]).into_bytes();
        file.extend((0..3000).map(|i| (i % 251) as u8));
        let body = form(&[("key", "k")], &file);
        for step in [1, 2, 7, 64, 1000, body.len()] {
            assert_eq!(stream(&body, step).unwrap(), file, "step {step}");
        }
        assert_eq!(stream(&form(&[], b""), 3).unwrap(), b"");
    }

    #[test]
    fn a_part_after_the_file_or_a_cut_form_never_yields_the_whole_file() {
        let mut body = form(&[("key", "k")], b"0123456789");
        let end = body.len() - 4;
        body.truncate(end); // drop `--\r\n`
        body.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"after\"\r\n\r\nv\r\n");
        body.extend_from_slice(format!("--{B}--\r\n").as_bytes());
        assert_eq!(stream(&body, 5), Err(FormError::FileLength));
        let body = form(&[("key", "k")], b"0123456789");
        let cut = &body[..body.len() - 20];
        let head = parse_head(cut, B).unwrap().unwrap();
        let inner = StreamBody::new(futures_util::stream::iter(Vec::<
            Result<Frame<Bytes>, Infallible>,
        >::new()));
        let file = FileBody::new(inner, &cut[head.file_offset..], B, 10);
        let got = block_on(file.collect());
        assert_eq!(
            got.err(),
            Some(FormError::Malformed("the form ends inside the file"))
        );
    }

    /// Promises the file's byte sum.
    struct Sum(u64, u64);
    impl FileCheck for Sum {
        fn update(&mut self, data: &[u8]) {
            self.0 += data.iter().map(|b| u64::from(*b)).sum::<u64>();
        }
        fn finish(&mut self) -> Result<(), FormError> {
            if self.0 == self.1 {
                Ok(())
            } else {
                Err(FormError::Digest(S3ErrorCode::BadDigest, "sum".into()))
            }
        }
    }

    #[test]
    fn a_file_failing_its_check_never_yields_its_last_piece() {
        let body = form(&[("key", "k")], b"abc");
        let head = parse_head(&body, B).unwrap().unwrap();
        let length = file_length(body.len() as u64, head.file_offset, B).unwrap();
        let run = |promised: u64| {
            let inner = StreamBody::new(futures_util::stream::iter(Vec::<
                Result<Frame<Bytes>, Infallible>,
            >::new()));
            let file = FileBody::new(inner, &body[head.file_offset..], B, length)
                .checked(Box::new(Sum(0, promised)));
            block_on(file.collect()).map(|c| c.to_bytes())
        };
        assert_eq!(
            run(u64::from(b'a') + u64::from(b'b') + u64::from(b'c')).unwrap(),
            "abc"
        );
        assert_eq!(
            run(1).unwrap_err(),
            FormError::Digest(S3ErrorCode::BadDigest, "sum".into())
        );
    }

    #[test]
    fn a_form_without_a_file_or_with_a_repeated_field_is_refused() {
        let no_file = format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--{B}--\r\n"
        );
        assert_eq!(parse_head(no_file.as_bytes(), B), Err(FormError::NoFile));
        let body = form(&[("key", "a"), ("KEY", "b")], b"x");
        assert_eq!(parse_head(&body, B), Err(FormError::Repeated("key".into())));
        assert_eq!(
            parse_head(b"garbage that is long enough to judge", B),
            Err(FormError::Malformed("it does not start with its boundary"))
        );
    }

    #[test]
    fn fields_before_the_file_are_capped_at_20_kib() {
        let big = "v".repeat(MAX_PRE_FILE_BYTES);
        let body = form(&[("x-amz-meta-big", &big)], b"x");
        assert_eq!(parse_head(&body, B), Err(FormError::PreDataTooLarge));
        assert_eq!(
            parse_head(&body[..MAX_PRE_FILE_BYTES + 10], B),
            Err(FormError::PreDataTooLarge)
        );
    }

    #[test]
    fn quoted_parameters_keep_semicolons_and_escapes() {
        let (name, filename) =
            disposition("Content-Disposition: form-data; name=\"file\"; filename=\"a;b\\\"c.txt\"")
                .unwrap();
        assert_eq!(name, "file");
        assert_eq!(filename.as_deref(), Some("a;b\"c.txt"));
        assert!(disposition("Content-Disposition: attachment; name=\"x\"").is_err());
        assert!(disposition("Content-Type: text/plain").is_err());
    }
}
