//! One test's servers, all in this process on loopback: the embedded store
//! (SigV4 verification on, its own keys), an s3gate gateway in front of it
//! deciding by a policy the test writes inline, and an OIDC issuer the
//! gateway trusts. They run on the test's tokio runtime and end with it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;

use crate::common::client::{AUDIT_WAIT, audit_file_lines, sdk};
use crate::common::config::{Creds, REGION, config_text, write_keyring};
use crate::common::issuer::{AUDIENCE, LoginClient, TestIssuer};
use crate::common::random::{random_alnum, random_upper};

/// The bucket every stack's store has.
pub const BUCKET: &str = "data";

/// The policy of most tests: alice (a minted session) may read, write,
/// list and delete under `alice/`; builders (a group the issuer's tokens
/// carry) the same but delete under a home named by their username;
/// nobody may do anything else.
pub const POLICY: &str = r#"
[[grant]]
id = "alice-home"
principals = ["user:alice"]
actions = ["read", "write", "list", "delete"]
resources = ["s3://data/alice/*"]

[[grant]]
id = "builders-home"
principals = ["group:builders"]
actions = ["read", "write", "list"]
resources = ["s3://data/${identity.username}/*"]
"#;

/// The login client the gateway is registered as at the issuer.
pub const LOGIN_CLIENT_ID: &str = "s3gate-portal";

pub struct Stack {
    pub gateway: SocketAddr,
    pub store: SocketAddr,
    pub store_creds: Creds,
    pub issuer: TestIssuer,
    /// The gateway's audit file.
    pub audit: PathBuf,
    /// A copy of the gateway's keyring: sessions minted with it are what
    /// `s3gate session mint` hands out.
    keyring: s3gate::session::Keyring,
    /// Held for the test's length: dropping it starts the gateway's drain.
    _running: s3gate::server::Running,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// A store with [`BUCKET`], and a gateway in front of it deciding by
    /// `policy` (TOML), trusting the issuer's tokens for [`AUDIENCE`].
    pub async fn start(policy: &str) -> Self {
        Self::start_with(policy, false).await
    }

    /// Like [`Stack::start`], with `[login]` (the portal) configured
    /// against the issuer, whose authorization-code flow knows the gateway
    /// as client [`LOGIN_CLIENT_ID`].
    pub async fn with_login(policy: &str) -> Self {
        Self::start_with(policy, true).await
    }

