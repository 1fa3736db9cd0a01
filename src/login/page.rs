//! The HTML pages: the portal, the CLI's confirmation, the device code
//! form, and messages. Server-rendered, one small stylesheet, one small
//! script (the copy buttons), both allowed by a per-response CSP nonce.
//!
//! Pure: every value is escaped here, at the one place text becomes HTML.

use std::fmt::Write as _;

/// Text made safe for HTML element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One grant or deny as the portal lists it.
#[derive(Debug, Clone)]
pub struct GrantRow {
    pub resource: String,
    pub actions: String,
    pub rule: String,
}

/// Credentials shown on the portal.
pub struct ShownCredentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: &'a str,
    /// RFC 3339.
    pub expiration: &'a str,
    pub minutes_left: u64,
}

/// Everything the portal page shows.
pub struct PortalView<'a> {
    pub principal: &'a str,
    pub username: Option<&'a str>,
    pub email: Option<&'a str>,
    pub issuer: Option<&'a str>,
    pub groups: &'a [String],
    pub grants: &'a [GrantRow],
    pub denies: &'a [GrantRow],
    /// The portal's address (`login.public_url`): where the CLI signs in.
    pub gateway: &'a str,
    /// The S3 endpoint (`login.s3_url`): where clients send S3 requests.
    pub s3_endpoint: &'a str,
    pub region: &'a str,
    pub credentials: ShownCredentials<'a>,
    /// RFC 3339.
    pub signed_in_until: &'a str,
    pub policy_version: &'a str,
}

