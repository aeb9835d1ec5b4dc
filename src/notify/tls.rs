//! TLS client settings of the destinations: trusted CAs from a PEM file
//! and an optional client certificate, rustls with the ring provider (as
//! the syslog listener), TLS 1.2 and 1.3.

use std::io::BufReader;
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
    let f = std::fs::File::open(path).map_err(|e| err(destination, path, e.to_string()))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(destination, path, e.to_string()))?;
    if certs.is_empty() {
        return Err(err(destination, path, "no PEM certificate found"));
    }
    Ok(certs)
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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| err(destination, ca, e.to_string()))?
        .with_root_certificates(roots);
    let cfg = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = certs(destination, cert)?;
            let f = std::fs::File::open(key).map_err(|e| err(destination, key, e.to_string()))?;
            let k: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut BufReader::new(f))
                .map_err(|e| err(destination, key, e.to_string()))?
                .ok_or_else(|| err(destination, key, "no PEM private key found"))?;
            builder
                .with_client_auth_cert(chain, k)
                .map_err(|e| err(destination, cert, e.to_string()))?
        }
    };
    Ok(Arc::new(cfg))
}
