//! The capability check made before a capture socket is opened: an
//! AF_PACKET socket needs CAP_NET_RAW, and an operator who starts the
//! daemon without it must be told exactly that, not "Operation not
//! permitted".

use super::LiveError;

/// Bit number of CAP_NET_RAW in the capability sets (linux/capability.h).
pub const CAP_NET_RAW: u32 = 13;

/// Bit number of CAP_NET_ADMIN (only needed for receive buffers above
/// `net.core.rmem_max`; see `docs/systemd.md`).
pub const CAP_NET_ADMIN: u32 = 12;

/// Longest status text read from `/proc` (the real one is about 1.5 KiB).
const MAX_STATUS_BYTES: u64 = 64 * 1024;

/// The effective capability set (`CapEff:` line) of a `/proc/*/status`
/// text, or `None` when the line is missing or not a 64-bit hex number.
pub fn cap_eff_from_status(status: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix("CapEff:")?;
        let hex = rest.trim();
        if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(hex, 16).ok()
    })
}

/// Whether capability bit `cap` is set in the capability mask `set`.
pub fn has_cap(set: u64, cap: u32) -> bool {
    cap < 64 && set & (1u64 << cap) != 0
}

/// The calling thread's effective capability set, read from
/// `/proc/thread-self/status` (capabilities are per thread), falling back
/// to `/proc/self/status`; `None` when neither can be read (a hardened
/// `/proc`): the socket call then decides.
pub fn effective_capabilities() -> Option<u64> {
    ["/proc/thread-self/status", "/proc/self/status"]
        .iter()
        .find_map(|p| {
            use std::io::Read;
            let mut text = String::new();
            std::fs::File::open(p)
                .ok()?
                .take(MAX_STATUS_BYTES)
                .read_to_string(&mut text)
                .ok()?;
            cap_eff_from_status(&text)
        })
}

/// Fails with [`LiveError::MissingCapability`] when the calling thread lacks
/// CAP_NET_RAW, which capturing on `interface` needs. Succeeds when the
/// capability is there or cannot be read (the socket call then reports a
/// refusal the same way).
pub fn check_capture_permission(interface: &str) -> Result<(), LiveError> {
    match effective_capabilities() {
        Some(set) if !has_cap(set, CAP_NET_RAW) => Err(LiveError::MissingCapability {
            interface: interface.to_string(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STATUS: &str = "Name:\tzoneguard\nUmask:\t0022\nCapInh:\t0000000000000000\n\
CapPrm:\t0000000000002000\nCapEff:\t0000000000002000\nCapBnd:\t000001ffffffffff\n";

    #[test]
    fn reads_cap_eff() {
        let set = cap_eff_from_status(STATUS).unwrap();
        assert_eq!(set, 0x2000);
        assert!(has_cap(set, CAP_NET_RAW));
        assert!(!has_cap(set, CAP_NET_ADMIN));
        assert!(!has_cap(set, 64));
    }

    #[test]
    fn rejects_malformed_lines() {
        assert_eq!(cap_eff_from_status("CapEff:\t\n"), None);
        assert_eq!(cap_eff_from_status("CapEff:\tzz\n"), None);
        assert_eq!(cap_eff_from_status("CapEff:\t00000000000000000\n"), None);
        assert_eq!(cap_eff_from_status("CapPrm:\t0000000000002000\n"), None);
        assert_eq!(cap_eff_from_status(""), None);
    }

    #[test]
    fn own_process_status_is_readable() {
        // /proc is always mounted where the tests run; the set is whatever
        // the test runner has, but it must parse.
        assert!(effective_capabilities().is_some());
    }

    #[test]
    fn message_names_the_capability_and_interface_in_both_languages() {
        let e = LiveError::MissingCapability {
            interface: "eth0".into(),
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with("capturing on eth0 needs CAP_NET_RAW"),
            "{msg}"
        );
        assert!(msg.contains("AmbientCapabilities=CAP_NET_RAW"), "{msg}");
        assert!(msg.contains("在 eth0 上抓包需要 CAP_NET_RAW 权限"), "{msg}");
    }

    proptest! {
        #[test]
        fn any_text_parses_without_panic(s in "\\PC*") {
            let _ = cap_eff_from_status(&s);
        }

        #[test]
        fn written_masks_round_trip(mask in any::<u64>(), junk in "[g-zG-Z\t ]{0,40}") {
            let text = format!("{junk}\nCapEff:\t{mask:016x}\n");
            prop_assert_eq!(cap_eff_from_status(&text), Some(mask));
        }
    }
}
