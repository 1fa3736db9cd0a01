//! `[shared]`: where state shared by every instance lives (one-time codes,
//! device approvals, quota leases; see `crate::shared`).

use super::*;

/// Which store holds the shared state.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SharedBackend {
    /// This process's memory: right for one instance only.
    #[default]
    Memory,
    /// One DynamoDB table, for instances behind a load balancer.
    Dynamodb,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SharedConfig {
    /// `memory` or `dynamodb`. Default: `memory`.
    #[serde(default)]
    pub backend: SharedBackend,
    /// The DynamoDB table (partition key `pk`, a string; TTL attribute
    /// `expires_at`). Required with `dynamodb`.
    #[serde(default)]
    pub table: Option<String>,
    /// The table's region. Default: the `[upstream]` region.
    #[serde(default)]
    pub region: Option<String>,
    /// DynamoDB endpoint URL (a VPC endpoint, or a local stand-in in
    /// tests). Default: AWS's regional endpoint.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// How many requests of a request quota an instance leases at a time.
    /// Larger: fewer table writes; smaller: less allowance held idle by
    /// one instance. Default: `10`.
    #[serde(default = "default_quota_block")]
    pub quota_block: u64,
    /// How many bytes of a bytes-read or bytes-written quota an instance
    /// leases at a time (an upload leases at least its own length).
    /// Default: `1048576` (1 MiB).
    #[serde(default = "default_quota_block_bytes")]
    pub quota_block_bytes: u64,
}

fn default_quota_block() -> u64 {
    10
}

fn default_quota_block_bytes() -> u64 {
    1 << 20
}

impl Default for SharedConfig {
    fn default() -> Self {
        SharedConfig {
            backend: SharedBackend::Memory,
            table: None,
            region: None,
            endpoint_url: None,
            quota_block: default_quota_block(),
            quota_block_bytes: default_quota_block_bytes(),
        }
    }
}

impl SharedConfig {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.backend == SharedBackend::Dynamodb
            && self.table.as_deref().is_none_or(str::is_empty)
        {
            return Err((
                "shared.table",
                "`backend = \"dynamodb\"` needs the table's name".into(),
            ));
        }
        if self.quota_block == 0 {
            return Err(("shared.quota_block", "must be at least 1".into()));
        }
        if self.quota_block_bytes == 0 {
            return Err(("shared.quota_block_bytes", "must be at least 1".into()));
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err((
                "shared.endpoint_url",
                format!("`{url}` is not an http:// or https:// URL"),
            ));
        }
        Ok(())
    }
}