    async fn start_with(policy: &str, login: bool) -> Self {
        // As main.rs does: ring and aws-lc-rs are both linked in, and the
        // gateway's outbound TLS clients need one chosen.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let store_creds = Creds {
            access_key_id: format!("STORE{}", random_upper(15)),
            secret_access_key: random_alnum(40),
            session_token: None,
        };
        let (store, _task) = s3gate::dev::start_store(
            "127.0.0.1:0".parse().unwrap(),
            &dir.path().join("store"),
            &store_creds.access_key_id,
            &store_creds.secret_access_key,
        )
        .await
        .expect("start the embedded store");
        let issuer = TestIssuer::start().await;
        let keyring_path = write_keyring(dir.path());
        let audit = dir.path().join("audit.log");
        let mut text = config_text(
            &format!("http://{store}"),
            &store_creds,
            &keyring_path,
            &audit,
        );
        text.push_str(&format!(
            "[[identity.oidc]]\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\", \"{LOGIN_CLIENT_ID}\"]\n\n",
            issuer.url
        ));
        // The gateway's address must be in `[login]` before it starts.
        let listen = if login {
            let port = crate::common::ports::free_port();
            // The portal on a host of its own (a browser keys origins on
            // the name), S3 on the address.
            let public_url = format!("http://localhost:{port}");
            let secret = random_alnum(32);
            issuer.register(LoginClient {
                id: LOGIN_CLIENT_ID.into(),
                secret: secret.clone(),
                redirect_uri: format!("{public_url}/_s3gate/callback"),
            });
            text.push_str(&format!(
                "[login]\nissuer = \"{}\"\nclient_id = \"{LOGIN_CLIENT_ID}\"\nclient_secret = \"{secret}\"\npublic_url = \"{public_url}\"\n\
                 s3_url = \"http://127.0.0.1:{port}\"\n",
                issuer.url
            ));
            Some(SocketAddr::from(([127, 0, 0, 1], port)))
        } else {
            None
        };
        let path = dir.path().join("s3gate.toml");
        let mut config = s3gate::config::Config::parse(&text, &path)
            .unwrap_or_else(|e| panic!("gateway config: {e}\n{text}"));
        if let Some(listen) = listen {
            config.listen = listen;
        }
        let keyring_text = std::fs::read_to_string(&keyring_path).unwrap();
        let parse = || s3gate::session::Keyring::parse(&keyring_text).unwrap();
        let policy = s3gate::policy::Policy::parse(policy, "inline policy")
            .unwrap_or_else(|e| panic!("inline policy: {e}"));
        let live = std::sync::Arc::new(s3gate::live::LivePolicy::fixed(policy));
        let gateway = s3gate::gateway::Gateway::with_policy(&config, parse(), live)
            .await
            .expect("build the gateway");
        let running = s3gate::server::start_with(&config, gateway)
            .await
            .expect("start the gateway");
        let stack = Self {
            gateway: running.addr,
            store,
            store_creds,
            issuer,
            audit,
            keyring: parse(),
            _running: running,
            _dir: dir,
        };
        stack
            .store()
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("create the bucket on the store");
        stack
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.gateway)
    }

    /// The portal's address (`login.public_url`): the same listener under
    /// another name, so another origin.
    pub fn portal(&self) -> String {
        format!("http://localhost:{}", self.gateway.port())
    }

    /// A session for `user:NAME`, valid for an hour, allowed whatever the
    /// policy allows (as `s3gate session mint --user NAME` makes).
    pub fn mint(&self, user: &str) -> Creds {
        self.mint_at(user, SystemTime::now(), Duration::from_secs(3600))
    }

    /// A session for `user:NAME` minted at `at`, lasting `ttl`.
    pub fn mint_at(&self, user: &str, at: SystemTime, ttl: Duration) -> Creds {
        let creds = self
            .keyring
            .mint(
                s3gate::session::Identity::new("mint", user),
                s3gate::policy::Scope::all(),
                at,
                ttl,
                Vec::new(),
                &mut rand::rng(),
            )
            .unwrap();
        Creds {
            access_key_id: creds.access_key_id,
            secret_access_key: creds.secret_access_key.expose().to_owned(),
            session_token: Some(creds.session_token),
        }
    }

    /// The Rust SDK pointed at the gateway.
    pub fn s3(&self, creds: &Creds) -> aws_sdk_s3::Client {
        sdk(&self.endpoint(), creds)
    }

    /// The Rust SDK with the session, sending to `endpoint`.
    pub fn s3_at(&self, endpoint: &str, creds: &Creds) -> aws_sdk_s3::Client {
        sdk(endpoint, creds)
    }

    /// The Rust SDK pointed at the store with its own keys: the independent
    /// check of what the gateway did or did not leave behind.
    pub fn store(&self) -> aws_sdk_s3::Client {
        sdk(&format!("http://{}", self.store), &self.store_creds)
    }

    /// Writes an object on the store directly, past the gateway.
    pub async fn put_stored(&self, key: &str, body: &[u8]) {
        put(&self.store(), key, body)
            .await
            .unwrap_or_else(|e| panic!("put {key} on the store: {e:?}"));
    }

    /// The object as the store holds it, or `None`.
    pub async fn stored(&self, key: &str) -> Option<Vec<u8>> {
        match get(&self.store(), key).await {
            Ok(data) => Some(data),
            Err(e)
                if e.as_service_error()
                    .is_some_and(GetObjectError::is_no_such_key) =>
            {
                None
            }
            Err(e) => panic!("read {key} from the store: {e:?}"),
        }
    }

    /// The Rust STS client pointed at the gateway, signing with `creds`
    /// when given (`AssumeRoleWithWebIdentity` is sent unsigned).
    pub fn sts(&self, creds: Option<&Creds>) -> aws_sdk_sts::Client {
        let mut config = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_sdk_sts::config::Region::new(REGION))
            .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled());
        if let Some(c) = creds {
            config = config.credentials_provider(aws_sdk_sts::config::Credentials::new(
                &c.access_key_id,
                &c.secret_access_key,
                c.session_token.clone(),
                None,
                "inproc",
            ));
        }
        aws_sdk_sts::Client::from_conf(config.build())
    }

    /// The first audit line `matches` accepts, once it is written.
    pub async fn audit_line(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + AUDIT_WAIT;
        loop {
            let lines = audit_file_lines(&self.audit);
            if let Some(line) = lines.iter().find(|l| matches(l)) {
                return line.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no audit line for {what}; the audit file holds:\n{}",
                lines
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The audit line of the request with this id.
    pub async fn audit_for(&self, request_id: &str) -> Value {
        self.audit_line(&format!("request {request_id}"), |l| {
            l["request_id"] == request_id
        })
        .await
    }
}

/// `PutObject` of `body` at `key` in [`BUCKET`].
pub async fn put(
    client: &aws_sdk_s3::Client,
    key: &str,
    body: &[u8],
) -> Result<PutObjectOutput, SdkError<PutObjectError, HttpResponse>> {
    client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
}

/// `GetObject` of `key` in [`BUCKET`], its body read whole.
pub async fn get(
    client: &aws_sdk_s3::Client,
    key: &str,
) -> Result<Vec<u8>, SdkError<GetObjectError, HttpResponse>> {
    let object = client.get_object().bucket(BUCKET).key(key).send().await?;
    Ok(object.body.collect().await.unwrap().into_bytes().to_vec())
}
