//! A test gateway's files: its config text, a keyring made at test time
//! (never committed), and the credentials clients hold.

use std::path::{Path, PathBuf};

use base64::Engine;

pub const REGION: &str = "us-east-1";
/// `bucket.<this>` is virtual-hosted-style addressing on the test gateways.
pub const VIRTUAL_HOST_DOMAIN: &str = "s3.localhost";

/// Credentials as a client holds them: session credentials minted by
/// s3gate, or an upstream's static keys (no token).
#[derive(Clone, Debug)]
pub struct Creds {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Creds {
    /// The same credentials with a forged secret: its last character
    /// changed, always to a different one (a fixed replacement is the real
    /// secret whenever the secret already ends with it).
    #[allow(dead_code)] // Not every test binary forges a secret.
    pub fn with_forged_secret(&self) -> Creds {
        let mut secret = self.secret_access_key.clone();
        let last = secret.pop().unwrap_or('A');
        secret.push(if last == 'A' { 'B' } else { 'A' });
        Creds {
            secret_access_key: secret,
            ..self.clone()
        }
    }
}

/// The test gateways' policy: every identity may do everything, so the
/// sessions' scopes (which every test mints) decide — the policy's own
/// behaviour is tested with a policy written inline by the test.
pub const OPEN_POLICY: &str = r#"
[[grant]]
id = "test-users"
principals = ["*"]
actions = ["*"]
resources = ["s3://*"]
"#;

/// The test gateways' config; a test may append sections (`[server]`,
/// `[tls]`, `[[identity.oidc]]`) before writing it.
pub fn config_text(upstream: &str, creds: &Creds, keyring: &Path, audit: &Path) -> String {
    format!(
        r#"listen = "127.0.0.1:0"

[upstream]
endpoint = "{upstream}"
region = "{REGION}"
addressing = "path"

[upstream.credentials]
access_key_id = "{}"
secret_access_key = "{}"

[session]
keyring = "{}"

[audit]
output = "{}"

[s3]
virtual_host_domains = ["{VIRTUAL_HOST_DOMAIN}"]

[policy]
file = "policy.toml"

"#,
        creds.access_key_id,
        creds.secret_access_key,
        keyring.display(),
        audit.display(),
    )
}

/// A keyring with one fresh random key (never committed anywhere).
pub fn write_keyring(dir: &Path) -> PathBuf {
    let key: [u8; 32] = rand::random();
    let path = dir.join("keyring.toml");
    let text = format!(
        "[[keys]]\nid = \"k1\"\nsecret = \"{}\"\n",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    write_private(&path, &text);
    path
}

/// Writes `text` readable by its owner only, as s3gate wants its secrets
/// (s3gate's own writer: a fresh file, 0600, renamed into place).
pub fn write_private(path: &Path, text: &str) {
    s3gate::secret_file::write_private(path, text).unwrap();
}
