//! The packed encoding of Sandpiper's flat value model (`wit/types.wit`, `packed-rows`).
//!
//! A log writer gets its rows as one byte list instead of a `list<list<value>>`: lowering a
//! list of variants costs the host an allocation per string and the guest an allocation per
//! string and per row, which made a writer component cost more than the formatting it does.
//! With this encoding the host appends each row to one reused buffer and the guest reads the
//! values in place ([`ValueRef`] borrows its strings from the bytes), so a batch of rows is
//! one copy into the guest and no allocation on either side.
//!
//! The host encodes with [`Encoder`]; a writer decodes with [`Rows`]. The format (all integers
//! little-endian):
//!
//! ```text
//! bytes  = row*                          exactly `count` rows
//! row    = n:u32 value{n}                n flat values (a container is its header + elements)
//! value  = tag:u8 payload
//!   0 unset        -
//!   1 boolean      u8 (0 or 1)
//!   2 count        u64
//!   3 integer      i64
//!   4 double       f64
//!   5 time         f64, seconds since the epoch
//!   6 interval     f64, seconds
//!   7 str          len:u32, len bytes of UTF-8
//!   8 addr         addr
//!   9 port         number:u16, transport:u8 (0 tcp, 1 udp, 2 icmp, 3 unknown)
//!  10 subnet       addr, prefix-len:u8
//!  11 enumeration  len:u32, len bytes of UTF-8
//!  12 set-of       n:u32 (the next n values of the row are its elements)
//!  13 vector-of    n:u32
//! addr   = 4:u8 4 bytes | 6:u8 16 bytes  (network order)
//! ```
//!
//! Decoding never panics: a cut or malformed batch gives an [`Error`] saying where.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A port's transport, in the order of WIT's `transport` enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
    Icmp,
    Unknown,
}

impl Transport {
    fn code(self) -> u8 {
        match self {
            Transport::Tcp => 0,
            Transport::Udp => 1,
            Transport::Icmp => 2,
            Transport::Unknown => 3,
        }
    }

    fn from_code(c: u8) -> Option<Transport> {
        Some(match c {
            0 => Transport::Tcp,
            1 => Transport::Udp,
            2 => Transport::Icmp,
            3 => Transport::Unknown,
            _ => return None,
        })
    }
}

