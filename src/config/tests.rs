//! Config parsing and validation: defaults, refusals that name the field.

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("t.toml"))
}

const MINIMAL: &str = "[upstream]\n[session]\nkeyring = \"k.toml\"\n[policy]\nfile = \"p.toml\"\n";

#[test]
fn minimal_config_takes_documented_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.listen, "127.0.0.1:7070".parse().unwrap());
    assert_eq!(c.upstream.region, "us-east-1");
    assert_eq!(c.upstream_endpoint(), "https://s3.us-east-1.amazonaws.com");
    assert_eq!(c.upstream_addressing(), UpstreamAddressing::Virtual);
    assert_eq!(c.session.max_ttl, Duration::from_secs(43200));
    assert_eq!(c.audit.output, AuditOutput::Stdout);
    assert!(!c.audit.chain);
    assert_eq!(c.server.drain_timeout, Duration::from_secs(25));
    assert_eq!(c.server.idle_timeout, Duration::from_secs(75));
    assert_eq!(c.server.max_connections, 4096);
    // Behind an ALB (idle timeout 60 s) s3gate must not be the side that
    // closes idle keep-alive connections.
    assert!(c.server.header_read_timeout > Duration::from_secs(60));
    assert!(c.server.idle_timeout > Duration::from_secs(60));
}

