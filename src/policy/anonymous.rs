//! The `anonymous` principal: what an unsigned request may be granted.
//!
//! Pure. A grant naming `anonymous` makes data public, so it is held to
//! reading: `s3:GetObject` (HEAD included), `s3:GetObjectVersion` and
//! `s3:ListBucket` (listings within the granted prefixes), and never
//! `s3gate:Delegate`. Anything more is refused when the policy loads (at
//! start and on every reload, so a bad edit keeps the old policy), and
//! `s3gate policy check` warns about every grant that names it.

use super::ActionSet;
use crate::s3::Action;

/// The only actions a grant to `anonymous` may name.
pub const ANONYMOUS_ACTIONS: ActionSet = ActionSet::of(&[
    Action::GetObject,
    Action::GetObjectVersion,
    Action::ListBucket,
]);

/// Why a grant to `anonymous` with these actions is refused, if it is.
pub fn check_grant(actions: ActionSet, delegate: bool) -> Result<(), String> {
    let extra = actions.without(ANONYMOUS_ACTIONS);
    if extra.is_empty() && !delegate {
        return Ok(());
    }
    let mut named: Vec<String> = extra.iter().map(|a| format!("s3:{a}")).collect();
    if delegate {
        named.push("s3gate:Delegate".into());
    }
    if named.len() > 4 {
        named.truncate(4);
        named.push("…".into());
    }
    Err(format!(
        "a grant to `anonymous` may only read (s3:GetObject, s3:GetObjectVersion, \
         s3:ListBucket), but this one also grants {}: unsigned requests would \
         change or reach more than public data",
        named.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_may_be_granted_to_anonymous() {
        assert!(check_grant(ANONYMOUS_ACTIONS, false).is_ok());
        assert!(check_grant(ActionSet::of(&[Action::GetObject]), false).is_ok());
        assert!(check_grant(ActionSet::of(&[Action::GetObject]), true).is_err());
        for wider in [
            ActionSet::WRITE,
            ActionSet::DELETE,
            ActionSet::READ,
            ActionSet::ALL,
            ActionSet::of(&[Action::PutObject]),
            ActionSet::of(&[Action::GetObjectAcl]),
        ] {
            let e = check_grant(wider, false).expect_err("refused");
            assert!(e.contains("may only read"), "{e}");
        }
    }
}
