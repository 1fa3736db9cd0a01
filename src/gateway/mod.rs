//! The gateway: everything a request needs (keyring, policy, upstreams,
//! audit, verifiers), and the routing of one request to s3gate's own
//! endpoints (`/_s3gate/…`), the STS query API (`POST /` with a form) or
//! the S3 pipeline.
//!
//! Every request, whatever its route and fate, gets exactly one audit event
//! (see [`body`]). The handler returns a response, never an error: failures
//! are rendered in S3's or STS's XML shape.
//!
//! Depends on every stage below it (`s3`, `sigv4`, `session`, `policy`,
//! `identity`, `upstream`, `audit`) and on [`crate::live`] for what changes
//! while running; knows nothing of sockets or TLS ([`crate::server`]).

mod anonymous;
mod body;
mod cors;
mod ctx;
mod finish;
mod limits;
mod origin;
mod phases;
mod portal;
mod post;
mod record;
mod s3;
mod sts;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use ctx::RequestCtx;

use crate::request_body::RequestBody;
use anyhow::Context as _;
use http::{Request, Response, StatusCode};

pub use body::GatewayBody;
pub use finish::close_after;
pub use limits::{refused_head, too_many_connections};

use crate::audit::AuditSink;
use crate::config::{Config, IdentityConfig, ServerConfig};
use crate::identity::aws::AwsVerifier;
use crate::identity::http::HttpClient;
use crate::identity::oidc::OidcVerifier;
use crate::live::{Health, InFlight, LiveKeyring, LivePolicy, Revocations};
use crate::metrics;
use crate::upstream::Upstreams;

/// Everything a request needs, shared by all connections.
pub struct Gateway {
    /// Seals and opens sessions; swapped whole when the file is rotated.
    pub keyring: Arc<LiveKeyring>,
    /// Every store, and which bucket goes to which.
    pub upstreams: Upstreams,
    pub audit: AuditSink,
    pub virtual_host_domains: Vec<String>,
    /// `[s3] sandbox_responses`: nosniff and a sandbox CSP on S3 answers.
    pub sandbox_responses: bool,
    /// Whether this instance terminates TLS itself: the scheme of the
    /// object URLs a form upload is answered with.
    pub tls: bool,
    /// Decides every request; swapped whole on reload.
    pub policy: Arc<LivePolicy>,
    /// OIDC issuers for `AssumeRoleWithWebIdentity`.
    pub oidc: OidcVerifier,
    /// AWS principals for `AssumeRoleWithAwsIdentity`, when configured.
    pub aws_identity: Option<AwsVerifier>,
    /// Session lifetimes for identity exchanges (`[identity]`).
    pub identity_limits: IdentityConfig,
    /// Readiness: draining, upstream reachability.
    pub health: Arc<Health>,
    /// Connection and request limits, and the drain time.
    pub limits: ServerConfig,
    /// Sessions cut off before their expiry (`session.revocation_file` or
    /// `revocation_url`).
    pub revocations: Arc<Revocations>,
    /// Browser and CLI sign-in (`[login]`), when configured.
    pub login: Option<crate::login::rp::RelyingParty>,
    /// The portal's host and port (`login.public_url`), parsed once.
    pub portal_host: Option<origin::PortalHost>,
    /// Device approvals and used one-time codes (`[shared]`).
    pub shared: Arc<dyn crate::shared::SharedState>,
    /// Where this instance's device sign-ins came from (the approval page).
    pub device_requests: crate::login::device::DeviceRequests,
    /// The region shown in the portal's snippets (the default upstream's).
    pub region: String,
    /// Delegated sessions' quota counts: this instance's own, or leased
    /// from the shared state (`[shared]`).
    pub quotas: crate::shared::quota::Quotas,
    /// Requests in flight per principal (`server.max_requests_per_principal`),
    /// keyed by the principal's name.
    pub principals: InFlight,
    /// The config's `[[cors]]` rules, per bucket.
    pub cors: crate::s3::cors::CorsRules,
}

