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
    /// The portal's address as browsers reach it, e.g.
    /// `https://login.s3.corp.example.com`: a host of its own, where the
    /// sign-in pages are served and no S3 request is (see
    /// `same_origin_as_s3`). The provider must allow
    /// `{public_url}/_s3gate/callback` as a redirect URI. `https://` (or
    /// `http://` on loopback). Required.
    pub public_url: String,
    /// The S3 endpoint people are shown (the portal's `AWS_ENDPOINT_URL`
    /// and profile), e.g. `https://s3.corp.example.com`. Default:
    /// `public_url` with `same_origin_as_s3`; otherwise required, on
    /// another host than `public_url`.
    #[serde(default)]
    pub s3_url: Option<String>,
    /// Serve S3 on the portal's host too, for a small setup with one host
    /// name. Weaker: an object's HTML then shares the portal's origin, and
    /// only `Content-Security-Policy: sandbox` (`[s3] sandbox_responses`,
    /// which this requires) keeps its script from reading the portal.
    /// Default: false.
    #[serde(default)]
    pub same_origin_as_s3: bool,
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

    /// The S3 endpoint people are shown, without a trailing slash.
    pub fn s3_endpoint(&self) -> &str {
        self.s3_url
            .as_deref()
            .unwrap_or(&self.public_url)
            .trim_end_matches('/')
    }

    /// Whether browsers reach s3gate over TLS (the cookies are then
    /// `Secure` and `__Host-` prefixed).
    pub fn secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The client secret, read from the environment when written
    /// `env:NAME`.
    /// Whether the client secret is written in the config itself (not
    /// `env:NAME`): the config file is then a secret file.
    pub fn secret_is_inline(&self) -> bool {
        self.client_secret
            .as_deref()
            .is_some_and(|s| !s.starts_with("env:"))
    }

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
                self.validate_login_origins(login, &invalid)
            }
        }
    }

    /// The portal and S3 on two hosts, or knowingly on one.
    fn validate_login_origins(
        &self,
        login: &LoginConfig,
        invalid: &dyn Fn(&'static str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        match (&login.s3_url, login.same_origin_as_s3) {
            (None, false) => {
                return Err(invalid(
                    "login.s3_url",
                    "is required: the portal's host (public_url) serves no S3, so name the S3 \
                     endpoint people use (or set same_origin_as_s3 = true for one host)"
                        .into(),
                ));
            }
            (Some(url), same) => {
                if !is_trusted_url(url) {
                    return Err(invalid(
                        "login.s3_url",
                        format!("`{url}` must be an https:// URL (http:// only on loopback)"),
                    ));
                }
                if !same && crate::config::origin::same_authority(url, &login.public_url) {
                    return Err(invalid(
                        "login.s3_url",
                        "is on public_url's host: the portal's host serves no S3 (set \
                         same_origin_as_s3 = true to serve both on one host)"
                            .into(),
                    ));
                }
            }
            (None, true) => {}
        }
        if login.same_origin_as_s3 && !self.s3.sandbox_responses {
            return Err(invalid(
                "login.same_origin_as_s3",
                "needs [s3] sandbox_responses = true: on one host, the sandbox is all that keeps \
                 an object's script from reading the portal"
                    .into(),
            ));
        }
        Ok(())
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
             public_url = \"https://login.example.com/\"\ns3_url = \"https://s3.example.com/\"\n",
        )
        .unwrap();
        let l = c.login.unwrap();
        assert_eq!(l.base_url(), "https://login.example.com");
        assert_eq!(l.s3_endpoint(), "https://s3.example.com");
        assert!(!l.same_origin_as_s3);
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
             client_secret = \"hunter2-very-secret\"\npublic_url = \"https://s3.example.com\"\n\
             same_origin_as_s3 = true\n",
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
                "[login]\nissuer = \"{issuer}\"\nclient_id = \"{client}\"\npublic_url = \"{url}\"\n\
                 same_origin_as_s3 = true\n{more}"
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

    #[test]
    fn the_portal_and_s3_are_two_hosts_unless_one_is_asked_for() {
        let login = |more: &str| {
            format!(
                "[login]\nissuer = \"https://idp.example\"\nclient_id = \"s3gate\"\n\
                 public_url = \"https://login.example.com\"\n{more}"
            )
        };
        // Without the S3 endpoint the portal could not say where S3 is.
        assert_eq!(field_of(&login("")), "login.s3_url");
        // The same host and port is the same origin.
        assert_eq!(
            field_of(&login("s3_url = \"https://LOGIN.example.com:443/\"\n")),
            "login.s3_url"
        );
        assert_eq!(
            field_of(&login("s3_url = \"http://s3.example.com\"\n")),
            "login.s3_url"
        );
        assert!(parse(&login("s3_url = \"https://s3.example.com\"\n")).is_ok());
        assert!(parse(&login("s3_url = \"https://login.example.com:8443\"\n")).is_ok());
        // One host, knowingly, and only with the sandbox on.
        let one = parse(&login("same_origin_as_s3 = true\n")).unwrap();
        assert_eq!(
            one.login.unwrap().s3_endpoint(),
            "https://login.example.com"
        );
        assert_eq!(
            field_of(&format!(
                "[s3]\nsandbox_responses = false\n{}",
                login("same_origin_as_s3 = true\n")
            )),
            "login.same_origin_as_s3"
        );
    }
}
