//! Tamper evidence for the audit trail: each record carries a hash chained
//! to the previous record's, so editing, removing or reordering a line
//! breaks every link after it.
//!
//! `hash = hex(SHA-256(previous hash (hex) ‖ the record without its hash))`,
//! where "the record without its hash" is the JSON line exactly as written,
//! minus the trailing `,"hash":"…"` member. The first record of a chain
//! links to [`GENESIS`]. A file sink continues the chain of the file's last
//! record across restarts; a stdout sink starts a chain per process (one
//! CloudWatch log stream per task).
//!
//! Anyone can recompute the chain, so it proves integrity against edits, not
//! authorship: ship the lines somewhere the gateway's operators cannot
//! rewrite (CloudWatch Logs, an S3 bucket with Object Lock) and keep the last
//! hash of each day out of band. Pure: bytes in, bytes out.

use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::Path;

use sha2::{Digest, Sha256};

/// The "previous hash" of a chain's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const SUFFIX_START: &str = ",\"hash\":\"";
/// `,"hash":"` + 64 hex digits + `"}`.
const SUFFIX_LEN: usize = SUFFIX_START.len() + 64 + 2;

/// The running state of a chain.
pub struct Chain {
    prev: String,
}

impl Chain {
    pub fn new(prev: Option<String>) -> Self {
        Self {
            prev: prev.unwrap_or_else(|| GENESIS.to_owned()),
        }
    }

    /// Appends `,"hash":"…"` to a serialised JSON object (which must end
    /// with `}`) and advances the chain.
    pub fn seal(&mut self, json: &mut Vec<u8>) {
        let hash = link(&self.prev, json);
        if json.last() == Some(&b'}') {
            json.pop();
            json.extend_from_slice(SUFFIX_START.as_bytes());
            json.extend_from_slice(hash.as_bytes());
            json.extend_from_slice(b"\"}");
        }
        self.prev = hash;
    }
}

fn link(prev: &str, record: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(record);
    hex::encode(h.finalize())
}

/// Splits a sealed line into the record as hashed and its claimed hash.
fn unseal(line: &str) -> Option<(String, &str)> {
    if line.len() < SUFFIX_LEN + 2 || !line.ends_with("\"}") {
        return None;
    }
    let cut = line.len() - SUFFIX_LEN;
    let suffix = line.get(cut..)?;
    let hash = suffix.strip_prefix(SUFFIX_START)?.strip_suffix("\"}")?;
    if !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut record = line[..cut].to_owned();
    record.push('}');
    Some((record, hash))
}

/// The hash of the last sealed record of a file, to continue its chain.
/// Reads only the file's tail.
pub fn last_hash(path: &Path) -> std::io::Result<Option<String>> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let tail = len.min(256 * 1024);
    f.seek(SeekFrom::Start(len - tail))?;
    let mut buf = Vec::with_capacity(usize::try_from(tail).unwrap_or(0));
    f.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    Ok(text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(unseal)
        .map(|(_, h)| h.to_owned()))
}

/// Where a chain broke.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChainError {
    #[error("line {line}: no hash (not a sealed audit record)")]
    Unsealed { line: u64 },
    #[error("line {line}: hash does not match its content and the previous record")]
    Broken { line: u64 },
    #[error("cannot read line {line}: {message}")]
    Read { line: u64, message: String },
}

/// Checks every link; returns the number of records, or the first break.
pub fn verify(reader: impl BufRead) -> Result<u64, ChainError> {
    let mut prev = GENESIS.to_owned();
    let mut n = 0;
    for (i, line) in reader.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.map_err(|e| ChainError::Read {
            line: line_no,
            message: e.to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let (record, hash) = unseal(&line).ok_or(ChainError::Unsealed { line: line_no })?;
        if link(&prev, record.as_bytes()) != hash {
            return Err(ChainError::Broken { line: line_no });
        }
        prev = hash.to_owned();
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(records: &[&str]) -> String {
        let mut chain = Chain::new(None);
        let mut out = String::new();
        for r in records {
            let mut b = r.as_bytes().to_vec();
            chain.seal(&mut b);
            out.push_str(std::str::from_utf8(&b).unwrap());
            out.push('\n');
        }
        out
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let text = sealed(&[r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#]);
        assert_eq!(verify(text.as_bytes()), Ok(3));
    }

    #[test]
    fn an_edit_is_reported_at_its_line() {
        let text = sealed(&[r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#]);
        let tampered = text.replacen(r#""a":2"#, r#""a":5"#, 1);
        assert_eq!(
            verify(tampered.as_bytes()),
            Err(ChainError::Broken { line: 2 })
        );
    }

    #[test]
    fn a_removed_line_breaks_the_next_link() {
        let text = sealed(&[r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#]);
        let lines: Vec<_> = text.lines().collect();
        let cut = format!("{}\n{}\n", lines[0], lines[2]);
        assert_eq!(verify(cut.as_bytes()), Err(ChainError::Broken { line: 2 }));
    }

    #[test]
    fn an_unsealed_line_is_named() {
        let text = format!("{}{}\n", sealed(&[r#"{"a":1}"#]), r#"{"a":2}"#);
        assert_eq!(
            verify(text.as_bytes()),
            Err(ChainError::Unsealed { line: 2 })
        );
    }

    #[test]
    fn a_file_chain_continues_from_its_last_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let first = sealed(&[r#"{"a":1}"#]);
        std::fs::write(&path, &first).unwrap();
        let mut chain = Chain::new(last_hash(&path).unwrap());
        let mut b = br#"{"a":2}"#.to_vec();
        chain.seal(&mut b);
        let all = format!("{first}{}\n", String::from_utf8(b).unwrap());
        assert_eq!(verify(all.as_bytes()), Ok(2));
    }
}
