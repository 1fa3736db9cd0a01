//! Policy evaluation, table-driven: grants, deny precedence, variables,
//! conditions, roles, and every operation's resources as classify lists
//! them.

#![allow(clippy::expect_used, reason = "a test panics on a broken fixture")]

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, Uri};

use super::*;
use crate::principal::Identity;
use crate::s3::{Action, classify};

const POLICY: &str = r#"
version = "test"

[[grant]]
id = "homes"
principals = ["user:*", "oidc:https://idp.example.com#*"]
actions = ["read", "write", "list", "delete"]
resources = ["s3://data/home/${identity.username}/*"]
role = "arn:aws:iam::123456789012:role/s3gate-data"

[[grant]]
id = "shared-read"
principals = ["group:eng"]
actions = ["read", "list"]
resources = ["s3://data/shared/*"]
role = "arn:aws:iam::123456789012:role/s3gate-data"

[[grant]]
id = "shared-read-static"
principals = ["group:eng"]
actions = ["read"]
resources = ["s3://static/*"]

[[grant]]
id = "admins"
principals = ["group:admins", "email:*@ops.example"]
actions = ["*"]
resources = ["s3://data", "s3://data/*"]
role = "arn:aws:iam::123456789012:role/s3gate-data"
conditions = { source_cidr = ["10.0.0.0/8"], mfa = true }

[[grant]]
id = "office-hours"
principals = ["user:temp"]
actions = ["read"]
resources = ["s3://data/reports/*"]
role = "arn:aws:iam::123456789012:role/s3gate-data"
conditions = { daily_utc = "08:00-18:00", not_after = "2030-01-01T00:00:00Z" }

[[grant]]
id = "ci"
principals = ["aws:role/123456789012/ci-*"]
actions = ["s3:PutObject"]
resources = ["s3://artifacts/${identity.aws_role}/*"]

[[grant]]
id = "agents"
principals = ["delegated-by:user:alice"]
actions = ["read"]
resources = ["s3://data/agents/*"]
role = "arn:aws:iam::123456789012:role/s3gate-data"

[[deny]]
id = "no-secrets"
principals = ["*"]
actions = ["*"]
resources = ["s3://data/home/*/secrets/*", "s3://data/shared/secrets/*"]

[[deny]]
id = "outside-office-net"
principals = ["group:admins"]
actions = ["delete"]
resources = ["s3://data/*"]
conditions = { not_source_cidr = ["10.1.0.0/16"] }
"#;

fn policy() -> Policy {
    Policy::parse(POLICY, "test.toml").expect("the test policy parses")
}

/// 2026-12-01 at `hour`:00 UTC.
fn at(hour: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_996_800 + hour * 3600)
}

fn user(name: &str) -> Identity {
    Identity::new("mint", name)
}

fn oidc(sub: &str, username: &str, groups: &[&str]) -> Identity {
    let mut id = Identity::new("oidc", sub);
    id.issuer = Some("https://idp.example.com".into());
    id.username = Some(username.into());
    id.groups = groups.iter().map(|g| (*g).to_owned()).collect();
    id
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().expect(s))
}

struct Case<'a> {
    name: &'a str,
    identity: Identity,
    chain: Vec<String>,
    client: Option<IpAddr>,
    now: SystemTime,
    resources: Vec<(Action, &'a str)>,
    allowed: bool,
    reason: Reason,
    rule: Option<&'a str>,
}

fn case<'a>(
    name: &'a str,
    identity: Identity,
    resources: Vec<(Action, &'a str)>,
    expect: (bool, Reason, Option<&'a str>),
) -> Case<'a> {
    Case {
        name,
        identity,
        chain: Vec::new(),
        client: ip("192.0.2.1"),
        now: at(12),
        resources,
        allowed: expect.0,
        reason: expect.1,
        rule: expect.2,
    }
}

const ALLOW: bool = true;
const DENY: bool = false;

