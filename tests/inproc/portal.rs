//! The portal path: a browser signs in through the issuer with the
//! authorization-code flow (PKCE, `state`, `nonce`), and the portal hands
//! it credentials that work on S3 for what the policy grants. A callback
//! that does not carry the login's `state` is refused and audited.
//!
//! The browser is a plain HTTP client that follows each redirect by hand
//! and carries the cookies the gateway set, as a browser would.

use std::collections::HashMap;

use aws_sdk_s3::error::ProvideErrorMetadata;

use crate::common::client::{Request, Response, send};
use crate::common::config::Creds;
use crate::stack::{LOGIN_CLIENT_ID, POLICY, Stack, put};

async fn get(url: &str, cookie: Option<&str>) -> Response {
    let headers = cookie
        .map(|c| vec![("cookie".to_owned(), c.to_owned())])
        .unwrap_or_default();
    send(Request {
        method: "GET".into(),
        url: url.to_owned(),
        headers,
        body: Vec::new(),
    })
    .await
}

#[track_caller]
fn location(r: &Response) -> String {
    assert!(
        matches!(r.status, 302 | 303),
        "expected a redirect, got {}: {}",
        r.status,
        r.text()
    );
    r.headers
        .get(http::header::LOCATION)
        .expect("a Location")
        .to_str()
        .unwrap()
        .to_owned()
}

/// `name=value` of the cookie `name` the response sets, with its attributes.
fn set_cookie(r: &Response, name: &str) -> Option<(String, String)> {
    r.headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let (pair, attributes) = v.split_once(';').unwrap_or((v, ""));
            (pair.to_owned(), attributes.to_owned())
        })
}

