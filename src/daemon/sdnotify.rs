//! systemd's notify protocol (sd_notify(3)): READY, RELOADING, STOPPING,
//! STATUS and the watchdog, sent as datagrams to `$NOTIFY_SOCKET`.
//! Outside systemd (no variable) every call does nothing.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// A connection to the service manager, if there is one.
#[derive(Debug)]
pub struct Notifier {
    sock: Option<(UnixDatagram, String)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET` and `$WATCHDOG_USEC` (checking
    /// `$WATCHDOG_PID` when set).
    pub fn from_env() -> Notifier {
        let sock = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|p| !p.is_empty())
            .and_then(|p| UnixDatagram::unbound().ok().map(|s| (s, p)));
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|pid| pid == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&us| us > 0 && for_us)
            .map(Duration::from_micros);
        Notifier { sock, watchdog }
    }

    /// Whether a service manager listens.
    pub fn active(&self) -> bool {
        self.sock.is_some()
    }

    /// How often to send `WATCHDOG=1` (half the configured interval), if
    /// the unit has a watchdog.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    /// Sends `state` (newline-separated assignments).
    pub fn notify(&self, state: &str) {
        let Some((sock, path)) = &self.sock else {
            return;
        };
        let res = if let Some(name) = path.strip_prefix('@') {
            send_abstract(sock, name, state)
        } else {
            sock.send_to(state.as_bytes(), path).map(|_| ())
        };
        if let Err(e) = res {
            tracing::debug!("sd_notify {state:?}: {e}");
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.notify(&format!("READY=1\nSTATUS={status}"));
    }

    /// `RELOADING=1` with the monotonic time systemd 253+ expects.
    pub fn reloading(&self) {
        self.notify(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading",
            monotonic_usec()
        ));
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) {
        self.notify("STOPPING=1\nSTATUS=stopping");
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.notify("WATCHDOG=1");
    }
}

#[cfg(target_os = "linux")]
fn send_abstract(sock: &UnixDatagram, name: &str, state: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    sock.send_to_addr(state.as_bytes(), &addr).map(|_| ())
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_sock: &UnixDatagram, _name: &str, _state: &str) -> std::io::Result<()> {
    Err(std::io::Error::other("abstract sockets need Linux"))
}

/// CLOCK_MONOTONIC in microseconds, read from /proc/uptime's clock source
/// without libc: `Instant` is CLOCK_MONOTONIC on Linux, measured against a
/// process-wide origin taken at first use plus the uptime then.
fn monotonic_usec() -> u128 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static ORIGIN: OnceLock<(Instant, u128)> = OnceLock::new();
    let (t0, base) = ORIGIN.get_or_init(|| {
        let up = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| {
                s.split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
            })
            .unwrap_or(0.0);
        (Instant::now(), (up * 1e6) as u128)
    });
    base + t0.elapsed().as_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_real_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            sock: Some((UnixDatagram::unbound().unwrap(), path.display().to_string())),
            watchdog: Some(Duration::from_secs(30)),
        };
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(15)));
        n.ready("running");
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=running");
        n.reloading();
        let len = server.recv(&mut buf).unwrap();
        assert!(std::str::from_utf8(&buf[..len])
            .unwrap()
            .starts_with("RELOADING=1\nMONOTONIC_USEC="));
    }

    #[test]
    fn absent_manager_is_silent() {
        let n = Notifier {
            sock: None,
            watchdog: None,
        };
        assert!(!n.active());
        n.ready("x");
        n.stopping();
    }
}
