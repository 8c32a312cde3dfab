//! Payload reassembly of one TCP direction for the protocol analyzers.
//!
//! Conn.log accounting ([`super::reassembly::GapTracker`]) only tracks sequence ranges; this
//! keeps the bytes. In-order data is appended to `ready` as it arrives; segments beyond a hole
//! wait in a bounded out-of-order buffer until the hole is filled, until the peer acknowledges
//! past it (the bytes were sent but we never saw them: a content gap, as Zeek reports), or until
//! the buffer is full. Gaps are recorded as markers at their position in `ready`, so the
//! consumer sees data and gaps in stream order when it drains `ready`.
//!
//! Retransmissions are resolved as Zeek does: the bytes seen first win. Delivered bytes are kept
//! until acknowledged (up to [`RETAIN_MAX`]) so that a retransmission carrying different bytes
//! for the same sequence range is noticed (Zeek's `rexmit_inconsistency`).

use std::collections::{BTreeMap, VecDeque};

/// Out-of-order bytes buffered per direction at most; beyond it the oldest hole becomes a gap.
pub const OOO_MAX: usize = 1 << 20;
/// Delivered but unacknowledged bytes kept for the retransmission check.
pub const RETAIN_MAX: usize = 64 << 10;

/// One direction's stream.
#[derive(Debug, Default)]
pub struct StreamReassembler {
    /// Next sequence number to deliver; `None` until the first data (or the SYN) fixes it.
    next: Option<u64>,
    /// Segments beyond a hole, by starting sequence number; disjoint.
    ooo: BTreeMap<u64, Vec<u8>>,
    ooo_bytes: usize,
    /// The last delivered bytes, ending at `next`, for the retransmission check.
    retained: VecDeque<u8>,
    /// In-order bytes not yet handed to the analyzers.
    pub ready: Vec<u8>,
    /// Content gaps in `ready`: (offset in `ready` where the gap is, gap length).
    pub gaps: Vec<(usize, u64)>,
    /// Whether a retransmission differed from what was delivered (reported once).
    pub inconsistent: bool,
    /// Whether the direction ended (FIN or RST).
    pub ended: bool,
}

