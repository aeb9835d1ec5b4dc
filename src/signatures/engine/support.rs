//! What the engine can run: a compiled [`Rule`] is checked once, when it
//! is loaded, so that a rule the engine cannot evaluate is rejected by the
//! loader with the keyword responsible (and counted by `check --json`)
//! instead of being loaded and silently never matching.

use super::apptx::{self, AppKind};
use crate::signatures::buffer::Buffer;
use crate::signatures::header::Proto;
use crate::signatures::rule::{Match, PacketMatch, Rule, XbitTrack};

/// Why the engine cannot run a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("keyword '{keyword}' is not run by the engine: {reason}")]
pub struct NotRun {
    /// The keyword (or buffer) responsible.
    pub keyword: String,
    /// What is missing.
    pub reason: String,
}

fn not_run(keyword: &str, reason: &str) -> NotRun {
    NotRun {
        keyword: keyword.to_string(),
        reason: reason.to_string(),
    }
}

/// The packet keyword's name, for rejections.
fn packet_keyword(p: &PacketMatch) -> &'static str {
    match p {
        PacketMatch::Dsize(_) => "dsize",
        PacketMatch::Ttl(_) => "ttl",
        PacketMatch::Itype(_) => "itype",
        PacketMatch::Icode(_) => "icode",
        PacketMatch::IcmpId(_) => "icmp_id",
        PacketMatch::IcmpSeq(_) => "icmp_seq",
        PacketMatch::IpProto(_) => "ip_proto",
        PacketMatch::Flags(_) => "flags",
        PacketMatch::Window { .. } => "window",
        PacketMatch::SameIp => "sameip",
        PacketMatch::Id(_) => "id",
        PacketMatch::Tos { .. } => "tos",
        PacketMatch::StreamSize { .. } => "stream_size",
        PacketMatch::Urilen { .. } => "urilen",
        PacketMatch::Ack(_) => "ack",
        PacketMatch::Seq(_) => "seq",
        PacketMatch::FragBits { .. } => "fragbits",
        PacketMatch::IpOpts(_) => "ipopts",
        PacketMatch::TlsVersion(_) => "tls.version",
        PacketMatch::SslVersion { .. } => "ssl_version",
        PacketMatch::AppLayerEvent { .. } => "app-layer-event",
        PacketMatch::AppLayerProtocol { .. } => "app-layer-protocol",
    }
}

/// Checks that the engine can evaluate `r`; returns the application whose
/// transactions it inspects (None: packets) and whether it inspects the
/// response side.
pub fn check(r: &Rule) -> Result<(Option<AppKind>, bool), NotRun> {
    if r.xbits.iter().any(|x| x.track == XbitTrack::Tx) {
        return Err(not_run("xbits", "'track tx' is not supported"));
    }
    let mut app: Option<AppKind> = None;
    let mut to_client = false;
    let mut has_b64_data = false;
    let mut has_b64_decode = false;
    for l in &r.lists {
        for m in &l.matches {
            if matches!(m, Match::Base64Decode(_)) {
                has_b64_decode = true;
            }
        }
        if l.buffer == Buffer::Payload {
            continue;
        }
        if l.buffer == Buffer::Base64Data {
            has_b64_data = true;
            continue;
        }
        let (k, tc) = apptx::buffer_kind(l.buffer, r.flow.dir)
            .ok_or_else(|| not_run(l.buffer.name(), "buffer not filled by the parsers"))?;
        if app.is_some_and(|a| a != k) {
            return Err(not_run(
                l.buffer.name(),
                "buffers of two application protocols",
            ));
        }
        app = Some(k);
        to_client |= tc;
    }
    if has_b64_data && !has_b64_decode {
        return Err(not_run("base64_data", "no base64_decode before it"));
    }
    // `urilen` alone makes an HTTP rule.
    if app.is_none()
        && r.packet
            .iter()
            .any(|p| matches!(p, PacketMatch::Urilen { .. }))
    {
        app = Some(AppKind::Http);
    }
    // Payload content next to application buffers is inspected on the
    // datagram that carried the transaction (UDP); on TCP such a rule
    // never matches (no stream inspection yet).
    for p in &r.packet {
        let ok = match p {
            PacketMatch::Urilen { .. } => app == Some(AppKind::Http),
            PacketMatch::AppLayerProtocol { .. } => true,
            PacketMatch::StreamSize { .. } => app.is_none(),
            PacketMatch::FragBits { .. }
            | PacketMatch::IpOpts(_)
            | PacketMatch::TlsVersion(_)
            | PacketMatch::SslVersion { .. }
            | PacketMatch::AppLayerEvent { .. } => false,
            _ => app.is_none(),
        };
        if !ok {
            let why = if app.is_some() {
                "packet keyword in a rule on application buffers"
            } else {
                "not evaluated by the engine"
            };
            return Err(not_run(packet_keyword(p), why));
        }
    }
    if let Proto::App(p) = r.proto {
        if let Some(k) = app {
            if !k.matches_name(super::app_name(p)) {
                let buf = r
                    .lists
                    .iter()
                    .map(|l| l.buffer)
                    .find(|b| !matches!(b, Buffer::Payload | Buffer::Base64Data))
                    .map_or("<buffer>", Buffer::name);
                return Err(NotRun {
                    keyword: buf.to_string(),
                    reason: format!(
                        "filled from {k:?} transactions only, not in a rule for protocol {}",
                        p.as_str()
                    ),
                });
            }
        }
    }
    Ok((app, to_client))
}

