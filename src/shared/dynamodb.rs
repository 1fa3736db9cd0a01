//! Shared state in one DynamoDB table (`[shared] backend = "dynamodb"`).
//!
//! The table has one string partition key, `pk`, and a TTL attribute,
//! `expires_at` (Unix seconds), so DynamoDB forgets each item after its
//! code, approval or session has expired. Items:
//! - `code#<id>`: a one-time code already traded. Claimed with a put
//!   conditional on `attribute_not_exists(pk)`: exactly one instance wins.
//! - `device#<user code>`: a device approval (`identity` as JSON,
//!   `session_exp`). Taken with a delete returning the old item: exactly
//!   one poll gets it.
//! - `quota#<session>#<r|br|bw>`: `leased`, the total every instance has
//!   leased of that limit. A lease adds to it with an update conditional
//!   on the sum staying within the limit; a give-back subtracts.
//!
//! TTL deletion is lazy (up to days on AWS), so expiry is also checked on
//! read. Only PutItem, GetItem, UpdateItem and DeleteItem are used
//! (`deploy/cloudformation.yaml` grants exactly those, on this table).
//!
//! Credentials: the AWS default chain, as for STS (see
//! [`crate::upstream::credentials::BaseCredentials`]).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{Approval, LeaseKey, SharedError, SharedState};
use crate::config::SharedConfig;
use crate::metrics;
use crate::upstream::credentials::BaseCredentials;

/// Per attempt: a healthy table answers in milliseconds.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// All attempts: a request waiting on a lease waits at most this long
/// before it is refused.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_ATTEMPTS: u32 = 3;
/// Conditional lease updates lost to other instances before giving up
/// (each loss means another instance leased, so the allowance shrinks).
const MAX_LEASE_ROUNDS: usize = 8;

pub struct DynamoState {
    client: Client,
    table: String,
}

impl std::fmt::Debug for DynamoState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoState")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// A put conditioned on `attribute_not_exists(pk)`: true when it wrote,
/// false when the item was already there.
fn first_write<O>(
    put: Result<O, SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, HttpResponse>>,
) -> Result<bool, SharedError> {
    match put {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(unavailable(&e)),
    }
}

/// The SDK's error in one line: the HTTP status, service code and message,
/// or the connection failure and its causes. Never the request or the raw
/// answer.
fn unavailable<E>(e: &SdkError<E, HttpResponse>) -> SharedError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = match e {
        SdkError::ServiceError(s) => format!(
            "HTTP {}: {}: {}",
            s.raw().status().as_u16(),
            s.err().code().unwrap_or("unrecognised answer"),
            s.err().message().unwrap_or("")
        ),
        other => {
            let mut text = other.to_string();
            let mut cause = std::error::Error::source(other);
            while let Some(c) = cause {
                text.push_str(": ");
                text.push_str(&c.to_string());
                cause = c.source();
            }
            text
        }
    };
    SharedError(format!("DynamoDB: {text}"))
}

impl DynamoState {
    /// A client for `config.table`, signing with the default chain.
    pub async fn new(config: &SharedConfig, region: &str) -> anyhow::Result<DynamoState> {
        let Some(table) = config.table.clone() else {
            anyhow::bail!("[shared] backend = \"dynamodb\" needs `table`");
        };
        let region = config.region.clone().unwrap_or_else(|| region.to_owned());
        let base = BaseCredentials::new(None, &region).await?;
        let mut builder = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new(region))
            .credentials_provider(base.provider())
            .retry_config(
                aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS),
            )
            .timeout_config(
                aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            );
        if let Some(endpoint) = &config.endpoint_url {
            builder = builder.endpoint_url(endpoint.trim_end_matches('/'));
        }
        Ok(DynamoState {
            client: Client::from_conf(builder.build()),
            table,
        })
    }

    /// The whole allowance leased so far, read strongly consistent.
    async fn leased(&self, key: &LeaseKey) -> Result<u64, SharedError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key.name()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(out.item().and_then(|i| number(i, "leased")).unwrap_or(0))
    }
}

/// Counts a call's outcome (`s3gate_shared_state_calls_total`).
fn counted<T>(r: Result<T, SharedError>) -> Result<T, SharedError> {
    metrics::SHARED_STATE.record(&r);
    r
}