/// One value of the flat value model, its strings borrowed from the packed bytes. The
/// variants are WIT's `value` cases.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    Unset,
    Boolean(bool),
    Count(u64),
    Integer(i64),
    Double(f64),
    /// Seconds since the epoch.
    Time(f64),
    /// Seconds.
    Interval(f64),
    Str(&'a str),
    Addr(IpAddr),
    Port(u16, Transport),
    /// An address and a prefix length in bits.
    Subnet(IpAddr, u8),
    Enumeration(&'a str),
    /// Header of a set: the next `n` values of the row are its elements.
    SetOf(u32),
    /// Header of a vector: the next `n` values of the row are its elements.
    VectorOf(u32),
}

const UNSET: u8 = 0;
const BOOLEAN: u8 = 1;
const COUNT: u8 = 2;
const INTEGER: u8 = 3;
const DOUBLE: u8 = 4;
const TIME: u8 = 5;
const INTERVAL: u8 = 6;
const STR: u8 = 7;
const ADDR: u8 = 8;
const PORT: u8 = 9;
const SUBNET: u8 = 10;
const ENUMERATION: u8 = 11;
const SET_OF: u8 = 12;
const VECTOR_OF: u8 = 13;

/// Appends rows to a byte buffer. Reuse one across batches ([`Encoder::clear`]) so that
/// encoding allocates nothing once the buffer has grown.
#[derive(Default)]
pub struct Encoder {
    bytes: Vec<u8>,
    rows: u32,
    /// Where the open row's value count is, and how many values it has so far.
    open: Option<(usize, u32)>,
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a row; values pushed until [`Encoder::end_row`] belong to it.
    pub fn begin_row(&mut self) {
        debug_assert!(self.open.is_none(), "begin_row inside a row");
        self.open = Some((self.bytes.len(), 0));
        self.bytes.extend_from_slice(&0u32.to_le_bytes());
    }

    /// Ends the open row, writing its value count.
    pub fn end_row(&mut self) {
        if let Some((at, n)) = self.open.take() {
            self.bytes[at..at + 4].copy_from_slice(&n.to_le_bytes());
            self.rows += 1;
        }
    }

    /// Appends one value to the open row.
    pub fn push(&mut self, v: ValueRef<'_>) {
        push_value(&mut self.bytes, v);
        if let Some((_, n)) = &mut self.open {
            *n += 1;
        }
    }

    /// Complete rows encoded so far.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// The bytes of the complete rows (an open row is not part of them).
    pub fn bytes(&self) -> &[u8] {
        match self.open {
            Some((at, _)) => &self.bytes[..at],
            None => &self.bytes,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Moves the complete rows out as `(count, bytes)` (for a call that needs them owned),
    /// leaving the encoder empty. [`Encoder::restore`] puts them back afterwards.
    pub fn take(&mut self) -> (u32, Vec<u8>) {
        if let Some((at, _)) = self.open.take() {
            self.bytes.truncate(at);
        }
        let rows = std::mem::take(&mut self.rows);
        (rows, std::mem::take(&mut self.bytes))
    }

    /// Puts back what [`Encoder::take`] moved out, so the rows (and the buffer's capacity)
    /// stay for the next call.
    pub fn restore(&mut self, rows: u32, bytes: Vec<u8>) {
        self.bytes = bytes;
        self.rows = rows;
        self.open = None;
    }

    /// Forgets every row, keeping the buffer's capacity.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.rows = 0;
        self.open = None;
    }
}

/// Appends one value (tag and payload) to `b`.
pub(crate) fn push_value(b: &mut Vec<u8>, v: ValueRef<'_>) {
    match v {
        ValueRef::Unset => b.push(UNSET),
        ValueRef::Boolean(x) => b.extend_from_slice(&[BOOLEAN, u8::from(x)]),
        ValueRef::Count(x) => tagged(b, COUNT, &x.to_le_bytes()),
        ValueRef::Integer(x) => tagged(b, INTEGER, &x.to_le_bytes()),
        ValueRef::Double(x) => tagged(b, DOUBLE, &x.to_le_bytes()),
        ValueRef::Time(x) => tagged(b, TIME, &x.to_le_bytes()),
        ValueRef::Interval(x) => tagged(b, INTERVAL, &x.to_le_bytes()),
        ValueRef::Str(s) => string(b, STR, s),
        ValueRef::Enumeration(s) => string(b, ENUMERATION, s),
        ValueRef::Addr(a) => {
            b.push(ADDR);
            addr(b, a);
        }
        ValueRef::Port(n, t) => {
            b.push(PORT);
            b.extend_from_slice(&n.to_le_bytes());
            b.push(t.code());
        }
        ValueRef::Subnet(a, len) => {
            b.push(SUBNET);
            addr(b, a);
            b.push(len);
        }
        ValueRef::SetOf(n) => tagged(b, SET_OF, &n.to_le_bytes()),
        ValueRef::VectorOf(n) => tagged(b, VECTOR_OF, &n.to_le_bytes()),
    }
}

fn tagged(b: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    b.push(tag);
    b.extend_from_slice(payload);
}

pub(crate) fn string(b: &mut Vec<u8>, tag: u8, s: &str) {
    // A log value longer than 4 GiB cannot exist (the host caps rows far below); saturating
    // keeps the length field honest about what follows even then.
    let s = &s.as_bytes()[..s.len().min(u32::MAX as usize)];
    b.push(tag);
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s);
}

pub(crate) fn addr(b: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(v4) => {
            b.push(4);
            b.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            b.push(6);
            b.extend_from_slice(&v6.octets());
        }
    }
}

/// Why packed bytes could not be read: what was wrong and at which byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub offset: usize,
    pub what: &'static str,
    /// The bytes ended inside `what` (rather than `what` being invalid).
    pub cut: bool,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.cut {
            write!(
                f,
                "packed rows: {} cut short at byte {}",
                self.what, self.offset
            )
        } else {
            write!(f, "packed rows: {} at byte {}", self.what, self.offset)
        }
    }
}

impl std::error::Error for Error {}

/// Reads the rows of a packed batch in order.
pub struct Rows<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) left: u32,
}

impl<'a> Rows<'a> {
    /// A reader of `count` rows from `bytes`.
    pub fn new(count: u32, bytes: &'a [u8]) -> Self {
        Rows {
            bytes,
            pos: 0,
            left: count,
        }
    }

    /// Rows not read yet.
    pub fn remaining(&self) -> u32 {
        self.left
    }

    /// Reads the next row's values into `out` (cleared first); `None` after the last row.
    /// After an error the rest of the batch cannot be found, so every later call gives
    /// `None`. Bytes left after the last row are an error.
    pub fn next_into(&mut self, out: &mut Vec<ValueRef<'a>>) -> Option<Result<(), Error>> {
        out.clear();
        if self.left == 0 {
            if self.pos < self.bytes.len() {
                let at = self.pos;
                self.pos = self.bytes.len();
                return Some(Err(Error {
                    offset: at,
                    what: "bytes after the last row",
                    cut: false,
                }));
            }
            return None;
        }
        self.left -= 1;
        let r = self.row(out);
        if r.is_err() {
            self.left = 0;
            self.pos = self.bytes.len();
            out.clear();
        }
        Some(r)
    }

