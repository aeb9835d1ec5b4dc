//! Compiling one rule's text into a [`Rule`]: header resolution and every
//! keyword validated and decoded, in rule order.

use std::sync::Arc;

use super::addr::ExprError;
use super::buffer::{Buffer, Transform};
use super::classification::Classification;
use super::error::RuleError;
use super::header::{split_rule, Action, Direction, Proto};
use super::keywords as kw;
use super::options::{decode_content, require_quotes, split_options, unescape_text, unquote};
use super::pcre::parse_pcre;
use super::rule::{BufferList, Content, FastPatternRef, FlowOpts, Match, Num, PacketMatch, Rule};
use super::vars::ResolvedVars;

/// Longest rule text accepted.
pub const MAX_RULE_LEN: usize = 256 * 1024;
/// Most options accepted in one rule.
pub const MAX_OPTIONS: usize = 1024;
/// Most `byte_extract` variables in one rule.
pub const MAX_BYTE_VARS: usize = 16;

/// What the compiler needs besides the rule text.
#[derive(Debug, Clone, Copy)]
pub struct CompileCtx<'a> {
    /// Resolved address and port groups.
    pub vars: &'a ResolvedVars,
    /// Classtypes.
    pub classification: &'a Classification,
}

/// Parses and compiles one rule (already joined if it spanned lines).
pub fn compile_rule(
    text: &str,
    file: Arc<str>,
    line: usize,
    ctx: CompileCtx<'_>,
) -> Result<Rule, RuleError> {
    if text.len() > MAX_RULE_LEN {
        return Err(RuleError::TooLong(MAX_RULE_LEN));
    }
    let h = split_rule(text).map_err(RuleError::Header)?;
    let action = Action::from_name(h.action)
        .ok_or_else(|| RuleError::UnknownAction(h.action.to_string()))?;
    let proto =
        Proto::from_name(h.proto).ok_or_else(|| RuleError::UnknownProtocol(h.proto.to_string()))?;
    let dir = match h.dir {
        "->" => Direction::Forward,
        "<>" => Direction::Both,
        "<-" => return Err(RuleError::BackwardDirection),
        other => return Err(RuleError::Direction(other.to_string())),
    };
    let src = expr("source address", h.src, ctx.vars.address(h.src))?;
    let src_ports = expr("source port", h.src_ports, ctx.vars.ports(h.src_ports))?;
    let dst = expr("destination address", h.dst, ctx.vars.address(h.dst))?;
    let dst_ports = expr("destination port", h.dst_ports, ctx.vars.ports(h.dst_ports))?;

    let opts = split_options(h.options)
        .map_err(|(offset, reason)| RuleError::Options { offset, reason })?;
    if opts.len() > MAX_OPTIONS {
        return Err(RuleError::Options {
            offset: 0,
            reason: "too many options",
        });
    }

    let mut rule = Rule {
        action,
        proto,
        src,
        src_ports,
        dir,
        dst,
        dst_ports,
        sid: 0,
        gid: 1,
        rev: 0,
        msg: String::new(),
        classtype: None,
        priority: 3,
        metadata: Vec::new(),
        references: Vec::new(),
        target: None,
        lists: Vec::new(),
        packet: Vec::new(),
        flow: FlowOpts::default(),
        flowbits: Vec::new(),
        xbits: Vec::new(),
        flowints: Vec::new(),
        threshold: None,
        detection_filter: None,
        fast_pattern: None,
        noalert: false,
        notes: Vec::new(),
        file,
        line,
    };
    let mut b = Builder::default();
    let mut sid: Option<u32> = None;
    let mut priority: Option<u8> = None;

    for o in &opts {
        // Keywords are case-insensitive in Suricata; avoid allocating for
        // the usual lower-case spelling.
        let lowered;
        let key = if o.key.bytes().any(|c| c.is_ascii_uppercase()) {
            lowered = o.key.to_ascii_lowercase();
            lowered.as_str()
        } else {
            o.key
        };
        let need = || {
            o.value
                .ok_or_else(|| RuleError::invalid(key, "needs a value"))
        };
        let none = || -> Result<(), RuleError> {
            match o.value {
                Some(_) => Err(RuleError::invalid(key, "takes no value")),
                None => Ok(()),
            }
        };
        match key {
            "msg" => rule.msg = unescape_text(unquote(need()?)),
            "sid" => {
                let v: u32 = kw::parse_u64(need()?, key, 1, u64::from(u32::MAX))?
                    .try_into()
                    .map_err(|_| RuleError::invalid(key, "out of range"))?;
                if sid.replace(v).is_some() {
                    return Err(RuleError::invalid(key, "given twice"));
                }
            }
            "rev" => {
                rule.rev = kw::parse_u64(need()?, key, 0, u64::from(u32::MAX))?
                    .try_into()
                    .map_err(|_| RuleError::invalid(key, "out of range"))?
            }
            "gid" => {
                rule.gid = kw::parse_u64(need()?, key, 0, u64::from(u32::MAX))?
                    .try_into()
                    .map_err(|_| RuleError::invalid(key, "out of range"))?
            }
            "priority" => {
                let p = kw::parse_u64(need()?, key, 1, 255)?;
                priority =
                    Some(u8::try_from(p).map_err(|_| RuleError::invalid(key, "out of range"))?);
            }
            "classtype" => {
                let name = unquote(need()?);
                let class = ctx.classification.get(name).ok_or_else(|| {
                    RuleError::invalid(key, format!("unknown classtype '{name}'"))
                })?;
                rule.priority = class.priority;
                rule.classtype = Some(name.to_string());
            }
            "metadata" => kw::metadata(need()?, &mut rule.metadata),
            "reference" => rule.references.push(kw::reference(need()?)?),
            "target" => rule.target = Some(kw::target(need()?)?),
            "content" | "uricontent" => {
                let v = need()?;
                let (negated, inner) = match v.strip_prefix('!') {
                    Some(rest) => (true, rest.trim_start()),
                    None => (false, v),
                };
                let inner = require_quotes(inner).map_err(|r| RuleError::invalid(key, r))?;
                let bytes = decode_content(inner).map_err(|r| RuleError::invalid(key, r))?;
                b.push_content(Content::new(bytes, negated));
                if key == "uricontent" {
                    b.move_last_content(Buffer::HttpUri, key)?;
                }
            }
            "nocase" | "rawbytes" | "startswith" | "endswith" => {
                none()?;
                kw::flag_modifier(b.last_content(key)?, key)?;
            }
            "depth" | "offset" | "distance" | "within" => {
                let n = b.num(need()?, key)?;
                kw::position_modifier(b.last_content(key)?, key, n)?;
            }
            "fast_pattern" => {
                if b.fast_pattern_seen {
                    return Err(RuleError::invalid(key, "used on more than one content"));
                }
                b.fast_pattern_seen = true;
                let c = b.last_content(key)?;
                c.fast_pattern = true;
                if let Some(v) = o.value {
                    kw::fast_pattern_arg(c, v)?;
                }
            }
            "pcre" => {
                let (p, buffer) = parse_pcre(need()?).map_err(|r| RuleError::invalid(key, r))?;
                let relative = p.flags.relative;
                let list = match buffer {
                    Some(buf) => {
                        if let Some(s) = &b.sticky {
                            if !same_body(s.buffer, buf) {
                                return Err(RuleError::invalid(
                                    key,
                                    format!(
                                        "buffer flag selects {} inside sticky buffer {}",
                                        buf.name(),
                                        s.buffer.name()
                                    ),
                                ));
                            }
                        }
                        if b.sticky.is_some() {
                            b.target_list(relative)
                        } else {
                            b.list_for(buf, &[])
                        }
                    }
                    None => b.target_list(relative),
                };
                if relative && b.last_anchor.is_none() {
                    return Err(RuleError::invalid(
                        key,
                        "relative flag 'R' without a preceding content or pcre",
                    ));
                }
                b.push_match(list, Match::Pcre(p));
            }
            "isdataat" => {
                let m = kw::isdataat(need()?, &b.byte_vars)?;
                let rel = m.relative;
                b.push_relative(key, rel, Match::IsDataAt(m))?;
            }
            "byte_test" => {
                let m = kw::byte_test(need()?, &b.byte_vars)?;
                let rel = m.relative;
                b.push_relative(key, rel, Match::ByteTest(m))?;
            }
            "byte_jump" => {
                let m = kw::byte_jump(need()?, &b.byte_vars)?;
                let rel = m.relative;
                b.push_relative(key, rel, Match::ByteJump(m))?;
            }
            "byte_extract" => {
                let m = kw::byte_extract(need()?)?;
                if b.byte_vars.len() >= MAX_BYTE_VARS {
                    return Err(RuleError::invalid(key, "too many byte_extract variables"));
                }
                if b.byte_vars.contains(&m.name) {
                    return Err(RuleError::invalid(
                        key,
                        format!("variable '{}' defined twice", m.name),
                    ));
                }
                b.byte_vars.push(m.name.clone());
                let rel = m.relative;
                b.push_relative(key, rel, Match::ByteExtract(m))?;
            }
            "bsize" => {
                let cmp = kw::parse_uint(need()?, key, u64::from(u32::MAX))?;
                if b.sticky.is_none() {
                    return Err(RuleError::invalid(key, "needs a sticky buffer before it"));
                }
                let list = b.target_list(false);
                b.push_match(list, Match::Bsize(cmp));
            }
            "base64_decode" => {
                let m = kw::base64_decode(o.value)?;
                let rel = m.relative;
                b.push_relative(key, rel, Match::Base64Decode(m))?;
            }
            "dsize" => rule
                .packet
                .push(PacketMatch::Dsize(kw::parse_uint(need()?, key, 65_535)?)),
            "ttl" => rule
                .packet
                .push(PacketMatch::Ttl(kw::parse_uint(need()?, key, 255)?)),
            "itype" => rule
                .packet
                .push(PacketMatch::Itype(kw::parse_uint(need()?, key, 255)?)),
            "icode" => rule
                .packet
                .push(PacketMatch::Icode(kw::parse_uint(need()?, key, 255)?)),
            "icmp_id" => rule
                .packet
                .push(PacketMatch::IcmpId(kw::parse_u16(need()?, key)?)),
            "icmp_seq" => rule
                .packet
                .push(PacketMatch::IcmpSeq(kw::parse_u16(need()?, key)?)),
            "id" => rule
                .packet
                .push(PacketMatch::Id(kw::parse_u16(need()?, key)?)),
            "ip_proto" => rule
                .packet
                .push(PacketMatch::IpProto(kw::ip_proto(need()?)?)),
            "flags" | "tcp.flags" => rule
                .packet
                .push(PacketMatch::Flags(kw::tcp_flags(need()?)?)),
            "ack" => {
                let n = kw::parse_u64(need()?, key, 0, u64::from(u32::MAX))?;
                let n = u32::try_from(n).map_err(|_| RuleError::invalid(key, "out of range"))?;
                rule.packet.push(PacketMatch::Ack(n));
            }
            "seq" => {
                let n = kw::parse_u64(need()?, key, 0, u64::from(u32::MAX))?;
                let n = u32::try_from(n).map_err(|_| RuleError::invalid(key, "out of range"))?;
                rule.packet.push(PacketMatch::Seq(n));
            }
            "fragbits" => rule.packet.push(kw::fragbits(need()?)?),
            "ipopts" => rule.packet.push(kw::ipopts(need()?)?),
            "tls.version" => rule.packet.push(kw::tls_version(need()?)?),
            "ssl_version" => rule.packet.push(kw::ssl_version(need()?)?),
            "window" => {
                let (negated, v) = kw::negatable(need()?);
                let value = kw::parse_u16(v, key)?;
                rule.packet.push(PacketMatch::Window { value, negated });
            }
            "tos" => {
                let (negated, v) = kw::negatable(need()?);
                let value = kw::parse_u64(v, key, 0, 255)?;
                let value =
                    u8::try_from(value).map_err(|_| RuleError::invalid(key, "out of range"))?;
                rule.packet.push(PacketMatch::Tos { value, negated });
            }
            "sameip" => {
                none()?;
                rule.packet.push(PacketMatch::SameIp);
            }
            "stream_size" => rule.packet.push(kw::stream_size(need()?)?),
            "urilen" => rule.packet.push(kw::urilen(need()?)?),
            "app-layer-event" => rule.packet.push(kw::app_layer_event(need()?)?),
            "xbits" => rule.xbits.push(kw::xbits(need()?)?),
            "flowint" => rule.flowints.push(kw::flowint(need()?)?),
            "app-layer-protocol" => rule.packet.push(kw::app_layer_protocol(need()?)?),
            "flow" => kw::flow(need()?, &mut rule.flow)?,
            "flowbits" => {
                let op = kw::flowbits(need()?)?;
                if op.cmd == super::rule::FlowbitCmd::NoAlert {
                    rule.noalert = true;
                }
                rule.flowbits.push(op);
            }
            "threshold" => {
                if rule.threshold.is_some() {
                    return Err(RuleError::invalid(key, "given twice"));
                }
                rule.threshold = Some(
                    super::threshold::parse_threshold_value(need()?)
                        .map_err(|r| RuleError::invalid(key, r))?,
                );
            }
            "detection_filter" => {
                if rule.detection_filter.is_some() {
                    return Err(RuleError::invalid(key, "given twice"));
                }
                rule.detection_filter = Some(
                    super::threshold::parse_detection_filter(need()?)
                        .map_err(|r| RuleError::invalid(key, r))?,
                );
            }
            "noalert" => {
                none()?;
                rule.noalert = true;
            }
            "tag" => rule
                .notes
                .push(format!("keyword 'tag' ignored ({})", o.value.unwrap_or(""))),
            "xor" => {
                let key_bytes = kw::xor_key(need()?)?;
                b.add_transform(key, Transform::Xor(key_bytes))?;
            }
            other => {
                if let Some(buf) = Buffer::from_sticky(other) {
                    none()?;
                    b.select_sticky(buf);
                } else if let Some(buf) = Buffer::from_legacy_modifier(other) {
                    none()?;
                    b.move_last_content(buf, other)?;
                } else if let Some(t) = Transform::from_keyword(other) {
                    none()?;
                    b.add_transform(other, t)?;
                } else {
                    return Err(RuleError::Unsupported(other.to_string()));
                }
            }
        }
    }

    rule.sid = sid.ok_or(RuleError::MissingSid)?;
    if let Some(p) = priority {
        rule.priority = p;
    }
    let (lists, fast_pattern) = b.finish()?;
    if let Proto::App(p) = rule.proto {
        for l in &lists {
            if let Some(q) = l.buffer.app_proto() {
                if !p.compatible_with(q) {
                    return Err(RuleError::invalid(
                        l.buffer.name(),
                        format!(
                            "{} buffer in a rule for protocol {}",
                            q.as_str(),
                            p.as_str()
                        ),
                    ));
                }
            }
        }
    }
    rule.lists = lists;
    rule.fast_pattern = fast_pattern;
    Ok(rule)
}

