//! TCP stream reassembly: in-order bytes of one direction for the
//! application-layer parsers.
//!
//! In-order segments (nearly all of them) are handed on as they are, without
//! copying. Out-of-order segments are buffered, trimmed so that bytes
//! already received win over later copies (Suricata's documented default:
//! the first data seen for a sequence range is kept), and released when the
//! hole before them fills. Retransmissions and overlaps therefore never
//! reach a parser twice or garbled. A hole that does not fill (the capture
//! lost it) is skipped as a *gap* when the buffer reaches its cap, when the
//! peer acknowledges past it, or when the flow ends; parsers are told its
//! length. Memory is bounded per stream and per worker, and every cap hit is
//! counted.

use std::collections::BTreeMap;

/// Reassembly limits.
#[derive(Clone, Copy, Debug)]
pub struct StreamConfig {
    /// Most out-of-order bytes one direction of one flow may hold.
    pub per_stream_cap: usize,
    /// Most out-of-order bytes all streams of one worker may hold.
    pub global_cap: usize,
    /// Stop reassembling a direction after this many bytes (0: never);
    /// like Suricata's `stream.reassembly.depth`.
    pub depth: u64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            per_stream_cap: 256 * 1024,
            global_cap: 64 * 1024 * 1024,
            depth: 1024 * 1024,
        }
    }
}

/// Counters of reassembly events (per worker).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Segments delivered in order without buffering.
    pub in_order: u64,
    /// Segments buffered out of order.
    pub out_of_order: u64,
    /// Segments (or parts) dropped as already received (retransmissions,
    /// overlaps; first data wins).
    pub overlaps: u64,
    /// Gaps skipped.
    pub gaps: u64,
    /// Bytes skipped in gaps.
    pub gap_bytes: u64,
    /// Times a per-stream cap was hit.
    pub stream_cap_hits: u64,
    /// Times the global cap was hit.
    pub global_cap_hits: u64,
    /// Bytes not reassembled because a stream passed its depth.
    pub depth_skipped: u64,
}