#[async_trait]
impl SharedState for DynamoState {
    async fn claim_code(&self, code_id: &str, expires_at: u64) -> Result<bool, SharedError> {
        counted(self.claim(code_id, expires_at).await)
    }

    async fn put_approval(
        &self,
        user_code: &str,
        approval: &Approval,
        expires_at: u64,
    ) -> Result<bool, SharedError> {
        counted(self.put(user_code, approval, expires_at).await)
    }

    async fn take_approval(
        &self,
        user_code: &str,
        now: u64,
    ) -> Result<Option<Approval>, SharedError> {
        counted(self.take(user_code, now).await)
    }

    async fn lease(
        &self,
        key: &LeaseKey,
        want: u64,
        max: u64,
        expires_at: u64,
    ) -> Result<u64, SharedError> {
        counted(self.lease_up_to(key, want, max, expires_at).await)
    }

    async fn give_back(&self, key: &LeaseKey, n: u64) -> Result<(), SharedError> {
        counted(self.return_leased(key, n).await)
    }
}

/// The calls, each one conditional request (a lease: a few, when raced).
impl DynamoState {
    async fn claim(&self, code_id: &str, expires_at: u64) -> Result<bool, SharedError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("code#{code_id}")))
            .item("expires_at", n(expires_at))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        first_write(put)
    }

    async fn put(
        &self,
        user_code: &str,
        approval: &Approval,
        expires_at: u64,
    ) -> Result<bool, SharedError> {
        let identity = serde_json::to_string(&approval.identity)
            .map_err(|e| SharedError(format!("cannot encode the approval: {e}")))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("device#{user_code}")))
            .item("identity", s(identity))
            .item("session_exp", n(approval.session_exp))
            .item("expires_at", n(expires_at))
            // The first approval stands (see `SharedState::put_approval`).
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        first_write(put)
    }

    async fn take(&self, user_code: &str, now: u64) -> Result<Option<Approval>, SharedError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("device#{user_code}")))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        let Some(item) = out.attributes() else {
            return Ok(None);
        };
        if number(item, "expires_at").is_none_or(|exp| exp <= now) {
            return Ok(None);
        }
        let identity = item
            .get("identity")
            .and_then(|v| v.as_s().ok())
            .and_then(|t| serde_json::from_str(t).ok());
        match (identity, number(item, "session_exp")) {
            (Some(identity), Some(session_exp)) => Ok(Some(Approval {
                identity,
                session_exp,
            })),
            _ => Err(SharedError(format!(
                "the approval for a device code in table {} is malformed",
                self.table
            ))),
        }
    }

    async fn lease_up_to(
        &self,
        key: &LeaseKey,
        want: u64,
        max: u64,
        expires_at: u64,
    ) -> Result<u64, SharedError> {
        let mut want = want.min(max);
        for _ in 0..MAX_LEASE_ROUNDS {
            if want == 0 {
                return Ok(0);
            }
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(key.name()))
                .update_expression(
                    "SET leased = if_not_exists(leased, :zero) + :n, expires_at = :exp",
                )
                .condition_expression("attribute_not_exists(leased) OR leased <= :room")
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":n", n(want))
                .expression_attribute_values(":room", n(max - want))
                .expression_attribute_values(":exp", n(expires_at))
                .send()
                .await;
            match update {
                Ok(_) => return Ok(want),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    // Less is left than asked for: ask for what is left.
                    want = want.min(max.saturating_sub(self.leased(key).await?));
                }
                Err(e) => return Err(unavailable(&e)),
            }
        }
        Err(SharedError(format!(
            "quota lease for a session lost {MAX_LEASE_ROUNDS} races in a row"
        )))
    }

    async fn return_leased(&self, key: &LeaseKey, back: u64) -> Result<(), SharedError> {
        if back == 0 {
            return Ok(());
        }
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key.name()))
            .update_expression("SET leased = leased - :n")
            .condition_expression("leased >= :n")
            .expression_attribute_values(":n", n(back))
            // Not retried: a decrement that was applied but whose answer
            // was lost would be applied twice, and the instances together
            // could then lease past the limit. A give-back that fails
            // leaves the allowance held until the session ends, which errs
            // on the safe side.
            .customize()
            .config_override(
                aws_sdk_dynamodb::config::Builder::default()
                    .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()),
            )
            .send()
            .await;
        match update {
            // Already forgotten (expired): nothing to give back to.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(&e)),
            Ok(_) => Ok(()),
        }
    }
}