#[test]
fn the_revocation_list_is_a_file_or_an_s3_object_never_both() {
    let with =
        |session: &str| parse(&MINIMAL.replace("[session]\n", &format!("[session]\n{session}\n")));
    let c = with("revocation_url = \"s3://ops-bucket/s3gate/revocations.jsonl\"").unwrap();
    assert_eq!(
        c.session.revocation_source(),
        RevocationSource::Object {
            bucket: "ops-bucket",
            key: "s3gate/revocations.jsonl"
        }
    );
    let c = with("revocation_file = \"r.jsonl\"").unwrap();
    assert_eq!(
        c.session.revocation_source(),
        RevocationSource::File(Path::new("r.jsonl"))
    );
    assert_eq!(
        parse(MINIMAL).unwrap().session.revocation_source(),
        RevocationSource::None
    );
    let err = with("revocation_file = \"r.jsonl\"\nrevocation_url = \"s3://ops-bucket/r\"")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("session.revocation_url") && err.contains("not both"),
        "{err}"
    );
    for bad in [
        "s3://ops-bucket",
        "s3://ops-bucket/",
        "https://x/y",
        "s3://Ops/k",
        "s3:///k",
    ] {
        let err = with(&format!("revocation_url = \"{bad}\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("s3://bucket/key"), "{bad}: {err}");
    }
    let err = with("revocation_poll = \"0s\"").unwrap_err().to_string();
    assert!(err.contains("revocation_poll"), "{err}");
    let err = with("keyring_poll = \"0s\"").unwrap_err().to_string();
    assert!(err.contains("keyring_poll"), "{err}");
}

#[test]
fn unknown_field_is_refused_by_name() {
    let err = parse("[upstream]\nendpiont = \"x\"\n[session]\nkeyring = \"k\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("endpiont"), "{err}");
}

#[test]
fn bad_endpoint_names_the_field() {
    let err = parse("[upstream]\nendpoint = \"ftp://x\"\n[session]\nkeyring = \"k\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("upstream.endpoint"), "{err}");
    let err = parse("[upstream]\nendpoint = \"http://x/bucket\"\n[session]\nkeyring = \"k\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("path"), "{err}");
}

#[test]
fn the_example_config_is_valid() {
    let c = parse(include_str!("../../config/s3gate.example.toml")).unwrap();
    assert_eq!(c.listen, "0.0.0.0:7070".parse().unwrap());
    assert_eq!(c.upstream.response_timeout, Duration::from_secs(60));
    let policy = c.policy.unwrap();
    assert_eq!(policy.file, PathBuf::from("policy.toml"));
    assert!(policy.watch);
    assert_eq!(policy.reload_interval, Duration::from_secs(1));
}

#[test]
fn identity_sections_take_defaults_and_refuse_unsafe_settings() {
    let c = parse(&format!(
        "{MINIMAL}[[identity.oidc]]\nissuer = \"https://idp.example\"\naudiences = [\"urn:s3gate\"]\n[identity.aws]\nserver_id = \"gw\"\nallowed_accounts = [\"123456789012\"]\n"
    ))
    .unwrap();
    let o = &c.identity.oidc[0];
    assert_eq!(o.algorithms, ["RS256", "ES256"]);
    assert_eq!(o.subject_claim, "sub");
    assert_eq!(o.jwks_cooldown, Duration::from_secs(60));
    assert_eq!(c.identity.default_session_ttl, Duration::from_secs(3600));
    let aws = c.identity.aws.as_ref().unwrap();
    assert_eq!(aws.sts_endpoint(), "https://sts.us-east-1.amazonaws.com");
    assert_eq!(aws.role_patterns, ["*"]);
    assert!(!aws.allow_iam_users);

    for (bad, field) in [
        (
            "issuer = \"https://i\"\naudiences = [\"a\"]\nalgorithms = [\"HS256\"]",
            "algorithms",
        ),
        (
            "issuer = \"https://i\"\naudiences = [\"a\"]\nalgorithms = [\"none\"]",
            "algorithms",
        ),
        (
            "issuer = \"http://idp.example\"\naudiences = [\"a\"]",
            "issuer",
        ),
        ("issuer = \"https://i\"\naudiences = []", "audiences"),
        (
            "issuer = \"https://i\"\naudiences = [\"a\"]\njwks_uri = \"x\"",
            "jwks_uri",
        ),
    ] {
        let err = parse(&format!("{MINIMAL}[[identity.oidc]]\n{bad}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{bad}: {err}");
    }
    let loopback = parse(&format!(
        "{MINIMAL}[[identity.oidc]]\nissuer = \"http://127.0.0.1:8080\"\naudiences = [\"a\"]\n"
    ));
    assert!(loopback.is_ok(), "loopback http issuers are for tests");
    let err = parse(&format!(
        "{MINIMAL}[identity.aws]\nserver_id = \"gw\"\nallowed_accounts = [\"12345\"]\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("allowed_accounts"), "{err}");
}

#[test]
fn assume_role_takes_documented_defaults_and_checks_the_arn_and_duration() {
    let c = parse(
        "[upstream]\n[upstream.assume_role]\nrole_arn = \"arn:aws:iam::123456789012:role/s3gate\"\n\
         [session]\nkeyring = \"k\"\n",
    )
    .unwrap();
    let a = c.upstream.assume_role.unwrap();
    assert_eq!(a.duration, Duration::from_secs(900));
    assert_eq!(a.cache_capacity, 10_000);
    assert_eq!(a.refresh_margin(), Duration::from_secs(225));
    assert!(a.sts_endpoint.is_none() && a.sts_region.is_none());
    for (bad, word) in [
        ("role_arn = \"arn:aws:iam::123:role/x\"", "IAM role ARN"),
        (
            "role_arn = \"arn:aws:iam::123456789012:user/x\"",
            "IAM role ARN",
        ),
        ("duration = \"10m\"", "between 15m and 12h"),
        ("duration = \"13h\"", "between 15m and 12h"),
        ("sts_endpoint = \"sts.amazonaws.com\"", "http"),
        ("cache_capacity = 0", "cache_capacity"),
        ("refresh_margin = \"15m\"", "refresh_margin"),
    ] {
        let text =
            format!("[upstream]\n[upstream.assume_role]\n{bad}\n[session]\nkeyring = \"k\"\n");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("upstream.assume_role") && err.contains(word),
            "{bad}: {err}"
        );
    }
}

#[test]
fn upstreams_need_a_unique_name_and_bucket_patterns() {
    let entry = |name: &str, buckets: &str| {
        format!(
            "[[upstreams]]\nname = \"{name}\"\nendpoint = \"http://127.0.0.1:9\"\n\
             buckets = {buckets}\n"
        )
    };
    let config = |entries: &str| format!("{MINIMAL}{entries}");
    let c = parse(&config(
        &(entry("eu", "[\"eu-*\"]") + &entry("logs", "[\"logs\"]")),
    ))
    .unwrap();
    assert_eq!(c.upstreams.len(), 2);
    assert_eq!(c.upstreams[1].addressing_style(), UpstreamAddressing::Path);

    let err = |text: String| parse(&text).unwrap_err().to_string();
    let e = err(config(&(entry("eu", "[\"a\"]") + &entry("eu", "[\"b\"]"))));
    assert!(e.contains("`eu` names two upstreams"), "{e}");
    let e = err(config(&entry("default", "[\"a\"]")));
    assert!(e.contains("`default` names two upstreams"), "{e}");
    let e = err(config(&entry("eu", "[]")));
    assert!(e.contains("upstream `eu` serves no bucket"), "{e}");
    let e = err(config(&entry("eu", "[\"Bad/Name\"]")));
    assert!(
        e.contains("upstreams.buckets") && e.contains("Bad/Name"),
        "{e}"
    );
    let e = err(config(
        "[[upstreams]]\nendpoint = \"http://127.0.0.1:9\"\nbuckets = [\"a\"]\n",
    ));
    assert!(e.contains("needs a name"), "{e}");
    let e = err(config(
        "[[upstreams]]\nname = \"x\"\nendpoint = \"ftp://h\"\nbuckets = [\"a\"]\n",
    ));
    assert!(
        e.contains("upstreams.endpoint") && e.contains("upstream `x`"),
        "{e}"
    );
    let e = err("[upstream]\nbuckets = [\"a\"]\n[session]\nkeyring = \"k\"\n".into());
    assert!(e.contains("belong to [[upstreams]]"), "{e}");
}

#[test]
fn durations_parse_with_units() {
    assert_eq!(duration::parse("90s").unwrap(), Duration::from_secs(90));
    assert_eq!(duration::parse("15m").unwrap(), Duration::from_secs(900));
    assert_eq!(duration::parse("2h").unwrap(), Duration::from_secs(7200));
    assert_eq!(duration::parse("7d").unwrap(), Duration::from_secs(604_800));
    assert_eq!(duration::parse("30").unwrap(), Duration::from_secs(30));
    assert!(duration::parse("1y").is_err());
    assert!(duration::parse("h").is_err());
}

#[test]
fn config_and_keyring_can_come_from_the_environment() {
    // An unset variable is a read error naming it. (Setting one needs
    // `unsafe` in edition 2024; the e2e shutdown test runs the binary
    // with both variables set.)
    let err = Config::load(Path::new("env:S3GATE_TEST_UNSET_VARIABLE")).unwrap_err();
    assert!(
        err.to_string().contains("S3GATE_TEST_UNSET_VARIABLE"),
        "{err}"
    );
    let c = parse("[upstream]\n[session]\nkeyring = \"env:S3GATE_KEYRING\"\n").unwrap();
    let mut c2 = c.clone();
    c2.resolve_relative_to(Path::new("/etc/s3gate"));
    assert_eq!(c2.session.keyring, PathBuf::from("env:S3GATE_KEYRING"));
    assert_eq!(env_source(&c.session.keyring), Some("S3GATE_KEYRING"));
}

#[test]
fn relative_paths_follow_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s3gate.toml");
    std::fs::write(&path, MINIMAL).unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.session.keyring, dir.path().join("k.toml"));
    assert_eq!(c.policy.unwrap().file, dir.path().join("p.toml"));
}

#[test]
fn a_config_file_holding_a_secret_must_be_private_one_without_need_not() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s3gate.toml");
    let open = |text: &str| {
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Config::load(&path)
    };
    // Nothing secret in it: readable by all is fine, writable by all not
    // (it names the keyring, the policy, the trusted proxies).
    open(MINIMAL).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(err.contains("chmod o-w"), "{err}");
    let with_keys = MINIMAL.replace(
        "[upstream]\n",
        "[upstream]\n[upstream.credentials]\naccess_key_id = \"AKIDEXAMPLE\"\n\
         secret_access_key = \"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\"\n",
    );
    let err = open(&with_keys).unwrap_err().to_string();
    assert!(err.contains("upstream.credentials"), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    Config::load(&path).unwrap();
}

#[test]
fn shared_state_is_memory_by_default_and_dynamodb_needs_a_table() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.shared, SharedConfig::default());
    assert_eq!(c.shared.backend, SharedBackend::Memory);
    assert_eq!(c.shared.quota_block, 10);
    assert_eq!(c.shared.quota_block_bytes, 1 << 20);
    let with = |shared: &str| parse(&format!("{MINIMAL}[shared]\n{shared}\n"));
    let c = with("backend = \"dynamodb\"\ntable = \"s3gate-shared\"\nquota_block = 50\nquota_block_bytes = 4096").unwrap();
    assert_eq!(c.shared.backend, SharedBackend::Dynamodb);
    assert_eq!(c.shared.table.as_deref(), Some("s3gate-shared"));
    assert_eq!(c.shared.quota_block, 50);
    assert_eq!(c.shared.quota_block_bytes, 4096);
    for (bad, field) in [
        ("backend = \"dynamodb\"", "shared.table"),
        ("backend = \"dynamodb\"\ntable = \"\"", "shared.table"),
        ("quota_block = 0", "shared.quota_block"),
        ("quota_block_bytes = 0", "shared.quota_block_bytes"),
        ("endpoint_url = \"localhost:8000\"", "shared.endpoint_url"),
    ] {
        let err = with(bad).unwrap_err().to_string();
        assert!(err.contains(field), "{bad}: {err}");
    }
    assert!(with("backend = \"redis\"").is_err());
}
