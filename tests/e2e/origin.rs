//! Origin isolation: objects s3gate serves are data, never pages that can
//! script the gateway's origin (which may also serve the sign-in portal).
//! Driven by Debian's Chromium (`tests/testbed/node/browser.mjs page`).

use std::path::PathBuf;
use std::time::Duration;

use crate::client::{clean_command, run};
use crate::harness::{
    Gateway, bucket_scope, config_text, harness, mint_with, testbed_var, write_keyring,
    write_private,
};
use crate::sign::{Payload, Request, Signing, send_blocking, signed};

/// A page whose script, if it ran, would say so in the title and then try
/// to read the portal with the visitor's cookies.
const PAGE: &[u8] = b"<!doctype html><html><head><title>static</title></head><body>\
<script>document.title = 'ran';\
fetch('/_s3gate/', {credentials: 'include'}).then(r => r.text())\
.then(t => { document.title = 'read ' + t.length; });</script></body></html>";

/// A gateway in front of the harness store; `sandbox` is `[s3]
/// sandbox_responses`.
fn gateway(dir: &std::path::Path, sandbox: bool) -> Gateway {
    let h = harness();
    let keyring = write_keyring(dir);
    let text = config_text(
        &h.store.endpoint(),
        &h.store.creds,
        &keyring,
        &dir.join("audit.log"),
    )
    .replace("[s3]\n", &format!("[s3]\nsandbox_responses = {sandbox}\n"));
    let path = dir.join("s3gate.toml");
    write_private(&path, &text);
    h.gateway_from(&path)
}

fn presigned(gw: &Gateway, creds: &crate::harness::Creds, path_and_query: &str) -> Request {
    presigned_at(&gw.endpoint(), creds, path_and_query)
}

/// A presigned GET of `base` + `path_and_query`, signed for `base`'s host.
fn presigned_at(base: &str, creds: &crate::harness::Creds, path_and_query: &str) -> Request {
    let s = Signing {
        creds,
        time: std::time::SystemTime::now(),
        presign: Some(Duration::from_secs(600)),
    };
    let url = format!("{base}{path_and_query}");
    signed(&s, "GET", &url, &[], Payload::Unsigned, Vec::new()).0
}

