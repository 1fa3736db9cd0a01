//! Evaluation: a [`Policy`] decides whether a caller may do every
//! (action, resource) a request needs, and names the rule that decided.
//!
//! Pure: the caller's identity, address and the time come in a [`Caller`].
//!
//! Order: a deny that applies to any of the request's (action, resource)
//! pairs refuses the request, whatever the grants; otherwise every pair
//! must be allowed by some grant (no grant is a denial); and one upstream
//! role must carry all of them (a copy whose source is granted through one
//! role and destination through another is refused: a single upstream
//! request runs under a single role).

use smallvec::SmallVec;
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use super::ActionSet;
use super::condition::Conditions;
use super::encryption::EncryptionRule;
use super::principal::PrincipalPattern;
use super::resource::Resource;
use crate::principal::Identity;
use crate::principal::principal_name;
use crate::s3::{Action, Encryption};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One `[[grant]]` or `[[deny]]`.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Shared with the decisions (and audit records) it alone allows.
    pub id: Arc<str>,
    pub effect: Effect,
    pub principals: Vec<PrincipalPattern>,
    pub actions: ActionSet,
    /// Whether the rule names `s3gate:Delegate` (or `*`): see
    /// `policy::delegation`. Not tied to the rule's resources.
    pub delegate: bool,
    pub resources: Vec<Resource>,
    /// The upstream IAM role that carries a grant out; `None` means the
    /// upstream's own credentials (static keys, or s3gate's AWS identity).
    /// Shared: every decision it allows names it, without a copy.
    pub role: Option<Arc<str>>,
    pub conditions: Conditions,
    /// A grant's caller-chosen keys and required encryption.
    pub encryption: EncryptionRule,
    /// Where the rule starts in its file (1-based), for lints.
    pub line: usize,
    pub(super) span_start: usize,
}

impl Rule {
    pub(super) fn applies_to(&self, caller: &Caller<'_>, name: &str) -> bool {
        let deny = self.effect == Effect::Deny;
        self.principals
            .iter()
            .any(|p| p.matches_as(caller.identity, name, caller.chain, deny))
            && self
                .conditions
                .hold(caller.identity, caller.client, caller.now)
    }

    pub(super) fn covers(&self, identity: &Identity, action: Action, resource: &str) -> bool {
        let deny = self.effect == Effect::Deny;
        self.actions.contains(action)
            && self
                .resources
                .iter()
                .any(|r| r.matches(identity, resource, deny))
    }
}

/// The policy file, compiled. Immutable: a reload builds a new one.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Shared with every audit record the policy decides.
    version: Arc<str>,
    grants: Vec<Rule>,
    denies: Vec<Rule>,
    /// No rule's conditions name the client's address or the time
    /// ([`Policy::grants_are_per_session`]).
    per_session: bool,
}

/// Who asks, from where, when.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub identity: &'a Identity,
    /// The identity's principal name ([`principal_name`]) when the caller
    /// has it spelled already: an opened session keeps it, and the policy
    /// names the caller by it on every request (a new string each time
    /// otherwise). `None`: spelled when needed.
    pub name: Option<&'a str>,
    /// The session's delegation chain, outermost first.
    pub chain: &'a [String],
    /// The client's address, for `source_cidr` conditions.
    pub client: Option<IpAddr>,
    pub now: SystemTime,
}

impl Caller<'_> {
    /// The caller's principal name, as rules' principals are matched.
    pub(super) fn name(&self) -> Cow<'_, str> {
        match self.name {
            Some(name) => {
                debug_assert_eq!(name, principal_name(self.identity), "a caller's kept name");
                Cow::Borrowed(name)
            }
            None => Cow::Owned(principal_name(self.identity)),
        }
    }
}

