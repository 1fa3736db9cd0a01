//! The caller's signed headers and STS's answer, checked without a network:
//! requests are signed here with aws-sigv4, as `s3gate credentials aws` does.

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;

use super::*;

fn config() -> AwsIdentityConfig {
    let text = "[upstream]\n[session]\nkeyring = \"k\"\n[identity.aws]\nserver_id = \"gw.example\"\nsts_endpoint = \"http://127.0.0.1:5000\"\nallowed_accounts = [\"123456789012\"]\nrole_patterns = [\"app-*\"]\n";
    crate::config::Config::parse(text, std::path::Path::new("t.toml"))
        .unwrap()
        .identity
        .aws
        .unwrap()
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn creds() -> Credentials {
    Credentials::new("ASIAEXAMPLE", "secret", Some("token".into()), None, "test")
}

fn signed(server_id: &str, at: SystemTime) -> String {
    sign_caller_identity(
        "http://127.0.0.1:5000",
        "us-east-1",
        server_id,
        &creds(),
        at,
    )
    .unwrap()
}

fn error_of(r: Result<HeaderMap, IdentityError>) -> String {
    match r {
        Err(IdentityError::InvalidToken(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_well_signed_request_keeps_only_forwarded_headers() {
    let h = check_signed_headers(&signed("gw.example", now()), &config(), now()).unwrap();
    assert_eq!(h.get(SERVER_ID_HEADER).unwrap(), "gw.example");
    assert!(h.get("authorization").is_some());
    assert_eq!(h.get("x-amz-security-token").unwrap(), "token");
    assert!(h.get("host").is_none(), "host comes from the config");
}

#[test]
fn another_server_id_or_none_is_refused() {
    let m = error_of(check_signed_headers(
        &signed("other-gw", now()),
        &config(),
        now(),
    ));
    assert!(m.contains("another server id"), "{m}");
    let mut map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&STANDARD.decode(signed("gw.example", now())).unwrap()).unwrap();
    map.remove(SERVER_ID_HEADER);
    let param = STANDARD.encode(serde_json::to_vec(&map).unwrap());
    let m = error_of(check_signed_headers(&param, &config(), now()));
    assert!(m.contains("no x-s3gate-server-id"), "{m}");
}

#[test]
fn a_stale_or_future_date_is_refused() {
    let stale = signed("gw.example", now() - Duration::from_secs(600));
    let m = error_of(check_signed_headers(&stale, &config(), now()));
    assert!(m.contains("window"), "{m}");
    let future = signed("gw.example", now() + Duration::from_secs(600));
    assert!(check_signed_headers(&future, &config(), now()).is_err());
}

#[test]
fn a_request_signed_for_another_service_is_refused() {
    let mut map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&STANDARD.decode(signed("gw.example", now())).unwrap()).unwrap();
    let auth = map["authorization"]
        .as_str()
        .unwrap()
        .replace("/sts/", "/s3/");
    map.insert("authorization".into(), auth.into());
    let param = STANDARD.encode(serde_json::to_vec(&map).unwrap());
    // Refused by the SigV4 parser or by the service check: either way, never sent.
    let m = error_of(check_signed_headers(&param, &config(), now()));
    assert!(m.contains("sts") || m.contains("SigV4"), "{m}");
}

#[test]
fn garbage_is_refused() {
    for p in [
        "",
        "%%%",
        &STANDARD.encode("[1]"),
        &STANDARD.encode("{\"authorization\": 1}"),
    ] {
        assert!(check_signed_headers(p, &config(), now()).is_err(), "{p}");
    }
}

#[test]
fn arns_map_to_account_role_and_session() {
    let p = parse_arn("arn:aws:sts::123456789012:assumed-role/app-web/task-1").unwrap();
    assert_eq!(p.account, "123456789012");
    assert_eq!(
        p.kind,
        PrincipalKind::AssumedRole {
            role: "app-web".into(),
            session: "task-1".into()
        }
    );
    let id = admit(&p, &config()).unwrap();
    assert_eq!(id.method, "aws");
    assert_eq!(id.aws_role.as_deref(), Some("app-web"));
    assert_eq!(id.aws_session.as_deref(), Some("task-1"));
    let u = parse_arn("arn:aws:iam::123456789012:user/ops/bob").unwrap();
    assert_eq!(u.kind, PrincipalKind::User { name: "bob".into() });
    for bad in [
        "arn:aws:iam::123456789012:root",
        "arn:aws:sts::123456789012:federated-user/x",
        "arn:aws:sts::12345:assumed-role/r/s",
        "arn:evil:sts::123456789012:assumed-role/r/s",
        "not an arn",
    ] {
        assert!(parse_arn(bad).is_err(), "{bad}");
    }
}

#[test]
fn accounts_roles_and_users_are_admitted_by_config() {
    let c = config();
    let other = parse_arn("arn:aws:sts::999999999999:assumed-role/app-web/s").unwrap();
    assert!(matches!(
        admit(&other, &c),
        Err(IdentityError::NotAllowed(_))
    ));
    let role = parse_arn("arn:aws:sts::123456789012:assumed-role/db-admin/s").unwrap();
    assert!(matches!(
        admit(&role, &c),
        Err(IdentityError::NotAllowed(_))
    ));
    let user = parse_arn("arn:aws:iam::123456789012:user/app-bot").unwrap();
    assert!(admit(&user, &c).is_err(), "IAM users are off by default");
    let mut c = c;
    c.allow_iam_users = true;
    assert_eq!(
        admit(&user, &c).unwrap().username.as_deref(),
        Some("app-bot")
    );
}

#[test]
fn sts_answers_are_parsed_strictly() {
    let ok = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:sts::123456789012:assumed-role/app-web/t</Arn><UserId>AROA:t</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>";
    assert_eq!(parse_caller_identity(ok).unwrap().account, "123456789012");
    let mismatch = ok.replace("<Account>123456789012", "<Account>999999999999");
    assert!(parse_caller_identity(&mismatch).is_err());
    let no_arn = ok.replace(
        "<Arn>arn:aws:sts::123456789012:assumed-role/app-web/t</Arn>",
        "",
    );
    assert!(parse_caller_identity(&no_arn).is_err());
    assert!(parse_caller_identity("<ErrorResponse/>").is_err());
}

#[test]
fn the_client_pins_the_server_id_to_the_gateway_host_or_the_flag() {
    assert_eq!(
        pinned_server_id("https://s3gate.example.com:8443/", None).unwrap(),
        "s3gate.example.com"
    );
    assert_eq!(
        pinned_server_id("https://s3gate.example.com", Some("gw-prod")).unwrap(),
        "gw-prod"
    );
    assert!(pinned_server_id("not a url", None).is_err());
    assert!(check_announced_server_id("s3gate.example.com", "s3gate.example.com").is_ok());
    let refused = check_announced_server_id("evil.example", "s3gate.example.com").unwrap_err();
    assert!(refused.contains("`s3gate.example.com`"), "{refused}");
}
