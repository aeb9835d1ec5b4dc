//! The compiled rule: every option already decoded and validated, grouped
//! into per-buffer lists in rule order, ready for a matching engine.

use std::sync::Arc;

use super::addr::{AddrSet, PortSet};
use super::buffer::{Buffer, Transform};
use super::header::{Action, AppProto, Direction, Proto};

/// A numeric keyword argument: a literal or a `byte_extract` variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Num {
    /// A literal value.
    Lit(i64),
    /// The name of a variable set by an earlier `byte_extract`.
    Var(Box<str>),
}

/// A comparison of an unsigned value (`dsize`, `bsize`, `ttl`, `itype`, ...)
/// in Suricata's integer syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UintCmp {
    /// `N` or `=N`.
    Eq(u64),
    /// `!N` or `!=N`.
    Ne(u64),
    /// `<N`.
    Lt(u64),
    /// `<=N`.
    Le(u64),
    /// `>N`.
    Gt(u64),
    /// `>=N`.
    Ge(u64),
    /// `A<>B` or `A-B`: strictly between A and B.
    Between(u64, u64),
    /// `!A-B`: not strictly between A and B.
    NotBetween(u64, u64),
}

impl UintCmp {
    /// Whether `v` satisfies the comparison.
    pub fn matches(self, v: u64) -> bool {
        match self {
            Self::Eq(n) => v == n,
            Self::Ne(n) => v != n,
            Self::Lt(n) => v < n,
            Self::Le(n) => v <= n,
            Self::Gt(n) => v > n,
            Self::Ge(n) => v >= n,
            Self::Between(a, b) => v > a && v < b,
            Self::NotBetween(a, b) => !(v > a && v < b),
        }
    }

    /// The smallest value that can satisfy the comparison, if any bound.
    pub fn min_value(self) -> u64 {
        match self {
            Self::Eq(n) | Self::Ge(n) => n,
            Self::Gt(n) => n.saturating_add(1),
            Self::Between(a, _) => a.saturating_add(1),
            _ => 0,
        }
    }

    /// The largest value that can satisfy the comparison, if bounded.
    pub fn max_value(self) -> Option<u64> {
        match self {
            Self::Eq(n) | Self::Le(n) => Some(n),
            Self::Lt(n) => n.checked_sub(1),
            Self::Between(_, b) => b.checked_sub(1),
            _ => None,
        }
    }
}

/// `content` with its modifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The decoded bytes (escapes and `|hex|` resolved).
    pub pattern: Box<[u8]>,
    /// `content:!"..."`.
    pub negated: bool,
    /// `nocase`.
    pub nocase: bool,
    /// `offset` (absolute).
    pub offset: Option<Num>,
    /// `depth` (absolute; `startswith` sets depth = length).
    pub depth: Option<Num>,
    /// `distance` (relative to the previous match in the buffer).
    pub distance: Option<Num>,
    /// `within` (relative to the previous match in the buffer).
    pub within: Option<Num>,
    /// `startswith`: the buffer starts with the pattern.
    pub startswith: bool,
    /// `endswith`: the buffer ends with the pattern.
    pub endswith: bool,
    /// `fast_pattern` given on this content.
    pub fast_pattern: bool,
    /// `fast_pattern:offset,length`: only this slice goes to the prefilter.
    pub fast_pattern_chop: Option<(u16, u16)>,
    /// `rawbytes` (accepted for compatibility; Suricata ignores it too).
    pub rawbytes: bool,
}

impl Content {
    /// A content with no modifiers.
    pub fn new(pattern: Vec<u8>, negated: bool) -> Self {
        Self {
            pattern: pattern.into_boxed_slice(),
            negated,
            nocase: false,
            offset: None,
            depth: None,
            distance: None,
            within: None,
            startswith: false,
            endswith: false,
            fast_pattern: false,
            fast_pattern_chop: None,
            rawbytes: false,
        }
    }

    /// True when the content is anchored to the previous match.
    pub fn is_relative(&self) -> bool {
        self.distance.is_some() || self.within.is_some()
    }
}

