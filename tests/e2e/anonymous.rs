//! Public prefixes: the `anonymous` principal, read-only, granted in the
//! policy file. Unsigned requests to a public prefix are served (re-signed
//! with s3gate's own upstream credentials) and audited as `anonymous`;
//! everything else unsigned, and anything with a trace of a signature that
//! does not verify, is refused. curl is the client: it sends no credentials.

use crate::client::{curl, store_object, store_put};
use crate::common::client::audit_file_lines_once;
use crate::harness::{Creds, Gateway, harness, mint_with};
use crate::sign::{Payload, Request, Response, Signing, send_blocking, signed, xml_tag};
use serde_json::Value;

/// Public reads under `public/`, and the test gateways' grant of
/// everything to every *signed-in* identity: `*` never includes anonymous.
pub fn public_policy(bucket: &str) -> String {
    format!(
        r#"
[[grant]]
id = "public-site"
principals = ["anonymous"]
actions = ["s3:GetObject", "s3:ListBucket"]
resources = ["s3://{bucket}/public/*"]

[[grant]]
id = "signed-in"
principals = ["*"]
actions = ["*"]
resources = ["s3://*"]
"#
    )
}

/// A public gateway over a fresh bucket holding `public/index.html` and
/// `private/secret.txt`.
pub fn public_gateway(label: &str) -> (crate::harness::Bucket, Gateway) {
    let h = harness();
    let bucket = h.bucket(label);
    store_put(&bucket.name, "public/index.html", b"<h1>hello</h1>");
    store_put(&bucket.name, "private/secret.txt", b"secret");
    let gw = h.policy_gateway(label, &public_policy(&bucket.name));
    (bucket, gw)
}

fn unsigned(method: &str, url: &str, headers: &[(&str, &str)]) -> Response {
    send_blocking(unsigned_request(method, url, headers))
}

fn unsigned_request(method: &str, url: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        method: method.into(),
        url: url.into(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: Vec::new(),
    }
}

fn code(body: &[u8]) -> String {
    xml_tag(&String::from_utf8_lossy(body), "Code").unwrap_or_default()
}

#[test]
fn anonymous_reads_a_public_prefix_and_nothing_else() {
    needs_testbed!();
    let (bucket, gw) = public_gateway("anon-read");
    let b = &bucket.name;
    let at = |path: &str| format!("{}/{b}/{path}", gw.endpoint());

    let (status, body) = curl("GET", &at("public/index.html"), None);
    assert_eq!((status, body.as_slice()), (200, &b"<h1>hello</h1>"[..]));
    let head = unsigned("HEAD", &at("public/index.html"), &[]);
    assert_eq!(head.status, 200);
    // Served as data, like every answer.
    assert_eq!(
        head.headers.get("content-security-policy").unwrap(),
        "sandbox"
    );

    let (status, body) = curl("GET", &at("?list-type=2&prefix=public/"), None);
    let listing = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{listing}");
    assert!(
        listing.contains("<Key>public/index.html</Key>"),
        "{listing}"
    );
    assert!(!listing.contains("secret"), "{listing}");

    // Outside the public prefix, every unsigned request is refused, even
    // though `*` (every signed-in identity) may do anything.
    for (method, path) in [
        ("GET", "private/secret.txt"),
        ("GET", "?list-type=2"),
        ("GET", "?list-type=2&prefix=pub"),
        ("GET", "?list-type=2&prefix=private/"),
        ("GET", "public/index.html?tagging"),
        ("GET", "public/index.html?acl"),
        ("PUT", "public/new.html"),
        ("DELETE", "public/index.html"),
    ] {
        let mut req = unsigned_request(method, &at(path), &[]);
        if method == "PUT" {
            req.body = b"<script>defaced</script>".to_vec();
        }
        let resp = send_blocking(req);
        assert_eq!(
            (resp.status, resp.code().as_str()),
            (403, "AccessDenied"),
            "{method} {path}: {}",
            resp.text()
        );
    }
    assert_eq!(store_object(b, "public/new.html"), None);
    assert!(store_object(b, "public/index.html").is_some());

    // A public object cannot be relabelled by whoever builds the link.
    // Nor by spelling the parameter's name percent-encoded: the store
    // decodes names before it reads them.
    for query in [
        "response-content-type=text%2Fhtml",
        "response%2Dcontent-type=text%2Fhtml",
        "%72esponse-content-disposition=inline",
    ] {
        let (status, body) = curl("GET", &at(&format!("public/index.html?{query}")), None);
        assert_eq!(
            (status, code(&body).as_str()),
            (400, "InvalidRequest"),
            "{query}"
        );
    }

    let denied_anonymously = |l: &Value| l["identity"] == "anonymous" && l["decision"] == "deny";
    let lines = audit_file_lines_once(&gw.audit, |ls| {
        ls.iter().filter(|l| denied_anonymously(l)).count() >= 11
    });
    let first = &lines[0];
    assert_eq!(first["identity"], "anonymous", "{first}");
    assert_eq!(first["auth"], "anonymous", "{first}");
    assert_eq!(first["decision"], "allow", "{first}");
    assert_eq!(first["rule"], "public-site", "{first}");
    let denied: Vec<_> = lines.iter().filter(|l| denied_anonymously(l)).collect();
    assert_eq!(denied.len(), 11, "{lines:#?}");
    assert!(
        denied
            .iter()
            .any(|l| l["key"] == "private/secret.txt" && l["error"] == "AccessDenied")
    );
}

