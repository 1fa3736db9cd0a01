//! Conformance parity: the S3 behaviour table of `boto3_parity.py`
//! (listing edge cases, conditional requests, ranges, multipart, copy,
//! versioning, tagging, presigned expiry, POST object) run through s3gate
//! and straight against the same store, answer for answer. A difference is
//! either a bug or one of [`DELIBERATE`], each documented.

use serde_json::{Map, Value};

use crate::harness::{harness, unique_name};
use crate::store::parity_run;

/// Rows where s3gate answers otherwise than the store on purpose, with
/// where that is documented. Empty today: every row of the table answers
/// the same through s3gate. (s3gate's other deliberate refusals — dot
/// segments in keys, anonymous requests — are outside this table: see
/// docs/clients.md and docs/browser.md.)
const DELIBERATE: &[(&str, &str)] = &[];

/// The rows whose answers differ between the two runs.
fn differences(direct: &Map<String, Value>, through: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (row, want) in direct {
        let got = through.get(row).unwrap_or(&Value::Null);
        if got != want {
            out.push(format!("{row:36} store={want} s3gate={got}"));
        }
    }
    for row in through.keys().filter(|r| !direct.contains_key(*r)) {
        out.push(format!("{row:36} only through s3gate"));
    }
    out
}

#[test]
fn through_s3gate_the_behaviour_table_answers_as_the_store_does() {
    needs_testbed!();
    let h = harness();
    let direct = parity_run(&h.store.endpoint(), &h.store.creds, &unique_name("pdirect"));
    let name = unique_name("pgate");
    // The table creates `name` and `name-v`: the session may do anything
    // there, and nothing elsewhere.
    let creds = h.mint(&unique_name("parity"), &[format!("*=s3://{name}*")], "1h");
    let through = parity_run(&h.gw().endpoint(), &creds, &name);
    assert!(direct.len() > 40, "the table ran: {direct:?}");
    let diffs: Vec<String> = differences(&direct, &through)
        .into_iter()
        .filter(|d| !DELIBERATE.iter().any(|(row, _)| d.starts_with(row)))
        .collect();
    assert!(
        diffs.is_empty(),
        "s3gate answers otherwise than the store it fronts (fix it, or list it in \
         DELIBERATE with its documentation):\n{}",
        diffs.join("\n")
    );
}