/// `pcre` flags (besides the buffer selection).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PcreFlags {
    /// `i`: caseless.
    pub caseless: bool,
    /// `s`: dot matches newline.
    pub dotall: bool,
    /// `m`: multi-line `^`/`$`.
    pub multiline: bool,
    /// `x`: extended syntax (whitespace and `#` comments ignored).
    pub extended: bool,
    /// `A`: anchored at the start of the buffer (or relative position).
    pub anchored: bool,
    /// `E`: `$` matches only at the very end.
    pub dollar_endonly: bool,
    /// `G`: inverts greediness.
    pub ungreedy: bool,
    /// `R`: relative to the previous match.
    pub relative: bool,
    /// `O`: overrides the configured match limits.
    pub override_limits: bool,
    /// `B`: accepted for Snort compatibility, no effect.
    pub rawbytes: bool,
}

/// `pcre`, validated; the pattern is kept as PCRE2 source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pcre {
    /// The pattern between the delimiters.
    pub pattern: Box<str>,
    /// `pcre:!"..."`.
    pub negated: bool,
    /// The flags.
    pub flags: PcreFlags,
}

/// `isdataat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsDataAt {
    /// Position that must (or, negated, must not) hold data.
    pub pos: Num,
    /// `isdataat:!N`.
    pub negated: bool,
    /// Relative to the previous match.
    pub relative: bool,
}

/// Byte order of `byte_*` keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Endian {
    /// `big` (default).
    #[default]
    Big,
    /// `little`.
    Little,
    /// `dce`: taken from the DCERPC header.
    Dce,
}

/// How `byte_*` keywords read the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ByteFormat {
    /// Binary integer.
    #[default]
    Binary,
    /// ASCII text in base 16.
    Hex,
    /// ASCII text in base 10.
    Dec,
    /// ASCII text in base 8.
    Oct,
}

/// Operator of `byte_test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOp {
    /// `<`.
    Lt,
    /// `>`.
    Gt,
    /// `=`.
    Eq,
    /// `<=`.
    Le,
    /// `>=`.
    Ge,
    /// `&`: bitwise and is non-zero.
    And,
    /// `^`: bitwise xor is non-zero.
    Xor,
}

/// `byte_test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteTest {
    /// Bytes read (1-8 binary, 1-23 as string).
    pub nbytes: u8,
    /// The operator.
    pub op: ByteOp,
    /// `!op`.
    pub negated: bool,
    /// The value compared against.
    pub value: Num,
    /// Where to read.
    pub offset: Num,
    /// Relative to the previous match.
    pub relative: bool,
    /// Byte order.
    pub endian: Endian,
    /// Binary or string base.
    pub format: ByteFormat,
    /// `bitmask N`.
    pub bitmask: Option<u32>,
}

/// `byte_jump`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteJump {
    /// Bytes read.
    pub nbytes: u8,
    /// Where to read.
    pub offset: Num,
    /// Relative to the previous match.
    pub relative: bool,
    /// `multiplier N`.
    pub multiplier: u32,
    /// Byte order.
    pub endian: Endian,
    /// Binary or string base.
    pub format: ByteFormat,
    /// `align`: round the jump up to 4.
    pub align: bool,
    /// `from_beginning`.
    pub from_beginning: bool,
    /// `from_end`.
    pub from_end: bool,
    /// `post_offset N`.
    pub post_offset: i32,
    /// `bitmask N`.
    pub bitmask: Option<u32>,
}

/// `byte_extract`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteExtract {
    /// Bytes read.
    pub nbytes: u8,
    /// Where to read.
    pub offset: i32,
    /// Name of the variable it sets.
    pub name: Box<str>,
    /// Relative to the previous match.
    pub relative: bool,
    /// `multiplier N`.
    pub multiplier: u32,
    /// Byte order.
    pub endian: Endian,
    /// Binary or string base.
    pub format: ByteFormat,
    /// `align N` (2 or 4).
    pub align: u8,
    /// `bitmask N`.
    pub bitmask: Option<u32>,
}

/// `base64_decode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Base64Decode {
    /// `bytes N` (0: all).
    pub bytes: u32,
    /// `offset N`.
    pub offset: u32,
    /// `relative`.
    pub relative: bool,
}

