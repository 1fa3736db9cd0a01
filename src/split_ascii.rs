//! Text split at an ASCII byte, as `str::split` and `str::split_once`
//! split it at that `char`, without their searcher. `str::split(char)`
//! sets up a `CharSearcher` (the char's UTF-8 bytes, then `memchr`) for
//! every piece: ~190 instructions a piece, where the pieces SigV4 reads
//! (a credential's five parts, the Authorization header's components, the
//! signed header names) are a few bytes to a few dozen. A byte loop over
//! them costs a few instructions a byte.
//!
//! An ASCII byte never occurs inside a multi-byte UTF-8 sequence, so the
//! pieces are the same and every cut is on a char boundary.
//!
//! A leaf: depends on nothing. `str::split` stays the oracle in tests.

/// The pieces of `text` between the `sep` bytes, as
/// `text.split(sep as char)` yields them (an empty text is one empty
/// piece). `sep` must be ASCII.
pub fn split(text: &str, sep: u8) -> Split<'_> {
    debug_assert!(sep.is_ascii());
    Split {
        rest: Some(text),
        sep,
    }
}

/// `text` cut at the first `sep`, as `text.split_once(sep as char)`.
pub fn split_once(text: &str, sep: u8) -> Option<(&str, &str)> {
    debug_assert!(sep.is_ascii());
    let at = text.bytes().position(|b| b == sep)?;
    Some((text.get(..at)?, text.get(at + 1..)?))
}

/// See [`split`].
#[derive(Clone)]
pub struct Split<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match split_once(rest, self.sep) {
            Some((piece, after)) => {
                self.rest = Some(after);
                Some(piece)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Text over a few separators, letters and multi-byte chars.
    fn text() -> impl Strategy<Value = String> {
        "[;,=/a-cé😀]{0,24}"
    }

    proptest! {
        #[test]
        fn pieces_are_str_splits(text in text(), sep in prop::sample::select(vec![b';', b',', b'=', b'/'])) {
            let ours: Vec<&str> = split(&text, sep).collect();
            let std: Vec<&str> = text.split(char::from(sep)).collect();
            prop_assert_eq!(ours, std);
            prop_assert_eq!(split_once(&text, sep), text.split_once(char::from(sep)));
        }
    }
}