impl Gateway {
    /// Loads the keyring, starts the audit writer and builds the upstream
    /// client from a config.
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        Self::new(config, LiveKeyring::load(&config.session)?).await
    }

    /// Like [`Gateway::from_config`] with a keyring already in hand; loads
    /// the config's policy file.
    pub async fn new(config: &Config, keyring: impl Into<LiveKeyring>) -> anyhow::Result<Self> {
        let Some(policy) = &config.policy else {
            anyhow::bail!(
                "the config has no [policy] file: s3gate allows nothing without a policy, so it \
                 does not start (add `[policy]` with `file = \"policy.toml\"`; see docs/policy.md)"
            );
        };
        let policy = LivePolicy::load(&policy.file)
            .await
            .context("cannot load the policy")?;
        Self::with_policy(config, keyring, Arc::new(policy)).await
    }

    /// A gateway deciding by `policy` (the config's `[policy]` is not read).
    pub async fn with_policy(
        config: &Config,
        keyring: impl Into<LiveKeyring>,
        policy: Arc<LivePolicy>,
    ) -> anyhow::Result<Self> {
        let http = HttpClient::new();
        let mut identity_limits = config.identity.clone();
        identity_limits.oidc.clear();
        let upstreams = Upstreams::new(config).await?;
        // Read through the upstreams when the list is an S3 object.
        let revocations = Arc::new(Revocations::load(config, &upstreams).await?);
        let (shared, quotas) = crate::shared::from_config(config).await?;
        Ok(Self {
            oidc: OidcVerifier::new(&config.identity.oidc, http.clone()),
            aws_identity: config
                .identity
                .aws
                .as_ref()
                .map(|a| AwsVerifier::new(a.clone(), http.clone())),
            identity_limits,
            keyring: Arc::new(keyring.into()),
            upstreams,
            audit: AuditSink::start_with(&config.audit.output, config.audit.chain)?,
            sandbox_responses: config.s3.sandbox_responses,
            tls: config.tls.is_some(),
            virtual_host_domains: config
                .s3
                .virtual_host_domains
                .iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            policy,
            health: Arc::new(Health::default()),
            limits: config.server.clone(),
            revocations,
            portal_host: config
                .login
                .as_ref()
                .and_then(|l| origin::PortalHost::of(&l.public_url)),
            login: config
                .login
                .clone()
                .map(|l| crate::login::rp::RelyingParty::new(l, http.clone()))
                .transpose()
                .context("[login]")?,
            shared,
            device_requests: Default::default(),
            region: config.upstream.region.clone(),
            quotas,
            principals: InFlight::new(config.server.max_requests_per_principal),
            cors: crate::s3::cors::CorsRules::new(config.cors.clone())
                .map_err(|e| anyhow::anyhow!("[[cors]]: {e}"))?,
        })
    }
}

impl Gateway {
    /// Why credentials just minted would be refused on first use by the
    /// revocation list (a revoked identity or delegator), if they would:
    /// then they are not handed out.
    fn revoked_at_issue(
        &self,
        creds: &crate::session::SessionCredentials,
        now: SystemTime,
    ) -> Option<String> {
        let (claims, _) = self
            .keyring
            .current()
            .open(&creds.access_key_id, &creds.session_token, now)
            .ok()?;
        self.revocations.revoked(&claims, now)
    }
}