fn query(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// The start of a login: the redirect to the issuer, and the login cookie.
async fn begin(s: &Stack) -> (String, String) {
    let start = get(&format!("{}/_s3gate/login", s.portal()), None).await;
    let to_issuer = location(&start);
    let (cookie, _) = set_cookie(&start, "s3gate_login").expect("a login cookie");
    (to_issuer, cookie)
}

/// The issuer's answer for whoever is signed in there (`sign_in`): the
/// redirect back to the callback, with a code or an error.
async fn approve(to_issuer: &str) -> String {
    location(&get(to_issuer, None).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_redirects_to_the_issuer_with_pkce_state_and_nonce() {
    let s = Stack::with_login(POLICY).await;
    let start = get(&format!("{}/_s3gate/login", s.portal()), None).await;
    let to_issuer = location(&start);
    assert!(
        to_issuer.starts_with(&format!("{}/authorize?", s.issuer.url)),
        "{to_issuer}"
    );
    let q = query(&to_issuer);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], LOGIN_CLIENT_ID);
    assert_eq!(
        q["redirect_uri"],
        format!("{}/_s3gate/callback", s.portal())
    );
    assert!(q["scope"].split(' ').any(|x| x == "openid"), "{q:?}");
    assert_eq!(q["code_challenge_method"], "S256");
    // base64url of a SHA-256: 43 characters.
    assert_eq!(q["code_challenge"].len(), 43, "{q:?}");
    assert!(q["state"].len() >= 16, "{q:?}");
    assert!(q["nonce"].len() >= 16, "{q:?}");

    // The login's secrets ride in a cookie scripts cannot read, sent only
    // to s3gate's own pages.
    let (_, attributes) = set_cookie(&start, "s3gate_login").expect("a login cookie");
    assert!(attributes.contains("HttpOnly"), "{attributes}");
    assert!(attributes.contains("Path=/_s3gate/"), "{attributes}");
    assert!(attributes.contains("SameSite=Lax"), "{attributes}");

    // Each login its own: nothing is fixed or guessable from another.
    let again = query(&location(
        &get(&format!("{}/_s3gate/login", s.portal()), None).await,
    ));
    for k in ["state", "nonce", "code_challenge"] {
        assert_ne!(q[k], again[k], "{k} repeated across logins");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_without_the_logins_state_is_refused_and_audited() {
    let s = Stack::with_login(POLICY).await;
    s.issuer.sign_in(Some("carol"));
    let (to_issuer, login_cookie) = begin(&s).await;
    let back = approve(&to_issuer).await;
    let q = query(&back);
    let callback = format!("{}/_s3gate/callback", s.portal());

    // A code alone (as an attacker who got one would send it): refused
    // before the code is traded.
    let refused = get(
        &format!("{callback}?code={}", q["code"]),
        Some(&login_cookie),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(
        set_cookie(&refused, "s3gate_session").is_none(),
        "no browser session"
    );
    let line = s
        .audit_line("the refused callback", |l| {
            l["api"] == "login" && l["decision"] == "deny"
        })
        .await;
    assert_eq!(line["operation"], "Login", "{line}");
    assert_eq!(line["error"], "InvalidToken", "{line}");
    assert!(line["reason"].as_str().unwrap().contains("state"), "{line}");

    // Another login's state does not do either.
    let (other, _) = begin(&s).await;
    let wrong = get(
        &format!(
            "{callback}?code={}&state={}",
            q["code"],
            query(&other)["state"]
        ),
        Some(&login_cookie),
    )
    .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text());

    // The refusals were about the state alone: the untouched code, with
    // its own state, still signs the browser in.
    let ok = get(&back, Some(&login_cookie)).await;
    assert_eq!(ok.status, 303, "{}", ok.text());
    assert!(set_cookie(&ok, "s3gate_session").is_some());
    assert_eq!(s.issuer.refused_exchanges(), Vec::<String>::new());
}

/// Signs `user` in through the whole code flow; the session cookie.
async fn sign_in(s: &Stack, user: &str) -> String {
    s.issuer.sign_in(Some(user));
    let (to_issuer, login_cookie) = begin(s).await;
    let back = approve(&to_issuer).await;
    assert!(
        back.starts_with(&format!("{}/_s3gate/callback?", s.portal())),
        "{back}"
    );
    let signed_in = get(&back, Some(&login_cookie)).await;
    assert_eq!(location(&signed_in), "/_s3gate/");
    // The issuer traded the code only for the verifier of the challenge
    // the gateway sent, from the registered client with its secret.
    assert_eq!(s.issuer.refused_exchanges(), Vec::<String>::new());
    set_cookie(&signed_in, "s3gate_session")
        .expect("signed in")
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_code_flow_signs_in_and_the_portal_hands_out_credentials_that_work() {
    let s = Stack::with_login(POLICY).await;
    let session_cookie = sign_in(&s, "carol").await;
    let line = s
        .audit_line("the sign-in", |l| {
            l["api"] == "login" && l["operation"] == "Login"
        })
        .await;
    assert_eq!(line["decision"], "allow", "{line}");
    let principal = format!("oidc:{}#carol", s.issuer.url);
    assert_eq!(line["identity"], principal, "{line}");

    let portal = get(&format!("{}/_s3gate/", s.portal()), Some(&session_cookie)).await;
    assert_eq!(portal.status, 200, "{}", portal.text());
    let page = portal.text();
    assert!(
        page.contains(&format!("<code id=\"principal\">{principal}</code>")),
        "{page}"
    );
    let export = |name: &str| -> String {
        let prefix = format!("export {name}=");
        page.lines()
            .flat_map(|l| l.split('>'))
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {name} on the portal page"))
            .split('<')
            .next()
            .unwrap()
            .to_owned()
    };
    // The S3 endpoint it shows is the S3 host, not the portal's.
    assert_eq!(export("AWS_ENDPOINT_URL"), s.endpoint());
    let creds = Creds {
        access_key_id: export("AWS_ACCESS_KEY_ID"),
        secret_access_key: export("AWS_SECRET_ACCESS_KEY"),
        session_token: Some(export("AWS_SESSION_TOKEN")),
    };

    let carol = s.s3(&creds);
    put(&carol, "carol/notes.txt", b"from the portal")
        .await
        .expect("the portal's credentials write carol's home");
    assert_eq!(
        s.stored("carol/notes.txt").await.as_deref(),
        Some(&b"from the portal"[..])
    );
    let elsewhere = put(&carol, "dave/notes.txt", b"x")
        .await
        .expect_err("outside carol's grant")
        .into_service_error();
    assert_eq!(elsewhere.code(), Some("AccessDenied"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_the_person_refuses_at_the_issuer_is_refused_and_audited() {
    let s = Stack::with_login(POLICY).await;
    // Nobody signs in at the issuer: it answers `access_denied`.
    s.issuer.sign_in(None);
    let (to_issuer, login_cookie) = begin(&s).await;
    let back = approve(&to_issuer).await;
    assert_eq!(query(&back)["error"], "access_denied", "{back}");

    let refused = get(&back, Some(&login_cookie)).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(set_cookie(&refused, "s3gate_session").is_none());
    let line = s
        .audit_line("the refused sign-in", |l| {
            l["api"] == "login" && l["decision"] == "deny"
        })
        .await;
    assert_eq!(line["operation"], "Login", "{line}");
    assert_eq!(line["error"], "AccessDenied", "{line}");
    assert!(
        line["reason"].as_str().unwrap().contains("access_denied"),
        "{line}"
    );
}

/// The portal and S3 never share an origin: sign-in pages only on
/// `login.public_url`'s host, S3 refused there, and on the S3 host the
/// portal's paths are just a bucket that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_answers_only_on_its_own_host_and_s3_never_there() {
    let s = Stack::with_login(POLICY).await;
    // On the S3 host every portal page is S3's 404, as data, never HTML.
    for page in ["", "login", "callback?code=x&state=y", "device", "cli"] {
        let r = get(&format!("{}/_s3gate/{page}", s.endpoint()), None).await;
        assert_eq!(r.status, 404, "/_s3gate/{page}: {}", r.text());
        assert!(
            r.text().contains("<Code>NoSuchBucket</Code>"),
            "{}",
            r.text()
        );
        assert_eq!(r.headers["content-type"], "application/xml");
        assert_eq!(r.headers["content-security-policy"], "sandbox");
        assert!(r.headers.get(http::header::SET_COOKIE).is_none());
    }
    // On its own host the portal starts a sign-in.
    let start = get(&format!("{}/_s3gate/login", s.portal()), None).await;
    assert!(
        location(&start).starts_with(&s.issuer.url),
        "{}",
        location(&start)
    );
    // Operations pages answer on every host.
    for base in [s.endpoint(), s.portal()] {
        assert_eq!(
            get(&format!("{base}/_s3gate/healthz"), None).await.status,
            200
        );
    }

    // A valid S3 request sent to the portal's host is refused, names the
    // S3 endpoint, and creates nothing; the same request on the S3 host
    // works.
    let alice = s.mint("alice");
    let refused = put(&s.s3_at(&s.portal(), &alice), "alice/portal.txt", b"x")
        .await
        .expect_err("S3 on the portal's host")
        .into_service_error();
    assert_eq!(refused.code(), Some("InvalidRequest"));
    assert!(
        refused.message().unwrap_or("").contains(&s.endpoint()),
        "{refused:?}"
    );
    assert_eq!(s.stored("alice/portal.txt").await, None);
    let line = s
        .audit_line("the refusal", |l| {
            l["api"] == "s3" && l["error"] == "InvalidRequest"
        })
        .await;
    assert_eq!(line["status"], 400, "{line}");
    put(&s.s3(&alice), "alice/portal.txt", b"x")
        .await
        .expect("the same request on the S3 host");
    assert!(s.stored("alice/portal.txt").await.is_some());
}

/// "Share a link": POSTs the portal's form as the signed-in browser.
async fn share(s: &Stack, cookie: &str, object: &str, expires: u64) -> Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("object", object)
        .append_pair("expires", &expires.to_string())
        .finish();
    send(Request {
        method: "POST".into(),
        url: format!("{}/_s3gate/share", s.portal()),
        headers: vec![
            ("cookie".into(), cookie.to_owned()),
            ("origin".into(), s.portal()),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ],
        body: body.into_bytes(),
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_shares_a_link_to_an_object_the_person_may_read_and_nothing_else() {
    let s = Stack::with_login(POLICY).await;
    s.put_stored("carol/report.txt", b"quarterly numbers").await;
    s.put_stored("carol/other.txt", b"not shared").await;
    s.put_stored("dave/report.txt", b"dave's").await;
    let cookie = sign_in(&s, "carol").await;
    let portal = get(&format!("{}/_s3gate/", s.portal()), Some(&cookie)).await;
    assert!(portal.text().contains("action=\"/_s3gate/share\""));

    let page = share(&s, &cookie, "s3://data/carol/report.txt", 600).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let text = page.text();
    let url = text
        .split("<pre class=\"link\" id=\"link\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .expect("the link on the page")
        .replace("&amp;", "&");
    assert!(url.contains("X-Amz-Expires=600"), "{url}");
    // The link is for the S3 endpoint: the portal's host serves no S3.
    assert!(url.starts_with(&s.endpoint()), "{url}");
    // Anyone holding the link downloads the object, with no credentials.
    let fetched = get(&url, None).await;
    assert_eq!(fetched.status, 200, "{}", fetched.text());
    assert_eq!(&fetched.body[..], b"quarterly numbers");
    // The link's session reads that one object: the same signature on
    // another key fails, and so would its session on any other request.
    let other = get(&url.replace("report.txt", "other.txt"), None).await;
    assert_eq!(other.status, 403, "{}", other.text());
    let line = s
        .audit_line("the shared link", |l| l["operation"] == "ShareLink")
        .await;
    assert_eq!(line["decision"], "allow", "{line}");
    assert_eq!(line["key"], "carol/report.txt", "{line}");
    assert!(
        !line.to_string().contains("X-Amz-Signature"),
        "the audit line holds the link: {line}"
    );

    // Nothing carol may not read: refused, with the policy's reason.
    let refused = share(&s, &cookie, "s3://data/dave/report.txt", 600).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(
        refused.text().contains("You may not read"),
        "{}",
        refused.text()
    );
    // Not from another site, even with the cookie.
    let forged = send(Request {
        method: "POST".into(),
        url: format!("{}/_s3gate/share", s.portal()),
        headers: vec![
            ("cookie".into(), cookie.clone()),
            ("origin".into(), "https://evil.example".into()),
        ],
        body: b"object=s3%3A%2F%2Fdata%2Fcarol%2Freport.txt".to_vec(),
    })
    .await;
    assert_eq!(forged.status, 403, "{}", forged.text());
    assert!(!forged.text().contains("X-Amz-Signature"));
}