/// Buffers a pcre flag may name inside a sticky buffer of the other: the
/// HTTP response body is what `file.data` inspects for HTTP.
fn same_body(sticky: Buffer, flag: Buffer) -> bool {
    sticky == flag
        || matches!(
            (sticky, flag),
            (Buffer::HttpResponseBody, Buffer::FileData)
                | (Buffer::FileData, Buffer::HttpResponseBody)
        )
}

fn expr<T>(field: &'static str, text: &str, r: Result<T, ExprError>) -> Result<T, RuleError> {
    r.map_err(|error| RuleError::Expr {
        field,
        text: text.to_string(),
        error,
    })
}

/// The sticky buffer in effect.
#[derive(Debug)]
struct Sticky {
    buffer: Buffer,
    transforms: Vec<Transform>,
    /// The list once the first match arrived.
    list: Option<usize>,
}

/// Keyword-by-keyword state while compiling.
#[derive(Debug, Default)]
struct Builder {
    lists: Vec<BufferList>,
    sticky: Option<Sticky>,
    /// (list, index) of the last content.
    last_content: Option<(usize, usize)>,
    /// (list, index) of the last content or pcre.
    last_anchor: Option<(usize, usize)>,
    byte_vars: Vec<Box<str>>,
    fast_pattern_seen: bool,
}

