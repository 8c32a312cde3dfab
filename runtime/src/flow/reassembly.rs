//! Per-direction stream bookkeeping: which sequence ranges were seen, how far the
//! stream is contiguous, and which acknowledged bytes were never seen (content gaps).
//!
//! This tracks ranges only; the analyzer pipeline adds payload buffering on top.
//! The number of buffered ranges is bounded so a hostile peer cannot grow it.

use smallvec::SmallVec;

/// Out-of-order ranges kept at most; beyond this the lowest range is forgotten.
const MAX_RANGES: usize = 256;

#[derive(Debug, Clone)]
pub struct GapTracker {
    /// Next relative sequence number expected in order (1 = first byte after the SYN).
    last_reassem: u64,
    /// Everything below this was acknowledged and forgotten.
    trim_seq: u64,
    /// Sorted, disjoint [start, end) ranges received. An in-order stream has one, kept
    /// inline: a heap block would be one more cache miss on every segment.
    ranges: SmallVec<[(u64, u64); 1]>,
}

impl Default for GapTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl GapTracker {
    pub fn new() -> Self {
        GapTracker {
            last_reassem: 1,
            trim_seq: 0,
            ranges: SmallVec::new(),
        }
    }

    /// Next in-order sequence number.
    pub fn contiguous_up_to(&self) -> u64 {
        self.last_reassem
    }

    /// Data [seq, seq+len) was sent.
    pub fn new_block(&mut self, mut seq: u64, len: u64) {
        if len == 0 {
            return;
        }
        let upper = seq + len;
        if upper <= self.trim_seq {
            return;
        }
        if seq < self.trim_seq {
            seq = self.trim_seq;
        }
        // The common case, in-order data touching the one range that ends where the
        // stream is contiguous: what `insert` and `advance` would do, without the search
        // and the splice.
        if let [only] = self.ranges.as_mut_slice() {
            if only.1 == self.last_reassem && only.0 <= upper && seq <= only.1 {
                only.0 = only.0.min(seq);
                only.1 = only.1.max(upper);
                self.last_reassem = only.1;
                return;
            }
        }
        self.insert(seq, upper);
        self.advance();
    }

    fn insert(&mut self, s: u64, e: u64) {
        let i = self.ranges.partition_point(|r| r.1 < s);
        let mut j = i;
        let (mut ns, mut ne) = (s, e);
        while j < self.ranges.len() && self.ranges[j].0 <= e {
            ns = ns.min(self.ranges[j].0);
            ne = ne.max(self.ranges[j].1);
            j += 1;
        }
        if i == j {
            self.ranges.insert(i, (ns, ne));
        } else {
            self.ranges[i] = (ns, ne);
            self.ranges.drain(i + 1..j);
        }
        if self.ranges.len() > MAX_RANGES {
            self.ranges.remove(0);
        }
    }

    fn advance(&mut self) {
        for &(s, e) in &self.ranges {
            if s > self.last_reassem {
                break;
            }
            if e > self.last_reassem {
                self.last_reassem = e;
            }
        }
    }

    /// Forgets what is delivered (Zeek trims when acks are not being seen).
    pub fn trim_delivered(&mut self) {
        let to = self.last_reassem;
        self.trim(to);
    }

    fn trim(&mut self, seq: u64) {
        let k = self.ranges.partition_point(|r| r.1 <= seq);
        self.ranges.drain(..k);
        if seq > self.trim_seq {
            self.trim_seq = seq;
        }
    }

    /// The peer acknowledged up to `seq`. Returns (bytes never seen, number of gaps).
    /// `partial` suppresses the spurious gap of a connection picked up mid-stream
    /// whose first ack points one or two bytes past our faked initial sequence.
    pub fn trim_to(&mut self, seq: u64, partial: bool) -> (u64, u32) {
        if seq <= self.trim_seq {
            return (0, 0);
        }
        let mut missed = 0;
        let mut n = 0;
        if self.last_reassem < seq && !(seq <= 2 && partial) {
            for &(s, e) in &self.ranges {
                if e <= self.last_reassem {
                    continue;
                }
                if s >= seq {
                    break;
                }
                if s > self.last_reassem {
                    missed += s - self.last_reassem;
                    n += 1;
                }
                self.last_reassem = self.last_reassem.max(e);
            }
            if seq > self.last_reassem {
                missed += seq - self.last_reassem;
                n += 1;
                self.last_reassem = seq;
            }
        }
        self.trim(seq);
        (missed, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `new_block` without its in-order shortcut.
    fn new_block_general(g: &mut GapTracker, mut seq: u64, len: u64) {
        let upper = seq + len;
        if len == 0 || upper <= g.trim_seq {
            return;
        }
        seq = seq.max(g.trim_seq);
        g.insert(seq, upper);
        g.advance();
    }

    #[test]
    fn in_order_shortcut_changes_nothing() {
        // Mostly in-order segments with retransmissions, holes and acks, from a fixed
        // xorshift sequence; both trackers must agree at every step.
        let (mut fast, mut general) = (GapTracker::new(), GapTracker::new());
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = 1u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = x % 1500;
            let seq = match x % 16 {
                0 => next.saturating_sub(x % 3000).max(1), // retransmission
                1 => next + x % 4000,                      // hole before it
                _ => next,
            };
            fast.new_block(seq, len);
            new_block_general(&mut general, seq, len);
            next = next.max(seq + len);
            if x % 7 == 0 {
                let ack = next.saturating_sub(x % 2000);
                assert_eq!(fast.trim_to(ack, false), general.trim_to(ack, false));
            }
            assert_eq!(fast.contiguous_up_to(), general.contiguous_up_to());
            assert_eq!(fast.ranges, general.ranges);
        }
    }

    #[test]
    fn in_order_has_no_gap() {
        let mut g = GapTracker::new();
        g.new_block(1, 100);
        g.new_block(101, 50);
        assert_eq!(g.contiguous_up_to(), 151);
        assert_eq!(g.trim_to(151, false), (0, 0));
    }

    #[test]
    fn ack_beyond_seen_data_is_a_gap() {
        let mut g = GapTracker::new();
        g.new_block(1, 100);
        g.new_block(201, 100); // hole 101..201
        assert_eq!(g.contiguous_up_to(), 101);
        assert_eq!(g.trim_to(301, false), (100, 1));
        assert_eq!(g.contiguous_up_to(), 301);
        // acking past everything seen is another gap
        assert_eq!(g.trim_to(351, false), (50, 1));
    }

    #[test]
    fn out_of_order_filled_before_ack() {
        let mut g = GapTracker::new();
        g.new_block(101, 100);
        g.new_block(1, 100);
        assert_eq!(g.contiguous_up_to(), 201);
        assert_eq!(g.trim_to(201, false), (0, 0));
    }

    #[test]
    fn partial_first_ack_is_not_a_gap() {
        let mut g = GapTracker::new();
        assert_eq!(g.trim_to(2, true), (0, 0));
        assert_eq!(g.trim_to(2, false), (0, 0)); // already trimmed
    }

    #[test]
    fn retransmission_below_trim_is_ignored() {
        let mut g = GapTracker::new();
        g.new_block(1, 100);
        g.trim_to(101, false);
        g.new_block(1, 100);
        assert_eq!(g.contiguous_up_to(), 101);
    }

    #[test]
    fn ranges_are_bounded() {
        let mut g = GapTracker::new();
        for i in 0..(MAX_RANGES as u64 * 2) {
            g.new_block(1000 + i * 10, 5);
        }
        assert!(g.ranges.len() <= MAX_RANGES);
    }
}
