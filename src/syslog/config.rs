//! Syslog listener configuration (one entry of the daemon's `syslog.listeners`).
//!
//! ```yaml
//! - name: dmz-tls
//!   protocol: tls          # udp | tcp | tls
//!   address: 0.0.0.0:6514
//!   max_message_size: 65536
//!   max_connections: 1024
//!   idle_timeout_secs: 300
//!   tls:
//!     cert: /etc/zoneguard/syslog.crt
//!     key: /etc/zoneguard/syslog.key
//!     client_ca: /etc/zoneguard/clients-ca.crt   # optional: mutual TLS
//!     require_client_cert: true
//!   expect_hostname: true  # false: devices that send no host name
//!   bad_hostname: "^%"     # PCRE2: a word matching it is not a host name
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::framing::DEFAULT_MAX_MESSAGE_SIZE;
use super::message::{BadHostname, BadHostnameError, ParseOptions};

/// Largest accepted `max_message_size` (16 MiB): a frame is buffered whole.
pub const MAX_MESSAGE_SIZE_LIMIT: usize = 16 * 1024 * 1024;

/// The transport of a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerProtocol {
    /// RFC 5426: one message per datagram.
    Udp,
    /// RFC 6587: octet counting or LF framing, detected per frame.
    Tcp,
    /// RFC 5425: TLS 1.2+ with octet counting (LF framing accepted too).
    Tls,
}

/// TLS settings of a `tls` listener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates (PEM) that client certificates are verified against.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Refuse clients without a certificate (needs `client_ca`).
    #[serde(default)]
    pub require_client_cert: bool,
}

fn default_max_message_size() -> usize {
    DEFAULT_MAX_MESSAGE_SIZE
}
fn default_max_connections() -> usize {
    1024
}
fn default_idle_timeout_secs() -> u64 {
    300
}
fn default_expect_hostname() -> bool {
    true
}

/// One syslog listener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Name used in counters and in [`super::listener::Received::listener`].
    pub name: String,
    /// Transport.
    pub protocol: ListenerProtocol,
    /// Address and port to bind (port 0 picks a free port).
    pub address: SocketAddr,
    /// Longer messages are truncated to this many bytes and counted.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
    /// Concurrent TCP/TLS connections; more are refused and counted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A TCP/TLS connection silent this long is closed.
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// Required for `protocol: tls`, refused otherwise.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// RFC 3164 senders put a host name after the time stamp (default
    /// `true`); `false` for devices that do not, whose word after the time
    /// stamp is then the program (syslog-ng `flags(no-hostname)`). See
    /// [`crate::syslog::ParseOptions::expect_hostname`].
    #[serde(default = "default_expect_hostname")]
    pub expect_hostname: bool,
    /// PCRE2 pattern: a word after an RFC 3164 time stamp that matches it is
    /// not a host name but the program (syslog-ng `bad-hostname()`). See
    /// [`crate::syslog::ParseOptions::bad_hostname`].
    #[serde(default)]
    pub bad_hostname: Option<String>,
}

/// A listener configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A field has an unusable value.
    #[error("syslog listener `{listener}`: {field}: {reason}")]
    Invalid {
        /// Listener name.
        listener: String,
        /// The field at fault.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// `bad_hostname` does not compile.
    #[error("syslog listener `{listener}`: bad_hostname: {source}")]
    BadHostname {
        /// Listener name.
        listener: String,
        /// Why the pattern does not compile.
        source: BadHostnameError,
    },
}

impl ConfigError {
    /// The listener key at fault (`max_connections`, `tls.client_ca`,
    /// `bad_hostname`, ...).
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::Invalid { field, .. } => field,
            ConfigError::BadHostname { .. } => "bad_hostname",
        }
    }
}

impl ListenerConfig {
    /// A listener with the default limits.
    pub fn new(name: &str, protocol: ListenerProtocol, address: SocketAddr) -> Self {
        ListenerConfig {
            name: name.to_owned(),
            protocol,
            address,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_connections: default_max_connections(),
            idle_timeout_secs: default_idle_timeout_secs(),
            tls: None,
            expect_hostname: true,
            bad_hostname: None,
        }
    }

    /// The parse options of this listener's messages (`expect_hostname`,
    /// `bad_hostname`) on top of `base` (time zone, receive time, ...).
    pub fn parse_options(&self, base: ParseOptions) -> Result<ParseOptions, ConfigError> {
        let bad_hostname = match &self.bad_hostname {
            None => None,
            Some(p) => Some(
                BadHostname::new(p).map_err(|source| ConfigError::BadHostname {
                    listener: self.name.clone(),
                    source,
                })?,
            ),
        };
        Ok(ParseOptions {
            expect_hostname: self.expect_hostname,
            bad_hostname,
            ..base
        })
    }

    /// Check the values that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, reason| {
            Err(ConfigError::Invalid {
                listener: self.name.clone(),
                field,
                reason,
            })
        };
        if self.name.is_empty() {
            return bad("name", "must not be empty");
        }
        if self.max_message_size == 0 || self.max_message_size > MAX_MESSAGE_SIZE_LIMIT {
            return bad("max_message_size", "must be between 1 and 16777216");
        }
        if self.max_connections == 0 {
            return bad("max_connections", "must be at least 1");
        }
        if self.idle_timeout_secs == 0 {
            return bad("idle_timeout_secs", "must be at least 1");
        }
        self.parse_options(ParseOptions::default())?;
        match (self.protocol, &self.tls) {
            (ListenerProtocol::Tls, None) => bad("tls", "required for protocol tls"),
            (ListenerProtocol::Udp | ListenerProtocol::Tcp, Some(_)) => {
                bad("tls", "only allowed with protocol tls")
            }
            (_, Some(t)) if t.require_client_cert && t.client_ca.is_none() => {
                bad("tls.require_client_cert", "needs tls.client_ca")
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_defaults_and_validation() {
        let c: ListenerConfig =
            serde_yaml_ng::from_str("name: u\nprotocol: udp\naddress: 127.0.0.1:514\n").unwrap();
        assert_eq!(c.max_message_size, 65536);
        assert_eq!(c.max_connections, 1024);
        assert_eq!(c.idle_timeout_secs, 300);
        assert!(c.validate().is_ok());
        assert!(serde_yaml_ng::from_str::<ListenerConfig>(
            "name: u\nprotocol: udp\naddress: 127.0.0.1:514\nbogus: 1\n"
        )
        .is_err());
        let c: ListenerConfig =
            serde_yaml_ng::from_str("name: t\nprotocol: tls\naddress: 127.0.0.1:6514\n").unwrap();
        assert!(c.validate().is_err());
        let c: ListenerConfig = serde_yaml_ng::from_str(
            "name: t\nprotocol: tls\naddress: 127.0.0.1:6514\ntls: {cert: a, key: b, require_client_cert: true}\n",
        )
        .unwrap();
        assert!(c.validate().is_err());
    }
}
