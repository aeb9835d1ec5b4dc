//! Who is calling: bearer tokens checked against SHA-256 hashes from the
//! config in constant time, or a client certificate mapped to a configured
//! user; roles and unit scopes; new tokens for `zoneguard api token`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::config::{ApiClient, ApiRole, ApiToken};
use crate::incident::Incident;

/// Longest `Authorization` header value considered (bytes).
const MAX_TOKEN_BYTES: usize = 512;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Token or client name: the actor in the timeline and audit log.
    pub name: String,
    /// Role.
    pub role: ApiRole,
    /// Units the caller is limited to; `None` for every unit.
    pub units: Option<Vec<String>>,
}

impl Principal {
    /// True if the caller may see (and, with the role, change) `inc`: its
    /// responsible unit or one of its touched units is in scope.
    pub fn sees(&self, inc: &Incident) -> bool {
        match &self.units {
            None => true,
            Some(units) => {
                inc.unit.as_ref().is_some_and(|u| units.contains(u))
                    || inc.units.iter().any(|u| units.contains(u))
            }
        }
    }

    /// True if the caller may see the per-unit summary row of `unit`.
    pub fn sees_unit(&self, unit: &str) -> bool {
        self.units
            .as_ref()
            .is_none_or(|u| u.iter().any(|x| x == unit))
    }
}

/// The identity in a client certificate, read from its DER.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCert {
    /// Subject DN as `C=.., O=.., CN=..`.
    pub subject: String,
    /// The subject's common name, if any.
    pub cn: Option<String>,
    /// dNSName subject alternative names.
    pub sans: Vec<String>,
}

impl ClientCert {
    /// Reads the subject and SANs of a DER certificate; `None` if it does
    /// not parse (rustls has already verified it chains to the CA).
    pub fn from_der(der: &[u8]) -> Option<ClientCert> {
        let info = crate::applayer::tls::x509::parse_certificate(der).ok()?;
        let cn = info
            .subject
            .split(", ")
            .filter_map(|part| part.strip_prefix("CN="))
            .last()
            .map(str::to_string);
        Some(ClientCert {
            subject: info.subject,
            cn,
            sans: info.sans,
        })
    }

    fn matches(&self, subject: &str) -> bool {
        self.cn.as_deref() == Some(subject)
            || self.subject == subject
            || self.sans.iter().any(|s| s == subject)
    }
}

/// SHA-256 of a token, lowercase hex (what the config stores).
pub fn sha256_hex(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    let mut s = String::with_capacity(64);
    for b in d {
        s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    s
}

/// Compares two digests without an early exit, so the time taken does not
/// tell how many leading bytes matched.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// A new random token (`zg_` and 64 hex digits: 256 bits from the OS).
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut raw = [0u8; 32];
    getrandom::getrandom(&mut raw)?;
    let mut s = String::with_capacity(67);
    s.push_str("zg_");
    for b in raw {
        s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    Ok(s)
}

/// The `api.tokens` entry for a token, as one YAML flow mapping.
pub fn config_line(name: &str, role: ApiRole, token: &str) -> String {
    format!(
        "- {{name: {}, sha256: {}, role: {}}}",
        serde_json::Value::from(name),
        sha256_hex(token),
        role.as_str()
    )
}

/// The configured users.
#[derive(Debug, Default)]
pub struct Authenticator {
    tokens: Vec<ApiToken>,
    clients: Vec<ApiClient>,
}

fn principal(name: &str, role: ApiRole, units: &[String]) -> Principal {
    Principal {
        name: name.to_string(),
        role,
        units: if units.is_empty() {
            None
        } else {
            Some(units.to_vec())
        },
    }
}

impl Authenticator {
    /// From the config's tokens and clients.
    pub fn new(tokens: Vec<ApiToken>, clients: Vec<ApiClient>) -> Self {
        Authenticator { tokens, clients }
    }

    /// The user of a bearer token. Every configured hash is compared, in
    /// constant time each, whatever matches.
    pub fn by_token(&self, token: &str) -> Option<Principal> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for t in &self.tokens {
            if ct_eq(&digest, &t.sha256) && found.is_none() {
                found = Some(t);
            }
        }
        found.map(|t| principal(&t.name, t.role, &t.units))
    }

    /// The user a client certificate is mapped to.
    pub fn by_cert(&self, cert: &ClientCert) -> Option<Principal> {
        self.clients
            .iter()
            .find(|c| cert.matches(&c.subject))
            .map(|c| principal(&c.name, c.role, &c.units))
    }
}

