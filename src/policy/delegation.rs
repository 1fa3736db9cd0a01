//! Delegation: what a delegated session may do, and how it is named.
//!
//! The invariant, here and nowhere else: **a delegated session may do only
//! what the session that delegated it may do at that moment**, and then
//! only what the `delegated-by` rules allow its kind. Spelled out for a
//! session whose chain is `[root, d1, …, dn]` (see `session::Claims::chain`):
//!
//! 1. the policy allows the pair for the root identity as itself, with no
//!    chain (so `delegated-by` rules never count for it): what the person
//!    or service may do now;
//! 2. for each delegated session `dk` of the chain, `k = 1..=n`, with
//!    delegators `[root, …, d(k-1)]`:
//!    - no deny that applies to it covers the pair (a `delegated-by` deny
//!      restricts agents);
//!    - if some `delegated-by` grant applies to it, one of those grants
//!      covers the pair: such grants are a *ceiling* for agents, never a
//!      floor, since step 1 must hold as well.
//!
//! Scopes (each session's own, sealed into the token) are checked besides
//! this by the caller (`Claims::first_denied`): they only ever narrow.
//! The upstream role and the session policy come from step 1, the
//! delegator's own grants, so the store is never asked for more than the
//! root may do.
//!
//! Whether a session may delegate at all is a decision too, on the action
//! `s3gate:Delegate` (not an S3 action, and not tied to a rule's
//! resources; `*` includes it): a session nobody delegated (a person, a
//! service) may, unless a deny naming the action applies to it; a delegated
//! session (an agent) may only when a grant naming the action applies to
//! it through a `delegated-by:` or `*` principal — a grant to its root's
//! name or groups speaks of the root, not of its agents — and no such deny
//! does. Depth stays bounded by `session::MAX_CHAIN`.
//!
//! Pure: no I/O, no clock. Depends on [`super::eval`] for rule matching.

use super::eval::{Caller, Decision, Granted, Policy, Reason, Rule};
use super::principal::PrincipalPattern;
use crate::s3::{Action, Encryption};

/// The action that lets a session delegate, as a policy names it.
pub const DELEGATE_ACTION: &str = "s3gate:Delegate";

/// The principal name of the session `name` delegated by the session whose
/// principal name is `parent`: `delegated:<parent>/<name>`. A delegated
/// name is thus always under its delegator's: one user can never name,
/// match or revoke another user's agents by choosing the same name.
///
/// Unique: `name` never holds `/` (STS's `RoleSessionName` is
/// `[\w+=,.@-]`), so the last `/` splits a name back into its parent and
/// itself, and parents are unique by the same argument down to the root.
pub fn delegated_name(parent: &str, name: &str) -> String {
    format!("delegated:{parent}/{name}")
}

impl Rule {
    /// Whether one of this rule's principals is a `delegated-by:` pattern
    /// matching one of `delegators`.
    fn names_delegators(&self, delegators: &[String]) -> bool {
        self.principals.iter().any(|p| match p {
            PrincipalPattern::DelegatedBy(pattern) => delegators.iter().any(|d| pattern.matches(d)),
            _ => false,
        })
    }
}

impl Policy {
    /// Decides a request of a session (delegated or not) needing every
    /// (action, resource) in `resources`. `caller.chain` is the session's
    /// chain as sealed: empty for a session nobody delegated, else the
    /// root principal, then each delegated session, this one last.
    ///
    /// The invariant of the module doc: a refusal at any level refuses.
    /// For an allowed request the decision (its rule and upstream role) is
    /// the root's.
    pub fn decide_session(&self, caller: &Caller<'_>, resources: &[(Action, String)]) -> Decision {
        self.decide_session_request(caller, resources, &Encryption::default())
    }