impl Builder {
    fn list_for(&mut self, buffer: Buffer, transforms: &[Transform]) -> usize {
        if let Some(i) = self
            .lists
            .iter()
            .position(|l| l.buffer == buffer && l.transforms == transforms)
        {
            return i;
        }
        self.lists.push(BufferList {
            buffer,
            transforms: transforms.to_vec(),
            matches: Vec::new(),
        });
        self.lists.len() - 1
    }

    /// The list a new match goes to: the sticky buffer's; else, for a
    /// relative match, the list of the last content/pcre; else the payload.
    fn target_list(&mut self, relative: bool) -> usize {
        if let Some(s) = self.sticky.take() {
            let idx = match s.list {
                Some(i) => i,
                None => self.list_for(s.buffer, &s.transforms),
            };
            self.sticky = Some(Sticky {
                list: Some(idx),
                ..s
            });
            return idx;
        }
        if relative {
            if let Some((l, _)) = self.last_anchor {
                return l;
            }
        }
        self.list_for(Buffer::Payload, &[])
    }

    fn push_match(&mut self, list: usize, m: Match) {
        let anchor = m.is_anchor();
        let content = matches!(m, Match::Content(_));
        if let Some(l) = self.lists.get_mut(list) {
            l.matches.push(m);
            let at = (list, l.matches.len() - 1);
            if anchor {
                self.last_anchor = Some(at);
            }
            if content {
                self.last_content = Some(at);
            }
        }
    }

