//! `[login]`: s3gate as an OpenID Connect relying party, for people who sign
//! in with a browser (the portal at `/_s3gate/`) or through the CLI
//! (`s3gate login`, `s3gate credentials sso`).

use std::time::Duration;

use serde::Deserialize;

use super::{Config, ConfigError, duration, is_trusted_url};

/// `[login]`. The issuer must also be an `[[identity.oidc]]` issuer whose
/// `audiences` include `client_id`: the ID token a login yields is checked
/// and mapped to an identity exactly as `AssumeRoleWithWebIdentity` does,
/// so the policy sees a browser user and a CLI user alike.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    /// The identity provider's issuer URL. Required.
    pub issuer: String,
    /// The client registered at the provider for s3gate. Required.
    pub client_id: String,
    /// Its secret (stays on the server), or `env:NAME` to read it from an
    /// environment variable. Default: none (a public client; PKCE still
    /// protects the code).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The gateway's address as browsers reach it, e.g.
    /// `https://s3.corp.example.com`. The provider must allow
    /// `{public_url}/_s3gate/callback` as a redirect URI. `https://` (or
    /// `http://` on loopback). Required.
    pub public_url: String,
    /// Scopes asked for. Default: `["openid", "profile", "email"]`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// How long a browser stays signed in. Default: `8h`.
    #[serde(default = "default_browser_session", with = "duration")]
    pub browser_session_ttl: Duration,
    /// Lifetime of credentials the portal shows and the CLI receives
    /// (never past the browser session). Default: `1h`.
    #[serde(default = "default_credentials_ttl", with = "duration")]
    pub credentials_ttl: Duration,
    /// Time allowed for the provider's discovery, JWKS and token endpoints.
    /// Default: `10s`.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
}

impl std::fmt::Debug for LoginConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("public_url", &self.public_url)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email"].map(String::from).to_vec()
}

fn default_browser_session() -> Duration {
    Duration::from_secs(8 * 3600)
}