    /// [`Policy::decide_session`] for a request asking for the server-side
    /// encryption `encryption`: the root's grants must permit it (see
    /// [`Policy::decide_request`]).
    pub fn decide_session_request(
        &self,
        caller: &Caller<'_>,
        resources: &[(Action, String)],
        encryption: &Encryption,
    ) -> Decision {
        let root = caller.root();
        let decision = self.decide_request(&root, resources, encryption);
        if !decision.allowed {
            return decision;
        }
        for k in 1..caller.chain.len() {
            if let Some(refusal) = self.decide_delegated(caller, &caller.chain[..k], resources) {
                return refusal;
            }
        }
        decision
    }

    /// Step 2 of the module doc for one delegated session, whose
    /// delegators are `delegators`: the refusal, if any.
    fn decide_delegated(
        &self,
        caller: &Caller<'_>,
        delegators: &[String],
        resources: &[(Action, String)],
    ) -> Option<Decision> {
        let level = Caller {
            chain: delegators,
            ..*caller
        };
        let name = caller.name();
        let identity = caller.identity;
        let refuse = |reason, rule: String, action: Action, resource: &str| Decision {
            allowed: false,
            reason,
            rule: Some(rule.into()),
            action,
            resource: resource.to_owned(),
            role: None,
            encryption: None,
        };
        for deny in self.denies().iter().filter(|d| d.applies_to(&level, &name)) {
            if let Some((action, resource)) =
                resources.iter().find(|(a, r)| deny.covers(identity, *a, r))
            {
                return Some(refuse(
                    Reason::Denied,
                    deny.id.to_string(),
                    *action,
                    resource,
                ));
            }
        }
        // A grant of `s3gate:Delegate` alone says nothing of S3.
        let ceiling: Vec<&Rule> = self
            .grants()
            .iter()
            .filter(|g| {
                !g.actions.is_empty()
                    && g.names_delegators(delegators)
                    && g.applies_to(&level, &name)
            })
            .collect();
        if ceiling.is_empty() {
            return None;
        }
        let (action, resource) = resources
            .iter()
            .find(|(a, r)| !ceiling.iter().any(|g| g.covers(identity, *a, r)))?;
        let ids: Vec<&str> = ceiling.iter().map(|g| &*g.id).collect();
        Some(refuse(
            Reason::OutsideDelegatedGrants,
            ids.join(","),
            *action,
            resource,
        ))
    }

    /// Whether the session (`caller.chain` as sealed) may delegate now:
    /// `Err` names the rule or the reason it may not (module doc).
    pub fn may_delegate(&self, caller: &Caller<'_>) -> Result<(), String> {
        let name = caller.name();
        // Each level the session is: the root as itself, then each
        // delegated session of the chain with its delegators.
        let levels =
            std::iter::once(&[][..]).chain((1..caller.chain.len()).map(|k| &caller.chain[..k]));
        for delegators in levels {
            let level = Caller {
                chain: delegators,
                ..*caller
            };
            if let Some(deny) = self
                .denies()
                .iter()
                .find(|d| d.delegate && d.applies_to(&level, &name))
            {
                return Err(format!(
                    "denied by rule `{}`, which names {DELEGATE_ACTION}",
                    deny.id
                ));
            }
        }
        if caller.chain.is_empty() {
            return Ok(());
        }
        let delegators = &caller.chain[..caller.chain.len() - 1];
        let level = Caller {
            chain: delegators,
            ..*caller
        };
        let granted = self.grants().iter().any(|g| {
            g.delegate
                && (g.names_delegators(delegators) || g.principals.contains(&PrincipalPattern::Any))
                && g.applies_to(&level, &name)
        });
        if granted {
            Ok(())
        } else {
            Err(format!(
                "a delegated session may delegate only where a grant of {DELEGATE_ACTION} names \
                 it (`delegated-by:` one of {}, or `*`), and none does",
                delegators.join(", ")
            ))
        }
    }