const STYLE: &str = r#"
:root{--fg:#1d2330;--muted:#5b6475;--line:#e3e7ee;--bg:#f6f7fa;--card:#fff;--accent:#2556d8;--deny:#b42318}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#151b2c;color:#fff;padding:14px 24px;display:flex;align-items:center;justify-content:space-between}
header .brand{font-weight:700;letter-spacing:.02em}
header form{margin:0}
main{max-width:920px;margin:24px auto;padding:0 16px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 22px;margin-bottom:18px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:16px;margin:0 0 12px}
.muted{color:var(--muted)}
.chips span{display:inline-block;background:#eef2ff;color:#2f3f8f;border-radius:999px;padding:1px 10px;margin:2px 4px 2px 0;font-size:13px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:7px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#0f1424;color:#e8ecf5;padding:12px 14px;border-radius:8px;overflow-x:auto;margin:8px 0 0;white-space:pre}
.deny td:first-child code{color:var(--deny)}
button{font:inherit;cursor:pointer;border-radius:7px;border:1px solid var(--accent);background:var(--accent);color:#fff;padding:5px 14px}
button.secondary{background:transparent;color:inherit;border-color:#8892a6}
.row{display:flex;justify-content:space-between;align-items:center;gap:12px}
.expiry{font-weight:600}
.error{color:var(--deny)}
.gap{margin-top:14px}
input[type=text]{font:20px ui-monospace,monospace;letter-spacing:.12em;padding:6px 10px;width:12em;text-transform:uppercase}
input.object{font:14px ui-monospace,monospace;letter-spacing:0;text-transform:none;width:60%}
pre.link{white-space:pre-wrap;word-break:break-all}
"#;

const SCRIPT: &str = r#"
document.querySelectorAll('button[data-copy]').forEach(function(b){
  b.addEventListener('click',function(){
    var t=document.getElementById(b.getAttribute('data-copy')).textContent;
    navigator.clipboard.writeText(t).then(function(){b.textContent='Copied';setTimeout(function(){b.textContent='Copy'},1500)});
  });
});
"#;

/// A whole page around `body`.
pub fn layout(title: &str, body: &str, nonce: &str, signed_in: bool) -> String {
    let logout = if signed_in {
        r#"<form method="post" action="/_s3gate/logout"><button class="secondary" type="submit">Sign out</button></form>"#
    } else {
        ""
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} · s3gate</title><style nonce=\"{nonce}\">{STYLE}</style></head>\
         <body><header><span class=\"brand\">s3gate</span>{logout}</header><main>{body}</main>\
         <script nonce=\"{nonce}\">{SCRIPT}</script></body></html>\n",
        title = esc(title),
    )
}

/// The `Content-Security-Policy` that goes with a page using `nonce`.
pub fn csp(nonce: &str) -> String {
    format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; \
         form-action 'self' http://127.0.0.1:*; frame-ancestors 'none'; base-uri 'none'"
    )
}

fn rows(out: &mut String, rows: &[GrantRow], class: &str) {
    for r in rows {
        let _ = write!(
            out,
            "<tr class=\"{class}\"><td><code>{}</code></td><td><code>{}</code></td><td class=\"muted\">{}</td></tr>",
            esc(&r.resource),
            esc(&r.actions),
            esc(&r.rule)
        );
    }
}

/// What the policy grants (a table, or `nothing` when empty) and the
/// denies that still refuse.
fn reach(body: &mut String, grants: &[GrantRow], denies: &[GrantRow], nothing: &str) {
    if grants.is_empty() {
        let _ = write!(body, "<p>{}</p>", esc(nothing));
    } else {
        body.push_str(
            "<table><thead><tr><th>Resource</th><th>Actions</th><th>Rule</th></tr></thead><tbody>",
        );
        rows(body, grants, "grant");
        body.push_str("</tbody></table>");
    }
    if !denies.is_empty() {
        body.push_str("<p class=\"muted gap\">Refused even so:</p><table><tbody>");
        rows(body, denies, "deny");
        body.push_str("</tbody></table>");
    }
}

/// The portal: who you are, what you may reach, how to use it.
pub fn portal(v: &PortalView<'_>, nonce: &str) -> String {
    let mut body = String::with_capacity(8192);
    let name = v.username.unwrap_or(v.principal);
    let _ = write!(
        body,
        "<section><h1>Signed in as {}</h1><p class=\"muted\">Principal <code id=\"principal\">{}</code>",
        esc(name),
        esc(v.principal)
    );
    if let Some(email) = v.email {
        let _ = write!(body, " · {}", esc(email));
    }
    if let Some(issuer) = v.issuer {
        let _ = write!(body, " · via {}", esc(issuer));
    }
    body.push_str("</p>");
    if v.groups.is_empty() {
        body.push_str("<p class=\"muted\">No groups.</p>");
    } else {
        body.push_str("<p class=\"chips\" id=\"groups\">Groups: ");
        for g in v.groups {
            let _ = write!(body, "<span>{}</span>", esc(g));
        }
        body.push_str("</p>");
    }
    let _ = write!(
        body,
        "<p class=\"muted\">Signed in until {}.</p></section>",
        esc(v.signed_in_until)
    );

    body.push_str("<section id=\"grants\"><h2>What you can reach</h2>");
    reach(
        &mut body,
        v.grants,
        v.denies,
        "The policy grants you nothing yet. Ask the team that runs this gateway for access.",
    );
    let _ = write!(
        body,
        "<p class=\"muted\">Policy version {}.</p></section>",
        esc(v.policy_version)
    );

    let gateway = esc(v.gateway);
    let endpoint = esc(v.s3_endpoint);
    // Named only when it differs (the one-host setup needs no flag).
    let endpoint_flag = if v.s3_endpoint == v.gateway {
        String::new()
    } else {
        format!(" --endpoint-url {endpoint}")
    };
    let region = esc(v.region);
    let _ = write!(
        body,
        "<section><div class=\"row\"><h2>Use it from the aws CLI</h2>\
         <button data-copy=\"configure\">Copy</button></div>\
         <p>Once, on your machine (the CLI signs you in through this page when it needs to):</p>\
         <pre id=\"configure\">s3gate configure --gateway {gateway}{endpoint_flag} --profile s3gate\n\
         aws --profile s3gate s3 ls</pre>\
         <p class=\"muted\">It writes this profile to <code>~/.aws/config</code>:</p>\
         <pre id=\"profile\">[profile s3gate]\ncredential_process = s3gate credentials sso --gateway {gateway}\n\
         endpoint_url = {endpoint}\nregion = {region}</pre></section>"
    );

    let c = &v.credentials;
    let _ = write!(
        body,
        "<section><div class=\"row\"><h2>Short-lived credentials</h2>\
         <button data-copy=\"env\">Copy</button></div>\
         <p>For a shell, now. <span class=\"expiry\" id=\"expiry\">Expires {} (in {} min).</span> \
         Reload this page for fresh ones.</p>\
         <pre id=\"env\">export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\n\
         export AWS_SESSION_TOKEN={}\nexport AWS_ENDPOINT_URL={endpoint}\nexport AWS_REGION={region}</pre>\
         </section>",
        esc(c.expiration),
        c.minutes_left,
        esc(c.access_key_id),
        esc(c.secret_access_key),
        esc(c.session_token),
    );
    let _ = write!(
        body,
        "<section id=\"share\"><h2>Share a link</h2>\
         <p>A download link for one object you can reach (see above), for someone without \
         access. It works until it expires or your sign-in ends, whichever is first.</p>\
         <form method=\"post\" action=\"/_s3gate/share\">\
         <input class=\"object\" type=\"text\" name=\"object\" placeholder=\"s3://bucket/key\" required> \
         <select name=\"expires\"><option value=\"900\">15 minutes</option>\
         <option value=\"3600\" selected>1 hour</option><option value=\"86400\">1 day</option>\
         <option value=\"604800\">7 days</option></select> \
         <button type=\"submit\">Create link</button></form></section>"
    );
    layout("Your access", &body, nonce, true)
}

/// A link the portal made: for whom to copy, and how long it works.
pub fn shared_link(
    object: &str,
    url: &str,
    valid_for: &str,
    note: Option<&str>,
    nonce: &str,
) -> String {
    let mut body = String::with_capacity(2048);
    let _ = write!(
        body,
        "<section><div class=\"row\"><h2>Link to {}</h2>\
         <button data-copy=\"link\">Copy</button></div>\
         <p>Works for <span class=\"expiry\" id=\"valid\">{}</span>; anyone holding it can \
         download the object, and the download is recorded under your name.</p>",
        esc(object),
        esc(valid_for)
    );
    if let Some(note) = note {
        let _ = write!(body, "<p class=\"muted\" id=\"note\">{}</p>", esc(note));
    }
    let _ = write!(
        body,
        "<pre class=\"link\" id=\"link\">{}</pre>\
         <p class=\"gap\"><a href=\"/_s3gate/\">Back to your access</a></p></section>",
        esc(url)
    );
    layout("Shared link", &body, nonce, true)
}

/// The CLI asks to be signed in as the browser's user.
pub fn confirm_cli(
    principal: &str,
    port: &str,
    state: &str,
    challenge: &str,
    nonce: &str,
) -> String {
    let body = format!(
        "<section><h1>Sign in the s3gate CLI?</h1>\
         <p>A terminal on this computer asked to sign in as <strong>{}</strong>. \
         Continue only if you just ran <code>s3gate login</code> or an aws command.</p>\
         <form method=\"post\" action=\"/_s3gate/cli\">\
         <input type=\"hidden\" name=\"port\" value=\"{}\">\
         <input type=\"hidden\" name=\"state\" value=\"{}\">\
         <input type=\"hidden\" name=\"challenge\" value=\"{}\">\
         <button id=\"approve\" type=\"submit\">Allow</button> \
         <button id=\"cancel\" class=\"secondary\" type=\"submit\" name=\"cancel\" value=\"1\">Cancel</button>\
         </form></section>",
        esc(principal),
        esc(port),
        esc(state),
        esc(challenge),
    );
    layout("Sign in the CLI", &body, nonce, true)
}

/// What the device approval page shows of the sign-in it approves.
pub struct DeviceView<'a> {
    pub principal: &'a str,
    pub user_code: &'a str,
    /// RFC 3339 and minutes ago, when this instance handed the code out.
    pub requested: Option<(&'a str, u64)>,
    pub client: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// Until when the device's credentials may be renewed (the browser
    /// session's end), RFC 3339.
    pub until: &'a str,
    pub grants: &'a [GrantRow],
    pub denies: &'a [GrantRow],
}

/// The device flow's second step: what is being approved (the code, when
/// and from where it was asked for, what the device will be allowed to
/// do), and the one button that approves it.
pub fn device_confirm(v: &DeviceView<'_>, nonce: &str) -> String {
    let mut body = format!(
        "<section><h1>Sign in this device as {}?</h1>\
         <p>Approve only if this is the request you just started yourself, on your own \
         terminal: the device will act as you.</p><table id=\"device\"><tbody>\
         <tr><th>Code</th><td id=\"device-code\">{}</td></tr>",
        esc(v.principal),
        esc(v.user_code)
    );
    match v.requested {
        Some((at, ago)) => {
            let _ = write!(
                body,
                "<tr><th>Requested</th><td id=\"device-requested\">{} ({ago} min ago)</td></tr>",
                esc(at)
            );
        }
        None => body.push_str(
            "<tr><th>Requested</th><td id=\"device-requested\">unknown here: this code was \
             not handed out by this server (another instance of the gateway may have)</td></tr>",
        ),
    }
    let _ = write!(
        body,
        "<tr><th>From address</th><td id=\"device-client\">{}</td></tr>\
         <tr><th>Program</th><td id=\"device-agent\">{}</td></tr>\
         <tr><th>Signed in until</th><td>{}</td></tr></tbody></table></section>",
        esc(v.client.unwrap_or("unknown")),
        esc(v.user_agent.unwrap_or("unknown")),
        esc(v.until)
    );
    body.push_str("<section id=\"device-grants\"><h2>What the device will be allowed to do</h2>");
    reach(
        &mut body,
        v.grants,
        v.denies,
        "Nothing: the policy grants you nothing now.",
    );
    let _ = write!(
        body,
        "</section><section><form method=\"post\" action=\"/_s3gate/device\">\
         <input type=\"hidden\" name=\"user_code\" value=\"{}\">\
         <input type=\"hidden\" name=\"confirm\" value=\"1\">\
         <button id=\"confirm\" type=\"submit\">Approve this device</button> \
         <a id=\"decline\" href=\"/_s3gate/\">Cancel</a></form></section>",
        esc(v.user_code)
    );
    layout("Approve a device", &body, nonce, true)
}

/// The device flow's page: type the code the terminal shows.
pub fn device_form(principal: &str, prefill: &str, error: Option<&str>, nonce: &str) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "<section><h1>Sign in a device</h1>\
         <p>Type the code your terminal shows to sign it in as <strong>{}</strong>.</p>\
         <p class=\"muted\">Only a code your own terminal shows you now: whoever's \
         code you type here is signed in as you.</p>{error}\
         <form method=\"post\" action=\"/_s3gate/device\">\
         <input type=\"text\" name=\"user_code\" id=\"user_code\" autocomplete=\"off\" \
         placeholder=\"XXXX-XXXX\" maxlength=\"12\" value=\"{}\" autofocus> \
         <button id=\"approve\" type=\"submit\">Sign in</button></form></section>",
        esc(principal),
        esc(prefill)
    );
    layout("Sign in a device", &body, nonce, true)
}