#[test]
fn evaluation_table() {
    use Action as A;
    use Reason::*;
    let mut admin = oidc("a-1", "ann", &["admins"]);
    admin.mfa = Some(true);
    let mut ci = Identity::new(
        "aws",
        "arn:aws:sts::123456789012:assumed-role/ci-build/job-1",
    );
    ci.aws_account = Some("123456789012".into());
    ci.aws_role = Some("ci-build".into());
    let mut email_admin = oidc("a-2", "bea", &[]);
    email_admin.email = Some("bea@ops.example".into());
    email_admin.mfa = Some(true);

    let cases = vec![
        case(
            "own home: get",
            user("alice"),
            vec![(A::GetObject, "s3://data/home/alice/a.txt")],
            (ALLOW, Granted, Some("homes")),
        ),
        case(
            "own home: list",
            user("alice"),
            vec![(A::ListBucket, "s3://data/home/alice/")],
            (ALLOW, Granted, Some("homes")),
        ),
        case(
            "other home",
            user("alice"),
            vec![(A::GetObject, "s3://data/home/bob/a.txt")],
            (DENY, NoGrant, None),
        ),
        case(
            "broader list",
            user("alice"),
            vec![(A::ListBucket, "s3://data/home/")],
            (DENY, NoGrant, None),
        ),
        case(
            "ungranted action",
            user("alice"),
            vec![(A::PutObjectAcl, "s3://data/home/alice/a")],
            (DENY, NoGrant, None),
        ),
        case(
            "unclassified is not in the groups",
            user("alice"),
            vec![(A::Unclassified, "s3://data/home/alice/a")],
            (DENY, NoGrant, None),
        ),
        case(
            "deny beats grant",
            user("alice"),
            vec![(A::GetObject, "s3://data/home/alice/secrets/k")],
            (DENY, Denied, Some("no-secrets")),
        ),
        case(
            "oidc username variable",
            oidc("s-9", "carl", &[]),
            vec![(A::PutObject, "s3://data/home/carl/x")],
            (ALLOW, Granted, Some("homes")),
        ),
        case(
            "oidc from another issuer",
            {
                let mut i = oidc("s-9", "carl", &[]);
                i.issuer = Some("https://evil.example".into());
                i
            },
            vec![(A::PutObject, "s3://data/home/carl/x")],
            (DENY, NoGrant, None),
        ),
        case(
            "group grant",
            oidc("s-2", "dan", &["eng"]),
            vec![(A::GetObject, "s3://data/shared/doc")],
            (ALLOW, Granted, Some("shared-read")),
        ),
        case(
            "group grant, deny inside",
            oidc("s-2", "dan", &["eng"]),
            vec![(A::GetObject, "s3://data/shared/secrets/doc")],
            (DENY, Denied, Some("no-secrets")),
        ),
        case(
            "copy: both granted under one role",
            user("alice"),
            vec![
                (A::PutObject, "s3://data/home/alice/copy"),
                (A::GetObject, "s3://data/home/alice/orig"),
            ],
            (ALLOW, Granted, Some("homes")),
        ),
        case(
            "copy from a denied source",
            user("alice"),
            vec![
                (A::PutObject, "s3://data/home/alice/copy"),
                (A::GetObject, "s3://data/home/bob/orig"),
            ],
            (DENY, NoGrant, None),
        ),
        case(
            "one role, two grants: each named once, in the pairs' order",
            oidc("s-2", "dan", &["eng"]),
            vec![
                (A::PutObject, "s3://data/home/dan/x"),
                (A::GetObject, "s3://data/shared/doc"),
                (A::GetObject, "s3://data/home/dan/y"),
                (A::GetObject, "s3://data/shared/doc2"),
            ],
            (ALLOW, Granted, Some("homes,shared-read")),
        ),
        case(
            "copy across roles",
            oidc("s-2", "dan", &["eng"]),
            vec![
                (A::PutObject, "s3://data/home/dan/x"),
                (A::GetObject, "s3://static/logo"),
            ],
            (DENY, NoCommonRole, Some("homes,shared-read-static")),
        ),
        case(
            "delete batch with one denied key",
            user("alice"),
            vec![
                (A::DeleteObject, "s3://data/home/alice/a"),
                (A::DeleteObject, "s3://data/home/alice/secrets/b"),
            ],
            (DENY, Denied, Some("no-secrets")),
        ),
        case(
            "admin: conditions hold",
            admin.clone(),
            vec![(A::PutBucketPolicy, "s3://data")],
            (ALLOW, Granted, Some("admins")),
        )
        .from("10.1.0.1"),
        case(
            "admin: from outside the CIDR",
            admin.clone(),
            vec![(A::PutBucketPolicy, "s3://data")],
            (DENY, NoGrant, None),
        )
        .from("192.168.1.1"),
        case(
            "admin: without MFA",
            {
                let mut a = admin.clone();
                a.mfa = None;
                a
            },
            vec![(A::GetBucketPolicy, "s3://data")],
            (DENY, NoGrant, None),
        )
        .from("10.1.2.3"),
        case(
            "admin: delete outside office net denied",
            admin.clone(),
            vec![(A::DeleteObject, "s3://data/x")],
            (DENY, Denied, Some("outside-office-net")),
        )
        .from("10.2.0.1"),
        case(
            "admin: delete inside office net",
            admin.clone(),
            vec![(A::DeleteObject, "s3://data/x")],
            (ALLOW, Granted, Some("admins")),
        )
        .from("10.1.0.1"),
        case(
            "email principal",
            email_admin,
            vec![(A::GetObject, "s3://data/x")],
            (ALLOW, Granted, Some("admins")),
        )
        .from("10.1.0.1"),
        case(
            "time window: inside",
            user("temp"),
            vec![(A::GetObject, "s3://data/reports/q4")],
            (ALLOW, Granted, Some("office-hours")),
        ),
        case(
            "time window: outside",
            user("temp"),
            vec![(A::GetObject, "s3://data/reports/q4")],
            (DENY, NoGrant, None),
        )
        .when(at(20)),
        case(
            "aws role pattern and variable",
            ci.clone(),
            vec![(A::PutObject, "s3://artifacts/ci-build/a.tgz")],
            (ALLOW, Granted, Some("ci")),
        ),
        case(
            "aws role variable: another role's prefix",
            ci,
            vec![(A::PutObject, "s3://artifacts/ci-deploy/a.tgz")],
            (DENY, NoGrant, None),
        ),
        case(
            "delegated by alice",
            Identity::new("delegated", "agent-7"),
            vec![(A::GetObject, "s3://data/agents/x")],
            (ALLOW, Granted, Some("agents")),
        )
        .chain(&["user:alice"]),
        case(
            "delegated by someone else",
            Identity::new("delegated", "agent-8"),
            vec![(A::GetObject, "s3://data/agents/x")],
            (DENY, NoGrant, None),
        )
        .chain(&["user:mallory"]),
        case(
            "nothing to authorise",
            user("alice"),
            vec![],
            (DENY, NoGrant, None),
        ),
    ];
    let p = policy();
    for c in cases {
        let resources: Vec<(Action, String)> = c
            .resources
            .iter()
            .map(|(a, r)| (*a, (*r).to_owned()))
            .collect();
        let caller = Caller {
            identity: &c.identity,
            name: None,
            chain: &c.chain,
            client: c.client,
            now: c.now,
        };
        let d = p.decide(&caller, &resources);
        assert_eq!(
            (d.allowed, d.reason, d.rule.as_deref()),
            (c.allowed, c.reason, c.rule),
            "{}: {d}",
            c.name
        );
        if d.allowed {
            assert!(
                d.role.is_some() || c.rule == Some("ci"),
                "{}: {d:?}",
                c.name
            );
        }
    }
}