    /// What a session may be granted under `role` for its session policy:
    /// the root's grants ([`Policy::grants_for`] without the chain), never
    /// a `delegated-by` grant, which cannot add a right.
    pub fn session_grants_for(&self, caller: &Caller<'_>, role: Option<&str>) -> Vec<Granted> {
        self.grants_for(&caller.root(), role)
    }
}

impl<'a> Caller<'a> {
    /// The root of the caller's chain, as itself: the same identity,
    /// address and time, with no chain.
    pub fn root(&self) -> Caller<'a> {
        Caller {
            chain: &[],
            ..*self
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use proptest::prelude::*;

    use super::*;
    use crate::principal::Identity;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn policy(text: &str) -> Policy {
        Policy::parse(text, "test.toml").expect("the test policy parses")
    }

    /// The chain of a session `names` delegated from `root`, in turn.
    fn chain(root: &str, names: &[&str]) -> Vec<String> {
        let mut chain = vec![root.to_owned()];
        for n in names {
            let parent = chain.last().cloned().expect("a root");
            chain.push(delegated_name(&parent, n));
        }
        if names.is_empty() { Vec::new() } else { chain }
    }

    fn decide(p: &Policy, id: &Identity, chain: &[String], action: Action, res: &str) -> Decision {
        let caller = Caller {
            identity: id,
            name: None,
            chain,
            client: None,
            now: now(),
        };
        p.decide_session(&caller, &[(action, res.to_owned())])
    }

    const SELF_DELEGATION: &str = r#"
[[grant]]
id = "dev-home"
principals = ["user:dev"]
actions = ["read", "write"]
resources = ["s3://dev/home/*"]

[[grant]]
id = "dev-agents-shared"
principals = ["delegated-by:user:dev"]
actions = ["read"]
resources = ["s3://dev/shared/*"]
"#;

    #[test]
    fn a_delegated_by_grant_never_adds_a_right_the_delegator_lacks() {
        let p = policy(SELF_DELEGATION);
        let dev = Identity::new("mint", "dev");
        let root = decide(&p, &dev, &[], Action::GetObject, "s3://dev/shared/x");
        assert!(!root.allowed, "{root}");
        let child = chain("user:dev", &["me"]);
        let d = decide(&p, &dev, &child, Action::GetObject, "s3://dev/shared/x");
        assert!(!d.allowed, "self-delegation widened: {d}");
        assert_eq!(d.reason, Reason::NoGrant);
    }

    #[test]
    fn delegated_by_grants_are_a_ceiling_for_agents() {
        let p = policy(SELF_DELEGATION);
        let dev = Identity::new("mint", "dev");
        let child = chain("user:dev", &["me"]);
        // dev may write home, but its agents are held to their grant.
        assert!(decide(&p, &dev, &[], Action::PutObject, "s3://dev/home/a").allowed);
        let d = decide(&p, &dev, &child, Action::PutObject, "s3://dev/home/a");
        assert!(!d.allowed, "{d}");
        assert_eq!(d.reason, Reason::OutsideDelegatedGrants);
        assert_eq!(d.rule.as_deref(), Some("dev-agents-shared"));
        assert!(d.why().contains("delegated-by"), "{}", d.why());
    }

    #[test]
    fn policy_check_flags_a_delegated_by_grant_the_delegator_lacks() {
        let text = format!(
            "{SELF_DELEGATION}\n[[grant]]\nid = \"agents-held\"\nprincipals = [\"delegated-by:user:dev\"]\nactions = [\"s3:GetObject\"]\nresources = [\"s3://dev/home/reports/*\"]\n"
        );
        let lints = crate::policy::lint(&policy(&text));
        assert_eq!(lints.len(), 1, "{lints:?}");
        assert_eq!(lints[0].rule, "dev-agents-shared");
        assert!(
            lints[0].message.contains("no grant to user:dev covers it"),
            "{lints:?}"
        );
    }

    #[test]
    fn without_delegated_by_rules_a_child_may_do_what_its_delegator_may() {
        let p = policy(
            "[[grant]]\nid = \"g\"\nprincipals = [\"user:alice\"]\nactions = [\"read\"]\nresources = [\"s3://b/*\"]\n",
        );
        let alice = Identity::new("mint", "alice");
        let grandchild = chain("user:alice", &["a", "b"]);
        let d = decide(&p, &alice, &grandchild, Action::GetObject, "s3://b/k");
        assert!(d.allowed, "{d}");
        assert_eq!(d.rule.as_deref(), Some("g"));
        assert!(!decide(&p, &alice, &grandchild, Action::PutObject, "s3://b/k").allowed);
    }

    #[test]
    fn a_delegated_by_deny_restricts_agents_and_spares_the_delegator() {
        let p = policy(
            "[[grant]]\nid = \"g\"\nprincipals = [\"user:alice\"]\nactions = [\"read\", \"delete\"]\nresources = [\"s3://b/*\"]\n\
             [[deny]]\nid = \"agents-never-delete\"\nprincipals = [\"delegated-by:user:*\"]\nactions = [\"delete\"]\nresources = [\"s3://*\"]\n",
        );
        let alice = Identity::new("mint", "alice");
        assert!(decide(&p, &alice, &[], Action::DeleteObject, "s3://b/k").allowed);
        let child = chain("user:alice", &["agent"]);
        let d = decide(&p, &alice, &child, Action::DeleteObject, "s3://b/k");
        assert_eq!(
            (d.allowed, d.reason, d.rule.as_deref()),
            (false, Reason::Denied, Some("agents-never-delete"))
        );
        assert!(decide(&p, &alice, &child, Action::GetObject, "s3://b/k").allowed);
    }

    #[test]
    fn delegated_names_live_under_their_delegator() {
        assert_eq!(
            delegated_name("user:alice", "agent-7"),
            "delegated:user:alice/agent-7"
        );
        // Bob's agent of the same name is another principal.
        assert_ne!(
            delegated_name("user:alice", "agent-7"),
            delegated_name("user:bob", "agent-7")
        );
        // A rule naming alice's agent does not match bob's.
        let p = policy(
            "[[grant]]\nid = \"all\"\nprincipals = [\"*\"]\nactions = [\"read\"]\nresources = [\"s3://b/*\"]\n\
             [[deny]]\nid = \"stop-alices-agent\"\nprincipals = [\"delegated-by:delegated:user:alice/agent-7\"]\nactions = [\"*\"]\nresources = [\"s3://*\"]\n",
        );
        let bob = Identity::new("mint", "bob");
        let bobs = chain("user:bob", &["agent-7", "sub"]);
        assert!(decide(&p, &bob, &bobs, Action::GetObject, "s3://b/k").allowed);
        let alice = Identity::new("mint", "alice");
        let alices = chain("user:alice", &["agent-7", "sub"]);
        assert!(!decide(&p, &alice, &alices, Action::GetObject, "s3://b/k").allowed);
    }

    #[test]
    fn people_may_delegate_and_agents_only_where_a_rule_says_so() {
        let p = policy(SELF_DELEGATION);
        let dev = Identity::new("mint", "dev");
        let caller = |chain: &'static [String]| Caller {
            identity: &dev,
            name: None,
            chain,
            client: None,
            now: now(),
        };
        assert_eq!(p.may_delegate(&caller(&[])), Ok(()));
        let child: &'static [String] = Vec::leak(chain("user:dev", &["me"]));
        let refused = p.may_delegate(&caller(child)).unwrap_err();
        assert!(refused.contains("s3gate:Delegate"), "{refused}");

        let text = format!(
            "{SELF_DELEGATION}[[grant]]\nid = \"agents-delegate\"\nprincipals = [\"delegated-by:user:dev\"]\nactions = [\"s3gate:Delegate\"]\nresources = [\"s3://dev/home/*\"]\n"
        );
        let p = policy(&text);
        assert_eq!(p.may_delegate(&caller(child)), Ok(()));
        // A delegate-only grant holds the agents to nothing of S3.
        let d = decide(&p, &dev, child, Action::GetObject, "s3://dev/home/a");
        assert_eq!(d.rule.as_deref(), Some("dev-agents-shared"), "{d}");

        let text = format!(
            "{text}[[deny]]\nid = \"no-delegation\"\nprincipals = [\"user:dev\"]\nactions = [\"s3gate:Delegate\"]\nresources = [\"s3://*\"]\n"
        );
        let p = policy(&text);
        for chain in [&[][..], child] {
            let refused = p.may_delegate(&caller(chain)).unwrap_err();
            assert!(refused.contains("no-delegation"), "{refused}");
        }
    }

