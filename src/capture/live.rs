//! Live capture from AF_PACKET sockets (Linux), through pnet's datalink
//! layer.
//!
//! One [`LiveCapture`] per worker thread. All sockets of one interface
//! opened with the same `fanout_group` join one PACKET_FANOUT group of type
//! HASH with the defrag flag, so the kernel hands every packet of a flow
//! (both directions, all fragments) to the same socket and so the same
//! worker and flow-table shard. Sockets are promiscuous on request (through
//! PACKET_ADD_MEMBERSHIP, which needs no CAP_NET_ADMIN), have a large
//! receive buffer, an optional BPF filter attached before they are bound,
//! and a read timeout so a worker can look at its stop flag while the
//! network is quiet.
//!
//! The socket is created here (protocol 0, so it receives nothing before it
//! is bound), given its buffer and filter, then handed to pnet through
//! `Config::socket_fd`; pnet binds it, joins the fanout group and reads.
//! The fd number is kept to read the kernel's PACKET_STATISTICS, which pnet
//! does not expose; pnet owns and closes the fd.
//!
//! Packet times are the wall clock when the worker reads the packet
//! (pnet's `recv` carries no kernel timestamp), never going backwards on
//! one socket.
//!
//! Module layout: `caps` holds the capability check, `filter` BPF
//! compilation, `sys` the raw socket options.

mod caps;
mod filter;
mod libpcap;
mod sys;

use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pnet_datalink::{Channel, DataLinkReceiver, FanoutOption, FanoutType};

pub use caps::{
    cap_eff_from_status, check_capture_permission, effective_capabilities, has_cap, CAP_NET_ADMIN,
    CAP_NET_RAW,
};
pub use filter::{
    compile_filter, parse_insn, BpfFilter, BpfInsn, FilterError, FILTER_ACCEPT_LEN,
    MAX_FILTER_INSNS, MAX_FILTER_LEN,
};

use crate::capture::LinkType;
use crate::time::Timestamp;

/// Largest frame read (bytes): the read buffer of each socket. Covers
/// 64 KiB GRO/TSO super-frames with their link header; a frame that fills
/// the buffer completely is counted in [`CaptureCounters::truncated`].
pub const MAX_FRAME: usize = 256 * 1024;

/// Default receive buffer of a capture socket (bytes).
pub const DEFAULT_BUFFER_BYTES: usize = 64 * 1024 * 1024;

/// Smallest receive buffer accepted (bytes).
pub const MIN_BUFFER_BYTES: usize = 64 * 1024;

/// Largest receive buffer accepted (bytes): what setsockopt can take.
pub const MAX_BUFFER_BYTES: usize = i32::MAX as usize;

/// Default read timeout: how long a worker waits before it looks at its
/// stop flag again.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_millis(200);

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// Most interface names listed in a "no such interface" message.
const MAX_LISTED_INTERFACES: usize = 32;

/// How a capture socket is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOptions {
    /// Interface name (`eth1`).
    pub interface: String,
    /// PACKET_FANOUT group id; sockets of one interface with the same id
    /// share its packets by flow hash. Must not collide with another
    /// program's group on the same host (see [`default_fanout_group`]).
    pub fanout_group: u16,
    /// Put the interface in promiscuous mode while the socket is open.
    pub promiscuous: bool,
    /// Receive buffer (bytes); capped by `net.core.rmem_max` unless the
    /// process has CAP_NET_ADMIN (see [`LiveCapture::buffer_bytes`]).
    pub buffer_bytes: usize,
    /// pcap-filter expression (`not port 22`) applied in the kernel.
    pub bpf_filter: Option<String>,
    /// How long [`LiveCapture::next_packet`] waits before returning `None`.
    pub read_timeout: Duration,
}

impl LiveOptions {
    /// Options for `interface` with the defaults: fanout group from
    /// [`default_fanout_group`] for interface index 0, promiscuous,
    /// [`DEFAULT_BUFFER_BYTES`], no filter, [`DEFAULT_READ_TIMEOUT`].
    pub fn new(interface: &str) -> LiveOptions {
        LiveOptions {
            interface: interface.to_string(),
            fanout_group: default_fanout_group(0),
            promiscuous: true,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            bpf_filter: None,
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }
}

/// A fanout group id unique to this process and its `index`-th interface:
/// the low 16 bits of the process id plus the index. Two zoneguard (or
/// Suricata) processes on one interface must not share a group, or they
/// would split its packets between them.
pub fn default_fanout_group(index: usize) -> u16 {
    (std::process::id() as u16).wrapping_add(index as u16)
}

/// The kernel's counters of one socket, accumulated since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Packets that reached the socket (after the filter and fanout),
    /// including those dropped.
    pub packets: u64,
    /// Packets dropped because the socket's receive buffer was full.
    pub drops: u64,
    /// Times the queue was frozen; only TPACKET_V3 rings count this, so for
    /// these `recv` sockets it stays 0 (kept so the metric exists).
    pub freeze_queue_count: u64,
}

