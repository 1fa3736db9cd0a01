//! The sign-in portal behind a load balancer (Debian's HAProxy with
//! `option forwardfor`): what the portal shows, records and decides is
//! about the client the balancer forwards for, never the balancer.
//!
//! The balancer connects to the gateway from 127.0.0.2, the one address in
//! `server.trusted_proxies`; clients (curl, Chromium) connect from
//! 127.0.0.1, so a client that talks to the gateway directly is not trusted.

use std::time::Duration;

use serde_json::Value;

use crate::audit::audit_lines;
use crate::client::{ChildGuard, clean_command, run};
use crate::harness::{Gateway, free_port, harness, wait_for};
use crate::login::{browser, login_gateway_on, post_form};
use crate::scaleout::haproxy;

/// The balancer's address towards the gateway.
const BALANCER: &str = "127.0.0.2";

/// HAProxy on `127.0.0.1:{port}` in front of the gateway on `gateway`,
/// appending each client's address to `X-Forwarded-For`.
fn balancer(dir: &std::path::Path, port: u16, gateway: u16) -> ChildGuard {
    let cfg = format!(
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 60s\n\
         \x20   timeout server 60s\n    option forwardfor\n\n\
         frontend portal\n    bind 127.0.0.1:{port}\n    default_backend gateway\n\n\
         backend gateway\n    server gw 127.0.0.1:{gateway} source {BALANCER}\n"
    );
    haproxy(dir, &cfg, port)
}

/// The audit lines of `operation` whose TCP peer was `peer`.
fn audited_from(gw: &Gateway, operation: &str, peer: &str) -> Option<Value> {
    audit_lines(gw).into_iter().find(|l| {
        l["operation"] == operation
            && l["client"]
                .as_str()
                .is_some_and(|c| c.starts_with(&format!("{peer}:")))
    })
}

#[test]
fn behind_a_trusted_balancer_the_portal_judges_and_shows_the_forwarded_client() {
    needs_testbed!();
    let h = harness();
    let b = h.bucket("portal-xff");
    // Alice is in `staff`. Only the grant for where she really is applies.
    let policy = format!(
        r#"
[[grant]]
id = "from-the-client"
principals = ["group:staff"]
actions = ["read"]
resources = ["s3://{b}/client/*"]
conditions = {{ source_cidr = ["127.0.0.1/32"] }}

[[grant]]
id = "from-the-balancer"
principals = ["group:staff"]
actions = ["read"]
resources = ["s3://{b}/balancer/*"]
conditions = {{ source_cidr = ["{BALANCER}/32"] }}

[[grant]]
id = "from-a-claimed-office"
principals = ["group:staff"]
actions = ["read"]
resources = ["s3://{b}/office/*"]
conditions = {{ source_cidr = ["198.51.100.0/24"] }}
"#,
        b = b.name
    );
    let (port, lb_port) = (free_port(), free_port());
    let gw = login_gateway_on(
        "portal-xff",
        &policy,
        "",
        "",
        port,
        lb_port,
        &format!("[server]\ntrusted_proxies = [\"{BALANCER}/32\"]\n"),
    );
    let dir = h.tempdir();
    let _lb = balancer(dir.path(), lb_port, port);
    let portal = format!("http://localhost:{lb_port}");

    // A terminal asks for a device code through the balancer, claiming to
    // be in the office: the balancer appends what it saw.
    let (status, body) = post_form(
        &format!("{portal}/_s3gate/device/start"),
        &[],
        &["X-Forwarded-For: 198.51.100.7"],
    );
    assert_eq!(status, 200, "{body}");
    let start: Value = serde_json::from_str(&body).unwrap();
    let user_code = start["user_code"].as_str().unwrap();

    // The approval page, reached through the balancer: the terminal's
    // address and the grants are the client's, not the balancer's.
    let done = browser(&["device", &format!("{portal}/_s3gate/device"), user_code]);
    let shown = done
        .lines()
        .find_map(|l| l.strip_prefix("device="))
        .unwrap_or_else(|| panic!("no approval page: {done}"))
        .to_lowercase();
    assert!(shown.contains("from address 127.0.0.1"), "{shown}");
    let grants = done
        .lines()
        .find_map(|l| l.strip_prefix("grants="))
        .unwrap_or_else(|| panic!("no grants shown: {done}"));
    assert!(grants.contains("from-the-client"), "{grants}");
    assert!(!grants.contains("from-the-balancer"), "{grants}");
    assert!(!grants.contains("from-a-claimed-office"), "{grants}");
    assert!(done.contains("is signed in"), "{done}");
    // The approval's audit line names the client beside the balancer.
    let line = wait_for(Duration::from_secs(10), || {
        audited_from(&gw, "DeviceLogin", BALANCER)
    })
    .expect("the approval is audited");
    assert_eq!(line["source_ip"], "127.0.0.1", "{line}");

    // A client talking to the gateway directly is its own address, whatever
    // it forwards.
    let direct = format!("http://127.0.0.1:{port}/_s3gate/device/token");
    let host = format!("Host: localhost:{lb_port}");
    let (status, _) = post_form(
        &direct,
        &[("device_code", "forged")],
        &[&host, "X-Forwarded-For: 198.51.100.7"],
    );
    assert_eq!(status, 400);
    let line = wait_for(Duration::from_secs(10), || {
        audited_from(&gw, "DeviceToken", "127.0.0.1")
    })
    .expect("the direct poll is audited");
    assert!(line.get("source_ip").is_none(), "{line}");

    // A trusted hop that forwards no address: the client is unknown, and
    // the portal refuses, as S3 does.
    let mut cmd = clean_command("curl");
    cmd.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--interface", BALANCER])
        .args(["-H", &host, "-H", "X-Forwarded-For: not-an-address"])
        .arg(format!("http://127.0.0.1:{port}/_s3gate/device"));
    assert_eq!(run(cmd, Duration::from_secs(30)).ok().stdout.trim(), "403");
}