    fn push_content(&mut self, c: Content) {
        let list = self.target_list(false);
        self.push_match(list, Match::Content(c));
    }

    /// Pushes isdataat / byte_* / base64_decode. A relative one continues
    /// from the last cursor-setting step, or from the start of the sticky
    /// buffer in effect (as in Suricata); with neither it is an error.
    fn push_relative(&mut self, key: &str, relative: bool, m: Match) -> Result<(), RuleError> {
        if relative && self.last_anchor.is_none() && self.sticky.is_none() {
            return Err(RuleError::invalid(
                key,
                "relative without a preceding content, pcre or sticky buffer",
            ));
        }
        let list = self.target_list(relative);
        self.push_match(list, m);
        Ok(())
    }

    fn last_content(&mut self, key: &str) -> Result<&mut Content, RuleError> {
        let (l, i) = self
            .last_content
            .ok_or_else(|| RuleError::invalid(key, "needs a preceding content"))?;
        match self.lists.get_mut(l).and_then(|l| l.matches.get_mut(i)) {
            Some(Match::Content(c)) => Ok(c),
            _ => Err(RuleError::invalid(key, "needs a preceding content")),
        }
    }

    fn num(&self, v: &str, key: &str) -> Result<Num, RuleError> {
        kw::parse_num(v, key, &self.byte_vars)
    }