/// What this process read from one socket since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureCounters {
    /// Frames read.
    pub packets: u64,
    /// Bytes read (link header included).
    pub bytes: u64,
    /// Frames that filled the read buffer: possibly cut at [`MAX_FRAME`].
    pub truncated: u64,
}

/// One frame, borrowed from the socket's buffer until the next read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivePacket<'a> {
    /// When the worker read it (wall clock, never earlier than the
    /// previous packet of this socket).
    pub ts: Timestamp,
    /// The frame, link header first (see [`LiveCapture::linktype`]).
    pub data: &'a [u8],
}

/// What went wrong opening or reading a capture socket. Messages a person
/// reads are in English and Chinese.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// The thread lacks CAP_NET_RAW.
    #[error("capturing on {interface} needs CAP_NET_RAW (run as root or grant AmbientCapabilities=CAP_NET_RAW) / 在 {interface} 上抓包需要 CAP_NET_RAW 权限（以 root 运行或授予 AmbientCapabilities=CAP_NET_RAW）")]
    MissingCapability {
        /// The interface.
        interface: String,
    },
    /// No interface of that name in this network namespace.
    #[error("capture interface {interface} does not exist (interfaces here: {known}) / 抓包网卡 {interface} 不存在（本机网卡：{known}）")]
    NoSuchInterface {
        /// The interface.
        interface: String,
        /// Names of the interfaces that do exist.
        known: String,
    },
    /// The interface exists but is administratively down.
    #[error("capture interface {interface} is down (bring it up: ip link set {interface} up) / 抓包网卡 {interface} 未启用（请执行 ip link set {interface} up）")]
    InterfaceDown {
        /// The interface.
        interface: String,
    },
    /// Options that cannot work (bad name, buffer size, timeout).
    #[error("capture on {interface}: {reason} / 抓包参数错误")]
    InvalidOptions {
        /// The interface.
        interface: String,
        /// What is wrong.
        reason: String,
    },
    /// The interface's hardware type has no supported link type.
    #[error("capture interface {interface} has hardware type {hatype}, which zoneguard cannot decode (Ethernet, loopback, raw IP only) / 抓包网卡 {interface} 的链路类型 {hatype} 不受支持")]
    UnsupportedHardware {
        /// The interface.
        interface: String,
        /// Its ARPHRD_* number.
        hatype: u16,
    },
    /// The BPF filter could not be compiled.
    #[error("capture on {interface}: {source}")]
    Filter {
        /// The interface.
        interface: String,
        /// Why.
        #[source]
        source: FilterError,
    },
    /// A socket call failed while opening.
    #[error("capture on {interface}: {step} failed: {source} / 打开抓包套接字失败")]
    Open {
        /// The interface.
        interface: String,
        /// Which step (`socket`, `bind and fanout`, ...).
        step: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Reading failed (the interface went down, ...). The socket stays
    /// usable: later reads resume when the interface is back.
    #[error("capture on {interface}: read failed: {source} / 抓包读取失败")]
    Read {
        /// The interface.
        interface: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// One AF_PACKET capture socket: use one per worker thread.
pub struct LiveCapture {
    rx: Box<dyn DataLinkReceiver>,
    /// The socket's fd, owned (and closed) by `rx`; only used for
    /// getsockopt while `rx` lives.
    fd: RawFd,
    interface: String,
    ifindex: u32,
    linktype: LinkType,
    buffer_bytes: usize,
    kernel: KernelStats,
    counters: CaptureCounters,
    last_ts: Timestamp,
}

impl std::fmt::Debug for LiveCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCapture")
            .field("interface", &self.interface)
            .field("ifindex", &self.ifindex)
            .field("fd", &self.fd)
            .field("linktype", &self.linktype)
            .field("buffer_bytes", &self.buffer_bytes)
            .finish_non_exhaustive()
    }
}

/// Whether Linux accepts `name` as an interface name: 1-15 bytes, not `.`
/// or `..`, no `/`, `:`, blanks or control characters.
pub fn valid_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_IFNAME_LEN
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
}

/// The link type zoneguard decodes frames of an ARPHRD_* hardware type as.
pub fn linktype_for_hardware(hatype: u16) -> Option<LinkType> {
    match hatype {
        sys::ARPHRD_ETHER | sys::ARPHRD_LOOPBACK => Some(LinkType::Ethernet),
        sys::ARPHRD_NONE | sys::ARPHRD_RAWIP => Some(LinkType::Raw),
        _ => None,
    }
}

fn now_timestamp() -> Timestamp {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp::from_secs_nanos(
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(_) => Timestamp(0),
    }
}

