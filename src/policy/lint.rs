//! Lints for `s3gate policy check`: rules that are valid but probably not
//! what their author meant. Warnings only; the policy still loads.
//!
//! Pure. "Covers" below is decided on the text of patterns (a glob of one
//! rule matching the other rule's pattern, its `*` taken literally), which
//! is sound: when it says a deny covers a grant, it does.

use std::fmt;

use super::eval::{Policy, Rule};
use super::principal::PrincipalPattern;
use super::{ActionSet, Pattern};

/// One warning about a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    pub rule: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: rule `{}`: {}", self.line, self.rule, self.message)
    }
}

/// The lints of a policy, in file order.
pub fn lint(policy: &Policy) -> Vec<Lint> {
    let mut out = Vec::new();
    let warn = |out: &mut Vec<Lint>, rule: &Rule, message: String| {
        out.push(Lint {
            rule: rule.id.to_string(),
            line: rule.line,
            message,
        });
    };
    for g in policy.grants() {
        let everything = g.resources.iter().any(|r| r.as_str() == "s3://*");
        if g.actions == ActionSet::ALL && everything {
            warn(
                &mut out,
                g,
                "grants every action (`*`) on every resource (`s3://*`), including operations \
                 s3gate does not recognise"
                    .into(),
            );
        } else if g.actions == ActionSet::ALL {
            warn(
                &mut out,
                g,
                "grants `*`, which includes operations s3gate does not recognise; name the \
                 groups or actions needed"
                    .into(),
            );
        }
        let writes = !g
            .actions
            .intersection(ActionSet::WRITE.union(ActionSet::DELETE))
            .is_empty();
        if g.principals.contains(&PrincipalPattern::Any) && (writes || everything) {
            warn(
                &mut out,
                g,
                "grants to every authenticated identity (`*`)".into(),
            );
        }
        if let Some(d) = policy.denies().iter().find(|d| covers(d, g)) {
            warn(
                &mut out,
                g,
                format!(
                    "can never allow anything: deny `{}` (line {}) covers all of it",
                    d.id, d.line
                ),
            );
        }
        if ActionSet::BUCKET.contains_all(g.actions)
            && !g.resources.iter().any(|r| may_match_bucket(r.as_str()))
        {
            warn(
                &mut out,
                g,
                "grants only bucket-level actions, but no resource can match a bucket \
                 (write `s3://BUCKET`, without a slash)"
                    .into(),
            );
        }
        if let Some(message) = widening_delegation(policy, g) {
            warn(&mut out, g, message);
        }
        if g.principals.contains(&PrincipalPattern::Anonymous) {
            let resources: Vec<&str> = g.resources.iter().map(|r| r.as_str()).collect();
            warn(
                &mut out,
                g,
                format!(
                    "PUBLIC DATA: grants `anonymous` (anyone on the network, no credentials)                      {} on {}; every unsigned request there is served with s3gate's own                      upstream credentials",
                    g.actions
                        .iter()
                        .map(|a| format!("s3:{a}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    resources.join(", ")
                ),
            );
        }
    }
    let denies = policy.denies();
    for (i, d) in denies.iter().enumerate() {
        if let Some(other) = denies
            .iter()
            .enumerate()
            .find(|(j, o)| *j != i && covers(o, d) && !(covers(d, o) && *j > i))
            .map(|(_, o)| o)
        {
            warn(
                &mut out,
                d,
                format!(
                    "overlaps deny `{}` (line {}), which already covers all of it",
                    other.id, other.line
                ),
            );
        }
    }
    out.sort_by_key(|l| l.line);
    out
}

/// Whether the unconditional rule `wide` applies wherever `narrow` does:
/// to all its principals, actions and resources.
fn covers(wide: &Rule, narrow: &Rule) -> bool {
    wide.conditions.is_empty()
        && wide.actions.contains_all(narrow.actions)
        && narrow.principals.iter().all(|n| {
            wide.principals.iter().any(|w| match (w, n) {
                (PrincipalPattern::Any, _) => true,
                (_, PrincipalPattern::Any) => false,
                _ => Pattern::new(&w.to_text()).matches(&n.to_text()),
            })
        })
        && resources_cover(wide, narrow)
}

/// Whether every resource of `narrow` is within one of `wide`'s.
fn resources_cover(wide: &Rule, narrow: &Rule) -> bool {
    narrow.resources.iter().all(|n| {
        wide.resources.iter().any(|w| {
            w.as_str() == n.as_str()
                || !w.has_variables()
                    && !n.has_variables()
                    && Pattern::new(w.as_str()).matches(n.as_str())
        })
    })
}

/// A `delegated-by:` grant that only works by widening: for some delegator
/// it names, no grant to that delegator (by name, `*`, or an attribute
/// such as `group:` that it may hold) covers it. A delegated session may
/// do only what its delegator may (`policy::delegation`), so such a grant
/// allows less than it says. Sound in one direction only: silence does not
/// prove the delegator holds the grant (a group may be missing).
fn widening_delegation(policy: &Policy, g: &Rule) -> Option<String> {
    if g.actions.is_empty() {
        // Only `s3gate:Delegate`: no S3 right to widen.
        return None;
    }
    let delegators = g.principals.iter().filter_map(|p| match p {
        PrincipalPattern::DelegatedBy(d) => Some(d.as_str()),
        _ => None,
    });
    for delegator in delegators {
        let held = policy.grants().iter().any(|h| {
            let may_apply = h.principals.iter().any(|p| match p {
                PrincipalPattern::Any | PrincipalPattern::Group(_) | PrincipalPattern::Email(_) => {
                    true
                }
                PrincipalPattern::Name(n) => n.matches(delegator),
                PrincipalPattern::DelegatedBy(_) | PrincipalPattern::Anonymous => false,
            });
            may_apply && h.actions.contains_all(g.actions) && resources_cover(h, g)
        });
        if !held {
            return Some(format!(
                "names `delegated-by:{delegator}`, but no grant to {delegator} covers it: a \
                 delegated session may do only what its delegator may, so this grant cannot \
                 add a right (it only holds agents to it)"
            ));
        }
    }
    None
}

/// Whether a resource pattern could match `s3://BUCKET` (no slash after the
/// bucket): its literal text before the first `*` or `${` has no `/` after
/// `s3://`.
fn may_match_bucket(pattern: &str) -> bool {
    let body = &pattern["s3://".len().min(pattern.len())..];
    let literal_end = [body.find('*'), body.find("${")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(body.len());
    !body[..literal_end].contains('/')
}
