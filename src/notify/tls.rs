//! TLS client settings of the destinations: trusted CAs from a PEM file
//! and an optional client certificate, rustls with the ring provider (as
//! the syslog listener), TLS 1.2 and 1.3.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::NotifyError;

/// The system's CA bundle on Debian and its derivatives, used when a
/// webhook names no `ca`.
pub const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn err(destination: &str, path: &Path, reason: impl Into<String>) -> NotifyError {
    NotifyError::Tls {
        destination: destination.to_string(),
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn certs(destination: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, NotifyError> {
    crate::tls::load_certs(path).map_err(|e| err(destination, path, e.reason))
}

/// A client configuration trusting the CAs of `ca`, presenting
/// `client = (cert, key)` when given.
pub fn client_config(
    destination: &str,
    ca: &Path,
    client: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, NotifyError> {
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs(destination, ca)?);
    if added == 0 {
        return Err(err(destination, ca, "no usable CA certificate"));
    }
    let builder = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(crate::tls::VERSIONS)
        .map_err(|e| err(destination, ca, e.to_string()))?
        .with_root_certificates(roots);
    let cfg = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = certs(destination, cert)?;
            let k: PrivateKeyDer<'static> =
                crate::tls::load_key(key).map_err(|e| err(destination, key, e.reason))?;
            builder
                .with_client_auth_cert(chain, k)
                .map_err(|e| err(destination, cert, e.to_string()))?
        }
    };
    Ok(Arc::new(cfg))
}