/// Routes one request. Never fails: errors are responses.
pub async fn handle(
    gateway: &Gateway,
    req: Request<RequestBody>,
    client: SocketAddr,
) -> Response<GatewayBody> {
    let path = req.uri().path();
    if let Some(page) = path.strip_prefix("/_s3gate/") {
        if matches!(page, "healthz" | "readyz" | "metrics" | "aws-identity") {
            // Read-only pages: any other method is a mistake or a probe.
            if !matches!(*req.method(), http::Method::GET | http::Method::HEAD) {
                let mut resp = Response::new(GatewayBody::full("method not allowed\n", None));
                *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                resp.headers_mut().insert(
                    http::header::ALLOW,
                    http::HeaderValue::from_static("GET, HEAD"),
                );
                return resp;
            }
            return ops(gateway, page);
        }
        if !origin::portal_served(gateway, &req) {
            return origin::portal_not_here(path);
        }
        // Boxed, as is STS below: their futures are large and rare, and
        // every S3 request's future would otherwise carry room for them.
        return Box::pin(portal::handle(gateway, req, client)).await;
    }
    let api = if sts::is_sts_request(&req) {
        "sts"
    } else {
        "s3"
    };
    let request_id = new_request_id();
    let Some(ctx) = RequestCtx::begin(gateway, api, &req, client, request_id.clone()).await else {
        return finish::unavailable(api, &request_id);
    };
    let mut response = if let Some((limit, err)) = limits::check(&gateway.limits, &req) {
        limits::refuse(ctx, &req, limit, err)
    } else if api == "sts" {
        return Box::pin(sts::handle(gateway, req, ctx)).await;
    } else if origin::s3_refused_here(gateway, &req) {
        origin::s3_on_portal_host(gateway, ctx, &req)
    } else if cors::is_preflight(req.method()) {
        cors::preflight(gateway, req, ctx).await
    } else {
        s3::handle(gateway, req, ctx).await
    };
    // Every answer on an S3 host is data, the refusals that quote the
    // request's path among them.
    if gateway.sandbox_responses {
        finish::sandbox(response.headers_mut());
    }
    response
}

/// s3gate's own endpoints. Not audited: they carry no data and no identity.
fn ops(gateway: &Gateway, page: &str) -> Response<GatewayBody> {
    let (status, text, content_type) = match page {
        "healthz" => (StatusCode::OK, "ok\n".into(), "text/plain; charset=utf-8"),
        "readyz" => match gateway
            .health
            .not_ready(gateway.audit.healthy())
            .or_else(|| gateway.revocations.alarm(std::time::SystemTime::now()))
        {
            None => (
                StatusCode::OK,
                "ready\n".into(),
                "text/plain; charset=utf-8",
            ),
            Some(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                why.into(),
                "text/plain; charset=utf-8",
            ),
        },
        "metrics" => (
            StatusCode::OK,
            {
                let p = &gateway.policy;
                metrics::POLICY_RELOAD.mirror(
                    p.reloads.load(std::sync::atomic::Ordering::Relaxed),
                    p.reload_failures.load(std::sync::atomic::Ordering::Relaxed),
                );
                let k = &gateway.keyring;
                metrics::KEYRING_RELOAD.mirror(
                    k.reloads.load(std::sync::atomic::Ordering::Relaxed),
                    k.reload_failures.load(std::sync::atomic::Ordering::Relaxed),
                );
                metrics::render()
            },
            metrics::CONTENT_TYPE,
        ),
        // What `s3gate credentials aws` must sign for (public: no secret).
        "aws-identity" => match &gateway.aws_identity {
            Some(aws) => (
                StatusCode::OK,
                aws.announcement().to_string(),
                "application/json",
            ),
            None => (
                StatusCode::NOT_FOUND,
                "AWS identity is not configured\n".into(),
                "text/plain; charset=utf-8",
            ),
        },
        _ => (
            StatusCode::NOT_FOUND,
            "not found\n".into(),
            "text/plain; charset=utf-8",
        ),
    };
    let mut resp = Response::new(GatewayBody::full(text, None));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    if gateway.health.draining() {
        finish::close_after(&mut resp);
    }
    resp
}

/// 16 upper-case hex digits, like S3's own request ids.
pub(crate) fn new_request_id() -> String {
    request_id_of(rand::random::<u64>())
}

/// `n` as 16 upper-case hex digits, spelled by hand: `format!` costs a
/// formatter pass on every request. Public for the hot-path bench, which
/// spells its ids as the gateway does.
pub fn request_id_of(n: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut digits = [0u8; 16];
    for (i, d) in digits.iter_mut().enumerate() {
        *d = HEX[((n >> (60 - 4 * i)) & 0xF) as usize];
    }
    // Into a `String` sized once: collecting chars grew it a push at a
    // time. The digits are ASCII, so the conversion cannot fail.
    String::from_utf8(digits.to_vec()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::request_id_of;

    proptest::proptest! {
        /// The hand-spelled id is the one `format!` spelled before.
        #[test]
        fn request_ids_are_sixteen_upper_hex_digits(n: u64) {
            proptest::prop_assert_eq!(request_id_of(n), format!("{n:016X}"));
        }
    }
}