/// What the reassembler hands to the parser.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// In-order bytes.
    Data(&'a [u8]),
    /// This many bytes are missing before the next data.
    Gap(u64),
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Stream {
    /// Next expected sequence number (valid once `started`).
    next: u32,
    started: bool,
    /// Bytes delivered (or skipped) so far: the relative offset of `next`.
    offset: u64,
    /// Out-of-order segments by relative offset.
    ooo: BTreeMap<u64, Vec<u8>>,
    buffered: usize,
    /// The FIN has been seen.
    pub fin: bool,
}

impl Stream {
    /// Bytes delivered or skipped so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes held out of order.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// A SYN fixes the initial sequence number.
    pub fn on_syn(&mut self, seq: u32) {
        if !self.started {
            self.next = seq.wrapping_add(1);
            self.started = true;
        }
    }

    /// Takes one segment's payload; calls `out` with what is now in order.
    /// `global` is the worker's count of buffered bytes across streams.
    pub fn on_segment(
        &mut self,
        seq: u32,
        payload: &[u8],
        cfg: &StreamConfig,
        global: &mut usize,
        stats: &mut StreamStats,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        if payload.is_empty() {
            return;
        }
        if !self.started {
            // picked up mid-stream: the first data seen starts the stream
            self.next = seq;
            self.started = true;
        }
        if cfg.depth > 0 && self.offset >= cfg.depth {
            stats.depth_skipped += payload.len() as u64;
            return;
        }
        let diff = seq.wrapping_sub(self.next) as i32 as i64;
        let rel = self.offset as i64 + diff;
        if rel < 0 {
            // entirely before the stream start (or absurd): drop
            stats.overlaps += 1;
            return;
        }
        let rel = rel as u64;
        let end = rel + payload.len() as u64;
        if end <= self.offset {
            stats.overlaps += 1;
            return;
        }
        if rel <= self.offset {
            // in order (possibly overlapping what was delivered: first wins)
            let skip = (self.offset - rel) as usize;
            if skip > 0 {
                stats.overlaps += 1;
            }
            let fresh = payload.get(skip..).unwrap_or(&[]);
            stats.in_order += 1;
            self.deliver(fresh, global, out);
            return;
        }
        self.buffer(rel, payload, cfg, global, stats);
        if self.buffered > cfg.per_stream_cap {
            stats.stream_cap_hits += 1;
            while self.buffered > cfg.per_stream_cap && !self.ooo.is_empty() {
                self.skip_to_buffered(global, stats, out);
            }
        }
        if *global > cfg.global_cap {
            stats.global_cap_hits += 1;
            // this stream gives up what it holds; others shrink when they
            // next receive data
            while *global > cfg.global_cap && !self.ooo.is_empty() {
                self.skip_to_buffered(global, stats, out);
            }
        }
    }

    /// The peer acknowledged up to `ack`: a hole before it will never be
    /// filled by the capture, so skip it.
    pub fn on_peer_ack(
        &mut self,
        ack: u32,
        global: &mut usize,
        stats: &mut StreamStats,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        if !self.started || self.ooo.is_empty() {
            return;
        }
        let diff = ack.wrapping_sub(self.next) as i32;
        if diff <= 0 {
            return;
        }
        let acked = self.offset + diff as u64;
        if let Some((&first, _)) = self.ooo.iter().next() {
            if acked >= first {
                self.skip_to_buffered(global, stats, out);
            }
        }
    }

    /// The flow ends: deliver whatever is buffered, gaps included.
    pub fn flush(
        &mut self,
        global: &mut usize,
        stats: &mut StreamStats,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        while !self.ooo.is_empty() {
            self.skip_to_buffered(global, stats, out);
        }
    }

    /// Releases the memory of a stream being dropped.
    pub fn release(&mut self, global: &mut usize) {
        *global = global.saturating_sub(self.buffered);
        self.buffered = 0;
        self.ooo.clear();
    }

    /// Delivers in-order bytes starting at the current offset. Bytes
    /// already held out of order for the same range were there first and
    /// win: the new data is cut around them.
    fn deliver(&mut self, data: &[u8], global: &mut usize, out: &mut dyn FnMut(Chunk<'_>)) {
        let start = self.offset;
        let end = start + data.len() as u64;
        while self.offset < end {
            let from = (self.offset - start) as usize;
            let rest = data.get(from..).unwrap_or(&[]);
            let limit = match self.ooo.keys().next() {
                Some(&k) if k < end => k.max(self.offset),
                _ => end,
            };
            let n = (limit - self.offset) as usize;
            if let Some(part) = rest.get(..n).filter(|p| !p.is_empty()) {
                out(Chunk::Data(part));
                self.advance(n as u64);
            }
            let before = self.offset;
            self.drain(global, out);
            if self.offset == before && n == 0 {
                break;
            }
        }
        self.drain(global, out);
    }

    fn advance(&mut self, n: u64) {
        self.offset += n;
        self.next = self.next.wrapping_add(n as u32);
    }

    /// Delivers buffered segments that are now in order.
    fn drain(&mut self, global: &mut usize, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(entry) = self.ooo.first_entry() {
            let start = *entry.key();
            if start > self.offset {
                break;
            }
            let seg = entry.remove();
            self.buffered -= seg.len();
            *global = global.saturating_sub(seg.len());
            let skip = (self.offset - start) as usize;
            if let Some(rest) = seg.get(skip..).filter(|r| !r.is_empty()) {
                out(Chunk::Data(rest));
                self.advance(rest.len() as u64);
            }
        }
    }

    /// Skips the hole before the first buffered segment and drains.
    fn skip_to_buffered(
        &mut self,
        global: &mut usize,
        stats: &mut StreamStats,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        if let Some((&first, _)) = self.ooo.iter().next() {
            if first > self.offset {
                let gap = first - self.offset;
                stats.gaps += 1;
                stats.gap_bytes += gap;
                out(Chunk::Gap(gap));
                self.advance(gap);
            }
            self.drain(global, out);
        }
    }

    /// Buffers an out-of-order segment, keeping bytes already held (first
    /// data wins): only the parts not covered by held segments are added.
    fn buffer(
        &mut self,
        rel: u64,
        payload: &[u8],
        cfg: &StreamConfig,
        global: &mut usize,
        stats: &mut StreamStats,
    ) {
        let end = rel + payload.len() as u64;
        // Covered ranges from held segments overlapping [rel, end).
        let mut covered: Vec<(u64, u64)> = Vec::new();
        if let Some((&s, v)) = self.ooo.range(..rel).next_back() {
            let e = s + v.len() as u64;
            if e > rel {
                covered.push((s, e));
            }
        }
        for (&s, v) in self.ooo.range(rel..end) {
            covered.push((s, s + v.len() as u64));
        }
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        let mut cur = rel;
        for (s, e) in covered {
            if s > cur {
                pieces.push((cur, s.min(end)));
            }
            cur = cur.max(e);
            if cur >= end {
                break;
            }
        }
        if cur < end {
            pieces.push((cur, end));
        }
        let total: u64 = pieces.iter().map(|(s, e)| e - s).sum();
        if total < payload.len() as u64 {
            stats.overlaps += 1;
        }
        if total == 0 {
            return;
        }
        stats.out_of_order += 1;
        let _ = cfg;
        for (s, e) in pieces {
            let from = (s - rel) as usize;
            let to = (e - rel) as usize;
            if let Some(bytes) = payload.get(from..to) {
                self.buffered += bytes.len();
                *global += bytes.len();
                self.ooo.insert(s, bytes.to_vec());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(
        stream: &mut Stream,
        segs: &[(u32, &[u8])],
        cfg: &StreamConfig,
    ) -> (Vec<u8>, u64, StreamStats) {
        let mut out = Vec::new();
        let mut gaps = 0;
        let mut global = 0usize;
        let mut stats = StreamStats::default();
        for (seq, p) in segs {
            stream.on_segment(*seq, p, cfg, &mut global, &mut stats, &mut |c| match c {
                Chunk::Data(d) => out.extend_from_slice(d),
                Chunk::Gap(n) => gaps += n,
            });
        }
        stream.flush(&mut global, &mut stats, &mut |c| match c {
            Chunk::Data(d) => out.extend_from_slice(d),
            Chunk::Gap(n) => gaps += n,
        });
        assert_eq!(global, 0, "all buffered memory released");
        (out, gaps, stats)
    }

    #[test]
    fn in_order_and_out_of_order() {
        let mut s = Stream::default();
        s.on_syn(999);
        let (out, gaps, st) = collect(
            &mut s,
            &[
                (1000, b"GET "),
                (1008, b"HTTP/1.1"),
                (1004, b"/ x "),
                (1004, b"/ x "),
            ],
            &StreamConfig::default(),
        );
        assert_eq!(out, b"GET / x HTTP/1.1");
        assert_eq!(gaps, 0);
        assert_eq!(st.out_of_order, 1);
        assert!(st.overlaps >= 1);
    }

    #[test]
    fn first_data_wins_on_overlap() {
        let mut s = Stream::default();
        s.on_syn(0);
        // "AAAA" at 5..9 arrives first, then "BBBBBBBB" at 3..11, then the start
        let (out, _, _) = collect(
            &mut s,
            &[(5, b"AAAA"), (3, b"BBBBBBBB"), (1, b"CC")],
            &StreamConfig::default(),
        );
        assert_eq!(out, b"CCBBAAAABB");
        // a retransmission with different bytes after delivery changes nothing
        let mut s = Stream::default();
        s.on_syn(0);
        let (out, _, _) = collect(
            &mut s,
            &[(1, b"hello"), (1, b"HELLO world")],
            &StreamConfig::default(),
        );
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn sequence_wraparound() {
        let mut s = Stream::default();
        s.on_syn(u32::MAX - 2);
        let (out, gaps, _) = collect(
            &mut s,
            &[(u32::MAX.wrapping_add(3), b"cd"), (u32::MAX - 1, b"ab")],
            &StreamConfig::default(),
        );
        // ab occupies MAX-1 and MAX; the next byte is at 0 (wrapped); cd is
        // at 2..4, so bytes 0 and 1 are a gap skipped at the flow's end
        assert_eq!(out, b"abcd");
        assert_eq!(gaps, 2);
        let mut s = Stream::default();
        s.on_syn(u32::MAX - 2);
        let (out, _, _) = collect(
            &mut s,
            &[(1, b"cd"), (u32::MAX - 1, b"ab\x00x")],
            &StreamConfig::default(),
        );
        // "cd" arrived first for offsets 3..5, so it wins over the "x"
        assert_eq!(out, b"ab\x00cd");
    }

    #[test]
    fn gap_on_cap_and_on_ack() {
        let cfg = StreamConfig {
            per_stream_cap: 10,
            ..Default::default()
        };
        let mut s = Stream::default();
        s.on_syn(0);
        let (out, gaps, st) = collect(
            &mut s,
            &[(1, b"ab"), (100, b"0123456789"), (110, b"XYZ")],
            &cfg,
        );
        assert_eq!(out, b"ab0123456789XYZ");
        assert_eq!(gaps, 97);
        assert_eq!(st.stream_cap_hits, 1);

        let mut s = Stream::default();
        s.on_syn(0);
        let mut global = 0;
        let mut stats = StreamStats::default();
        let mut got = Vec::new();
        s.on_segment(
            50,
            b"late",
            &StreamConfig::default(),
            &mut global,
            &mut stats,
            &mut |c| got.push(format!("{c:?}")),
        );
        assert!(got.is_empty());
        s.on_peer_ack(60, &mut global, &mut stats, &mut |c| {
            got.push(format!("{c:?}"))
        });
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(global, 0);
    }

    proptest! {
        /// Any arrival order, with duplicates, gives the original bytes
        /// exactly once, and memory stays within the caps.
        #[test]
        fn any_order_reassembles(data in proptest::collection::vec(any::<u8>(), 1..3000),
                                 cuts in proptest::collection::vec(1usize..200, 1..40),
                                 order in proptest::collection::vec(any::<u32>(), 1..80),
                                 isn in any::<u32>()) {
            let mut segs = Vec::new();
            let mut pos = 0usize;
            let mut i = 0;
            while pos < data.len() {
                let len = cuts[i % cuts.len()].min(data.len() - pos);
                segs.push((isn.wrapping_add(1).wrapping_add(pos as u32), data[pos..pos + len].to_vec()));
                pos += len;
                i += 1;
            }
            // shuffle deterministically and add duplicates
            let mut arrival: Vec<(u32, Vec<u8>)> = Vec::new();
            for (k, o) in order.iter().enumerate() {
                let idx = (*o as usize + k) % segs.len();
                arrival.push(segs[idx].clone());
            }
            arrival.extend(segs.iter().cloned());
            let cfg = StreamConfig { per_stream_cap: 1 << 20, global_cap: 1 << 20, depth: 0 };
            let mut s = Stream::default();
            s.on_syn(isn);
            let refs: Vec<(u32, &[u8])> = arrival.iter().map(|(q, p)| (*q, p.as_slice())).collect();
            let (out, gaps, _) = collect(&mut s, &refs, &cfg);
            prop_assert_eq!(gaps, 0);
            prop_assert_eq!(out, data);
        }
    }
}