/// Why a request was allowed or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Every (action, resource) is granted, under one upstream role.
    Granted,
    /// No grant allows this (action, resource) for this caller.
    NoGrant,
    /// A named deny applies.
    Denied,
    /// Each pair is granted, but through grants naming different upstream
    /// roles; one upstream request runs under one role.
    NoCommonRole,
    /// Grants cover the pair, but none allows the server-side encryption
    /// the request asks for (a caller-chosen key, or none where a grant
    /// requires one).
    Encryption,
    /// A delegated session with `delegated-by` grants is held to them, and
    /// none covers this (action, resource) (see `policy::delegation`).
    OutsideDelegatedGrants,
}

/// A decision on a whole request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
    /// The deciding rule: the deny that refused, or the grants that
    /// allowed (comma-separated ids, one per distinct grant); `None` when
    /// no grant matched. Shared: the audit record names it too.
    pub rule: Option<Arc<str>>,
    /// The refused (action, resource), or for an allowed request its first.
    pub action: Action,
    pub resource: String,
    /// For [`Reason::Encryption`]: what the request asked for, in words.
    pub encryption: Option<String>,
    /// For an allowed request: the upstream role the grants name (`None`:
    /// the upstream's own credentials). Pass it to [`Policy::grants_for`]
    /// to get what the caller may do under that role.
    pub role: Option<Arc<str>>,
}

impl Decision {
    /// The audit line's `rule`: the rule id(s), or `no grant`.
    pub fn rule_label(&self) -> &str {
        self.rule.as_deref().unwrap_or("no grant")
    }

    /// Why, in words, for the caller's error message and the audit reason.
    pub fn why(&self) -> String {
        match self.reason {
            Reason::Granted => GrantedBy(self.rule_label()).to_string(),
            Reason::NoGrant => "no grant in the policy allows it".into(),
            Reason::Denied => format!("denied by rule `{}`", self.rule_label()),
            Reason::NoCommonRole => format!(
                "the grants that allow it (`{}`) name different upstream roles",
                self.rule_label()
            ),
            Reason::Encryption => format!(
                "the grants that allow it (`{}`) do not allow {}",
                self.rule_label(),
                self.encryption.as_deref().unwrap_or("this encryption")
            ),
            Reason::OutsideDelegatedGrants => format!(
                "a delegated session is held to the `delegated-by` grants that apply to it \
                 (`{}`), and none allows it",
                self.rule_label()
            ),
        }
    }
}

/// An allowed decision's why (`allowed by grant `IDS``), given its rule
/// label: the audit record spells it from the label when it is written.
pub struct GrantedBy<'a>(pub &'a str);

impl fmt::Display for GrantedBy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "allowed by grant `{}`", self.0)
    }
}

impl fmt::Display for Decision {
    /// `ALLOW s3:GetObject on s3://b/k: allowed by grant `g` (upstream role …)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.allowed { "ALLOW" } else { "DENY" };
        write!(
            f,
            "{verdict} s3:{} on {}: {}",
            self.action,
            self.resource,
            self.why()
        )?;
        if self.allowed {
            match &self.role {
                Some(role) => write!(f, " (upstream role {role})")?,
                None => f.write_str(" (upstream's own credentials)")?,
            }
        }
        Ok(())
    }
}

/// What a caller may do under one role: an action set on an expanded
/// resource pattern. `*` is the only wildcard and every other byte is
/// literal — including `?`, which IAM reads as a wildcard in a resource
/// ARN (a session policy built from this widens by at most one character
/// there, or escapes it as `${?}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// The rule's id.
    pub rule: String,
    pub actions: ActionSet,
    pub resource: String,
}

impl Policy {
    pub(super) fn from_rules(version: String, grants: Vec<Rule>, denies: Vec<Rule>) -> Policy {
        let per_session = !grants
            .iter()
            .chain(&denies)
            .any(|r| r.conditions.depend_on_the_request());
        Policy {
            version: version.into(),
            grants,
            denies,
            per_session,
        }
    }