    // Property: for random policies and chains, no child is ever allowed a
    // pair its parent is refused.

    const PRINCIPALS: [&str; 7] = [
        "*",
        "user:a",
        "user:b",
        "delegated-by:user:a",
        "delegated-by:user:*",
        "delegated-by:delegated:user:a/x",
        "delegated-by:*",
    ];
    const ACTIONS: [&str; 4] = ["read", "write", "delete", "s3:GetObject"];
    const RESOURCES: [&str; 5] = ["s3://*", "s3://b/*", "s3://b/p/*", "s3://c/*", "s3://b/p/k"];
    const NAMES: [&str; 3] = ["x", "y", "z"];
    const PAIRS: [(Action, &str); 5] = [
        (Action::GetObject, "s3://b/p/k"),
        (Action::PutObject, "s3://b/p/k"),
        (Action::DeleteObject, "s3://b/q"),
        (Action::GetObject, "s3://c/k"),
        (Action::PutObject, "s3://c/k"),
    ];

    fn rule_text() -> impl Strategy<Value = String> {
        (
            proptest::sample::subsequence(PRINCIPALS.to_vec(), 1..3),
            proptest::sample::subsequence(ACTIONS.to_vec(), 1..3),
            proptest::sample::subsequence(RESOURCES.to_vec(), 1..3),
        )
            .prop_map(|(p, a, r)| {
                let list = |v: Vec<&str>| {
                    v.iter()
                        .map(|s| format!("\"{s}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!(
                    "principals = [{}]\nactions = [{}]\nresources = [{}]\n",
                    list(p),
                    list(a),
                    list(r)
                )
            })
    }

    fn policy_text() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(rule_text(), 0..5),
            proptest::collection::vec(rule_text(), 0..3),
        )
            .prop_map(|(grants, denies)| {
                let mut text = String::new();
                for (i, g) in grants.iter().enumerate() {
                    text.push_str(&format!("[[grant]]\nid = \"g{i}\"\n{g}"));
                }
                for (i, d) in denies.iter().enumerate() {
                    text.push_str(&format!("[[deny]]\nid = \"d{i}\"\n{d}"));
                }
                text
            })
    }

    proptest! {
        #[test]
        fn no_child_is_allowed_what_its_parent_is_refused(
            text in policy_text(),
            root in proptest::sample::select(vec!["a", "b"]),
            names in proptest::collection::vec(proptest::sample::select(NAMES.to_vec()), 1..4),
            pair in proptest::sample::select(PAIRS.to_vec()),
        ) {
            let p = policy(&text);
            let id = Identity::new("mint", root);
            let child = chain(&format!("user:{root}"), &names);
            let parent = chain(&format!("user:{root}"), &names[..names.len() - 1]);
            let c = decide(&p, &id, &child, pair.0, pair.1);
            let up = decide(&p, &id, &parent, pair.0, pair.1);
            prop_assert!(!c.allowed || up.allowed, "child {c}; parent {up}; policy:\n{text}");
            // Nor anything the root itself may not do.
            let r = decide(&p, &id, &[], pair.0, pair.1);
            prop_assert!(!c.allowed || r.allowed, "child {c}; root {r}; policy:\n{text}");
        }
    }
}
