//! Zeek's connection history string.
//!
//! Upper case letters are the originator's, lower case the responder's. Most
//! letters are recorded once per direction (a bit in `seen`); c, g, t and w are
//! recorded on a log10 scale (the 1st, 10th, 100th, ... occurrence); '^' marks a
//! role flip; 'X' (once, for the connection rather than a direction) that an analyzer
//! reported a protocol violation and was removed.
//!
//! The letters are kept inline up to 16 of them, which nearly every connection's history
//! is: a `String` was an allocation for every connection and, on every packet that added a
//! letter, a cache line of its own beside the connection's.

use smallvec::SmallVec;

/// One bit per letter and direction for letters recorded once.
pub mod bits {
    pub const SYN: u32 = 1 << 0;
    pub const SYN_ACK: u32 = 1 << 1;
    pub const ACK: u32 = 1 << 2;
    pub const DATA: u32 = 1 << 3;
    pub const FIN: u32 = 1 << 4;
    pub const RST: u32 = 1 << 5;
    pub const FIN_RST: u32 = 1 << 6;
    pub const MULTI_FLAG: u32 = 1 << 7;
    /// 'X', for the connection rather than a direction.
    pub const VIOLATION: u32 = 1 << 8;
    /// The responder's bits are the originator's shifted by this much.
    pub const RESP_SHIFT: u32 = 16;
}

/// Counter for a letter recorded on a log10 scale.
#[derive(Debug, Clone, Copy)]
pub struct ScaledCounter {
    count: u32,
    threshold: u32,
}

impl Default for ScaledCounter {
    fn default() -> Self {
        ScaledCounter {
            count: 0,
            threshold: 1,
        }
    }
}

impl ScaledCounter {
    /// Counts one occurrence; true when it reaches the next power of ten.
    pub fn hit(&mut self) -> bool {
        self.count += 1;
        if self.count == self.threshold {
            self.threshold = self.threshold.saturating_mul(10);
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct History {
    /// ASCII letters only.
    letters: SmallVec<[u8; 16]>,
    seen: u32,
}

impl History {
    pub fn new() -> Self {
        History::default()
    }

    pub fn as_str(&self) -> &str {
        // Every letter pushed is ASCII, so this never falls back.
        std::str::from_utf8(&self.letters).unwrap_or_default()
    }

    /// Records `code` (given as the originator's letter) once per direction.
    /// Returns true if it was new.
    pub fn check(&mut self, is_orig: bool, mask: u32, code: u8) -> bool {
        let (mask, code) = if is_orig {
            (mask, code)
        } else {
            (mask << bits::RESP_SHIFT, code.to_ascii_lowercase())
        };
        if self.seen & mask != 0 {
            return false;
        }
        self.seen |= mask;
        self.letters.push(code);
        true
    }

    /// Appends a letter unconditionally (repeated S/H/F/R with a new sequence number).
    pub fn add(&mut self, is_orig: bool, code: u8) {
        let code = if is_orig {
            code
        } else {
            code.to_ascii_lowercase()
        };
        self.letters.push(code);
    }

    /// Records a log-scaled letter (C, G, T, W).
    pub fn scaled(&mut self, is_orig: bool, counter: &mut ScaledCounter, code: u8) {
        if counter.hit() {
            self.add(is_orig, code);
        }
    }

    /// Records 'X' (once): an analyzer reported a protocol violation and was removed.
    pub fn violation(&mut self) {
        self.check(true, bits::VIOLATION, b'X');
    }

    /// A flip decided on a later packet that rewrites what came before as if the roles had
    /// been right from the start: '^', then the letters so far with their case swapped (the
    /// other side sent them), their seen-bits moved to the other direction. Zeek's history of a
    /// connection flipped on the packet after its first SYN-ACK reads so ("^hADadFf").
    pub fn flip_from_start(&mut self) {
        let mut letters = SmallVec::with_capacity(self.letters.len() + 1);
        letters.push(b'^');
        letters.extend(self.letters.iter().map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        }));
        self.letters = letters;
        let per_side = (1 << bits::RESP_SHIFT) - 1;
        let (orig, resp) = (self.seen & per_side, self.seen >> bits::RESP_SHIFT);
        // 'X' belongs to the connection, not to a side.
        let conn = orig & bits::VIOLATION;
        self.seen = resp | conn | ((orig & !bits::VIOLATION) << bits::RESP_SHIFT);
    }

    /// Marks a role flip. Like Zeek, the seen-bits stay where they were: they
    /// belong to the direction, not to the host.
    pub fn flip(&mut self) {
        self.letters.push(b'^');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_direction_with_case() {
        let mut h = History::new();
        assert!(h.check(true, bits::SYN, b'S'));
        assert!(!h.check(true, bits::SYN, b'S'));
        assert!(h.check(false, bits::SYN_ACK, b'H'));
        assert!(h.check(true, bits::ACK, b'A'));
        assert!(h.check(false, bits::DATA, b'D'));
        assert!(h.check(true, bits::DATA, b'D'));
        assert_eq!(h.as_str(), "ShAdD");
    }

    #[test]
    fn a_violation_is_one_upper_case_x() {
        let mut h = History::new();
        h.check(true, bits::SYN, b'S');
        h.violation();
        h.check(false, bits::DATA, b'D');
        h.violation();
        assert_eq!(h.as_str(), "SXd");
    }

    #[test]
    fn a_flip_from_the_start_swaps_what_came_before() {
        let mut h = History::new();
        h.check(true, bits::SYN_ACK, b'H');
        h.flip_from_start();
        assert_eq!(h.as_str(), "^h");
        // The SYN-ACK is now the responder's: the originator's ACK is new, the responder's
        // SYN-ACK is not.
        assert!(h.check(true, bits::ACK, b'A'));
        assert!(!h.check(false, bits::SYN_ACK, b'H'));
        assert!(h.check(true, bits::SYN_ACK, b'H'));
        assert_eq!(h.as_str(), "^hAH");
    }

    #[test]
    fn log10_scale() {
        let mut h = History::new();
        let mut c = ScaledCounter::default();
        for _ in 0..150 {
            h.scaled(false, &mut c, b'T');
        }
        assert_eq!(h.as_str(), "ttt");
        let mut h = History::new();
        let mut c = ScaledCounter::default();
        for _ in 0..9 {
            h.scaled(true, &mut c, b'C');
        }
        assert_eq!(h.as_str(), "C");
    }

    #[test]
    fn long_histories_spill_intact() {
        let mut h = History::new();
        let letters = b"SADFRSADFRSADFRSADFRSADFR";
        for &c in letters {
            h.add(true, c);
        }
        h.flip_from_start();
        assert_eq!(h.as_str(), "^sadfrsadfrsadfrsadfrsadfr");
        assert_eq!(std::mem::size_of::<History>(), 32);
    }

    #[test]
    fn flip_marks_and_swaps() {
        let mut h = History::new();
        h.check(true, bits::SYN_ACK, b'H');
        h.flip();
        assert_eq!(h.as_str(), "H^");
        assert!(!h.check(true, bits::SYN_ACK, b'H'));
        assert!(h.check(false, bits::SYN_ACK, b'H'));
        assert_eq!(h.as_str(), "H^h");
    }
}
