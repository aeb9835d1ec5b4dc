//! Network namespaces joined by veth pairs, for tests that capture on real
//! interfaces. Needs root (CI runs as root); [`skip_unless_root`] says
//! loudly when a test cannot run.
//!
//! Include it with `#[path = "common/netns.rs"] mod netns;`.
//!
//! Names are unique per process and call, every namespace is deleted when
//! its [`NetNs`] is dropped (also when the test panics), and deleting a
//! namespace deletes the veth ends inside it. IPv6 is switched off in each
//! namespace so the kernel sends nothing of its own (router solicitations,
//! DAD) onto a captured link.
#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Whether the process runs as root (CI does).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:")
                    .map(|r| r.split_whitespace().nth(1) == Some("0"))
            })
        })
        .unwrap_or(false)
}

/// True (after a loud message) when `test` cannot run because this is not
/// root or `ip netns` does not work here.
pub fn skip_unless_root(test: &str) -> bool {
    if !is_root() {
        eprintln!(
            "!!!!! SKIPPED {test}: needs root for network namespaces (CI runs as root) !!!!!"
        );
        return true;
    }
    if !Command::new("ip")
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("!!!!! SKIPPED {test}: `ip netns` does not work here (install iproute2) !!!!!");
        return true;
    }
    false
}

/// A short name unique to this process and call: `{prefix}{pid}x{n}`,
/// at most 15 characters with a prefix of up to 3.
pub fn unique_name(prefix: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 1_000_000)
}

/// Runs `ip ARGS`, panicking with its output when it fails.
pub fn ip(args: &[&str]) -> Output {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Moves the calling thread into the namespace `/run/netns/NAME`.
pub fn enter_named(name: &str) -> std::io::Result<()> {
    let f = std::fs::File::open(format!("/run/netns/{name}"))?;
    // SAFETY: setns takes a valid open fd (kept alive by `f` for the call)
    // and a namespace type; it changes only the calling thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates a namespace named after `prefix` (up to 3 characters), with
    /// loopback up and IPv6 off.
    pub fn new(prefix: &str) -> NetNs {
        let name = unique_name(&format!("zg{prefix}"));
        ip(&["netns", "add", &name]);
        let ns = NetNs { name };
        ns.exec_ok(&["ip", "link", "set", "lo", "up"]);
        for key in ["all", "default"] {
            ns.exec_ok(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
            ]);
        }
        ns
    }

    /// Its name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, cmd: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .output()
            .expect("run ip netns exec")
    }

    /// As [`NetNs::exec`], panicking when the command fails.
    pub fn exec_ok(&self, cmd: &[&str]) -> Output {
        let out = self.exec(cmd);
        assert!(
            out.status.success(),
            "in {}: {} failed: {}{}",
            self.name,
            cmd.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Moves the calling thread into the namespace (setns(2)); sockets it
    /// creates afterwards belong there.
    pub fn enter(&self) -> std::io::Result<()> {
        enter_named(&self.name)
    }

    /// Runs `f` on a new thread that has entered the namespace.
    pub fn spawn<T, F>(&self, f: F) -> JoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let name = self.name.clone();
        std::thread::spawn(move || {
            enter_named(&name).expect("setns into the test namespace");
            f()
        })
    }

    /// Runs `f` in the namespace on a new thread and waits for its result.
    pub fn run<T, F>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        match self.spawn(f).join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        }
    }

    /// `ip -d link show DEV` inside the namespace.
    pub fn link_details(&self, dev: &str) -> String {
        String::from_utf8_lossy(&self.exec_ok(&["ip", "-d", "link", "show", dev]).stdout)
            .into_owned()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A veth pair with one end in each namespace, both up.
#[derive(Debug, Clone)]
pub struct Veth {
    /// Name of the end in the first namespace.
    pub a: String,
    /// Name of the end in the second namespace.
    pub b: String,
}

impl Veth {
    /// Creates the pair: `a` in `ns_a`, `b` in `ns_b`, both up, MTU
    /// `mtu`.
    pub fn new(ns_a: &NetNs, ns_b: &NetNs, mtu: u32) -> Veth {
        let a = unique_name("va");
        let b = unique_name("vb");
        let mtu = mtu.to_string();
        ns_a.exec_ok(&[
            "ip",
            "link",
            "add",
            &a,
            "mtu",
            &mtu,
            "type",
            "veth",
            "peer",
            "name",
            &b,
            "mtu",
            &mtu,
            "netns",
            ns_b.name(),
        ]);
        ns_a.exec_ok(&["ip", "link", "set", &a, "up"]);
        ns_b.exec_ok(&["ip", "link", "set", &b, "up"]);
        Veth { a, b }
    }
}
