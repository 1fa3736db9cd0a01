//! `[identity]`: session lifetimes for the identity exchanges, OIDC
//! issuers and AWS identity.

use super::*;

/// `[identity]`: the identity providers callers prove themselves with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Session lifetime when the caller asks for none (`DurationSeconds`
    /// absent). Default: `1h`.
    #[serde(default = "default_session_ttl", with = "duration")]
    pub default_session_ttl: Duration,
    /// Shortest `DurationSeconds` accepted. Default: `15m` (STS's own).
    #[serde(default = "default_min_session_ttl", with = "duration")]
    pub min_session_ttl: Duration,
    /// Longest `DurationSeconds` accepted; longer asks are refused with
    /// `ValidationError`, as STS does. Default: `12h`.
    #[serde(default = "default_max_ttl", with = "duration")]
    pub max_session_ttl: Duration,
    /// OIDC issuers whose tokens `AssumeRoleWithWebIdentity` accepts.
    /// Default: none.
    #[serde(default)]
    pub oidc: Vec<OidcIssuerConfig>,
    /// AWS principals proving themselves with a signed
    /// `sts:GetCallerIdentity`. Default: off.
    #[serde(default)]
    pub aws: Option<AwsIdentityConfig>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            default_session_ttl: default_session_ttl(),
            min_session_ttl: default_min_session_ttl(),
            max_session_ttl: default_max_ttl(),
            oidc: Vec::new(),
            aws: None,
        }
    }
}

/// `[[identity.oidc]]`: one trusted OIDC issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcIssuerConfig {
    /// The issuer URL, exactly as in the tokens' `iss` and the discovery
    /// document. `https://` (or `http://` on a loopback host). Required.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one. Required.
    pub audiences: Vec<String>,
    /// Accepted signature algorithms. Asymmetric only: `HS*` and `none`
    /// are refused here. Default: `["RS256", "ES256"]`.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// The claim naming the subject. Default: `sub`.
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// The claim naming the user (audit lines, and `${identity.username}`
    /// in the policy): name one this issuer keeps unique and users cannot
    /// edit. Default: `sub`. (`preferred_username` is neither at most
    /// providers.) A value that is empty or holds `/`, `..`, `*`, `?` or a
    /// control character is refused at sign-in.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// `amr` values that mean the login used a second factor (the policy's
    /// `mfa` condition). Default: `["mfa"]`.
    #[serde(default = "default_mfa_amr")]
    pub mfa_amr: Vec<String>,
    /// `acr` values that mean the same. Default: none.
    #[serde(default)]
    pub mfa_acr: Vec<String>,
    /// The claim holding groups: an array of strings, or a string split on
    /// `groups_delimiter`. Default: `groups`; absent means no groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Separator for a groups claim given as one string. Default: `,`.
    #[serde(default = "default_groups_delimiter")]
    pub groups_delimiter: String,
    /// Claims that must be present with exactly this value (type included),
    /// e.g. `{ email_verified = true }`. Default: none.
    #[serde(default)]
    pub required_claims: std::collections::BTreeMap<String, toml::Value>,
    /// Tolerance for `exp`, `nbf` and `iat` against our clock. Default: `60s`.
    #[serde(default = "default_oidc_skew", with = "duration")]
    pub clock_skew: Duration,
    /// How long fetched signing keys are trusted without refetching; while
    /// the issuer is down, cached keys keep working until then.
    /// Default: `1h`.
    #[serde(default = "default_jwks_ttl", with = "duration")]
    pub jwks_ttl: Duration,
    /// At most one JWKS fetch per this interval, whatever the number of
    /// tokens with unknown key ids (or failed fetches). Default: `60s`.
    #[serde(default = "default_jwks_cooldown", with = "duration")]
    pub jwks_cooldown: Duration,
    /// Where the discovery document is. Default:
    /// `<issuer>/.well-known/openid-configuration`.
    #[serde(default)]
    pub discovery_url: Option<String>,
}

/// `[identity.aws]`: AWS principals (ECS tasks, Lambda, EC2, IAM users)
/// proving themselves with a signed `sts:GetCallerIdentity`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsIdentityConfig {
    /// The value callers must sign in `x-s3gate-server-id`: it binds their
    /// signed request to this gateway, so a request signed for another
    /// service cannot be replayed here. Required.
    pub server_id: String,
    /// The STS endpoint s3gate sends the rebuilt request to — the only one,
    /// never a caller-chosen host. Default: `https://sts.<region>.amazonaws.com`.
    #[serde(default)]
    pub sts_endpoint: Option<String>,
    /// The region callers sign for. Default: `us-east-1`.
    #[serde(default = "default_region")]
    pub region: String,
    /// AWS account ids whose principals may obtain sessions. Required.
    pub allowed_accounts: Vec<String>,
    /// Role names (for `assumed-role` ARNs, `*` wildcards) allowed.
    /// Default: `["*"]` (any role of an allowed account).
    #[serde(default = "default_role_patterns")]
    pub role_patterns: Vec<String>,
    /// Whether IAM users (long-lived keys) of allowed accounts are
    /// accepted, by name against `role_patterns`. Default: `false`.
    #[serde(default)]
    pub allow_iam_users: bool,
    /// How far the caller's `X-Amz-Date` may be from our clock. Default: `5m`.
    #[serde(default = "default_aws_date_window", with = "duration")]
    pub date_window: Duration,
    /// Time for STS to answer. Default: `10s`.
    #[serde(default = "default_aws_timeout", with = "duration")]
    pub timeout: Duration,
}

impl AwsIdentityConfig {
    pub fn sts_endpoint(&self) -> String {
        match &self.sts_endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("https://sts.{}.amazonaws.com", self.region),
        }
    }
}
