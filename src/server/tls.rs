//! TLS for the listener: rustls with the aws-lc-rs provider, certificate
//! chain and key from PEM files, reloaded when the files change (a renewed
//! certificate needs no restart), HTTP/2 or HTTP/1.1 chosen by ALPN.
//!
//! A change is noticed by polling the files' modification times; a pair that
//! does not load (half-written, mismatched) is refused and the previous one
//! kept, so a botched renewal never takes the listener down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::watch;

use crate::metrics;

/// The most a PEM private key file may hold.
const MAX_KEY_BYTES: u64 = 1024 * 1024;

/// How often the certificate files are checked for changes.
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// The acceptor, and a task that reloads its certificate until `stop`.
pub fn acceptor(
    cert: &Path,
    key: &Path,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    acceptor_with_interval(cert, key, stop, RELOAD_INTERVAL)
}

fn acceptor_with_interval(
    cert: &Path,
    key: &Path,
    mut stop: watch::Receiver<bool>,
    interval: Duration,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let resolver = Arc::new(Reloading {
        current: RwLock::new(Arc::new(load(cert, key, &provider)?)),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    let (cert, key) = (cert.to_owned(), key.to_owned());
    let mut seen = mtimes(&cert, &key);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stop.changed() => return,
            }
            let now = mtimes(&cert, &key);
            if now == seen {
                continue;
            }
            seen = now;
            match load(&cert, &key, &provider) {
                Ok(ck) => {
                    if let Ok(mut current) = resolver.current.write() {
                        *current = Arc::new(ck);
                    }
                    metrics::TLS_RELOAD.ok();
                    tracing::info!(cert = %cert.display(), "TLS certificate reloaded");
                }
                Err(e) => {
                    metrics::TLS_RELOAD.error();
                    tracing::warn!(error = %format!("{e:#}"), "TLS certificate not reloaded; keeping the previous one");
                }
            }
        }
    });
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

type Mtimes = (Option<SystemTime>, Option<SystemTime>);

fn mtimes(cert: &PathBuf, key: &PathBuf) -> Mtimes {
    let m = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (m(cert), m(key))
}

fn load(
    cert: &Path,
    key: &Path,
    provider: &rustls::crypto::CryptoProvider,
) -> anyhow::Result<CertifiedKey> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read TLS certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad PEM in {}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("no certificate in {}", cert.display());
    }
    // The listener's private key: not used while others can read it.
    let pem = zeroize::Zeroizing::new(
        crate::secret_file::read_guarded(key, MAX_KEY_BYTES, crate::secret_file::private)
            .map_err(|e| anyhow::anyhow!("cannot read TLS private key {e}"))?,
    );
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .with_context(|| format!("cannot read TLS private key {}", key.display()))?;
    let ck = CertifiedKey::from_der(certs, key, provider)
        .context("TLS certificate and key do not match")?;
    Ok(ck)
}

#[derive(Debug)]
struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}