fn header(resp: &crate::sign::Response, name: &str) -> Option<String> {
    resp.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The title Chromium shows for `url` once its scripts had their chance.
fn browser_title(url: &str) -> String {
    let node = PathBuf::from(testbed_var("S3GATE_TEST_NODE"));
    let mut cmd = clean_command("node");
    cmd.arg(node.join("browser.mjs")).args(["page", url]);
    run(cmd, Duration::from_secs(60))
        .ok()
        .stdout
        .trim()
        .to_owned()
}

#[test]
fn an_html_object_served_by_s3gate_cannot_run_script_in_its_origin() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("origin");
    let dir = h.tempdir();
    let gw = gateway(dir.path(), true);
    let creds = mint_with(&gw.config, "viewer", &bucket_scope("*", &bucket.name), "1h");
    // Uploaded as a web page, as an attacker with write access would.
    let (put, _) = signed(
        &Signing::now(&creds),
        "PUT",
        &format!("{}/{}/page.html", gw.endpoint(), bucket.name),
        &[("content-type", "text/html")],
        Payload::Hash(PAGE),
        PAGE.to_vec(),
    );
    assert_eq!(send_blocking(put).status, 200);
    // As stored, and as a caller can relabel it on the way out.
    for query in ["", "?response-content-type=text%2Fhtml"] {
        let req = presigned(&gw, &creds, &format!("/{}/page.html{query}", bucket.name));
        let url = req.url.clone();
        let resp = send_blocking(req);
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(
            header(&resp, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(
            header(&resp, "content-security-policy").as_deref(),
            Some("sandbox")
        );
        assert_eq!(
            browser_title(&url),
            "static",
            "the object's script ran ({query})"
        );
    }
    // s3gate's own errors are data too.
    let resp = send_blocking(presigned(
        &gw,
        &creds,
        &format!("/{}/nope.html", bucket.name),
    ));
    assert_eq!(resp.status, 404);
    assert_eq!(
        header(&resp, "content-security-policy").as_deref(),
        Some("sandbox")
    );

    // The same object through a gateway with the sandbox turned off: the
    // browser runs its script, so the check above is a real one.
    let dir = h.tempdir();
    let open = gateway(dir.path(), false);
    let creds = mint_with(
        &open.config,
        "viewer",
        &bucket_scope("read", &bucket.name),
        "1h",
    );
    let req = presigned(
        &open,
        &creds,
        &format!(
            "/{}/page.html?response-content-type=text%2Fhtml",
            bucket.name
        ),
    );
    let title = browser_title(&req.url);
    assert!(
        title == "ran" || title.starts_with("read "),
        "got title {title:?}"
    );
}

/// A page whose script, if it runs, tries to read the portal with the
/// signed-in visitor's cookies, both on its own host and at `PORTAL`, and
/// says in the title whether it got credentials.
const PORTAL_READER: &str = "<!doctype html><html><head><title>static</title></head><body>\
<script>document.title = 'ran';\
Promise.all(['/_s3gate/', 'PORTAL/_s3gate/'].map(u => fetch(u, {credentials: 'include'})\
.then(r => r.text()).catch(() => ''))).then(ts => { document.title = \
ts.some(t => t.includes('AWS_SECRET_ACCESS_KEY')) ? 'portal read' : 'portal unreadable'; });\
</script></body></html>";

/// Two origins: the portal on `login.public_url`'s host (here `localhost`)
/// and S3 on another (`127.0.0.1`). With the sandbox turned off, so that
/// the separation of hosts is all that protects the portal, an HTML object
/// opened by a signed-in person runs its script but cannot read the
/// portal: on the S3 host `/_s3gate/` is not the portal, and the portal's
/// host is another origin that shares nothing with it. Nor can the object
/// be fetched through the portal's host, where it would share the portal's
/// origin: S3 requests there are refused.
#[test]
fn an_object_cannot_read_the_portal_because_the_portal_has_its_own_origin() {
    needs_testbed!();
    let h = harness();
    let bucket = h.bucket("twohosts");
    let policy = format!(
        "[[grant]]\nid = \"viewer\"\nprincipals = [\"user:viewer\"]\nactions = [\"*\"]\n\
         resources = [\"s3://{b}/*\"]\n\n[[grant]]\nid = \"staff-read\"\n\
         principals = [\"group:staff\"]\nactions = [\"read\"]\nresources = [\"s3://{b}/*\"]\n",
        b = bucket.name
    );
    let gw = crate::login::login_gateway_with(
        "gw-two-hosts",
        &policy,
        "",
        "sandbox_responses = false\n",
    );
    let portal = crate::login::portal(&gw);
    let creds = mint_with(&gw.config, "viewer", &bucket_scope("*", &bucket.name), "1h");
    let page = PORTAL_READER.replace("PORTAL", &portal);
    let (put, _) = signed(
        &Signing::now(&creds),
        "PUT",
        &format!("{}/{}/reader.html", gw.endpoint(), bucket.name),
        &[("content-type", "text/html")],
        Payload::Hash(page.as_bytes()),
        page.as_bytes().to_vec(),
    );
    assert_eq!(send_blocking(put).status, 200);

    // The portal is not reachable on the S3 host: S3's 404, as data.
    let resp = send_blocking(Request {
        method: "GET".into(),
        url: format!("{}/_s3gate/", gw.endpoint()),
        headers: Vec::new(),
        body: Vec::new(),
    });
    assert_eq!(resp.status, 404, "{}", resp.text());
    assert!(resp.text().contains("<Code>NoSuchBucket</Code>"));

    // The object through the portal's host is refused: it would be the
    // portal's origin there.
    let key = format!("/{}/reader.html", bucket.name);
    let on_portal = presigned_at(&portal, &creds, &key);
    let url_on_portal = on_portal.url.clone();
    let resp = send_blocking(on_portal);
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert!(resp.text().contains("<Code>InvalidRequest</Code>"));
    assert!(resp.text().contains(&gw.endpoint()), "{}", resp.text());

    // A person signed in at the portal opens the object on the S3 host:
    // its script runs (no sandbox here) and still cannot read the portal.
    let on_s3 = presigned(&gw, &creds, &key).url;
    let visit = |url: &str| {
        crate::login::browser(&["visit", &format!("{portal}/_s3gate/"), url, "alice"])
            .trim()
            .to_owned()
    };
    assert_eq!(visit(&on_s3), "portal unreadable");
    // Nor through the portal's host, where the gateway refuses to serve it.
    assert_ne!(visit(&url_on_portal), "portal read");
}