impl LiveCapture {
    /// Opens a capture socket on `opts.interface` in the calling thread's
    /// network namespace. Sockets of one interface opened with the same
    /// `fanout_group` share its packets by flow.
    pub fn open(opts: &LiveOptions) -> Result<LiveCapture, LiveError> {
        let name = opts.interface.as_str();
        let invalid = |reason: String| LiveError::InvalidOptions {
            interface: name.to_string(),
            reason,
        };
        if !valid_interface_name(name) {
            return Err(invalid(format!(
                "'{}' is not an interface name (1-{MAX_IFNAME_LEN} characters, no '/', ':' or blanks)",
                name.escape_debug()
            )));
        }
        if !(MIN_BUFFER_BYTES..=MAX_BUFFER_BYTES).contains(&opts.buffer_bytes) {
            return Err(invalid(format!(
                "buffer_bytes {} is outside {MIN_BUFFER_BYTES}-{MAX_BUFFER_BYTES}",
                opts.buffer_bytes
            )));
        }
        if opts.read_timeout < Duration::from_millis(1)
            || opts.read_timeout > Duration::from_secs(3600)
        {
            return Err(invalid(format!(
                "read timeout {:?} is outside 1 ms - 1 h",
                opts.read_timeout
            )));
        }
        check_capture_permission(name)?;

        let ifaces = pnet_datalink::interfaces();
        let Some(iface) = ifaces.iter().find(|i| i.name == name).cloned() else {
            let mut names: Vec<&str> = ifaces.iter().map(|i| i.name.as_str()).collect();
            names.sort_unstable();
            let more = names.len().saturating_sub(MAX_LISTED_INTERFACES);
            names.truncate(MAX_LISTED_INTERFACES);
            let mut known = names.join(", ");
            if more > 0 {
                known.push_str(&format!(" and {more} more"));
            }
            return Err(LiveError::NoSuchInterface {
                interface: name.to_string(),
                known,
            });
        };
        if !iface.is_up() {
            return Err(LiveError::InterfaceDown {
                interface: name.to_string(),
            });
        }

        let open_err = |step: &'static str, source: io::Error| {
            if matches!(
                source.raw_os_error(),
                Some(libc::EPERM) | Some(libc::EACCES)
            ) {
                LiveError::MissingCapability {
                    interface: name.to_string(),
                }
            } else {
                LiveError::Open {
                    interface: name.to_string(),
                    step,
                    source,
                }
            }
        };
        let sock = sys::open_packet_socket().map_err(|e| open_err("socket(AF_PACKET)", e))?;
        let hatype = sys::hardware_type(&sock, name).map_err(|e| {
            if e.raw_os_error() == Some(libc::ENODEV) {
                LiveError::NoSuchInterface {
                    interface: name.to_string(),
                    known: "(it disappeared while opening)".into(),
                }
            } else {
                open_err("SIOCGIFHWADDR", e)
            }
        })?;
        let linktype =
            linktype_for_hardware(hatype).ok_or_else(|| LiveError::UnsupportedHardware {
                interface: name.to_string(),
                hatype,
            })?;
        let (buffer_bytes, forced) = sys::set_receive_buffer(&sock, opts.buffer_bytes)
            .map_err(|e| open_err("SO_RCVBUF", e))?;
        if !forced && buffer_bytes < opts.buffer_bytes {
            tracing::warn!(
                interface = name,
                requested = opts.buffer_bytes,
                granted = buffer_bytes,
                "capture receive buffer capped by net.core.rmem_max (raise it, see docs/systemd.md) / 抓包接收缓冲区受 net.core.rmem_max 限制"
            );
        }
        if let Some(expr) = &opts.bpf_filter {
            let prog = compile_filter(expr, linktype).map_err(|source| LiveError::Filter {
                interface: name.to_string(),
                source,
            })?;
            sock.attach_filter(&prog.sock_filters())
                .map_err(|e| open_err("SO_ATTACH_FILTER", e))?;
        }

