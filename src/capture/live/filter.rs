//! BPF capture filters: a pcap-filter expression (`not port 22`, `vlan and
//! net 10.0.0.0/8`) compiled to classic BPF by libpcap, exactly as tcpdump
//! and Suricata compile it, then attached to the socket with
//! SO_ATTACH_FILTER so the kernel drops unwanted packets before they are
//! queued.
//!
//! libpcap (loaded at run time, `libpcap.rs`) is used for compiling only,
//! on a "dead" handle: no capture goes through it. Why libpcap and not a
//! subset of our own, see `docs/dependencies.md`.

use crate::capture::LinkType;

/// Largest program the kernel accepts (BPF_MAXINSNS).
pub const MAX_FILTER_INSNS: usize = 4096;

/// Longest filter expression accepted (bytes).
pub const MAX_FILTER_LEN: usize = 16 * 1024;

/// The snapshot length a compiled filter accepts: the largest frame a
/// capture socket reads. libpcap writes its own snapshot length (65535)
/// into the accept instructions; they are raised to this so GRO
/// super-frames are not cut by the filter.
pub const FILTER_ACCEPT_LEN: u32 = super::MAX_FRAME as u32;

/// BPF_RET | BPF_K: return a constant.
const BPF_RET_K: u16 = 0x06;

/// DLT_EN10MB, the data-link type libpcap compiles Ethernet filters for.
const DLT_EN10MB: i32 = 1;
/// DLT_RAW on Linux: bare IP packets.
const DLT_RAW: i32 = 12;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfInsn {
    /// Opcode.
    pub code: u16,
    /// Jump offset when true.
    pub jt: u8,
    /// Jump offset when false.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

/// A compiled filter, ready to attach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpfFilter {
    /// The expression it was compiled from.
    pub expression: String,
    /// The program.
    pub insns: Vec<BpfInsn>,
}

/// Why a filter expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// libpcap could not compile it; its own message says where.
    #[error("BPF filter '{expression}' does not compile: {reason} / BPF 过滤表达式无法编译")]
    Compile {
        /// The expression.
        expression: String,
        /// libpcap's message.
        reason: String,
    },
    /// The expression is empty, too long or contains a NUL byte.
    #[error("BPF filter is unusable: {reason} / BPF 过滤表达式不可用")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// The compiled program is longer than the kernel accepts.
    #[error("BPF filter '{expression}' compiles to {len} instructions; the kernel accepts at most {MAX_FILTER_INSNS} / 过滤程序过长")]
    TooLong {
        /// The expression.
        expression: String,
        /// Instructions produced.
        len: usize,
    },
    /// The link type has no libpcap data-link type here.
    #[error("no BPF filter can be compiled for link type {0:?} / 该链路类型不支持 BPF 过滤")]
    LinkType(LinkType),
}

/// Parses one instruction as libpcap's `pcap` crate prints it and as
/// `tcpdump -ddd` lists it: `code jt jf k`, four decimal numbers.
pub fn parse_insn(text: &str) -> Option<BpfInsn> {
    let mut it = text.split_ascii_whitespace();
    let code = it.next()?.parse().ok()?;
    let jt = it.next()?.parse().ok()?;
    let jf = it.next()?.parse().ok()?;
    let k = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some(BpfInsn { code, jt, jf, k })
}

/// Compiles a pcap-filter expression for frames of `linktype` (Ethernet or
/// raw IP), optimized, with accept lengths raised to
/// [`FILTER_ACCEPT_LEN`].
pub fn compile_filter(expression: &str, linktype: LinkType) -> Result<BpfFilter, FilterError> {
    let expression = expression.trim();
    if expression.is_empty() {
        return Err(FilterError::Invalid {
            reason: "empty expression (leave bpf_filter out to capture everything)".into(),
        });
    }
    if expression.len() > MAX_FILTER_LEN {
        return Err(FilterError::Invalid {
            reason: format!(
                "{} bytes; at most {MAX_FILTER_LEN} are accepted",
                expression.len()
            ),
        });
    }
    if expression.contains('\0') {
        return Err(FilterError::Invalid {
            reason: "contains a NUL byte".into(),
        });
    }
    let dlt = match linktype {
        LinkType::Ethernet => DLT_EN10MB,
        LinkType::Raw => DLT_RAW,
        other => return Err(FilterError::LinkType(other)),
    };
    let compile_err = |reason: String| FilterError::Compile {
        expression: expression.to_string(),
        reason,
    };
    let raw = super::libpcap::compile(dlt, 65535, expression).map_err(compile_err)?;
    if raw.len() > MAX_FILTER_INSNS {
        return Err(FilterError::TooLong {
            expression: expression.to_string(),
            len: raw.len(),
        });
    }
    let insns: Vec<BpfInsn> = raw
        .iter()
        .map(|i| BpfInsn {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            // libpcap writes its own snapshot length into the accepts
            k: if i.code == BPF_RET_K && i.k != 0 {
                FILTER_ACCEPT_LEN
            } else {
                i.k
            },
        })
        .collect();
    if insns.is_empty() {
        return Err(compile_err("empty program".into()));
    }
    Ok(BpfFilter {
        expression: expression.to_string(),
        insns,
    })
}