impl Case<'_> {
    fn from(mut self, addr: &str) -> Self {
        self.client = ip(addr);
        self
    }
    fn when(mut self, t: SystemTime) -> Self {
        self.now = t;
        self
    }
    fn chain(mut self, chain: &[&str]) -> Self {
        self.chain = chain.iter().map(|c| (*c).to_owned()).collect();
        self
    }
}

#[test]
fn decision_names_the_refused_pair_and_the_role() {
    let p = policy();
    let alice = user("alice");
    let caller = Caller {
        identity: &alice,
        name: None,
        chain: &[],
        client: None,
        now: at(12),
    };
    let d = p.decide(
        &caller,
        &[
            (Action::PutObject, "s3://data/home/alice/x".into()),
            (Action::GetObject, "s3://data/home/bob/y".into()),
        ],
    );
    assert_eq!(
        (d.action, d.resource.as_str()),
        (Action::GetObject, "s3://data/home/bob/y")
    );
    assert_eq!(d.rule_label(), "no grant");
    assert_eq!(
        d.to_string(),
        "DENY s3:GetObject on s3://data/home/bob/y: no grant in the policy allows it"
    );
    let ok = p.explain(&caller, Action::GetObject, "s3://data/home/alice/y");
    assert_eq!(
        ok.role.as_deref(),
        Some("arn:aws:iam::123456789012:role/s3gate-data")
    );
    assert!(
        ok.to_string()
            .starts_with("ALLOW s3:GetObject on s3://data/home/alice/y: allowed by grant `homes`"),
        "{ok}"
    );
}