    /// Whether what [`Policy::grants_for`] and [`Policy::denies_for`] give
    /// a caller depends only on who the caller is (identity and chain), so
    /// that it may be kept for the session: no rule's conditions name the
    /// client's address or the time.
    pub fn grants_are_per_session(&self) -> bool {
        self.per_session
    }

    /// Whether `version` is this policy's own [`Policy::shared_version`]
    /// (by identity: every load makes a new one, even of the same file).
    pub fn is_version(&self, version: &Arc<str>) -> bool {
        Arc::ptr_eq(&self.version, version)
    }

    /// `LABEL/HASH` or `HASH`: the file's `version` label and the first 12
    /// hex digits of its SHA-256, so every edit has a new version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// [`Policy::version`], shared: an audit record names it without a
    /// copy.
    pub fn shared_version(&self) -> Arc<str> {
        Arc::clone(&self.version)
    }

    pub fn grants(&self) -> &[Rule] {
        &self.grants
    }

    pub fn denies(&self) -> &[Rule] {
        &self.denies
    }

    /// Decides a request needing every (action, resource) in `resources`
    /// (as [`crate::s3::S3Request::resources`] lists them). An empty list
    /// is refused: nothing to authorise means something was misread.
    pub fn decide(&self, caller: &Caller<'_>, resources: &[(Action, String)]) -> Decision {
        self.decide_request(caller, resources, &Encryption::default())
    }

    /// [`Policy::decide`] for a request asking for the server-side
    /// encryption `encryption`: each pair needs a grant whose `encryption`
    /// settings permit it (see [`EncryptionRule::permits`]).
    pub fn decide_request(
        &self,
        caller: &Caller<'_>,
        resources: &[(Action, String)],
        encryption: &Encryption,
    ) -> Decision {
        let refuse = |reason, rule: Option<&str>, action: Action, resource: &str| Decision {
            allowed: false,
            reason,
            rule: rule.map(Arc::from),
            action,
            resource: resource.to_owned(),
            role: None,
            encryption: None,
        };
        let Some((first_action, first_resource)) = resources.first() else {
            return refuse(Reason::NoGrant, None, Action::Unclassified, "");
        };
        let name = caller.name();
        let identity = caller.identity;

        // Denies first: any pair a deny covers refuses the request.
        for deny in self.denies.iter().filter(|d| d.applies_to(caller, &name)) {
            if let Some((action, resource)) =
                resources.iter().find(|(a, r)| deny.covers(identity, *a, r))
            {
                return refuse(Reason::Denied, Some(&deny.id), *action, resource);
            }
        }

        // Then each pair needs a grant.
        // Both lists on the stack while they are short, as they nearly
        // always are (a request is a pair or two; a caller has a few
        // grants): two allocations fewer on every request.
        let applicable: SmallVec<[&Rule; 8]> = self
            .grants
            .iter()
            .filter(|g| g.applies_to(caller, &name))
            .collect();
        // Each pair's allowing grants, pair after pair, in one list of
        // (pair, grant) rather than a list per pair.
        let mut candidates: SmallVec<[(usize, &Rule); 8]> = SmallVec::new();
        for (i, (action, resource)) in resources.iter().enumerate() {
            let covering = || {
                applicable
                    .iter()
                    .copied()
                    .filter(|g| g.covers(identity, *action, resource))
            };
            let before = candidates.len();
            candidates.extend(
                covering()
                    .filter(|g| g.encryption.permits(*action, encryption))
                    .map(|g| (i, g)),
            );
            if candidates.len() == before {
                // The refusals list the covering grants again rather than
                // keeping a list of them for every allowed pair.
                let ids: Vec<&str> = covering().map(|g| &*g.id).collect();
                if ids.is_empty() {
                    return refuse(Reason::NoGrant, None, *action, resource);
                }
                let mut d = refuse(Reason::Encryption, Some(&ids.join(",")), *action, resource);
                d.encryption = Some(EncryptionRule::explain(encryption));
                return d;
            }
        }
        // Pair `i`'s grants: the list is in pair order.
        let pair = |i: usize| {
            let from = candidates.partition_point(|(p, _)| *p < i);
            let to = candidates.partition_point(|(p, _)| *p <= i);
            candidates[from..to].iter().map(|(_, g)| *g)
        };

        // One role for all: the first (in file order) role granting the
        // first pair that also grants every other pair.
        let role = pair(0)
            .map(|g| &g.role)
            .find(|role| (0..resources.len()).all(|i| pair(i).any(|g| g.role == **role)));
        let Some(role) = role else {
            let mut ids: Vec<&str> = Vec::new();
            for (_, g) in &candidates {
                if !ids.contains(&&*g.id) {
                    ids.push(&g.id);
                }
            }
            return refuse(
                Reason::NoCommonRole,
                Some(&ids.join(",")),
                *first_action,
                first_resource,
            );
        };
        // The distinct ids, comma-separated (an id has no comma: see
        // `policy::file`); usually one grant allows it all, and its id is
        // the label as it is.
        let mut chosen = (0..resources.len()).filter_map(|i| pair(i).find(|g| g.role == *role));
        let first = chosen
            .next()
            .map_or_else(|| Arc::from(""), |g| Arc::clone(&g.id));
        let rule: Arc<str> = if chosen.clone().all(|g| g.id == first) {
            first
        } else {
            let mut rule = first.to_string();
            for g in chosen {
                if !rule.split(',').any(|id| id == &*g.id) {
                    rule.push(',');
                    rule.push_str(&g.id);
                }
            }
            rule.into()
        };
        Decision {
            allowed: true,
            reason: Reason::Granted,
            rule: Some(rule),
            action: *first_action,
            resource: first_resource.clone(),
            role: role.clone(),
            encryption: None,
        }
    }