/// One inspection step on a buffer, in rule order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `content`.
    Content(Content),
    /// `pcre`.
    Pcre(Pcre),
    /// `isdataat`.
    IsDataAt(IsDataAt),
    /// `byte_test`.
    ByteTest(ByteTest),
    /// `byte_jump`.
    ByteJump(ByteJump),
    /// `byte_extract`.
    ByteExtract(ByteExtract),
    /// `bsize`: the buffer's length.
    Bsize(UintCmp),
    /// `base64_decode`: decodes into the `base64_data` buffer.
    Base64Decode(Base64Decode),
}

impl Match {
    /// True for the steps that set the inspection cursor, which relative
    /// keywords continue from: content, pcre, byte_jump and byte_extract.
    pub fn is_anchor(&self) -> bool {
        matches!(
            self,
            Self::Content(_) | Self::Pcre(_) | Self::ByteJump(_) | Self::ByteExtract(_)
        )
    }
}

/// The inspection steps on one buffer (after its transforms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferList {
    /// The buffer inspected.
    pub buffer: Buffer,
    /// Transforms applied to the buffer first, in order.
    pub transforms: Vec<Transform>,
    /// The steps, in rule order.
    pub matches: Vec<Match>,
}

/// Flow direction of `flow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowDir {
    /// `to_server` / `from_client`.
    ToServer,
    /// `to_client` / `from_server`.
    ToClient,
}

/// Flow state of `flow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowState {
    /// `established`.
    Established,
    /// `not_established`.
    NotEstablished,
    /// `stateless`.
    Stateless,
}

/// `flow` options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowOpts {
    /// `to_server` / `to_client`.
    pub dir: Option<FlowDir>,
    /// `established` / `not_established` / `stateless`.
    pub state: Option<FlowState>,
    /// `only_stream` (true) / `no_stream` (false).
    pub stream: Option<bool>,
    /// `only_frag` (true) / `no_frag` (false).
    pub frag: Option<bool>,
}

/// `flowbits` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowbitCmd {
    /// `set`.
    Set,
    /// `unset`.
    Unset,
    /// `toggle`.
    Toggle,
    /// `isset`.
    IsSet,
    /// `isnotset`.
    IsNotSet,
    /// `noalert`.
    NoAlert,
}

/// One `flowbits` keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowbitOp {
    /// The command.
    pub cmd: FlowbitCmd,
    /// The bits named (empty for `noalert`).
    pub names: Vec<Box<str>>,
    /// Names joined with `|` (any of them) rather than `&` (all of them).
    pub any: bool,
}

/// What an `xbits` bit is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XbitTrack {
    /// `track ip_src`: the source host.
    IpSrc,
    /// `track ip_dst`: the destination host.
    IpDst,
    /// `track ip_pair`: the (source, destination) pair.
    IpPair,
    /// `track tx`: the transaction.
    Tx,
}

/// One `xbits` keyword: a flowbit kept per host, host pair or transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XbitOp {
    /// The command (`noalert` is not valid for xbits).
    pub cmd: FlowbitCmd,
    /// The bit.
    pub name: Box<str>,
    /// What the bit is kept for.
    pub track: XbitTrack,
    /// `expire N` seconds (0: never set).
    pub expire: u32,
}

/// `flowint` operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowintOp {
    /// `=`: set.
    Set,
    /// `+`: add.
    Add,
    /// `-`: subtract.
    Sub,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `isset`.
    IsSet,
    /// `notset` / `isnotset`.
    NotSet,
}

/// One `flowint` keyword: a per-flow counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flowint {
    /// The counter.
    pub name: Box<str>,
    /// The operation.
    pub op: FlowintOp,
    /// The operand: a number or another counter (none for isset/notset).
    pub value: Option<Num>,
}

/// How thresholds and detection filters count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// `by_src`.
    BySrc,
    /// `by_dst`.
    ByDst,
    /// `by_rule`.
    ByRule,
    /// `by_both`.
    ByBoth,
    /// `by_flow`.
    ByFlow,
}

