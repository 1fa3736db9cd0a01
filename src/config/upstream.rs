//! `[upstream]` and `[[upstreams]]`: the stores, how they are addressed,
//! and the credentials s3gate signs for them with.

use super::*;

/// Path-style (`host/bucket/key`) or virtual-hosted-style (`bucket.host/key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamAddressing {
    #[default]
    Path,
    Virtual,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Names the store in logs and errors. Required in `[[upstreams]]`;
    /// `default` for `[upstream]`.
    #[serde(default)]
    pub name: Option<String>,
    /// Bucket name patterns this store serves (`*` matches any run), in
    /// `[[upstreams]]` only. Required there.
    #[serde(default)]
    pub buckets: Vec<String>,
    /// Base URL of the store, `http://` or `https://`, no path.
    /// Default: `https://s3.<region>.amazonaws.com`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region requests are signed for. Default: `us-east-1`.
    #[serde(default = "default_region")]
    pub region: String,
    /// Default: `path` for a configured endpoint, `virtual` for AWS.
    #[serde(default)]
    pub addressing: Option<UpstreamAddressing>,
    /// Static keys, for S3-compatible stores without STS. Default: none,
    /// which means the AWS default credential chain (environment, profile,
    /// ECS container credentials, instance metadata).
    #[serde(default)]
    pub credentials: Option<StaticCredentials>,
    /// Run every request under a per-caller role session obtained with
    /// `sts:AssumeRole` (with s3gate's own credentials above), narrowed by
    /// a session policy generated from the caller's grants. Default: none,
    /// which means s3gate's own credentials sign requests directly.
    #[serde(default)]
    pub assume_role: Option<AssumeRoleConfig>,
    /// Time to connect to the store. Default: `5s`.
    #[serde(default = "default_connect_timeout", with = "duration")]
    pub connect_timeout: Duration,
    /// Time the store may keep a request waiting: to connect (TLS
    /// included), to take each write of the request, and to answer once
    /// the request is sent; past it, `503 ServiceUnavailable`. An upload
    /// is as slow as its caller, and that time is not counted here (the
    /// caller's pace is `server.body_rate_window`'s). Default: `60s`.
    #[serde(default = "default_response_timeout", with = "duration")]
    pub response_timeout: Duration,
    /// Extra PEM CA certificates trusted for an `https://` upstream, on top
    /// of the platform's roots (a private CA in front of the store).
    /// Default: none.
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssumeRoleConfig {
    /// The role to assume when the deciding grant names none. Default:
    /// none, and a request with no role is refused (never sent with
    /// s3gate's own credentials).
    #[serde(default)]
    pub role_arn: Option<String>,
    /// `DurationSeconds` of each role session, 15m to 12h (the role's own
    /// maximum applies too). Default: `15m`.
    #[serde(default = "default_role_duration", with = "duration")]
    pub duration: Duration,
    /// STS endpoint URL. Default: AWS's regional endpoint for `sts_region`.
    #[serde(default)]
    pub sts_endpoint: Option<String>,
    /// Region of the STS endpoint. Default: the upstream's region.
    #[serde(default)]
    pub sts_region: Option<String>,
    /// Most role sessions cached at once. Default: `10000`.
    #[serde(default = "default_role_cache_capacity")]
    pub cache_capacity: u64,
    /// Refresh a cached role session this long before it expires (while
    /// STS is down, the old one is still used until 30 s before expiry).
    /// Default: a quarter of `duration`, at most `5m`.
    #[serde(default, with = "optional_duration")]
    pub refresh_margin: Option<Duration>,
}

impl AssumeRoleConfig {
    /// `refresh_margin`, or its default.
    pub fn refresh_margin(&self) -> Duration {
        self.refresh_margin
            .unwrap_or_else(|| (self.duration / 4).min(Duration::from_secs(300)))
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

impl UpstreamConfig {
    /// The base URL, defaulting to AWS's regional endpoint.
    pub fn endpoint_url(&self) -> String {
        match &self.endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("https://s3.{}.amazonaws.com", self.region),
        }
    }

    /// Default: `path` for a configured endpoint, `virtual` for AWS.
    pub fn addressing_style(&self) -> UpstreamAddressing {
        self.addressing.unwrap_or(match self.endpoint {
            Some(_) => UpstreamAddressing::Path,
            None => UpstreamAddressing::Virtual,
        })
    }

    /// Checks one upstream's fields; `section` is `upstream` or
    /// `upstreams`, `name` labels the entry of the latter in messages.
    pub(super) fn validate(
        &self,
        section: &'static str,
        name: Option<&str>,
    ) -> Result<(), (&'static str, String)> {
        let field = |f: &'static str| -> &'static str {
            match (section, f) {
                ("upstream", "endpoint") => "upstream.endpoint",
                ("upstream", "region") => "upstream.region",
                ("upstream", "credentials") => "upstream.credentials",
                ("upstream", _) => "upstream.assume_role",
                (_, "endpoint") => "upstreams.endpoint",
                (_, "region") => "upstreams.region",
                (_, "credentials") => "upstreams.credentials",
                _ => "upstreams.assume_role",
            }
        };
        let err = |f: &'static str, message: String| -> (&'static str, String) {
            match name {
                Some(n) => (field(f), format!("upstream `{n}`: {message}")),
                None => (field(f), message),
            }
        };
        let check_url = |f: &'static str, url: &str| -> Result<(), (&'static str, String)> {
            let uri: http::Uri = url.parse().map_err(|e| err(f, format!("not a URL: {e}")))?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) {
                return Err(err(f, "must start with http:// or https://".into()));
            }
            if uri.host().is_none() {
                return Err(err(f, "has no host".into()));
            }
            if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
                return Err(err(
                    f,
                    "must not have a path or query (the bucket comes from each request)".into(),
                ));
            }
            Ok(())
        };
        if let Some(endpoint) = &self.endpoint {
            check_url("endpoint", endpoint)?;
        }
        if self.region.is_empty() {
            return Err(err("region", "must not be empty".into()));
        }
        if let Some(c) = &self.credentials
            && (c.access_key_id.is_empty() || c.secret_access_key.is_empty())
        {
            return Err(err(
                "credentials",
                "access_key_id and secret_access_key must both be set".into(),
            ));
        }
        if let Some(a) = &self.assume_role {
            if let Some(arn) = &a.role_arn
                && !is_role_arn(arn)
            {
                return Err(err(
                    "assume_role",
                    format!(
                        "`{arn}` is not an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME)"
                    ),
                ));
            }
            if a.duration < Duration::from_secs(900) || a.duration > Duration::from_secs(43200) {
                return Err(err(
                    "assume_role",
                    "duration must be between 15m and 12h".into(),
                ));
            }
            if let Some(ep) = &a.sts_endpoint {
                check_url("assume_role", ep)?;
            }
            if a.refresh_margin() >= a.duration {
                return Err(err(
                    "assume_role",
                    "refresh_margin must be shorter than duration".into(),
                ));
            }
            if a.cache_capacity == 0 {
                return Err(err(
                    "assume_role",
                    "cache_capacity must be at least 1".into(),
                ));
            }
        }
        Ok(())
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`, shape only.
pub fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "iam", "", account, resource]
            if !partition.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("role/").is_some_and(|n| !n.is_empty())
    )
}