#[test]
fn grants_for_a_role_are_expanded_for_the_caller() {
    let p = policy();
    let dan = oidc("s-2", "dan", &["eng"]);
    let caller = Caller {
        identity: &dan,
        name: None,
        chain: &[],
        client: None,
        now: at(12),
    };
    let role = "arn:aws:iam::123456789012:role/s3gate-data";
    let granted = p.grants_for(&caller, Some(role));
    let view: Vec<(&str, String, &str)> = granted
        .iter()
        .map(|g| (g.rule.as_str(), g.actions.to_string(), g.resource.as_str()))
        .collect();
    assert_eq!(
        view,
        [
            (
                "homes",
                "read,list,write,delete".to_owned(),
                "s3://data/home/dan/*"
            ),
            ("shared-read", "read,list".to_owned(), "s3://data/shared/*"),
        ]
    );
    let static_only = p.grants_for(&caller, None);
    assert_eq!(static_only.len(), 1);
    assert_eq!(static_only[0].resource, "s3://static/*");
    // Denies apply to everyone; an unresolved variable would be `*`.
    let denies: Vec<String> = p
        .denies_for(&caller)
        .into_iter()
        .map(|d| d.resource)
        .collect();
    assert_eq!(
        denies,
        ["s3://data/home/*/secrets/*", "s3://data/shared/secrets/*"]
    );
}

/// A request through classify, then the policy: every operation's
/// resources are what the policy sees.
fn classify_and_decide(
    p: &Policy,
    identity: &Identity,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> Decision {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.insert(
            http::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            v.parse().expect("value"),
        );
    }
    let method: Method = method.parse().expect("method");
    let uri: Uri = uri.parse().expect("uri");
    let req = classify(&method, &uri, &h, &[]).expect("classifies");
    p.decide_request(
        &Caller {
            identity,
            name: None,
            chain: &[],
            client: None,
            now: at(12),
        },
        &req.resources,
        &req.encryption,
    )
}