fn default_credentials_ttl() -> Duration {
    Duration::from_secs(3600)
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl LoginConfig {
    /// The public URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }

    /// Whether browsers reach s3gate over TLS (the cookies are then
    /// `Secure` and `__Host-` prefixed).
    pub fn secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The client secret, read from the environment when written
    /// `env:NAME`.
    pub fn resolve_secret(&self) -> Result<Option<String>, String> {
        match self.client_secret.as_deref() {
            None => Ok(None),
            Some(s) => match s.strip_prefix("env:") {
                Some(var) => std::env::var(var)
                    .map(Some)
                    .map_err(|_| format!("environment variable {var} is not set")),
                None => Ok(Some(s.to_owned())),
            },
        }
    }
}

impl Config {
    pub(super) fn validate_login(&self, path: &std::path::Path) -> Result<(), ConfigError> {
        let Some(login) = &self.login else {
            return Ok(());
        };
        let invalid = |field, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            message,
        };
        if !is_trusted_url(&login.public_url) {
            return Err(invalid(
                "login.public_url",
                format!(
                    "`{}` must be an https:// URL (http:// only on loopback)",
                    login.public_url
                ),
            ));
        }
        if login
            .public_url
            .parse::<http::Uri>()
            .ok()
            .is_some_and(|u| !matches!(u.path(), "" | "/"))
        {
            return Err(invalid(
                "login.public_url",
                "must be the gateway's origin only (no path): s3gate serves its pages under /_s3gate/"
                    .into(),
            ));
        }
        if login.client_id.is_empty() {
            return Err(invalid("login.client_id", "must not be empty".into()));
        }
        if !login.scopes.iter().any(|s| s == "openid") {
            return Err(invalid(
                "login.scopes",
                "must include `openid`: without it there is no ID token".into(),
            ));
        }
        let trusted = self.identity.oidc.iter().find(|o| o.issuer == login.issuer);
        match trusted {
            None => Err(invalid(
                "login.issuer",
                format!(
                    "`{}` is not an [[identity.oidc]] issuer: add it there (with `{}` in its \
                     audiences) so its ID tokens are checked like any other",
                    login.issuer, login.client_id
                ),
            )),
            Some(o) if !o.audiences.contains(&login.client_id) => Err(invalid(
                "login.client_id",
                format!(
                    "`{}` is not among the audiences of [[identity.oidc]] issuer `{}`: ID tokens \
                     for the login client would be refused",
                    login.client_id, login.issuer
                ),
            )),
            Some(_) => {
                if login.credentials_ttl < Duration::from_secs(60)
                    || login.credentials_ttl > login.browser_session_ttl
                {
                    return Err(invalid(
                        "login.credentials_ttl",
                        "must be at least 1m and at most browser_session_ttl".into(),
                    ));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = "[upstream]\n[session]\nkeyring = \"k.toml\"\n\
        [[identity.oidc]]\nissuer = \"https://idp.example\"\naudiences = [\"s3gate\"]\n";

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        Config::parse(&format!("{BASE}{extra}"), Path::new("s3gate.toml"))
    }

    fn field_of(extra: &str) -> &'static str {
        match parse(extra) {
            Err(ConfigError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn a_login_section_parses_with_its_defaults() {
        let c = parse(
            "[login]\nissuer = \"https://idp.example\"\nclient_id = \"s3gate\"\n\
             public_url = \"https://s3.example.com/\"\n",
        )
        .unwrap();
        let l = c.login.unwrap();
        assert_eq!(l.base_url(), "https://s3.example.com");
        assert!(l.secure());
        assert_eq!(l.scopes, ["openid", "profile", "email"]);
        assert_eq!(l.browser_session_ttl, Duration::from_secs(8 * 3600));
        assert_eq!(l.credentials_ttl, Duration::from_secs(3600));
        assert_eq!(l.resolve_secret(), Ok(None));
        assert!(!format!("{l:?}").contains("secret\""));
    }

    #[test]
    fn the_client_secret_never_shows_in_debug_output() {
        let c = parse(
            "[login]\nissuer = \"https://idp.example\"\nclient_id = \"s3gate\"\n\
             client_secret = \"hunter2-very-secret\"\npublic_url = \"https://s3.example.com\"\n",
        )
        .unwrap();
        let l = c.login.as_ref().unwrap();
        assert_eq!(
            l.resolve_secret().unwrap().as_deref(),
            Some("hunter2-very-secret")
        );
        let shown = format!("{l:?} {c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn misconfigurations_name_the_field() {
        let with = |issuer: &str, client: &str, url: &str, more: &str| {
            format!(
                "[login]\nissuer = \"{issuer}\"\nclient_id = \"{client}\"\npublic_url = \"{url}\"\n{more}"
            )
        };
        let ok = ("https://idp.example", "s3gate", "https://s3.example.com");
        assert_eq!(
            field_of(&with("https://other.example", ok.1, ok.2, "")),
            "login.issuer"
        );
        assert_eq!(
            field_of(&with(ok.0, "not-an-audience", ok.2, "")),
            "login.client_id"
        );
        assert_eq!(
            field_of(&with(ok.0, ok.1, "http://s3.example.com", "")),
            "login.public_url"
        );
        assert_eq!(
            field_of(&with(ok.0, ok.1, "https://s3.example.com/s3gate", "")),
            "login.public_url"
        );
        assert_eq!(
            field_of(&with(ok.0, ok.1, ok.2, "scopes = [\"profile\"]\n")),
            "login.scopes"
        );
        assert_eq!(
            field_of(&with(ok.0, ok.1, ok.2, "credentials_ttl = \"9h\"\n")),
            "login.credentials_ttl"
        );
        // Loopback http is allowed (tests, a laptop).
        assert!(parse(&with(ok.0, ok.1, "http://127.0.0.1:7070", "")).is_ok());
    }
}