    fn select_sticky(&mut self, buffer: Buffer) {
        self.sticky = Some(Sticky {
            buffer,
            transforms: Vec::new(),
            list: None,
        });
    }

    fn add_transform(&mut self, key: &str, t: Transform) -> Result<(), RuleError> {
        match &mut self.sticky {
            None => Err(RuleError::invalid(
                key,
                "transform needs a sticky buffer before it",
            )),
            Some(s) if s.list.is_some() => Err(RuleError::invalid(
                key,
                "transforms must directly follow the sticky buffer",
            )),
            Some(s) => {
                s.transforms.push(t);
                Ok(())
            }
        }
    }

    /// A legacy content modifier: moves the last content (which must be the
    /// last match of the payload list) to `buffer`'s list.
    fn move_last_content(&mut self, buffer: Buffer, key: &str) -> Result<(), RuleError> {
        if self
            .sticky
            .as_ref()
            .is_some_and(|s| s.buffer != Buffer::Payload)
        {
            return Err(RuleError::invalid(
                key,
                "content modifier used after a sticky buffer",
            ));
        }
        let (l, i) = self
            .last_content
            .ok_or_else(|| RuleError::invalid(key, "needs a preceding content"))?;
        let from = self
            .lists
            .get_mut(l)
            .ok_or_else(|| RuleError::invalid(key, "needs a preceding content"))?;
        if from.buffer != Buffer::Payload || !from.transforms.is_empty() {
            return Err(RuleError::invalid(
                key,
                format!("content already applies to {}", from.buffer.name()),
            ));
        }
        if i + 1 != from.matches.len() {
            return Err(RuleError::invalid(key, "must directly follow its content"));
        }
        let Some(m) = from.matches.pop() else {
            return Err(RuleError::invalid(key, "needs a preceding content"));
        };
        let to = self.list_for(buffer, &[]);
        // The payload list may now be empty; it is dropped in finish().
        if self.last_anchor == Some((l, i)) {
            self.last_anchor = None;
        }
        self.push_match(to, m);
        Ok(())
    }

    /// Final checks; drops empty lists and picks the fast pattern.
    fn finish(self) -> Result<(Vec<BufferList>, Option<FastPatternRef>), RuleError> {
        let lists: Vec<BufferList> = self
            .lists
            .into_iter()
            .filter(|l| !l.matches.is_empty())
            .collect();
        for l in &lists {
            kw::check_list(l)?;
        }
        let mut explicit = None;
        let mut best: Option<(usize, FastPatternRef)> = None;
        for (li, l) in lists.iter().enumerate() {
            for (mi, m) in l.matches.iter().enumerate() {
                if let Match::Content(c) = m {
                    let at = FastPatternRef {
                        list: li,
                        index: mi,
                    };
                    if c.fast_pattern {
                        explicit = Some(at);
                    }
                    if !c.negated && best.is_none_or(|(len, _)| c.pattern.len() > len) {
                        best = Some((c.pattern.len(), at));
                    }
                }
            }
        }
        Ok((lists, explicit.or(best.map(|(_, at)| at))))
    }
}