#[test]
fn header_implied_actions_and_encryption_are_decided_with_the_request() {
    let p = Policy::parse(
        r#"
[[grant]]
id = "writers"
principals = ["user:*"]
actions = ["read", "write"]
resources = ["s3://data/*"]

[[grant]]
id = "vault"
principals = ["user:*"]
actions = ["write"]
resources = ["s3://vault/*"]
encryption = { require = "aws:kms", kms_keys = ["arn:aws:kms:eu-west-1:111122223333:key/*"] }

[[grant]]
id = "publisher"
principals = ["user:pub"]
actions = ["s3:PutObjectAcl"]
resources = ["s3://data/public/*"]
"#,
        "t.toml",
    )
    .expect("policy");
    let alice = user("alice");
    let publisher = user("pub");
    let d = classify_and_decide(
        &p,
        &alice,
        "PUT",
        "/data/k",
        &[("x-amz-acl", "public-read")],
    );
    assert!(!d.allowed);
    assert_eq!(
        d.to_string(),
        "DENY s3:PutObjectAcl on s3://data/k: no grant in the policy allows it"
    );
    let d = classify_and_decide(
        &p,
        &publisher,
        "PUT",
        "/data/public/k",
        &[("x-amz-acl", "public-read")],
    );
    assert!(d.allowed, "{d}");

    // A caller-chosen key needs a grant listing it.
    let ours = "arn:aws:kms:eu-west-1:111122223333:key/abc";
    let kms = |key: &'static str| {
        vec![
            ("x-amz-server-side-encryption", "aws:kms"),
            ("x-amz-server-side-encryption-aws-kms-key-id", key),
        ]
    };
    let d = classify_and_decide(&p, &alice, "PUT", "/data/k", &kms(ours));
    assert_eq!(d.reason, Reason::Encryption, "{d}");
    assert!(d.to_string().contains(ours), "{d}");
    assert!(classify_and_decide(&p, &alice, "PUT", "/vault/k", &kms(ours)).allowed);
    let theirs = "arn:aws:kms:eu-west-1:999999999999:key/abc";
    assert!(!classify_and_decide(&p, &alice, "PUT", "/vault/k", &kms(theirs)).allowed);
    // The vault requires SSE-KMS on writes.
    let d = classify_and_decide(&p, &alice, "PUT", "/vault/k", &[]);
    assert_eq!(d.reason, Reason::Encryption, "{d}");
    let d = classify_and_decide(
        &p,
        &alice,
        "PUT",
        "/vault/k",
        &[("x-amz-server-side-encryption", "AES256")],
    );
    assert!(!d.allowed);
    assert!(
        classify_and_decide(
            &p,
            &alice,
            "PUT",
            "/vault/k",
            &[("x-amz-server-side-encryption", "aws:kms")]
        )
        .allowed
    );
    // SSE-C is a right of its own, on reads too.
    let d = classify_and_decide(
        &p,
        &alice,
        "GET",
        "/data/k",
        &[("x-amz-server-side-encryption-customer-key", "k")],
    );
    assert_eq!(d.reason, Reason::Encryption, "{d}");

    // Denies have no encryption; bad requirements are named.
    let bad = |text: &str| {
        Policy::parse(text, "t.toml")
            .expect_err("refused")
            .to_string()
    };
    let deny = bad(
        "[[deny]]\nid = \"d\"\nprincipals = [\"*\"]\nactions = [\"read\"]\nresources = [\"s3://x/*\"]\nencryption = { customer_keys = true }\n",
    );
    assert!(deny.contains("a deny has no `encryption`"), "{deny}");
    let req = bad(
        "[[grant]]\nid = \"g\"\nprincipals = [\"*\"]\nactions = [\"read\"]\nresources = [\"s3://x/*\"]\nencryption = { require = \"rot13\" }\n",
    );
    assert!(req.contains("rot13"), "{req}");
}