/// The token of an `Authorization: Bearer …` header value; `None` for any
/// other scheme or a malformed value.
pub fn bearer(value: &[u8]) -> Option<&str> {
    if value.len() > MAX_TOKEN_BYTES + 7 {
        return None;
    }
    let s = std::str::from_utf8(value).ok()?.trim();
    let (scheme, rest) = s.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let t = rest.trim();
    (!t.is_empty()).then_some(t)
}

/// Bounds how many failed authentications are written to the audit log:
/// `per_minute` in each minute; the others are counted, and the count goes
/// into the next record written.
#[derive(Debug)]
pub struct FailedAuthLimiter {
    per_minute: u32,
    state: Mutex<LimiterState>,
}

#[derive(Debug)]
struct LimiterState {
    window: Instant,
    written: u32,
    suppressed: u64,
    suppressed_total: u64,
}

impl FailedAuthLimiter {
    /// At most `per_minute` records a minute.
    pub fn new(per_minute: u32) -> Self {
        FailedAuthLimiter {
            per_minute,
            state: Mutex::new(LimiterState {
                window: Instant::now(),
                written: 0,
                suppressed: 0,
                suppressed_total: 0,
            }),
        }
    }

    /// `Some(n)`: write this failure, noting `n` suppressed since the last
    /// one written; `None`: counted, not written.
    pub fn admit(&self) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.window.elapsed() >= Duration::from_secs(60) {
            s.window = Instant::now();
            s.written = 0;
        }
        if s.written < self.per_minute {
            s.written += 1;
            Some(std::mem::take(&mut s.suppressed))
        } else {
            s.suppressed += 1;
            s.suppressed_total += 1;
            None
        }
    }

    /// Failures not written to the audit log since start.
    pub fn suppressed_total(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .suppressed_total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, t: &str, role: ApiRole, units: &[&str]) -> ApiToken {
        let mut sha = [0u8; 32];
        sha.copy_from_slice(&Sha256::digest(t.as_bytes()));
        ApiToken {
            name: name.into(),
            sha256: sha,
            role,
            units: units.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn tokens_resolve_to_their_user() {
        let a = Authenticator::new(
            vec![
                token("duty", "secret-1", ApiRole::Responder, &[]),
                token("county", "secret-2", ApiRole::Viewer, &["盈江县"]),
            ],
            vec![],
        );
        assert_eq!(a.by_token("secret-1").unwrap().name, "duty");
        let c = a.by_token("secret-2").unwrap();
        assert_eq!(c.units, Some(vec!["盈江县".to_string()]));
        assert_eq!(a.by_token("secret-3"), None);
        assert_eq!(a.by_token(""), None);
        assert_eq!(a.by_token(&"x".repeat(10_000)), None);
    }

    #[test]
    fn bearer_header_forms() {
        assert_eq!(bearer(b"Bearer abc"), Some("abc"));
        assert_eq!(bearer(b"bearer   abc  "), Some("abc"));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer"), None);
        assert_eq!(bearer(b"Bearer \xff"), None);
    }

    #[test]
    fn new_tokens_are_random_and_hash_to_their_line() {
        let t1 = new_token().unwrap();
        let t2 = new_token().unwrap();
        assert_ne!(t1, t2);
        assert_eq!(t1.len(), 67);
        assert_eq!(
            sha256_hex("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        let line = config_line("值班", ApiRole::Admin, "test");
        assert_eq!(
            line,
            "- {name: \"值班\", sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, role: admin}"
        );
    }

    #[test]
    fn limiter_counts_what_it_does_not_write() {
        let l = FailedAuthLimiter::new(2);
        assert_eq!(l.admit(), Some(0));
        assert_eq!(l.admit(), Some(0));
        assert_eq!(l.admit(), None);
        assert_eq!(l.admit(), None);
        assert_eq!(l.suppressed_total(), 2);
    }

    #[test]
    fn scope_matches_responsible_or_touched_units() {
        let p = Principal {
            name: "c".into(),
            role: ApiRole::Viewer,
            units: Some(vec!["A".into()]),
        };
        assert!(p.sees_unit("A") && !p.sees_unit("B"));
        let all = Principal { units: None, ..p };
        assert!(all.sees_unit("B"));
    }
}
