//! Health and shutdown: what `/_s3gate/readyz` answers, the upstream probe
//! behind it, and the draining state SIGTERM switches on.
//!
//! Ready means: not draining, the audit sink writing, the policy loaded
//! (the policy stage reports it through [`Health::set_policy_loaded`]), and
//! the upstream reachable (a TCP connect to its host, repeated in the background — cheap,
//! and no credentials spent). The keyring needs no check: a gateway cannot
//! be built without one. Liveness (`healthz`) is only "the process answers",
//! so an orchestrator restarts a wedged task but not a draining one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::metrics;

/// How often the upstream is probed.
const PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// Readiness inputs other than the audit sink.
pub struct Health {
    draining: AtomicBool,
    upstream_reachable: AtomicBool,
    policy_loaded: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            draining: AtomicBool::new(false),
            upstream_reachable: AtomicBool::new(false),
            // Until a policy stage exists that says otherwise.
            policy_loaded: AtomicBool::new(true),
        }
    }
}

impl Health {
    /// For the policy stage: `false` until a valid policy is loaded (a
    /// failed *re*load keeps the old policy, so it keeps this `true`).
    pub fn set_policy_loaded(&self, loaded: bool) {
        self.policy_loaded.store(loaded, Ordering::Relaxed);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
        metrics::DRAINING.set(1);
    }

    pub fn upstream_reachable(&self) -> bool {
        self.upstream_reachable.load(Ordering::Relaxed)
    }

    fn set_upstream_reachable(&self, ok: bool) {
        self.upstream_reachable.store(ok, Ordering::Relaxed);
        metrics::UPSTREAM_REACHABLE.set(i64::from(ok));
    }

    /// Why the gateway is not ready, or `None` when it is.
    pub fn not_ready(&self, audit_healthy: bool) -> Option<&'static str> {
        if self.draining() {
            Some("draining for shutdown\n")
        } else if !audit_healthy {
            Some("audit sink failing\n")
        } else if !self.policy_loaded.load(Ordering::Relaxed) {
            Some("policy not loaded\n")
        } else if !self.upstream_reachable() {
            Some("upstream unreachable\n")
        } else {
            None
        }
    }
}

/// The upstream's `host:port`, from the configured endpoint.
fn upstream_target(config: &Config) -> Option<(String, u16)> {
    let uri: http::Uri = config.upstream_endpoint().parse().ok()?;
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("http") {
            80
        } else {
            443
        });
    Some((host.to_owned(), port))
}

/// Probes once now (so a fresh gateway is ready as soon as it can be), then
/// every [`PROBE_INTERVAL`] in the background until shutdown.
pub async fn start_probe(config: &Config, health: Arc<Health>, mut stop: watch::Receiver<bool>) {
    let Some(target) = upstream_target(config) else {
        // Validated config always has a host; stay unready if not.
        return;
    };
    let timeout = config.upstream.connect_timeout;
    health.set_upstream_reachable(probe(&target, timeout).await);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(PROBE_INTERVAL) => {}
                _ = stop.changed() => return,
            }
            let ok = probe(&target, timeout).await;
            if ok != health.upstream_reachable() {
                tracing::warn!(upstream.reachable = ok, "upstream reachability changed");
            }
            health.set_upstream_reachable(ok);
        }
    });
}

async fn probe((host, port): &(String, u16), timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(
            timeout,
            tokio::net::TcpStream::connect((host.as_str(), *port))
        )
        .await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_names_what_is_missing() {
        let h = Health::default();
        assert_eq!(h.not_ready(true), Some("upstream unreachable\n"));
        h.set_upstream_reachable(true);
        assert_eq!(h.not_ready(true), None);
        assert_eq!(h.not_ready(false), Some("audit sink failing\n"));
        h.set_policy_loaded(false);
        assert_eq!(h.not_ready(true), Some("policy not loaded\n"));
        h.set_policy_loaded(true);
        h.start_draining();
        assert_eq!(h.not_ready(true), Some("draining for shutdown\n"));
    }

    #[test]
    fn upstream_target_takes_the_scheme_default_port() {
        let parse = |ep: &str| {
            Config::parse(
                &format!("[upstream]\nendpoint = \"{ep}\"\n[session]\nkeyring = \"k\"\n"),
                std::path::Path::new("t.toml"),
            )
            .unwrap()
        };
        assert_eq!(
            upstream_target(&parse("http://127.0.0.1:9000")),
            Some(("127.0.0.1".into(), 9000))
        );
        assert_eq!(
            upstream_target(&parse("https://s3.example.com")),
            Some(("s3.example.com".into(), 443))
        );
    }
}