/// `threshold` type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdKind {
    /// `limit`: at most `count` alerts per `seconds`.
    Limit,
    /// `threshold`: an alert every `count` matches per `seconds`.
    Threshold,
    /// `both`: one alert once `count` matches happen within `seconds`.
    Both,
    /// `backoff`: alert at 1, then at `count`, multiplying by `multiplier`.
    Backoff,
}

/// `threshold` (in a rule or from threshold.config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    /// The type.
    pub kind: ThresholdKind,
    /// What is counted separately.
    pub track: Track,
    /// `count`.
    pub count: u32,
    /// `seconds` (0 for backoff).
    pub seconds: u32,
    /// `multiplier` (backoff only, else 0).
    pub multiplier: u32,
}

/// What `detection_filter ... unique_on` counts distinct values of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueOn {
    /// `unique_on src_port`.
    SrcPort,
    /// `unique_on dst_port`.
    DstPort,
}

/// `detection_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectionFilter {
    /// What is counted separately.
    pub track: Track,
    /// Matches needed before the rule alerts.
    pub count: u32,
    /// Window.
    pub seconds: u32,
    /// Count distinct ports instead of matches.
    pub unique_on: Option<UniqueOn>,
}

/// `target`: which side of the alert is the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `target:src_ip`.
    SrcIp,
    /// `target:dest_ip`.
    DestIp,
}

/// `flags` (TCP flags) keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFlags {
    /// The flag bits named (FIN=0x01 ... CWR=0x80).
    pub flags: u8,
    /// Bits ignored (`,mask`).
    pub ignore: u8,
    /// How `flags` is compared.
    pub mode: FlagsMode,
}

/// Comparison of `flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagsMode {
    /// No modifier: exactly these flags (after the mask).
    Exact,
    /// `+`: these flags and possibly others.
    All,
    /// `*`: any of these flags.
    Any,
    /// `!`: none of these flags.
    Not,
}

/// Which side of the stream `stream_size` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamSide {
    /// `server`.
    Server,
    /// `client`.
    Client,
    /// `both`.
    Both,
    /// `either`.
    Either,
}

/// A packet- or flow-level test that inspects no buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketMatch {
    /// `dsize`: payload size.
    Dsize(UintCmp),
    /// `ttl`.
    Ttl(UintCmp),
    /// `itype`.
    Itype(UintCmp),
    /// `icode`.
    Icode(UintCmp),
    /// `icmp_id`.
    IcmpId(u16),
    /// `icmp_seq`.
    IcmpSeq(u16),
    /// `ip_proto`.
    IpProto(UintCmp),
    /// `flags`.
    Flags(TcpFlags),
    /// `window`: TCP window (negated when `!`).
    Window {
        /// The value.
        value: u16,
        /// `window:!N`.
        negated: bool,
    },
    /// `sameip`: source and destination address are equal.
    SameIp,
    /// `id`: IPv4 identification.
    Id(u16),
    /// `tos`.
    Tos {
        /// The value.
        value: u8,
        /// `tos:!N`.
        negated: bool,
    },
    /// `stream_size`.
    StreamSize {
        /// Side measured.
        side: StreamSide,
        /// Comparison.
        cmp: UintCmp,
    },
    /// `urilen`: length of the (normalized or raw) URI.
    Urilen {
        /// Comparison.
        cmp: UintCmp,
        /// `,raw`.
        raw: bool,
    },
    /// `ack`: TCP acknowledgement number.
    Ack(u32),
    /// `seq`: TCP sequence number.
    Seq(u32),
    /// `fragbits`: IPv4 fragment bits (M=0x01 more fragments, D=0x02 don't
    /// fragment, R=0x04 reserved).
    FragBits {
        /// The bits named.
        bits: u8,
        /// How they are compared.
        mode: FlagsMode,
    },
    /// `ipopts`: an IPv4 option is present (`rr`, `eol`, `nop`, `ts`, `sec`,
    /// `esec`, `lsrr`, `ssrr`, `satid`, `any`).
    IpOpts(Box<str>),
    /// `tls.version`: the negotiated TLS version (0x0300 SSLv3 .. 0x0304 TLS 1.3).
    TlsVersion(u16),
    /// `ssl_version`: any of these versions (bit set: SSLv2=1, SSLv3=2,
    /// TLS1.0=4, TLS1.1=8, TLS1.2=16, TLS1.3=32), minus the negated ones.
    SslVersion {
        /// Versions that match.
        any_of: u8,
        /// Versions given with `!`.
        none_of: u8,
    },
    /// `app-layer-event`: an event raised by a protocol parser,
    /// `proto.event_name` as Suricata names it.
    AppLayerEvent {
        /// The event name as written (e.g. `http.invalid_transfer_encoding_value_in_request`).
        name: Box<str>,
        /// `!name`.
        negated: bool,
    },
    /// `app-layer-protocol`.
    AppLayerProtocol {
        /// Protocol name as written.
        name: Box<str>,
        /// `!name`.
        negated: bool,
    },
}

