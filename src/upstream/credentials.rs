//! Credentials for an upstream: s3gate's own (static keys from the config,
//! or the AWS default chain) and the per-caller role sessions it opens with
//! `sts:AssumeRole` on top of them.
//!
//! Role sessions are cached in moka per (role, caller, hash of every
//! AssumeRole parameter — the session policy above all), bounded in
//! number. Each entry lives until its credentials expire; it is refreshed
//! once it is within the refresh margin of expiry, and only one STS call
//! runs per key at a time (moka's per-key compute lock), so a burst of
//! first requests makes one AssumeRole. STS throttling and transient
//! failures get the SDK's bounded retries with exponential backoff. When
//! STS stays down, cached credentials are served until shortly before they
//! expire, then [`CredentialError::StsUnavailable`]. In front of the
//! cache, a few slots remember the last request each saw, whole, and the
//! session it got: a request equal in every field has the same key, so it
//! skips building it (a JSON policy and its SHA-256) and the lookup.
//!
//! Depends on `config`, and on [`super::naming`] and
//! [`super::session_policy`] for what is sent, and on [`super::sign`] for
//! its table slots. Does I/O: STS and the AWS
//! credential chain. Never logs a secret or a session token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::identity::Identity;
use moka::future::Cache;
use moka::ops::compute::Op;
use sha2::{Digest, Sha256};

use super::RoleRequest;
use super::naming;
use super::sign::slot_of;
use crate::config::{AssumeRoleConfig, StaticCredentials};
use crate::iam::{IamRenderError, session_policy};
use crate::policy::ActionSet;

/// Refresh s3gate's own chain credentials this long before they expire,
/// so a request never leaves with credentials that lapse in flight.
const CHAIN_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// A role session within this of expiry is not handed out, even during an
/// STS outage: the store must still accept the request when it arrives.
const MIN_REMAINING: Duration = Duration::from_secs(30);

/// After a failed refresh, the stale session is served without asking STS
/// again for this long, so an outage does not cost every request a
/// round of retries.
const REFRESH_BACKOFF: Duration = Duration::from_secs(5);

/// What a caller is told to wait when STS cannot be reached.
pub const STS_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Attempts per AssumeRole (first try included), with the SDK's
/// exponential backoff between them.
const STS_MAX_ATTEMPTS: u32 = 3;
const STS_INITIAL_BACKOFF: Duration = Duration::from_millis(200);
const STS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const STS_OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

/// Why no credentials could be had for a request.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// s3gate's own credentials (static or chain) are unavailable.
    #[error("s3gate's own AWS credentials are unavailable: {0}")]
    Base(String),
    #[error("cannot make the session policy for role {role}: {source}")]
    SessionPolicy {
        role: String,
        source: IamRenderError,
    },
    /// STS's packed-size limit on session policy and tags.
    #[error("STS refused the session policy for role {role} as too large: {message}")]
    PackedPolicyTooLarge { role: String, message: String },
    /// STS answered with a refusal that retrying will not change.
    #[error("STS refused AssumeRole on {role}: {code}: {message}")]
    Refused {
        role: String,
        code: String,
        message: String,
    },
    /// STS is throttling or unreachable, and no usable cached session.
    #[error("STS is unavailable for role {role}: {message}")]
    StsUnavailable { role: String, message: String },
    /// The upstream runs every request under a role, and none applies.
    #[error("upstream `{upstream}` assumes a role per caller, and no role applies to this request")]
    NoRole { upstream: String },
    /// A role was asked for an upstream that uses its own keys.
    #[error("a grant names role {role}, but upstream `{upstream}` has no [assume_role] settings")]
    RoleNotSupported { upstream: String, role: String },
}

/// s3gate's own credentials for an upstream.
pub enum BaseCredentials {
    /// The keys, and the identity made of them once: turning
    /// `Credentials` into an `Identity` allocates, so it is not done per
    /// request.
    Static {
        creds: Credentials,
        identity: Identity,
    },
    Chain {
        provider: SharedCredentialsProvider,
        cached: RwLock<Option<(Identity, Option<SystemTime>)>>,
    },
}