impl StreamReassembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// The stream starts at `seq` (the byte after the SYN), if not started yet.
    pub fn start_at(&mut self, seq: u64) {
        if self.next.is_none() {
            self.next = Some(seq);
        }
    }

    /// The stream continues at `seq` (the bytes before it were handed over another way),
    /// unless data was already taken in.
    pub fn resume_at(&mut self, seq: u64) {
        if self.ready.is_empty() && self.ooo.is_empty() && self.retained.is_empty() {
            self.next = Some(seq);
        }
    }

    /// Whether anything is waiting for the consumer.
    pub fn has_output(&self) -> bool {
        !self.ready.is_empty() || !self.gaps.is_empty()
    }

    /// Bytes held (out-of-order, retained and ready): what the connection costs in memory.
    pub fn buffered(&self) -> usize {
        self.ooo_bytes + self.retained.len() + self.ready.len()
    }

    /// A segment's payload at relative sequence number `seq`.
    pub fn data(&mut self, seq: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let next = *self.next.get_or_insert(seq);
        let end = seq + bytes.len() as u64;
        if end <= next {
            self.check_retransmission(seq, bytes);
            return;
        }
        let (seq, bytes) = if seq < next {
            let old = (next - seq) as usize;
            self.check_retransmission(seq, &bytes[..old]);
            (next, &bytes[old..])
        } else {
            (seq, bytes)
        };
        if seq == next {
            self.deliver(bytes);
            self.drain_ooo();
        } else {
            self.buffer(seq, bytes);
        }
    }

    /// The peer acknowledged everything below `ack`: a hole below it will never be filled.
    pub fn ack(&mut self, ack: u64) {
        let Some(next) = self.next else { return };
        // Delivered bytes below the ack can no longer be retransmitted.
        let keep = next.saturating_sub(ack) as usize;
        // One drain, not a pop per byte: an ack often releases a whole segment's worth.
        let release = self.retained.len().saturating_sub(keep);
        self.retained.drain(..release);
        while let Some(next) = self.next.filter(|n| *n < ack) {
            let hole_end = self.ooo.keys().next().map_or(ack, |s| (*s).min(ack));
            if hole_end <= next {
                break;
            }
            self.gap(hole_end - next);
            self.drain_ooo();
        }
    }

    /// The direction is over (or the connection ends): what is buffered is delivered with the
    /// holes before it as gaps.
    pub fn flush_all(&mut self) {
        while let Some((&s, _)) = self.ooo.iter().next() {
            let next = self.next.unwrap_or(s);
            if s > next {
                self.gap(s - next);
            }
            self.drain_ooo();
        }
    }

    /// Memory pressure: delivers what waits behind holes (the holes become gaps) and stops
    /// keeping delivered bytes for the retransmission check.
    pub fn shed(&mut self) {
        self.flush_all();
        self.retained = VecDeque::new();
    }

    /// The sender's FIN says its data ends before `end`: what is missing before it is a gap.
    pub fn end_at(&mut self, end: u64) {
        self.flush_all();
        if let Some(next) = self.next.filter(|n| *n < end) {
            // A FIN far beyond anything seen is not believable (a broken or hostile peer).
            if end - next <= u32::MAX as u64 {
                self.gap(end - next);
            }
        }
    }

    fn gap(&mut self, len: u64) {
        self.gaps.push((self.ready.len(), len));
        if let Some(n) = self.next.as_mut() {
            *n += len;
        }
        self.retained.clear();
    }

    fn deliver(&mut self, bytes: &[u8]) {
        self.ready.extend_from_slice(bytes);
        if let Some(n) = self.next.as_mut() {
            *n += bytes.len() as u64;
        }
        let take = bytes.len().min(RETAIN_MAX);
        let over = (self.retained.len() + take).saturating_sub(RETAIN_MAX);
        self.retained.drain(..over);
        self.retained.extend(&bytes[bytes.len() - take..]);
    }

    /// Delivers buffered segments that have become contiguous.
    fn drain_ooo(&mut self) {
        while let Some(next) = self.next {
            let Some((&s, _)) = self.ooo.iter().next() else {
                return;
            };
            if s > next {
                return;
            }
            let seg = self.ooo.remove(&s).unwrap_or_default();
            self.ooo_bytes -= seg.len();
            let end = s + seg.len() as u64;
            if end > next {
                let skip = (next - s) as usize;
                self.deliver(&seg[skip..]);
            }
        }
    }

    /// Keeps a segment beyond a hole; bytes already buffered for the same range win.
    fn buffer(&mut self, seq: u64, bytes: &[u8]) {
        let mut start = seq;
        let end = seq + bytes.len() as u64;
        // Pieces of [start, end) not covered by existing segments are inserted.
        let overlapping: Vec<(u64, u64)> = self
            .ooo
            .range(..end)
            .map(|(s, b)| (*s, *s + b.len() as u64))
            .filter(|(_, e)| *e > seq)
            .collect();
        for (s, e) in overlapping {
            // Compare the overlap with what is buffered.
            let (lo, hi) = (s.max(seq), e.min(end));
            if let Some(old) = self.ooo.get(&s) {
                let a = &old[(lo - s) as usize..(hi - s) as usize];
                let b = &bytes[(lo - seq) as usize..(hi - seq) as usize];
                if a != b {
                    self.inconsistent = true;
                }
            }
            if s > start {
                self.insert(start, &bytes[(start - seq) as usize..(s - seq) as usize]);
            }
            start = start.max(e);
        }
        if start < end {
            self.insert(start, &bytes[(start - seq) as usize..]);
        }
        // Too much waiting behind a hole: give up on the hole.
        while self.ooo_bytes > OOO_MAX {
            let Some((&s, _)) = self.ooo.iter().next() else {
                break;
            };
            if let Some(next) = self.next {
                if s > next {
                    self.gap(s - next);
                }
            }
            self.drain_ooo();
        }
    }

    fn insert(&mut self, seq: u64, bytes: &[u8]) {
        self.ooo_bytes += bytes.len();
        self.ooo.insert(seq, bytes.to_vec());
    }

    /// `bytes` at `seq` lie before `next`: compare them with what was delivered.
    fn check_retransmission(&mut self, seq: u64, bytes: &[u8]) {
        let Some(next) = self.next else { return };
        let kept_from = next - self.retained.len() as u64;
        let lo = seq.max(kept_from);
        let hi = (seq + bytes.len() as u64).min(next);
        if lo >= hi {
            return;
        }
        let old = self
            .retained
            .range((lo - kept_from) as usize..(hi - kept_from) as usize);
        let new = &bytes[(lo - seq) as usize..(hi - seq) as usize];
        if !old.eq(new.iter()) {
            self.inconsistent = true;
        }
    }

    /// Hands the ready bytes and gaps, in order, to `f`, and clears them.
    pub fn drain(&mut self, mut f: impl FnMut(Piece<'_>)) {
        let mut at = 0;
        for &(pos, len) in &self.gaps {
            if pos > at {
                f(Piece::Data(&self.ready[at..pos]));
            }
            f(Piece::Gap(len));
            at = pos;
        }
        if at < self.ready.len() {
            f(Piece::Data(&self.ready[at..]));
        }
        self.ready.clear();
        self.gaps.clear();
    }
}