/// Where the prefilter pattern of a rule sits: `rule.lists[list].matches[index]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastPatternRef {
    /// Index into [`Rule::lists`].
    pub list: usize,
    /// Index into that list's matches (always a [`Match::Content`]).
    pub index: usize,
}

/// One compiled rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// What to do on a match.
    pub action: Action,
    /// Protocol of the header.
    pub proto: Proto,
    /// Source addresses.
    pub src: AddrSet,
    /// Source ports.
    pub src_ports: PortSet,
    /// `->` or `<>`.
    pub dir: Direction,
    /// Destination addresses.
    pub dst: AddrSet,
    /// Destination ports.
    pub dst_ports: PortSet,
    /// `sid`.
    pub sid: u32,
    /// `gid` (default 1).
    pub gid: u32,
    /// `rev` (default 0).
    pub rev: u32,
    /// `msg`, escapes removed.
    pub msg: String,
    /// `classtype`.
    pub classtype: Option<String>,
    /// `priority`, or the classtype's, or 3.
    pub priority: u8,
    /// `metadata` as key/value pairs in rule order.
    pub metadata: Vec<(String, String)>,
    /// `reference` as (system, id) pairs.
    pub references: Vec<(String, String)>,
    /// `target`.
    pub target: Option<Target>,
    /// Per-buffer inspection lists, in order of first use.
    pub lists: Vec<BufferList>,
    /// Packet-level tests.
    pub packet: Vec<PacketMatch>,
    /// `flow`.
    pub flow: FlowOpts,
    /// `flowbits`, in rule order.
    pub flowbits: Vec<FlowbitOp>,
    /// `xbits`, in rule order.
    pub xbits: Vec<XbitOp>,
    /// `flowint`, in rule order.
    pub flowints: Vec<Flowint>,
    /// `threshold`.
    pub threshold: Option<Threshold>,
    /// `detection_filter`.
    pub detection_filter: Option<DetectionFilter>,
    /// The content the prefilter should use.
    pub fast_pattern: Option<FastPatternRef>,
    /// `noalert` (or `flowbits:noalert`).
    pub noalert: bool,
    /// Keywords accepted but ignored, for the operator (e.g. `tag`).
    pub notes: Vec<String>,
    /// The file the rule came from.
    pub file: Arc<str>,
    /// The line the rule starts on (1-based).
    pub line: usize,
}

impl Rule {
    /// The fast pattern content, if any.
    pub fn fast_pattern_content(&self) -> Option<(&BufferList, &Content)> {
        let fp = self.fast_pattern?;
        let list = self.lists.get(fp.list)?;
        match list.matches.get(fp.index)? {
            Match::Content(c) => Some((list, c)),
            _ => None,
        }
    }

    /// The application protocol the rule inspects: the header's, else the
    /// one its buffers imply (`alert tcp ... http.uri` is an HTTP rule).
    pub fn app_proto(&self) -> Option<AppProto> {
        if let Proto::App(p) = self.proto {
            return Some(p);
        }
        self.lists.iter().find_map(|l| l.buffer.app_proto())
    }

    /// Metadata values grouped per key, as EVE's `alert.metadata` shows them.
    pub fn metadata_grouped(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        for (k, v) in &self.metadata {
            let entry = out
                .entry(k.clone())
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let serde_json::Value::Array(a) = entry {
                a.push(serde_json::Value::String(v.clone()));
            }
        }
        out
    }
}
