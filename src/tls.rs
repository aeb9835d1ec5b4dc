//! PEM files and rustls configurations shared by every TLS endpoint: the
//! syslog listener (RFC 5425), the API server, and the notifiers' clients.
//! One place loads certificates and keys and builds server configs, so the
//! protocol versions, the crypto provider and the error wording are the
//! same everywhere.

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A PEM file (or the config built from it) that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct TlsFileError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

fn fail(path: &Path, reason: impl Into<String>) -> TlsFileError {
    TlsFileError {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// The ring crypto provider every endpoint uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3 and 1.2 (RFC 5425 requires 1.2 at least).
pub const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The certificates of a PEM file (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let f = std::fs::File::open(path).map_err(|e| fail(path, e.to_string()))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(path, e.to_string()))?;
    if certs.is_empty() {
        return Err(fail(path, "no PEM certificate found"));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let f = std::fs::File::open(path).map_err(|e| fail(path, e.to_string()))?;
    rustls_pemfile::private_key(&mut BufReader::new(f))
        .map_err(|e| fail(path, e.to_string()))?
        .ok_or_else(|| fail(path, "no PEM private key found"))
}

/// A server configuration: the chain of `cert` with `key`, and, with
/// `client_ca`, client certificates verified against it (required when
/// `require_client_cert`, else optional).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
    require_client_cert: bool,
) -> Result<rustls::ServerConfig, TlsFileError> {
    let certs = load_certs(cert)?;
    let key_der = load_key(key)?;
    let provider = provider();
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(VERSIONS)
        .map_err(|e| fail(cert, e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in load_certs(ca)? {
                roots.add(c).map_err(|e| fail(ca, e.to_string()))?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let v = if require_client_cert {
                v
            } else {
                v.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(v.build().map_err(|e| fail(ca, e.to_string()))?)
        }
    };
    builder
        .with_single_cert(certs, key_der)
        .map_err(|e| fail(key, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("none.pem");
        assert!(load_certs(&none).unwrap_err().path.ends_with("none.pem"));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem").unwrap();
        assert_eq!(
            load_certs(&empty).unwrap_err().reason,
            "no PEM certificate found"
        );
        assert_eq!(
            load_key(&empty).unwrap_err().reason,
            "no PEM private key found"
        );
    }

    #[test]
    fn builds_a_server_config_from_generated_files() {
        let dir = tempfile::tempdir().unwrap();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&c, ck.cert.pem()).unwrap();
        std::fs::write(&k, ck.key_pair.serialize_pem()).unwrap();
        assert!(server_config(&c, &k, None, false).is_ok());
        assert!(server_config(&c, &k, Some(&c), true).is_ok());
        // a certificate given as the key
        assert!(server_config(&c, &c, None, false).is_err());
    }
}