#[test]
fn every_operation_is_checked_on_what_it_touches() {
    let p = Policy::parse(
        r#"
[[grant]]
id = "reader"
principals = ["user:r"]
actions = ["read", "list"]
resources = ["s3://bkt/pub/*", "s3://bkt"]

[[grant]]
id = "writer"
principals = ["user:r"]
actions = ["write", "s3:DeleteObject", "s3:PutObjectAcl"]
resources = ["s3://bkt/mine/*"]

[[grant]]
id = "bucket-admin"
principals = ["user:r"]
actions = ["s3:GetBucketVersioning", "s3:PutBucketTagging"]
resources = ["s3://bkt"]
"#,
        "ops.toml",
    )
    .expect("policy");
    let r = user("r");
    let copy = |src: &'static str| vec![("x-amz-copy-source", src)];
    let none: Vec<(&str, &str)> = Vec::new();
    type Headers = Vec<(&'static str, &'static str)>;
    let cases: Vec<(&str, &str, Headers, bool)> = vec![
        ("GET", "/bkt/pub/a", none.clone(), true),
        ("HEAD", "/bkt/pub/a", none.clone(), true),
        ("HEAD", "/bkt/mine/a", none.clone(), false),
        ("GET", "/bkt/pub/a?versionId=v1", none.clone(), true),
        ("GET", "/bkt/mine/a?versionId=v1", none.clone(), false),
        ("GET", "/bkt/pub/a?tagging", none.clone(), true),
        ("GET", "/bkt/pub/a?acl", none.clone(), true),
        ("GET", "/bkt/pub/a?attributes", none.clone(), true),
        ("PUT", "/bkt/mine/a", none.clone(), true),
        ("PUT", "/bkt/pub/a", none.clone(), false),
        ("PUT", "/bkt/mine/a?acl", none.clone(), true),
        ("PUT", "/bkt/mine/a?tagging", none.clone(), true),
        ("DELETE", "/bkt/mine/a", none.clone(), true),
        ("DELETE", "/bkt/mine/a?versionId=v1", none.clone(), false),
        ("DELETE", "/bkt/pub/a", none.clone(), false),
        ("POST", "/bkt/mine/big?uploads", none.clone(), true),
        (
            "PUT",
            "/bkt/mine/big?uploadId=u&partNumber=1",
            none.clone(),
            true,
        ),
        ("POST", "/bkt/mine/big?uploadId=u", none.clone(), true),
        ("DELETE", "/bkt/mine/big?uploadId=u", none.clone(), true),
        ("GET", "/bkt/mine/big?uploadId=u", none.clone(), false),
        ("PUT", "/bkt/mine/c", copy("bkt/pub/a"), true),
        ("PUT", "/bkt/mine/c", copy("bkt/secret/a"), false),
        ("PUT", "/bkt/mine/c", copy("bkt/pub/a?versionId=v1"), true),
        ("DELETE", "/bkt/mine/a?tagging", none.clone(), false),
        (
            "PUT",
            "/bkt/mine/c?uploadId=u&partNumber=2",
            copy("/bkt/pub/a"),
            true,
        ),
        (
            "PUT",
            "/bkt/mine/c?uploadId=u&partNumber=2",
            copy("/bkt/other/a"),
            false,
        ),
        ("GET", "/bkt?list-type=2&prefix=pub/", none.clone(), true),
        (
            "GET",
            "/bkt?list-type=2&prefix=pub/deep/",
            none.clone(),
            true,
        ),
        ("GET", "/bkt?list-type=2&prefix=p", none.clone(), false),
        ("GET", "/bkt?list-type=2", none.clone(), false),
        ("GET", "/bkt?prefix=pub/", none.clone(), true),
        ("GET", "/bkt?versions&prefix=pub/", none.clone(), true),
        ("GET", "/bkt?versions&prefix=mine/", none.clone(), false),
        ("GET", "/bkt?uploads&prefix=pub/", none.clone(), true),
        ("GET", "/bkt?uploads", none.clone(), false),
        ("GET", "/bkt?location", none.clone(), true),
        ("GET", "/bkt?versioning", none.clone(), true),
        ("PUT", "/bkt?versioning", none.clone(), false),
        ("PUT", "/bkt?tagging", none.clone(), true),
        ("DELETE", "/bkt?tagging", none.clone(), true),
        ("GET", "/bkt?policy", none.clone(), false),
        ("PUT", "/bkt", none.clone(), false),
        ("DELETE", "/bkt", none.clone(), false),
        ("GET", "/", none.clone(), false),
        ("GET", "/bkt/pub/a?torrent", none.clone(), false),
        ("GET", "/bkt?website", none.clone(), false),
        ("POST", "/bkt", none.clone(), false),
        ("POST", "/bkt?delete", none.clone(), false),
    ];
    for (method, uri, headers, allowed) in cases {
        let d = classify_and_decide(&p, &r, method, uri, &headers);
        assert_eq!(d.allowed, allowed, "{method} {uri} {headers:?}: {d}");
    }
}

#[test]
fn delete_objects_is_decided_on_every_key() {
    let p = Policy::parse(
        "[[grant]]\nid = \"g\"\nprincipals = [\"user:u\"]\nactions = [\"delete\"]\nresources = [\"s3://bkt/tmp/*\"]\n",
        "p",
    )
    .expect("policy");
    let mut req = classify(
        &Method::POST,
        &"/bkt?delete".parse().expect("uri"),
        &HeaderMap::new(),
        &[],
    )
    .expect("classify");
    let u = user("u");
    let caller = Caller {
        identity: &u,
        name: None,
        chain: &[],
        client: None,
        now: at(0),
    };
    assert!(
        !p.decide(&caller, &req.resources).allowed,
        "placeholder denies"
    );
    req.set_delete_keys(&[("tmp/a".into(), None), ("tmp/b".into(), None)]);
    assert!(p.decide(&caller, &req.resources).allowed);
    req.set_delete_keys(&[("tmp/a".into(), None), ("keep/b".into(), None)]);
    let d = p.decide(&caller, &req.resources);
    assert!(!d.allowed);
    assert_eq!(d.resource, "s3://bkt/keep/b");
}