#[test]
fn a_request_with_any_trace_of_a_signature_is_never_anonymous() {
    needs_testbed!();
    let (bucket, gw) = public_gateway("anon-forged");
    let url = format!("{}/{}/public/index.html", gw.endpoint(), bucket.name);
    let creds = mint_with(&gw.config, "alice", &["read=s3://*"], "1h");
    let forged = Creds {
        secret_access_key: "not-the-secret".into(),
        ..creds.clone()
    };

    // A wrong signature, in the header and presigned.
    let (req, _) = signed(
        &Signing::now(&forged),
        "GET",
        &url,
        &[],
        Payload::Unsigned,
        Vec::new(),
    );
    send_blocking(req).assert_error(403, "SignatureDoesNotMatch");
    let presign = Signing {
        presign: Some(std::time::Duration::from_secs(300)),
        ..Signing::now(&forged)
    };
    let (req, _) = signed(&presign, "GET", &url, &[], Payload::Unsigned, Vec::new());
    let (status, body) = curl("GET", &req.url, None);
    assert_eq!(
        (status, code(&body).as_str()),
        (403, "SignatureDoesNotMatch")
    );

    // Fragments of credentials: refused as what they are, not served.
    let token = creds.session_token.clone().unwrap();
    // Counted once the two refusals above are written.
    let audited_before = audit_file_lines_once(&gw.audit, |ls| {
        ls.iter()
            .filter(|l| l["error"] == "SignatureDoesNotMatch")
            .count()
            >= 2
    })
    .len();
    let fragments = [
        (vec![("authorization", "garbage")], ""),
        (vec![("x-amz-security-token", token.as_str())], ""),
        (
            vec![],
            "?x-amz-credential=AKIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request",
        ),
        (vec![], "?X-Amz-Security-Token=abc"),
        // Encoded names mean the same to the store.
        (
            vec![],
            "?X%2DAmz-Credential=AKIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request",
        ),
        (vec![], "?%58-Amz-Security-Token=abc"),
        (vec![], "?AWSAccessKey%49d=AKIA&Expires=1"),
        (vec![], "?AWSAccessKeyId=AKIA&Signature=x&Expires=1"),
    ];
    let sent = fragments.len();
    for (headers, query) in fragments {
        let resp = unsigned("GET", &format!("{url}{query}"), &headers);
        assert!(
            resp.status == 403 || resp.status == 400,
            "{headers:?} {query}: {} {}",
            resp.status,
            resp.text()
        );
        assert_ne!(resp.text(), "<h1>hello</h1>");
    }
    // None of them was audited as anonymous (read once all are audited).
    let lines = audit_file_lines_once(&gw.audit, |ls| ls.len() >= audited_before + sent);
    assert!(lines.len() >= audited_before + sent, "{lines:#?}");
    assert!(
        lines.iter().all(|l| l["identity"] != "anonymous"),
        "{lines:#?}"
    );
}