    fn row(&mut self, out: &mut Vec<ValueRef<'a>>) -> Result<(), Error> {
        let n = u32::from_le_bytes(self.take::<4>("a row's value count")?);
        // Each value takes at least one byte: a count beyond what is left is a lie, and
        // reserving for it would let a bad batch allocate without bound.
        if n as usize > self.bytes.len() - self.pos {
            return Err(Error {
                offset: self.pos,
                what: "a row's values",
                cut: true,
            });
        }
        out.reserve(n as usize);
        for _ in 0..n {
            let v = self.value()?;
            out.push(v);
        }
        Ok(())
    }

    pub(crate) fn value(&mut self) -> Result<ValueRef<'a>, Error> {
        let [tag] = self.take::<1>("a value's tag")?;
        Ok(match tag {
            UNSET => ValueRef::Unset,
            BOOLEAN => match self.take::<1>("a boolean")? {
                [0] => ValueRef::Boolean(false),
                [1] => ValueRef::Boolean(true),
                _ => return Err(self.error_at(self.pos - 1, "a boolean other than 0 or 1")),
            },
            COUNT => ValueRef::Count(u64::from_le_bytes(self.take("a count")?)),
            INTEGER => ValueRef::Integer(i64::from_le_bytes(self.take("an integer")?)),
            DOUBLE => ValueRef::Double(f64::from_le_bytes(self.take("a double")?)),
            TIME => ValueRef::Time(f64::from_le_bytes(self.take("a time")?)),
            INTERVAL => ValueRef::Interval(f64::from_le_bytes(self.take("an interval")?)),
            STR => ValueRef::Str(self.string()?),
            ENUMERATION => ValueRef::Enumeration(self.string()?),
            ADDR => ValueRef::Addr(self.addr()?),
            PORT => {
                let n = u16::from_le_bytes(self.take("a port number")?);
                let [t] = self.take::<1>("a port's transport")?;
                let t = Transport::from_code(t)
                    .ok_or_else(|| self.error_at(self.pos - 1, "an unknown transport"))?;
                ValueRef::Port(n, t)
            }
            SUBNET => {
                let a = self.addr()?;
                let [len] = self.take::<1>("a subnet's prefix length")?;
                ValueRef::Subnet(a, len)
            }
            SET_OF => ValueRef::SetOf(u32::from_le_bytes(self.take("a set's size")?)),
            VECTOR_OF => ValueRef::VectorOf(u32::from_le_bytes(self.take("a vector's size")?)),
            _ => return Err(self.error_at(self.pos - 1, "an unknown value tag")),
        })
    }

    pub(crate) fn string(&mut self) -> Result<&'a str, Error> {
        let len = u32::from_le_bytes(self.take::<4>("a string's length")?) as usize;
        let start = self.pos;
        let bytes = self
            .bytes
            .get(start..start.saturating_add(len))
            .ok_or(Error {
                offset: start,
                what: "a string",
                cut: true,
            })?;
        let s = std::str::from_utf8(bytes).map_err(|_| self.error("a string that is not UTF-8"))?;
        self.pos += len;
        Ok(s)
    }

    pub(crate) fn addr(&mut self) -> Result<IpAddr, Error> {
        match self.take::<1>("an address family")? {
            [4] => Ok(IpAddr::V4(Ipv4Addr::from(
                self.take::<4>("an IPv4 address")?,
            ))),
            [6] => Ok(IpAddr::V6(Ipv6Addr::from(
                self.take::<16>("an IPv6 address")?,
            ))),
            _ => Err(self.error_at(self.pos - 1, "an address family other than 4 or 6")),
        }
    }

    pub(crate) fn take<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Error> {
        let end = self.pos + N;
        match self.bytes.get(self.pos..end) {
            Some(b) => {
                self.pos = end;
                Ok(b.try_into().expect("N bytes"))
            }
            None => Err(Error {
                offset: self.pos,
                what,
                cut: true,
            }),
        }
    }

    fn error(&self, what: &'static str) -> Error {
        self.error_at(self.pos, what)
    }

    pub(crate) fn error_at(&self, offset: usize, what: &'static str) -> Error {
        Error {
            offset,
            what,
            cut: false,
        }
    }
}

mod events;
pub use events::{ConnFields, ConnRef, EventEncoder, EventRef, Events, StrList};

#[cfg(test)]
mod tests;