impl BaseCredentials {
    /// Static keys if given, else the AWS default chain for `region`.
    pub async fn new(
        static_keys: Option<&StaticCredentials>,
        region: &str,
    ) -> anyhow::Result<BaseCredentials> {
        Ok(match static_keys {
            Some(c) => {
                let creds = Credentials::new(
                    c.access_key_id.clone(),
                    c.secret_access_key.clone(),
                    None,
                    None,
                    "s3gate-config",
                );
                BaseCredentials::Static {
                    identity: creds.clone().into(),
                    creds,
                }
            }
            None => {
                let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(region.to_owned()))
                    .load()
                    .await;
                let provider = sdk.credentials_provider().ok_or_else(|| {
                    anyhow::anyhow!("no AWS credential chain available for the upstream")
                })?;
                BaseCredentials::Chain {
                    provider,
                    cached: RwLock::new(None),
                }
            }
        })
    }

    /// The signing identity for direct use.
    pub async fn identity(&self, now: SystemTime) -> Result<Identity, CredentialError> {
        match self {
            BaseCredentials::Static { identity, .. } => Ok(identity.clone()),
            BaseCredentials::Chain { provider, cached } => {
                if let Ok(guard) = cached.read()
                    && let Some((identity, expiry)) = guard.as_ref()
                    && expiry.is_none_or(|e| e > now + CHAIN_REFRESH_MARGIN)
                {
                    return Ok(identity.clone());
                }
                let creds = provider
                    .provide_credentials()
                    .await
                    .map_err(|e| CredentialError::Base(e.to_string()))?;
                let expiry = creds.expiry();
                let identity: Identity = creds.into();
                if let Ok(mut guard) = cached.write() {
                    *guard = Some((identity.clone(), expiry));
                }
                Ok(identity)
            }
        }
    }

    pub fn provider(&self) -> SharedCredentialsProvider {
        match self {
            BaseCredentials::Static { creds, .. } => SharedCredentialsProvider::new(creds.clone()),
            BaseCredentials::Chain { provider, .. } => provider.clone(),
        }
    }
}

/// A role session's credentials, as cached.
pub struct RoleSession {
    pub identity: Identity,
    pub expires_at: SystemTime,
    /// `arn:aws:sts::…:assumed-role/ROLE/SESSION`, for audit.
    pub arn: String,
    /// Unix seconds before which a failed refresh is not retried.
    retry_not_before: AtomicU64,
}

impl RoleSession {
    fn usable(&self, now: SystemTime) -> bool {
        self.expires_at > now + MIN_REMAINING
    }
}

/// The cache key: role and caller in clear (for debugging), and a hash of
/// everything else sent to STS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SessionKey {
    role_arn: String,
    session_name: String,
    parameters: [u8; 32],
}

/// The AssumeRole parameters for one request.
struct Parameters {
    role_arn: String,
    session_name: String,
    source_identity: String,
    tags: Vec<(&'static str, String)>,
    policy: String,
}

impl Parameters {
    fn key(&self, duration: Duration) -> SessionKey {
        let mut h = Sha256::new();
        for part in [&self.source_identity, &self.policy] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        for (k, v) in &self.tags {
            h.update((k.len() as u64).to_be_bytes());
            h.update(k.as_bytes());
            h.update((v.len() as u64).to_be_bytes());
            h.update(v.as_bytes());
        }
        h.update(duration.as_secs().to_be_bytes());
        SessionKey {
            role_arn: self.role_arn.clone(),
            session_name: self.session_name.clone(),
            parameters: h.finalize().into(),
        }
    }
}

/// Expires each cached session when it stops being usable.
struct UntilUnusable;

impl UntilUnusable {
    fn remaining(session: &RoleSession) -> Duration {
        session
            .expires_at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(MIN_REMAINING)
    }
}

impl moka::Expiry<SessionKey, Arc<RoleSession>> for UntilUnusable {
    fn expire_after_create(
        &self,
        _key: &SessionKey,
        value: &Arc<RoleSession>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(Self::remaining(value))
    }