/// The prefilter pattern for a content of a list with `transforms`: the
/// prefilter scans the buffer before its transforms, so only patterns
/// that must then appear in it qualify. Case transforms are harmless (the
/// prefilter ignores case); `dotprefix` adds one leading `.`, dropped from
/// the pattern. Other transforms: None (the rule is always a candidate).
pub fn untransformed_pattern(
    transforms: &[crate::signatures::buffer::Transform],
    mut p: Vec<u8>,
) -> Option<Vec<u8>> {
    use crate::signatures::buffer::Transform as T;
    let mut dots = 0;
    for t in transforms {
        match t {
            T::ToLowercase | T::ToUppercase => {}
            T::DotPrefix => dots += 1,
            _ => return None,
        }
    }
    for _ in 0..dots {
        if p.first() == Some(&b'.') {
            p.remove(0);
        }
    }
    (!p.is_empty()).then_some(p)
}

/// The prefilter pattern of `r` and the buffer it is scanned in: the
/// rule's fast pattern when the prefilter can use it, else the longest
/// positive content that it can (not in `base64_data`, whose bytes exist
/// only during inspection, nor behind a transform that changes them).
/// None: the rule is a candidate for every packet or transaction.
pub fn prefilter_pattern(r: &Rule) -> Option<(Buffer, Vec<u8>)> {
    let usable = |l: &crate::signatures::rule::BufferList,
                  c: &crate::signatures::rule::Content|
     -> Option<(Buffer, Vec<u8>)> {
        if c.negated || l.buffer == Buffer::Base64Data {
            return None;
        }
        let p = match c.fast_pattern_chop {
            Some((off, len)) => c
                .pattern
                .get(usize::from(off)..usize::from(off) + usize::from(len))?
                .to_vec(),
            None => c.pattern.to_vec(),
        };
        Some((l.buffer, untransformed_pattern(&l.transforms, p)?))
    };
    if let Some(fp) = r.fast_pattern_content().and_then(|(l, c)| usable(l, c)) {
        return Some(fp);
    }
    let mut best: Option<(Buffer, Vec<u8>)> = None;
    for l in &r.lists {
        for m in &l.matches {
            if let Match::Content(c) = m {
                if let Some(cand) = usable(l, c) {
                    if best.as_ref().is_none_or(|b| cand.1.len() > b.1.len()) {
                        best = Some(cand);
                    }
                }
            }
        }
    }
    best
}