    /// Decides one (action, resource): what `s3gate policy explain` asks.
    pub fn explain(&self, caller: &Caller<'_>, action: Action, resource: &str) -> Decision {
        self.decide(caller, &[(action, resource.to_owned())])
    }

    /// Everything the caller is granted under `role` (`None`: the grants
    /// that name no role), with variables expanded for the caller and
    /// conditions evaluated now: the input for a session policy that
    /// narrows the upstream role to exactly what was granted.
    ///
    /// Denies are not subtracted (a glob minus a glob is not a glob):
    /// s3gate enforces them before any upstream call, and
    /// [`Policy::denies_for`] lists them for a session policy's `Deny`.
    pub fn grants_for(&self, caller: &Caller<'_>, role: Option<&str>) -> Vec<Granted> {
        expand(&self.grants, caller, Some(role), false)
    }

    /// Every grant that applies to the caller now, under whatever upstream
    /// role, expanded as [`Policy::grants_for`] does: what a person may
    /// reach, as the portal lists it.
    pub fn reach(&self, caller: &Caller<'_>) -> Vec<Granted> {
        expand(&self.grants, caller, None, false)
    }

    /// The denies that apply to the caller now, expanded (an unresolved
    /// variable is `*`).
    pub fn denies_for(&self, caller: &Caller<'_>) -> Vec<Granted> {
        expand(&self.denies, caller, None, true)
    }
}

/// The rules among `rules` that apply to `caller` (and, when `role` is
/// given, name that upstream role), one entry per resource, expanded for
/// the caller's identity.
fn expand(
    rules: &[Rule],
    caller: &Caller<'_>,
    role: Option<Option<&str>>,
    deny: bool,
) -> Vec<Granted> {
    let name = caller.name();
    rules
        .iter()
        .filter(|r| {
            role.is_none_or(|role| r.role.as_deref() == role) && r.applies_to(caller, &name)
        })
        .flat_map(|r| {
            r.resources.iter().filter_map(move |res| {
                Some(Granted {
                    rule: r.id.to_string(),
                    actions: r.actions,
                    resource: res.expand(caller.identity, deny)?,
                })
            })
        })
        .collect()
}
