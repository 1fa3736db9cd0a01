//! Resource patterns: `s3://bucket/prefix*` globs where `*` matches any run
//! of bytes (including `/` and nothing) and every other byte is literal.
//!
//! Owns matching only; depends on nothing else in the crate. There is no `?`
//! and no escaping: keys are compared byte-exact, as the upstream stores
//! them.
//!
//! Matching is linear in the resource length whatever the pattern: with `*`
//! as the only wildcard, the leftmost match of each literal segment between
//! stars is always a correct choice, so a single left-to-right pass with
//! substring search decides it (no backtracking, so `*a*a*a*…b` against a
//! long run of `a` costs no more than any other input).

use std::fmt;

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    /// Byte ranges into `text` of the literal segments between stars;
    /// `None` when the pattern has no star (exact match).
    segments: Option<Vec<(usize, usize)>>,
}

impl Pattern {
    /// Compiles `text`; every string is a valid pattern.
    pub fn new(text: &str) -> Pattern {
        let segments = text.contains('*').then(|| {
            let mut segments = Vec::new();
            let mut start = 0;
            for part in text.split('*') {
                segments.push((start, start + part.len()));
                start += part.len() + 1;
            }
            segments
        });
        Pattern {
            text: text.to_owned(),
            segments,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `resource` matches the whole pattern.
    pub fn matches(&self, resource: &str) -> bool {
        let Some(segments) = &self.segments else {
            return self.text == resource;
        };
        let seg = |i: usize| -> &str {
            let (a, b) = segments[i];
            &self.text[a..b]
        };
        // `segments` has at least two entries: the text before the first star
        // and the text after the last one.
        let (first, last) = (seg(0), seg(segments.len() - 1));
        if resource.len() < first.len() + last.len()
            || !resource.starts_with(first)
            || !resource.ends_with(last)
        {
            return false;
        }
        // The middle segments must appear in order, without overlapping,
        // between the anchored prefix and suffix.
        let mut rest = &resource[first.len()..resource.len() - last.len()];
        for i in 1..segments.len() - 1 {
            let middle = seg(i);
            if middle.is_empty() {
                continue;
            }
            match rest.find(middle) {
                Some(at) => rest = &rest[at + middle.len()..],
                None => return false,
            }
        }
        true
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn name_globs_as_aws_identity_uses_them() {
        let m = |p: &str, t: &str| Pattern::new(p).matches(t);
        assert!(m("*", "anything"));
        assert!(m("app-*", "app-web"));
        assert!(!m("app-*", "xapp-web"));
        assert!(m("*-task", "web-task"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxc"));
        assert!(!m("ab*ba", "aba"));
        assert!(m("exact", "exact"));
        assert!(!m("exact", "exact2"));
    }

    /// The obviously-correct exponential matcher the fast one is checked
    /// against.
    fn naive(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (0..=text.len()).any(|i| naive(rest, &text[i..])),
            Some((c, rest)) => text.first() == Some(c) && naive(rest, &text[1..]),
        }
    }

    fn random_string(rng: &mut StdRng, alphabet: &[u8], max_len: usize) -> String {
        let len = rng.random_range(0..=max_len);
        (0..len)
            .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
            .collect()
    }

    #[test]
    fn agrees_with_naive_matcher_on_random_inputs() {
        let mut rng = StdRng::seed_from_u64(0x5eed);
        for _ in 0..20_000 {
            let pattern = random_string(&mut rng, b"ab/*", 8);
            let text = random_string(&mut rng, b"ab/", 10);
            assert_eq!(
                Pattern::new(&pattern).matches(&text),
                naive(pattern.as_bytes(), text.as_bytes()),
                "pattern {pattern:?} text {text:?}"
            );
        }
    }

    #[test]
    fn agrees_with_naive_matcher_exhaustively_on_small_inputs() {
        fn all(alphabet: &[u8], max_len: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut frontier = vec![String::new()];
            for _ in 0..max_len {
                let mut next = Vec::new();
                for s in &frontier {
                    for c in alphabet {
                        let mut t = s.clone();
                        t.push(char::from(*c));
                        next.push(t);
                    }
                }
                out.extend(next.iter().cloned());
                frontier = next;
            }
            out
        }
        let texts = all(b"ab", 5);
        for pattern in all(b"a*b", 5) {
            let compiled = Pattern::new(&pattern);
            for text in &texts {
                assert_eq!(
                    compiled.matches(text),
                    naive(pattern.as_bytes(), text.as_bytes()),
                    "pattern {pattern:?} text {text:?}"
                );
            }
        }
    }

    #[test]
    fn examples() {
        let p = Pattern::new("s3://dev/home/alice/*");
        assert!(p.matches("s3://dev/home/alice/"));
        assert!(p.matches("s3://dev/home/alice/a/b/../c"));
        assert!(!p.matches("s3://dev/home/"));
        assert!(!p.matches("s3://dev/home/alice"));
        assert!(!p.matches("s3://dev/home/alicex/"));
        assert!(!p.matches("s3://dev"));

        assert!(Pattern::new("s3://*").matches("s3://"));
        assert!(Pattern::new("s3://*").matches("s3://b/k"));
        assert!(Pattern::new("s3://b/x*").matches("s3://b/x"));
        assert!(Pattern::new("s3://b/*.txt").matches("s3://b/a/b.txt"));
        assert!(!Pattern::new("s3://b/*.txt").matches("s3://b/a/b.txt2"));
        // Exact without a star; `?` is literal.
        assert!(Pattern::new("s3://b/k?").matches("s3://b/k?"));
        assert!(!Pattern::new("s3://b/k?").matches("s3://b/kx"));
        assert!(!Pattern::new("s3://b/k").matches("s3://b/k/"));
        // Prefix and suffix may not overlap.
        assert!(!Pattern::new("s3://aa*aa").matches("s3://aaa"));
        assert!(Pattern::new("s3://aa*aa").matches("s3://aaaa"));
        // Multi-byte characters are compared byte-exact.
        assert!(Pattern::new("s3://b/caf*").matches("s3://b/café"));
        assert!(!Pattern::new("s3://b/cafe*").matches("s3://b/café"));
    }

    #[test]
    fn many_stars_do_not_blow_up() {
        let pattern = format!("{}b", "*a".repeat(64));
        let text = "a".repeat(200_000);
        let started = std::time::Instant::now();
        assert!(!Pattern::new(&pattern).matches(&text));
        assert!(Pattern::new(&pattern).matches(&format!("{text}b")));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