    fn expire_after_update(
        &self,
        _key: &SessionKey,
        value: &Arc<RoleSession>,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(Self::remaining(value))
    }
}

/// Per-caller role sessions for one upstream.
pub struct RoleSessions {
    client: aws_sdk_sts::Client,
    cache: Cache<SessionKey, Arc<RoleSession>>,
    /// The last request of each slot and the session it got: the cache's
    /// key is a pure function of a request, so a request asking for the
    /// same again needs neither the key's work nor the cache.
    recent: Box<[ArcSwapOption<Recent>]>,
    duration: Duration,
    refresh_margin: Duration,
}

/// Slots of [`RoleSessions::recent`]: a caller's requests mostly ask for
/// one role session, and callers beyond this share slots (a miss costs
/// only the cache lookup it replaces).
const RECENT_SLOTS: usize = 64;

/// What one request asked for, whole, and the role session it got.
///
/// The cache's key is built from exactly these (the session policy from
/// the grants and denies, the session name, source identity and tags from
/// the caller and chain, the role) and the configured duration. Building
/// it is a JSON policy, three names, their SHA-256 and a cache lookup:
/// ~21,000 instructions of every request under a role in the server's
/// profile. A request equal to this one in every field has the same key,
/// so it is served this session while it is good enough; anything
/// different, a narrowed grant included, takes the cache's path.
struct Recent {
    role_arn: String,
    caller: crate::session::Identity,
    chain: Vec<String>,
    grants: Vec<(ActionSet, String)>,
    denies: Vec<(ActionSet, String)>,
    session: Arc<RoleSession>,
}

impl Recent {
    fn of(request: &RoleRequest<'_>, session: Arc<RoleSession>) -> Recent {
        Recent {
            role_arn: request.role_arn.to_owned(),
            caller: request.caller.clone(),
            chain: request.chain.to_vec(),
            grants: request.grants.to_vec(),
            denies: request.denies.to_vec(),
            session,
        }
    }

    /// Whether `request` asks for exactly what this one did.
    fn asks_as(&self, request: &RoleRequest<'_>) -> bool {
        self.role_arn == request.role_arn
            && self.caller == *request.caller
            && self.chain == request.chain
            && self.grants == request.grants
            && self.denies == request.denies
    }
}

/// The slot of a request: by its role and its caller's subject.
fn recent_slot(request: &RoleRequest<'_>) -> usize {
    slot_of(
        &[request.role_arn, request.caller.subject.as_str()],
        RECENT_SLOTS,
    )
}

impl RoleSessions {
    /// An STS client signing with `base`, for `region` (or the configured
    /// STS region and endpoint).
    pub fn new(config: &AssumeRoleConfig, base: &BaseCredentials, region: &str) -> RoleSessions {
        let region = config
            .sts_region
            .clone()
            .unwrap_or_else(|| region.to_owned());
        let mut builder = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new(region))
            .retry_config(
                aws_sdk_sts::config::retry::RetryConfig::standard()
                    .with_max_attempts(STS_MAX_ATTEMPTS)
                    .with_initial_backoff(STS_INITIAL_BACKOFF),
            )
            .timeout_config(
                aws_sdk_sts::config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(STS_ATTEMPT_TIMEOUT)
                    .operation_timeout(STS_OPERATION_TIMEOUT)
                    .build(),
            );
        builder.set_credentials_provider(Some(base.provider()));
        if let Some(endpoint) = &config.sts_endpoint {
            builder = builder.endpoint_url(endpoint.trim_end_matches('/'));
        }
        let duration = config.duration;
        RoleSessions {
            client: aws_sdk_sts::Client::from_conf(builder.build()),
            cache: Cache::builder()
                .max_capacity(config.cache_capacity)
                .expire_after(UntilUnusable)
                .build(),
            recent: (0..RECENT_SLOTS).map(|_| ArcSwapOption::empty()).collect(),
            duration,
            refresh_margin: config.refresh_margin(),
        }
    }

    /// Role sessions in the cache (for tests and metrics).
    pub fn cached(&self) -> u64 {
        self.cache.entry_count()
    }

    /// The credentials of the caller's role session: cached, refreshed, or
    /// newly assumed.
    pub async fn get(
        &self,
        request: &RoleRequest<'_>,
        now: SystemTime,
    ) -> Result<Arc<RoleSession>, CredentialError> {
        let slot = &self.recent[recent_slot(request)];
        if let Some(recent) = &*slot.load()
            && recent.asks_as(request)
            && self.good_enough(&recent.session, now)
        {
            crate::metrics::CREDENTIAL_CACHE.hit();
            return Ok(Arc::clone(&recent.session));
        }
        let session = self.get_keyed(request, now).await?;
        slot.store(Some(Arc::new(Recent::of(request, Arc::clone(&session)))));
        Ok(session)
    }