impl BpfFilter {
    /// The program as `struct sock_filter`s for SO_ATTACH_FILTER.
    pub fn sock_filters(&self) -> Vec<libc::sock_filter> {
        self.insns
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn compiles_a_port_filter() {
        let f = compile_filter("udp port 53", LinkType::Ethernet).unwrap();
        assert_eq!(f.expression, "udp port 53");
        assert!(f.insns.len() > 4);
        // first: load the EtherType (ldh [12])
        assert_eq!(
            f.insns[0],
            BpfInsn {
                code: 0x28,
                jt: 0,
                jf: 0,
                k: 12
            }
        );
        // accepts return the raised snapshot length, refusals 0
        let rets: Vec<u32> = f
            .insns
            .iter()
            .filter(|i| i.code == BPF_RET_K)
            .map(|i| i.k)
            .collect();
        assert!(
            rets.contains(&FILTER_ACCEPT_LEN) && rets.contains(&0),
            "{rets:?}"
        );
        assert_eq!(f.sock_filters().len(), f.insns.len());
    }

    #[test]
    fn compiles_for_raw_ip() {
        let f = compile_filter("tcp", LinkType::Raw).unwrap();
        // raw IP: no Ethernet header to load from offset 12
        assert_ne!(
            f.insns[0],
            BpfInsn {
                code: 0x28,
                jt: 0,
                jf: 0,
                k: 12
            }
        );
    }

    #[test]
    fn bad_expressions_are_refused_with_libpcap_reason() {
        let e = compile_filter("port 99999999", LinkType::Ethernet).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("port 99999999") && msg.contains("does not compile"),
            "{msg}"
        );
        assert!(matches!(
            compile_filter("   ", LinkType::Ethernet),
            Err(FilterError::Invalid { .. })
        ));
        assert!(matches!(
            compile_filter("tcp\0", LinkType::Ethernet),
            Err(FilterError::Invalid { .. })
        ));
        let long = "tcp or ".repeat(MAX_FILTER_LEN / 7 + 1) + "udp";
        assert!(matches!(
            compile_filter(&long, LinkType::Ethernet),
            Err(FilterError::Invalid { .. })
        ));
        assert!(matches!(
            compile_filter("tcp", LinkType::CiscoHdlc),
            Err(FilterError::LinkType(LinkType::CiscoHdlc))
        ));
    }

    #[test]
    fn insn_text() {
        assert_eq!(
            parse_insn("40 0 0 12"),
            Some(BpfInsn {
                code: 40,
                jt: 0,
                jf: 0,
                k: 12
            })
        );
        assert_eq!(
            parse_insn(" 6 0 0 262144 "),
            Some(BpfInsn {
                code: 6,
                jt: 0,
                jf: 0,
                k: 262144
            })
        );
        assert_eq!(parse_insn("40 0 0"), None);
        assert_eq!(parse_insn("40 0 0 12 1"), None);
        assert_eq!(parse_insn("70000 0 0 12"), None);
        assert_eq!(parse_insn("40 256 0 12"), None);
    }

    proptest! {
        #[test]
        fn insn_text_round_trips(code in any::<u16>(), jt in any::<u8>(), jf in any::<u8>(), k in any::<u32>()) {
            let text = format!("{code} {jt} {jf} {k}");
            prop_assert_eq!(parse_insn(&text), Some(BpfInsn { code, jt, jf, k }));
        }

        #[test]
        fn any_text_parses_without_panic(s in "\\PC*") {
            let _ = parse_insn(&s);
        }

        #[test]
        fn any_expression_compiles_or_errs(s in "[a-z0-9 ./:()!&|]{0,60}") {
            if let Ok(f) = compile_filter(&s, LinkType::Ethernet) {
                prop_assert!(!f.insns.is_empty() && f.insns.len() <= MAX_FILTER_INSNS);
            }
        }
    }
}
