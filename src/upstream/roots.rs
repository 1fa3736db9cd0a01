//! Trust for an `https://` upstream: the platform's root certificates plus
//! an optional PEM bundle (`[upstream] ca_bundle`) for a store behind a
//! private CA. Pure configuration; reads the bundle file once at start.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The TLS client configuration for the upstream. `https` says whether the
/// upstream needs roots at all (a plain-http store never consults them).
pub fn client_config(
    ca_bundle: Option<&Path>,
    https: bool,
) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    if https {
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::warn!(error = %e, "skipping a platform root certificate source");
        }
        roots.add_parsable_certificates(native.certs);
    }
    if let Some(bundle) = ca_bundle {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(bundle)
            .with_context(|| format!("cannot read upstream.ca_bundle {}", bundle.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("bad PEM in upstream.ca_bundle {}", bundle.display()))?;
        if certs.is_empty() {
            anyhow::bail!("no certificate in upstream.ca_bundle {}", bundle.display());
        }
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            anyhow::bail!("no usable CA certificate in {}", bundle.display());
        }
    }
    if https && roots.is_empty() {
        anyhow::bail!("no TLS root certificates for the https upstream");
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}
