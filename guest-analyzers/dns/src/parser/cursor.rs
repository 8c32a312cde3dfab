//! A read position in one DNS message, with Zeek's lenient primitive reads.
//!
//! Zeek's `DNS_Interpreter` walks a message with a data pointer and the count of bytes left to
//! the end of the *message* (not of the current record). Its `ExtractShort`/`ExtractLong` return
//! 0 and consume nothing when too few bytes are left, and several RR parsers read past their
//! RDATA when it is shorter than they expect. `Cursor` keeps the same pair (message, position) so
//! that every parser here consumes exactly what Zeek's would, which decides which later records
//! are parsed, and so what ends up in dns.log. The fixed-width reads are nom parsers.

use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::IResult;

type NomResult<'a, T> = IResult<&'a [u8], T, nom::error::Error<&'a [u8]>>;

/// The message and the position of the next byte to read.
#[derive(Clone, Copy, Debug)]
pub struct Cursor<'a> {
    /// The whole message: compression offsets are relative to its start.
    pub msg: &'a [u8],
    /// The next byte to read; never beyond `msg.len()`.
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `msg`.
    pub fn new(msg: &'a [u8]) -> Self {
        Cursor { msg, pos: 0 }
    }

    /// The bytes left to the end of the message.
    pub fn rest(&self) -> &'a [u8] {
        self.msg.get(self.pos..).unwrap_or_default()
    }

    /// How many bytes are left (Zeek's `len`).
    pub fn len(&self) -> usize {
        self.msg.len().saturating_sub(self.pos)
    }

    /// Whether the message is exhausted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves to `pos`, clamped to the end of the message.
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.msg.len());
    }

    /// Skips up to `n` bytes.
    pub fn skip(&mut self, n: usize) {
        self.seek(self.pos.saturating_add(n));
    }

    /// Runs a nom parser on the rest of the message; on success moves past what it consumed.
    fn run<T>(&mut self, parser: impl Fn(&'a [u8]) -> NomResult<'a, T>) -> Option<T> {
        let (rest, value) = parser(self.rest()).ok()?;
        self.pos = self.msg.len() - rest.len();
        Some(value)
    }

    /// Zeek's `ExtractShort`: a big-endian u16, or 0 without consuming anything when fewer than
    /// two bytes are left.
    pub fn short(&mut self) -> u16 {
        self.run(be_u16).unwrap_or(0)
    }

    /// Zeek's `ExtractLong`: a big-endian u32, or 0 without consuming anything when fewer than
    /// four bytes are left.
    pub fn long(&mut self) -> u32 {
        self.run(be_u32).unwrap_or(0)
    }

    /// One byte, if any is left.
    pub fn byte(&mut self) -> Option<u8> {
        self.run(be_u8)
    }

    /// Zeek's `ExtractStream`: the next `n` bytes, fewer if the message ends first (a negative
    /// `n`, from RDATA lengths smaller than the fixed part, takes nothing).
    pub fn stream(&mut self, n: i64) -> &'a [u8] {
        let n = usize::try_from(n.max(0))
            .unwrap_or(usize::MAX)
            .min(self.len());
        let start = self.pos;
        self.skip(n);
        self.msg.get(start..self.pos).unwrap_or_default()
    }

    /// Zeek's `ExtractOctets`: a u16 length, then that many bytes (fewer if the message ends).
    pub fn octets(&mut self) -> &'a [u8] {
        let n = self.short();
        self.stream(i64::from(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_do_not_consume() {
        let mut c = Cursor::new(&[1, 2, 3]);
        assert_eq!(c.short(), 0x0102);
        assert_eq!(c.short(), 0, "one byte left: 0, nothing consumed");
        assert_eq!(c.pos, 2);
        assert_eq!(c.long(), 0);
        assert_eq!(c.byte(), Some(3));
        assert!(c.is_empty());
        assert_eq!(c.byte(), None);
    }

    #[test]
    fn stream_is_clamped() {
        let mut c = Cursor::new(&[1, 2, 3, 4]);
        assert_eq!(c.stream(-3), &[] as &[u8]);
        assert_eq!(c.stream(2), &[1, 2]);
        assert_eq!(c.stream(10), &[3, 4]);
        assert_eq!(c.octets(), &[] as &[u8]);
    }
}