    /// [`RoleSessions::get`] through the cache, by the request's key.
    async fn get_keyed(
        &self,
        request: &RoleRequest<'_>,
        now: SystemTime,
    ) -> Result<Arc<RoleSession>, CredentialError> {
        let policy = session_policy(request.grants, request.denies).map_err(|source| {
            CredentialError::SessionPolicy {
                role: request.role_arn.to_owned(),
                source,
            }
        })?;
        let parameters = Parameters {
            role_arn: request.role_arn.to_owned(),
            session_name: naming::role_session_name(request.caller, request.chain),
            source_identity: naming::source_identity(request.caller, request.chain),
            tags: naming::session_tags(request.caller),
            policy,
        };
        let key = parameters.key(self.duration);
        if let Some(session) = self.cache.get(&key).await
            && self.good_enough(&session, now)
        {
            crate::metrics::CREDENTIAL_CACHE.hit();
            return Ok(session);
        }
        crate::metrics::CREDENTIAL_CACHE.miss();
        // Boxed: the STS call's future is kilobytes, and every request's
        // future would otherwise carry room for it.
        Box::pin(self.refresh(key, &parameters, now)).await
    }

    /// A session still fine to serve: not due for refresh, or due but
    /// within a backoff after STS failed to refresh it.
    fn good_enough(&self, s: &RoleSession, now: SystemTime) -> bool {
        s.expires_at > now + self.refresh_margin
            || (s.usable(now) && unix(now) < s.retry_not_before.load(Ordering::Relaxed))
    }

    /// A fresh role session for `key`, assumed through STS unless another
    /// request has just done so.
    async fn refresh(
        &self,
        key: SessionKey,
        parameters: &Parameters,
        now: SystemTime,
    ) -> Result<Arc<RoleSession>, CredentialError> {
        // One STS call per key at a time: moka runs computations on the
        // same key one after another, and each first looks at what the
        // one before it left.
        let outcome = self
            .cache
            .entry(key)
            .and_try_compute_with(|current| async move {
                let current = current.map(moka::Entry::into_value);
                if let Some(session) = &current
                    && self.good_enough(session, now)
                {
                    return Ok(Op::Nop);
                }
                match self.assume(parameters).await {
                    Ok(fresh) => Ok(Op::Put(Arc::new(fresh))),
                    Err(e) => match &current {
                        Some(stale)
                            if stale.usable(now)
                                && matches!(e, CredentialError::StsUnavailable { .. }) =>
                        {
                            tracing::warn!(
                                upstream.role = %parameters.role_arn,
                                upstream.session = %stale.arn,
                                error = %e,
                                "STS unavailable; serving the cached role session until it expires"
                            );
                            stale
                                .retry_not_before
                                .store(unix(now + REFRESH_BACKOFF), Ordering::Relaxed);
                            Ok(Op::Nop)
                        }
                        _ => Err(e),
                    },
                }
            })
            .await?;
        outcome
            .into_entry()
            .map(moka::Entry::into_value)
            .ok_or_else(|| CredentialError::StsUnavailable {
                role: parameters.role_arn.clone(),
                message: "no session".into(),
            })
    }