        let fd = sock.into_raw_fd();
        let config = pnet_datalink::Config {
            read_buffer_size: MAX_FRAME,
            write_buffer_size: 0,
            read_timeout: Some(opts.read_timeout),
            linux_fanout: Some(FanoutOption {
                group_id: opts.fanout_group,
                fanout_type: FanoutType::HASH,
                defrag: true,
                rollover: false,
            }),
            promiscuous: opts.promiscuous,
            // pnet takes the socket over: it binds it, and closes it on
            // failure or when the channel is dropped.
            socket_fd: Some(fd),
            ..pnet_datalink::Config::default()
        };
        let rx = match pnet_datalink::channel(&iface, config) {
            Ok(Channel::Ethernet(_tx, rx)) => rx,
            Ok(_) => {
                return Err(open_err(
                    "pnet channel",
                    io::Error::other("pnet returned a channel of an unknown kind"),
                ))
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                return Err(open_err(
                    "bind and PACKET_FANOUT",
                    io::Error::other(format!(
                        "{e} (fanout group {} is probably used by another program or on another interface)",
                        opts.fanout_group
                    )),
                ))
            }
            Err(e) => return Err(open_err("bind, promiscuous mode and PACKET_FANOUT", e)),
        };
        Ok(LiveCapture {
            rx,
            fd,
            interface: name.to_string(),
            ifindex: iface.index,
            linktype,
            buffer_bytes,
            kernel: KernelStats::default(),
            counters: CaptureCounters::default(),
            last_ts: Timestamp(0),
        })
    }

    /// The next frame, or `None` when the read timeout passed without one
    /// (or a signal interrupted the wait). An error (the interface went
    /// down) is reported once; the socket stays open and reading resumes
    /// when the interface comes back.
    pub fn next_packet(&mut self) -> Result<Option<LivePacket<'_>>, LiveError> {
        match self.rx.next() {
            Ok(data) => {
                let ts = now_timestamp().max(self.last_ts);
                self.last_ts = ts;
                self.counters.packets += 1;
                self.counters.bytes += data.len() as u64;
                if data.len() >= MAX_FRAME {
                    self.counters.truncated += 1;
                }
                Ok(Some(LivePacket { ts, data }))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(None)
            }
            Err(e) => {
                // pnet reports POLLERR as "Unexpected poll event" and never
                // reads the error; take it so the next poll waits again.
                let source = sys::take_socket_error(self.fd).unwrap_or(e);
                Err(LiveError::Read {
                    interface: self.interface.clone(),
                    source,
                })
            }
        }
    }

    /// The kernel's counters (PACKET_STATISTICS) accumulated since the
    /// socket was opened. Reading resets the kernel's own copy, so read
    /// them only through this method, and at least every few minutes: the
    /// kernel counts in 32 bits between reads.
    pub fn kernel_stats(&mut self) -> Result<KernelStats, LiveError> {
        let (packets, drops) =
            sys::packet_statistics(self.fd).map_err(|source| LiveError::Read {
                interface: self.interface.clone(),
                source,
            })?;
        self.kernel.packets += u64::from(packets);
        self.kernel.drops += u64::from(drops);
        Ok(self.kernel)
    }

    /// Frames and bytes read through this socket.
    pub fn counters(&self) -> CaptureCounters {
        self.counters
    }

    /// Link type of the frames.
    pub fn linktype(&self) -> LinkType {
        self.linktype
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The interface index in its network namespace.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The receive buffer the kernel granted (bytes, as SO_RCVBUF reports
    /// it: twice the usable size).
    pub fn buffer_bytes(&self) -> usize {
        self.buffer_bytes
    }

    /// The socket's file descriptor (for poll(2) by a caller that waits on
    /// several sockets); it stays owned by the capture.
    pub fn raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl AsRawFd for LiveCapture {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        assert!(valid_interface_name("eth0"));
        assert!(valid_interface_name("veth-zg-123456"));
        assert!(!valid_interface_name(""));
        assert!(!valid_interface_name("a-name-longer-than-15"));
        assert!(!valid_interface_name("eth0/1"));
        assert!(!valid_interface_name("eth 0"));
        assert!(!valid_interface_name(".."));
    }

    #[test]
    fn hardware_types() {
        assert_eq!(linktype_for_hardware(1), Some(LinkType::Ethernet));
        assert_eq!(linktype_for_hardware(772), Some(LinkType::Ethernet));
        assert_eq!(linktype_for_hardware(0xFFFE), Some(LinkType::Raw));
        assert_eq!(linktype_for_hardware(519), Some(LinkType::Raw));
        assert_eq!(linktype_for_hardware(24), None);
    }

    #[test]
    fn bad_options_are_refused_before_any_socket() {
        let mut o = LiveOptions::new("bad/name");
        let e = LiveCapture::open(&o).unwrap_err();
        assert!(matches!(e, LiveError::InvalidOptions { .. }), "{e}");
        o.interface = "lo".into();
        o.buffer_bytes = 10;
        assert!(matches!(
            LiveCapture::open(&o),
            Err(LiveError::InvalidOptions { .. })
        ));
        o.buffer_bytes = DEFAULT_BUFFER_BYTES;
        o.read_timeout = Duration::ZERO;
        let e = LiveCapture::open(&o).unwrap_err();
        assert!(e.to_string().contains("read timeout"), "{e}");
    }

    #[test]
    fn timestamps_are_now() {
        let t = now_timestamp();
        assert!(t.secs() > 1_700_000_000);
    }

    #[test]
    fn fanout_groups_differ_per_interface() {
        assert_ne!(default_fanout_group(0), default_fanout_group(1));
    }
}