/// A short message page (done, or what went wrong and what to do).
pub fn message(title: &str, text: &str, request_id: Option<&str>, nonce: &str) -> String {
    let rid = request_id
        .map(|r| format!("<p class=\"muted\">Request id <code>{}</code></p>", esc(r)))
        .unwrap_or_default();
    let body = format!(
        "<section><h1>{}</h1><p id=\"message\">{}</p>{rid}\
         <p><a href=\"/_s3gate/\">Back to s3gate</a></p></section>",
        esc(title),
        esc(text)
    );
    layout(title, &body, nonce, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_shown_is_escaped() {
        let evil = "<script>alert('x')</script>&\"";
        let groups = vec![evil.to_owned()];
        let grants = vec![GrantRow {
            resource: evil.into(),
            actions: "read".into(),
            rule: evil.into(),
        }];
        let page = portal(
            &PortalView {
                principal: evil,
                username: Some(evil),
                email: Some(evil),
                issuer: Some(evil),
                groups: &groups,
                grants: &grants,
                denies: &grants,
                gateway: evil,
                s3_endpoint: evil,
                region: evil,
                credentials: ShownCredentials {
                    access_key_id: evil,
                    secret_access_key: evil,
                    session_token: evil,
                    expiration: evil,
                    minutes_left: 5,
                },
                signed_in_until: evil,
                policy_version: evil,
            },
            "n0nce",
        );
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
        // Only s3gate's own script, carrying the nonce.
        assert_eq!(page.matches("<script").count(), 1);
        assert!(page.contains("<script nonce=\"n0nce\">"));
        let m = message(evil, evil, Some(evil), "n");
        assert!(!m.contains("<script>alert"));
    }
}