/// The binary's exit code and everything it printed.
fn s3gate(args: &[&str]) -> (i32, String) {
    let (code, out, err) = crate::policy_cli::s3gate(args);
    (code, format!("{out}{err}"))
}

#[test]
fn policy_check_warns_on_public_grants_and_refuses_public_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    let path_str = path.to_str().unwrap();
    std::fs::write(&path, public_policy("site")).unwrap();
    let (code, out) = s3gate(&["policy", "check", path_str]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PUBLIC DATA"), "{out}");
    assert!(out.contains("s3://site/public/*"), "{out}");
    let (code, out) = s3gate(&["policy", "check", "--strict", path_str]);
    assert_ne!(code, 0, "{out}");

    for actions in [
        r#"["read", "write"]"#,
        r#"["s3:PutObject"]"#,
        r#"["s3:GetObject", "s3:DeleteObject"]"#,
        r#"["*"]"#,
    ] {
        std::fs::write(
            &path,
            format!(
                "[[grant]]\nid = \"pub\"\nprincipals = [\"anonymous\"]\nactions = {actions}\n\
                 resources = [\"s3://site/public/*\"]\n"
            ),
        )
        .unwrap();
        let (code, out) = s3gate(&["policy", "check", path_str]);
        assert_ne!(code, 0, "{actions}: {out}");
        assert!(out.contains("may only read"), "{actions}: {out}");
    }
    // `explain` takes the audit line's spelling: allowed (exit 0) in the
    // public prefix, denied (exit 1) outside it.
    std::fs::write(&path, public_policy("site")).unwrap();
    let explain = |resource: &str| {
        s3gate(&[
            "policy",
            "explain",
            "--policy",
            path_str,
            "--as",
            "anonymous",
            "s3:GetObject",
            resource,
        ])
    };
    let (code, out) = explain("s3://site/public/a.html");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("public-site"), "{out}");
    let (code, out) = explain("s3://site/private/a");
    assert_eq!(code, 1, "{out}");
}

#[test]
fn revoking_anonymous_shuts_public_access_on_every_instance() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("anon-revoke");
    let b = &bucket.name;
    store_put(b, "public/index.html", b"<h1>hello</h1>");
    let dir = h.tempdir();
    let (one, two) = crate::delegation::file_instances(dir.path(), "1s");
    for gw in [&one, &two] {
        std::fs::write(&gw.policy, public_policy(b)).unwrap();
    }
    let status = |gw: &Gateway| {
        curl(
            "GET",
            &format!("{}/{b}/public/index.html", gw.endpoint()),
            None,
        )
        .0
    };
    let until = |want: u16| {
        crate::harness::wait_for(std::time::Duration::from_secs(10), || {
            [&one, &two]
                .iter()
                .all(|gw| status(gw) == want)
                .then_some(())
        })
    };
    until(200).expect("public once both instances reloaded the policy");
    crate::delegation::revoke(
        &one.config,
        &["--identity", "anonymous", "--reason", "leak"],
    )
    .ok();
    until(403).expect("refused on both instances once they re-read the list");
    let revoked_anonymous = |l: &Value| {
        l["identity"] == "anonymous" && l["reason"].as_str().is_some_and(|r| r.contains("revoked"))
    };
    let lines = audit_file_lines_once(&two.audit, |ls| ls.last().is_some_and(revoked_anonymous));
    let last = lines.last().unwrap();
    assert_eq!(last["identity"], "anonymous", "{last}");
    assert!(
        last["reason"].as_str().unwrap().contains("revoked"),
        "{last}"
    );
}