#[test]
fn lints_find_the_suspicious_rules() {
    let p = Policy::parse(
        r#"
[[grant]]
id = "everything"
principals = ["group:admins"]
actions = ["*"]
resources = ["s3://*"]

[[grant]]
id = "shadowed"
principals = ["user:alice"]
actions = ["read"]
resources = ["s3://b/secret/x*"]

[[grant]]
id = "public-write"
principals = ["*"]
actions = ["write"]
resources = ["s3://drop/*"]

[[grant]]
id = "bucket-ops"
principals = ["user:alice"]
actions = ["s3:GetBucketVersioning"]
resources = ["s3://b/*"]

[[grant]]
id = "fine"
principals = ["user:alice"]
actions = ["read"]
resources = ["s3://b/ok/*"]

[[deny]]
id = "secrets"
principals = ["user:*"]
actions = ["read", "write"]
resources = ["s3://b/secret/*"]

[[deny]]
id = "secrets-again"
principals = ["user:alice"]
actions = ["read"]
resources = ["s3://b/secret/deep/*"]
"#,
        "lint.toml",
    )
    .expect("policy");
    let lints = lint(&p);
    let by_rule = |id: &str| -> Vec<&str> {
        lints
            .iter()
            .filter(|l| l.rule == id)
            .map(|l| l.message.as_str())
            .collect()
    };
    assert!(
        by_rule("everything")[0].contains("every action"),
        "{lints:?}"
    );
    assert!(
        by_rule("shadowed")[0].contains("deny `secrets`"),
        "{lints:?}"
    );
    assert!(
        by_rule("public-write")[0].contains("every authenticated identity"),
        "{lints:?}"
    );
    assert!(
        by_rule("bucket-ops")[0].contains("bucket-level"),
        "{lints:?}"
    );
    assert!(by_rule("fine").is_empty(), "{lints:?}");
    assert!(
        by_rule("secrets-again")[0].contains("overlaps deny `secrets`"),
        "{lints:?}"
    );
    assert!(by_rule("secrets").is_empty(), "{lints:?}");
}

#[test]
fn the_example_policies_parse_and_lint_clean_enough() {
    for (name, text) in [
        ("dev", include_str!("../../config/policy.dev.toml")),
        (
            "single",
            include_str!("../../config/policy.single-account.toml"),
        ),
        (
            "multi",
            include_str!("../../config/policy.multi-account.toml"),
        ),
    ] {
        let p = Policy::parse(text, name).unwrap_or_else(|e| panic!("{e}"));
        assert!(!p.grants().is_empty(), "{name}");
        for l in lint(&p) {
            assert!(
                name == "dev" || !l.message.contains("can never allow"),
                "{name}: {l}"
            );
            assert!(!l.message.contains("delegated-by"), "{name}: {l}");
        }
    }
}

#[test]
fn the_built_in_dev_policy_grants_user_dev_every_recognised_action() {
    let p = Policy::parse(DEV_POLICY, "built-in").expect("dev policy");
    let dev = user("dev");
    let caller = Caller {
        identity: &dev,
        name: None,
        chain: &[],
        client: None,
        now: at(0),
    };
    for action in Action::ALL {
        // Everything s3gate recognises; what it does not is refused, as
        // in production.
        let want = action != Action::Unclassified;
        assert_eq!(
            p.explain(&caller, action, "s3://dev/k").allowed,
            want,
            "{action}"
        );
    }
    let other = user("eve");
    let caller = Caller {
        identity: &other,
        name: None,
        ..caller
    };
    assert!(!p.explain(&caller, Action::GetObject, "s3://dev/k").allowed);
}