/// What the consumer of a stream receives, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Data(&'a [u8]),
    Gap(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream as the consumer sees it: data bytes, and `[gap N]` markers.
    fn out(r: &mut StreamReassembler) -> String {
        let mut s = String::new();
        r.drain(|p| match p {
            Piece::Data(d) => s.push_str(std::str::from_utf8(d).unwrap()),
            Piece::Gap(n) => s.push_str(&format!("[gap {n}]")),
        });
        s
    }

    #[test]
    fn in_order_segments_are_concatenated() {
        let mut r = StreamReassembler::new();
        r.start_at(1);
        r.data(1, b"GET / ");
        r.data(7, b"HTTP/1.1\r\n");
        assert_eq!(out(&mut r), "GET / HTTP/1.1\r\n");
        assert!(!r.inconsistent);
    }

    #[test]
    fn out_of_order_waits_for_the_hole() {
        let mut r = StreamReassembler::new();
        r.start_at(1);
        r.data(6, b"world");
        assert_eq!(out(&mut r), "");
        r.data(1, b"hello");
        assert_eq!(out(&mut r), "helloworld");
    }

    #[test]
    fn ack_past_a_hole_is_a_gap() {
        let mut r = StreamReassembler::new();
        r.start_at(1);
        r.data(1, b"abc");
        r.data(10, b"xyz");
        assert_eq!(out(&mut r), "abc");
        r.ack(13);
        assert_eq!(out(&mut r), "[gap 6]xyz");
        // Acking past everything seen: a gap at the end.
        r.ack(20);
        assert_eq!(out(&mut r), "[gap 7]");
        r.data(20, b"more");
        assert_eq!(out(&mut r), "more");
    }

    #[test]
    fn identical_retransmission_is_ignored() {
        let mut r = StreamReassembler::new();
        r.start_at(1);
        r.data(1, b"abcdef");
        r.data(1, b"abcdef");
        r.data(4, b"defgh");
        assert_eq!(out(&mut r), "abcdefgh");
        assert!(!r.inconsistent);
    }

    #[test]
    fn differing_retransmission_is_inconsistent_and_first_bytes_win() {
        let mut r = StreamReassembler::new();
        r.start_at(1);
        r.data(1, b"abcdef");
        r.data(3, b"XY");
        assert!(r.inconsistent);
        assert_eq!(out(&mut r), "abcdef");
    }

    #[test]
    fn overlapping_out_of_order_segments() {
        let mut r = StreamReassembler::new();
        r.start_at(1);
        r.data(5, b"efgh");
        r.data(7, b"ghij"); // overlaps "gh", same bytes
        assert!(!r.inconsistent);
        r.data(6, b"FG"); // differs from buffered "fg"
        assert!(r.inconsistent);
        r.data(1, b"abcd");
        assert_eq!(out(&mut r), "abcdefghij");
    }

    #[test]
    fn flush_all_delivers_past_holes() {
        let mut r = StreamReassembler::new();
        r.start_at(1);
        r.data(1, b"ab");
        r.data(5, b"ef");
        r.data(9, b"ij");
        r.flush_all();
        assert_eq!(out(&mut r), "ab[gap 2]ef[gap 2]ij");
    }

    #[test]
    fn data_missing_before_the_fin_is_a_gap() {
        let mut r = StreamReassembler::new();
        r.start_at(1);
        r.data(1, b"abc");
        r.data(8, b"hi");
        r.end_at(12);
        assert_eq!(out(&mut r), "abc[gap 4]hi[gap 2]");
        r.end_at(12);
        assert_eq!(out(&mut r), "");
    }

    #[test]
    fn mid_stream_pickup_starts_at_first_data() {
        let mut r = StreamReassembler::new();
        r.data(5000, b"partial");
        r.data(5007, b" stream");
        assert_eq!(out(&mut r), "partial stream");
    }

    #[test]
    fn out_of_order_memory_is_bounded() {
        let mut r = StreamReassembler::new();
        r.start_at(1);
        let seg = vec![b'x'; 1000];
        for i in 0..(OOO_MAX / 1000 + 10) as u64 {
            r.data(100 + i * 1000, &seg);
        }
        assert!(r.buffered() <= OOO_MAX + RETAIN_MAX + 2 * OOO_MAX);
        assert!(r.ooo_bytes <= OOO_MAX);
        let mut gaps = 0;
        r.drain(|p| {
            if let Piece::Gap(n) = p {
                assert_eq!(n, 99);
                gaps += 1;
            }
        });
        assert_eq!(gaps, 1);
    }

    #[test]
    fn shedding_turns_holes_into_gaps_and_frees_memory() {
        let mut r = StreamReassembler::new();
        r.start_at(1);
        r.data(1, b"abc");
        r.data(10, b"xyz");
        assert_eq!(r.buffered(), 9); // 3 retained + 3 ready + 3 out of order
        r.shed();
        assert_eq!(out(&mut r), "abc[gap 6]xyz");
        assert_eq!(r.buffered(), 0);
        r.data(13, b"next");
        assert_eq!(out(&mut r), "next");
    }

    /// xorshift64*: a deterministic pseudo-random sequence without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// What the consumer received: bytes, with a gap's length filled by zero bytes.
    fn received(r: &mut StreamReassembler, into: &mut Vec<u8>, gaps: &mut u64) {
        r.drain(|p| match p {
            Piece::Data(d) => into.extend_from_slice(d),
            Piece::Gap(n) => {
                *gaps += n;
                into.extend(std::iter::repeat_n(0, n as usize));
            }
        });
    }

    #[test]
    fn shuffled_duplicated_and_dropped_segments_give_back_the_stream() {
        for seed in 1..200u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let len = 1 + rng.below(20_000) as usize;
            let stream: Vec<u8> = (0..len).map(|_| 1 + rng.below(255) as u8).collect();
            // Cut into segments; some are dropped, all are shuffled locally and some repeated.
            let mut segs = Vec::new();
            let mut at = 0;
            while at < len {
                let n = (1 + rng.below(1500) as usize).min(len - at);
                segs.push((at, n));
                at += n;
            }
            let drop_some = seed % 3 == 0;
            let mut sent: Vec<(usize, usize)> = segs
                .iter()
                .copied()
                .filter(|_| !(drop_some && rng.below(10) == 0))
                .collect();
            for i in 0..sent.len() {
                let j = (i + rng.below(4) as usize).min(sent.len() - 1);
                sent.swap(i, j);
            }
            for i in 0..sent.len() / 5 {
                let dup = sent[rng.below(sent.len() as u64) as usize];
                sent.insert((i * 5).min(sent.len()), dup);
            }
            let mut r = StreamReassembler::new();
            r.start_at(1);
            let (mut got, mut gaps) = (Vec::new(), 0);
            for (off, n) in &sent {
                r.data(1 + *off as u64, &stream[*off..off + n]);
                if rng.below(8) == 0 {
                    received(&mut r, &mut got, &mut gaps);
                }
            }
            // The receiver acknowledges everything: what was never seen becomes gaps.
            r.ack(1 + len as u64);
            r.flush_all();
            received(&mut r, &mut got, &mut gaps);
            assert!(!r.inconsistent, "seed {seed}: identical retransmissions");
            assert_eq!(got.len(), len, "seed {seed}: every byte delivered or a gap");
            let mut missing = 0;
            for (off, n) in &segs {
                if sent.contains(&(*off, *n)) {
                    assert_eq!(&got[*off..off + n], &stream[*off..off + n], "seed {seed}");
                } else {
                    missing += *n as u64;
                }
            }
            assert_eq!(
                gaps, missing,
                "seed {seed}: gaps are exactly the dropped bytes"
            );
        }
    }

    #[test]
    fn retained_bytes_are_trimmed_by_acks() {
        let mut r = StreamReassembler::new();
        r.start_at(1);
        r.data(1, b"0123456789");
        r.ack(6);
        assert_eq!(r.retained.len(), 5);
        // A retransmission of acked bytes cannot be checked any more, and is ignored.
        r.data(1, b"XXXXX");
        assert!(!r.inconsistent);
    }
}