    async fn assume(&self, p: &Parameters) -> Result<RoleSession, CredentialError> {
        let mut call = self
            .client
            .assume_role()
            .role_arn(&p.role_arn)
            .role_session_name(&p.session_name)
            .source_identity(&p.source_identity)
            .policy(&p.policy)
            .duration_seconds(i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX));
        for (k, v) in &p.tags {
            let tag = aws_sdk_sts::types::Tag::builder()
                .key(*k)
                .value(v)
                .build()
                .map_err(|e| CredentialError::Refused {
                    role: p.role_arn.clone(),
                    code: "InvalidTag".into(),
                    message: e.to_string(),
                })?;
            call = call.tags(tag);
        }
        let sent = call.send().await;
        crate::metrics::STS_ASSUME_ROLE.record(&sent);
        let out = sent.map_err(|e| sts_error(&p.role_arn, e))?;
        let malformed = |what: &str| CredentialError::Refused {
            role: p.role_arn.clone(),
            code: "MalformedResponse".into(),
            message: format!("AssumeRole answered without {what}"),
        };
        let creds = out.credentials.ok_or_else(|| malformed("credentials"))?;
        let expires_at =
            SystemTime::try_from(creds.expiration).map_err(|_| malformed("a valid expiration"))?;
        let arn = out
            .assumed_role_user
            .map(|u| u.arn)
            .unwrap_or_else(|| p.role_arn.clone());
        tracing::info!(
            upstream.role = %p.role_arn,
            upstream.session = %arn,
            upstream.access_key_id = %creds.access_key_id,
            packed_policy_percent = out.packed_policy_size.unwrap_or(-1),
            "assumed role for caller"
        );
        Ok(RoleSession {
            identity: Credentials::new(
                creds.access_key_id,
                creds.secret_access_key,
                Some(creds.session_token),
                Some(expires_at),
                "s3gate-assume-role",
            )
            .into(),
            expires_at,
            arn,
            retry_not_before: AtomicU64::new(0),
        })
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Sorts an STS failure into what the caller is told.
fn sts_error<R: std::fmt::Debug>(
    role: &str,
    e: SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError, R>,
) -> CredentialError {
    let role = role.to_owned();
    match &e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let code = err.code().unwrap_or("Unknown").to_owned();
            let message = err.message().unwrap_or_default().to_owned();
            if err.is_packed_policy_too_large_exception() {
                CredentialError::PackedPolicyTooLarge { role, message }
            } else if matches!(
                code.as_str(),
                "Throttling"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "ServiceUnavailable"
            ) || code.starts_with("InternalFailure")
                || code == "InternalError"
            {
                CredentialError::StsUnavailable {
                    role,
                    message: format!("{code}: {message}"),
                }
            } else {
                CredentialError::Refused {
                    role,
                    code,
                    message,
                }
            }
        }
        SdkError::ConstructionFailure(_) => CredentialError::Refused {
            role,
            code: "ConstructionFailure".into(),
            message: error_chain(&e),
        },
        _ => CredentialError::StsUnavailable {
            role,
            message: error_chain(&e),
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Identity as Caller;

    fn session() -> Arc<RoleSession> {
        Arc::new(RoleSession {
            identity: Credentials::new("ASIAROLE", "secret", Some("token".into()), None, "test")
                .into(),
            expires_at: UNIX_EPOCH,
            arn: String::new(),
            retry_not_before: AtomicU64::new(0),
        })
    }

    /// A remembered session serves a request only when it asks for
    /// exactly what the remembered one did: every field changed alone
    /// (another role, caller, chain, a narrower grant, one deny less) is a
    /// miss, and goes by the key.
    #[test]
    fn a_recent_session_serves_only_the_very_same_request() {
        let alice = Caller::new("mint", "alice");
        let bob = Caller::new("mint", "bob");
        let mut alice_admin = alice.clone();
        alice_admin.groups.push("admins".into());
        let chain = vec!["user:carol".to_owned()];
        let grants = vec![
            (ActionSet::READ, "arn:aws:s3:::data/alice/*".to_owned()),
            (ActionSet::WRITE, "arn:aws:s3:::data/alice/*".to_owned()),
        ];
        let denies = vec![(ActionSet::DELETE, "arn:aws:s3:::data/*".to_owned())];
        let asked = RoleRequest {
            role_arn: "arn:aws:iam::111122223333:role/data",
            caller: &alice,
            chain: &chain,
            grants: &grants,
            denies: &denies,
        };
        let recent = Recent::of(&asked, session());
        assert!(recent.asks_as(&asked));

        let narrower = &grants[..1];
        let other_resource = vec![
            (ActionSet::READ, "arn:aws:s3:::data/alice/*".to_owned()),
            (ActionSet::WRITE, "arn:aws:s3:::data/bob/*".to_owned()),
        ];
        let no_chain: Vec<String> = Vec::new();
        let others = [
            RoleRequest {
                role_arn: "arn:aws:iam::111122223333:role/other",
                ..asked
            },
            RoleRequest {
                caller: &bob,
                ..asked
            },
            RoleRequest {
                caller: &alice_admin,
                ..asked
            },
            RoleRequest {
                chain: &no_chain,
                ..asked
            },
            RoleRequest {
                grants: narrower,
                ..asked
            },
            RoleRequest {
                grants: &other_resource,
                ..asked
            },
            RoleRequest {
                denies: &[],
                ..asked
            },
        ];
        for (i, other) in others.iter().enumerate() {
            assert!(
                !recent.asks_as(other),
                "change {i} was served the remembered session"
            );
        }
    }
}
