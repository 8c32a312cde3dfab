//! Rows packed into one owned buffer, so that a batch of borrowed rows can cross to the
//! log-writer thread ([`super::offload`]) without an allocation per row or string.
//!
//! Lossless for every [`Value`] (times stay integer microseconds, unlike the WIT packed
//! encoding whose times are f64 seconds). The bytes are made and read only by the host, but
//! reading still checks every length: a bug here gives an error row batch, never a panic or
//! a wrong string.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use super::Value;

const UNSET: u8 = 0;
const TIME: u8 = 1;
const INTERVAL: u8 = 2;
const STR: u8 = 3;
const ADDR4: u8 = 4;
const ADDR6: u8 = 5;
const PORT: u8 = 6;
const ENUM: u8 = 7;
const COUNT: u8 = 8;
const BOOL: u8 = 9;
const SET: u8 = 10;
const INT: u8 = 11;
const DOUBLE: u8 = 12;
const SUBNET4: u8 = 13;
const SUBNET6: u8 = 14;
const LIST: u8 = 15;

/// In place of a row's cell count: a segment of rows in the WIT packed encoding follows
/// (its row count, its length in bytes, the bytes). No row has this many cells: the host
/// caps a row far below it.
const PACKED_SEGMENT: u32 = u32::MAX;

/// Rows appended to one buffer: per row its cell count, then each cell's tag and payload.
#[derive(Default)]
pub struct RowBatch {
    bytes: Vec<u8>,
    rows: u32,
}

impl RowBatch {
    /// An empty batch reusing `bytes`' capacity.
    pub fn with_buffer(mut bytes: Vec<u8>) -> Self {
        bytes.clear();
        RowBatch { bytes, rows: 0 }
    }

    pub fn rows(&self) -> u32 {
        self.rows
    }

    pub fn len_bytes(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The buffer, for reuse once the batch is read.
    pub fn into_buffer(self) -> Vec<u8> {
        self.bytes
    }

    pub fn push(&mut self, row: &[Value<'_>]) {
        let b = &mut self.bytes;
        b.extend_from_slice(&len32(row.len()).to_le_bytes());
        for v in row {
            match *v {
                Value::Set(items) => {
                    b.push(SET);
                    b.extend_from_slice(&len32(items.len()).to_le_bytes());
                    for s in items {
                        string(b, s);
                    }
                }
                Value::List(items) => {
                    b.push(LIST);
                    b.extend_from_slice(&len32(items.len()).to_le_bytes());
                    for item in items {
                        scalar(b, item);
                    }
                }
                ref other => scalar(b, other),
            }
        }
        self.rows += 1;
    }

    /// Appends `count` rows in the WIT `packed-rows` encoding (checked against the stream's
    /// schema when a guest wrote them) as they are: one copy, decoded by [`Self::for_each`]
    /// on the log-writer thread.
    pub fn push_packed(&mut self, count: u32, bytes: &[u8]) {
        let b = &mut self.bytes;
        b.extend_from_slice(&PACKED_SEGMENT.to_le_bytes());
        b.extend_from_slice(&count.to_le_bytes());
        b.extend_from_slice(&len32(bytes.len()).to_le_bytes());
        b.extend_from_slice(bytes);
        self.rows = self.rows.saturating_add(count);
    }

    /// Calls `f` with each row in order. `Err` if `f` fails or the bytes are not rows this
    /// type wrote (a host bug): a run of rows pushed one by one is checked whole before any
    /// of it is written; a packed segment row by row, as its rows are written.
    pub fn for_each(&self, mut f: impl FnMut(&[Value<'_>]) -> io::Result<()>) -> io::Result<()> {
        let mut r = Reader {
            bytes: &self.bytes,
            pos: 0,
        };
        let mut left = self.rows;
        while r.pos < self.bytes.len() {
            if r.peek_u32()? == PACKED_SEGMENT {
                r.pos += 4;
                let count = r.u32()?;
                let len = r.u32()? as usize;
                let end = r.pos.checked_add(len).ok_or_else(corrupt)?;
                let bytes = self.bytes.get(r.pos..end).ok_or_else(corrupt)?;
                r.pos = end;
                left = left.checked_sub(count).ok_or_else(corrupt)?;
                super::packed::for_each_row(count, bytes, &mut f)?;
            } else {
                left = Self::run(&mut r, left, &mut f)?;
            }
        }
        if left != 0 {
            return Err(corrupt());
        }
        Ok(())
    }

    /// The rows from `r` up to the next packed segment or the end, of the `left` the batch
    /// still holds; returns how many it holds after them.
    fn run<'a>(
        r: &mut Reader<'a>,
        left: u32,
        f: &mut impl FnMut(&[Value<'_>]) -> io::Result<()>,
    ) -> io::Result<u32> {
        // First every row's cells, with sets' strings and lists' elements gathered in two
        // vectors; then the rows, borrowing those vectors, which no longer grow.
        let mut cells: Vec<Cell<'a>> = Vec::new();
        let mut row_ends: Vec<usize> = Vec::new();
        let mut strs: Vec<&str> = Vec::new();
        let mut elems: Vec<Value<'_>> = Vec::new();
        while r.pos < r.bytes.len() && r.peek_u32()? != PACKED_SEGMENT {
            if row_ends.len() as u32 == left {
                return Err(corrupt());
            }
            let n = r.u32()?;
            for _ in 0..n {
                let cell = match r.peek()? {
                    SET => {
                        r.pos += 1;
                        let k = r.u32()?;
                        let start = strs.len();
                        for _ in 0..k {
                            strs.push(r.str()?);
                        }
                        Cell::Set(start..strs.len())
                    }
                    LIST => {
                        r.pos += 1;
                        let k = r.u32()?;
                        let start = elems.len();
                        for _ in 0..k {
                            elems.push(r.scalar()?);
                        }
                        Cell::List(start..elems.len())
                    }
                    _ => Cell::Scalar(r.scalar()?),
                };
                cells.push(cell);
            }
            row_ends.push(cells.len());
        }
        let left = left - row_ends.len() as u32;
        // The last run of the batch: every row it announced is here.
        if r.pos == r.bytes.len() && left != 0 {
            return Err(corrupt());
        }
        let mut row: Vec<Value<'_>> = Vec::new();
        let mut start = 0;
        for end in row_ends {
            row.clear();
            row.extend(cells[start..end].iter().map(|c| match c {
                Cell::Scalar(v) => *v,
                Cell::Set(range) => Value::Set(&strs[range.clone()]),
                Cell::List(range) => Value::List(&elems[range.clone()]),
            }));
            f(&row)?;
            start = end;
        }
        Ok(left)
    }
}

/// A decoded cell; containers as ranges of the batch's gathered strings or elements.
enum Cell<'a> {
    Scalar(Value<'a>),
    Set(Range<usize>),
    List(Range<usize>),
}

fn len32(n: usize) -> u32 {
    // Rows and strings are far below 4 GiB (the host caps rows); saturating keeps the
    // length honest about what follows even then, and the reader then rejects the batch.
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn string(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&len32(s.len()).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

fn tagged(b: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    b.push(tag);
    b.extend_from_slice(payload);
}

fn scalar(b: &mut Vec<u8>, v: &Value<'_>) {
    match *v {
        // A container inside a list cannot be logged (Zeek has no nested log containers).
        Value::Unset | Value::Set(_) | Value::List(_) => b.push(UNSET),
        Value::Time(us) => tagged(b, TIME, &us.to_le_bytes()),
        Value::Interval(us) => tagged(b, INTERVAL, &us.to_le_bytes()),
        Value::Str(s) => {
            b.push(STR);
            string(b, s);
        }
        Value::Enum(s) => {
            b.push(ENUM);
            string(b, s);
        }
        Value::Addr(IpAddr::V4(a)) => tagged(b, ADDR4, &a.octets()),
        Value::Addr(IpAddr::V6(a)) => tagged(b, ADDR6, &a.octets()),
        Value::Port(p) => tagged(b, PORT, &p.to_le_bytes()),
        Value::Count(c) => tagged(b, COUNT, &c.to_le_bytes()),
        Value::Bool(x) => tagged(b, BOOL, &[u8::from(x)]),
        Value::Int(i) => tagged(b, INT, &i.to_le_bytes()),
        Value::Double(d) => tagged(b, DOUBLE, &d.to_le_bytes()),
        Value::Subnet(IpAddr::V4(a), len) => {
            tagged(b, SUBNET4, &a.octets());
            b.push(len);
        }
        Value::Subnet(IpAddr::V6(a), len) => {
            tagged(b, SUBNET6, &a.octets());
            b.push(len);
        }
    }
}

fn corrupt() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "a batch of log rows on its way to the log-writer thread is corrupt (host bug)",
    )
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let end = self.pos.checked_add(N).ok_or_else(corrupt)?;
        let b = self.bytes.get(self.pos..end).ok_or_else(corrupt)?;
        self.pos = end;
        Ok(b.try_into().expect("slice of length N"))
    }

    fn peek_u32(&self) -> io::Result<u32> {
        let end = self.pos.checked_add(4).ok_or_else(corrupt)?;
        let b = self.bytes.get(self.pos..end).ok_or_else(corrupt)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    fn peek(&self) -> io::Result<u8> {
        self.bytes.get(self.pos).copied().ok_or_else(corrupt)
    }

    fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(self.take()?))
    }

    fn i64(&mut self) -> io::Result<i64> {
        Ok(i64::from_le_bytes(self.take()?))
    }

    fn str(&mut self) -> io::Result<&'a str> {
        let n = self.u32()? as usize;
        let end = self.pos.checked_add(n).ok_or_else(corrupt)?;
        let b = self.bytes.get(self.pos..end).ok_or_else(corrupt)?;
        self.pos = end;
        std::str::from_utf8(b).map_err(|_| corrupt())
    }

    fn scalar(&mut self) -> io::Result<Value<'a>> {
        let [tag] = self.take()?;
        Ok(match tag {
            UNSET => Value::Unset,
            TIME => Value::Time(self.i64()?),
            INTERVAL => Value::Interval(self.i64()?),
            STR => Value::Str(self.str()?),
            ENUM => Value::Enum(self.str()?),
            ADDR4 => Value::Addr(Ipv4Addr::from(self.take::<4>()?).into()),
            ADDR6 => Value::Addr(Ipv6Addr::from(self.take::<16>()?).into()),
            PORT => Value::Port(u16::from_le_bytes(self.take()?)),
            COUNT => Value::Count(u64::from_le_bytes(self.take()?)),
            BOOL => Value::Bool(self.take::<1>()?[0] != 0),
            INT => Value::Int(self.i64()?),
            DOUBLE => Value::Double(f64::from_le_bytes(self.take()?)),
            SUBNET4 => {
                let a = Ipv4Addr::from(self.take::<4>()?);
                let [len] = self.take()?;
                Value::Subnet(a.into(), len)
            }
            SUBNET6 => {
                let a = Ipv6Addr::from(self.take::<16>()?);
                let [len] = self.take()?;
                Value::Subnet(a.into(), len)
            }
            _ => return Err(corrupt()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row `for_each` gives, as its Debug text.
    fn debug_rows(batch: &RowBatch) -> Vec<String> {
        let mut seen = Vec::new();
        batch
            .for_each(|r| {
                seen.push(format!("{r:?}"));
                Ok(())
            })
            .unwrap();
        seen
    }

    fn tsv_of(rows: &[&[Value<'_>]]) -> String {
        let mut out = Vec::new();
        for r in rows {
            crate::log::tsv::write_row(&mut out, r).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_value_round_trips() {
        let a: &[Value<'_>] = &[
            Value::Unset,
            Value::Time(1_300_475_167_096_535),
            Value::Interval(-1),
            Value::Str("héllo\tworld"),
            Value::Str(""),
            Value::Addr("10.0.0.1".parse().unwrap()),
            Value::Addr("2001:db8::1".parse().unwrap()),
            Value::Port(65535),
            Value::Enum("tcp"),
            Value::Count(u64::MAX),
            Value::Bool(true),
            Value::Bool(false),
            Value::Set(&["a", "b,c", ""]),
            Value::Set(&[]),
            Value::Int(i64::MIN),
            Value::Double(0.1),
            Value::Subnet("10.1.0.0".parse().unwrap(), 16),
            Value::Subnet("2001:db8::".parse().unwrap(), 32),
            Value::List(&[Value::Count(1), Value::Unset, Value::Str("x")]),
            Value::List(&[]),
        ];
        let b: &[Value<'_>] = &[Value::Str("second"), Value::Set(&["z"])];
        let mut batch = RowBatch::default();
        batch.push(a);
        batch.push(b);
        batch.push(&[]);
        batch.push(a);
        assert_eq!(batch.rows(), 4);
        let seen = debug_rows(&batch);
        let want: Vec<String> = [a, b, &[], a].iter().map(|r| format!("{r:?}")).collect();
        assert_eq!(seen, want);
        // And the bytes a format makes of them are the same.
        let mut formatted = Vec::new();
        batch
            .for_each(|r| crate::log::tsv::write_row(&mut formatted, r))
            .unwrap();
        assert_eq!(
            String::from_utf8(formatted).unwrap(),
            tsv_of(&[a, b, &[], a])
        );
    }

    #[test]
    fn packed_segments_come_out_in_order_among_rows() {
        use sandpiper_packed::{Encoder, Transport, ValueRef};
        let mut enc = Encoder::new();
        enc.begin_row();
        for v in [
            ValueRef::Time(1.5),
            ValueRef::Str("guest"),
            ValueRef::Port(53, Transport::Udp),
            ValueRef::SetOf(2),
            ValueRef::Str("a"),
            ValueRef::Str("b"),
        ] {
            enc.push(v);
        }
        enc.end_row();
        enc.begin_row();
        enc.push(ValueRef::Count(9));
        enc.end_row();
        let (count, packed) = enc.take();
        let host: &[Value<'_>] = &[Value::Str("host"), Value::Count(1)];
        let mut batch = RowBatch::default();
        batch.push(host);
        batch.push_packed(count, &packed);
        batch.push(host);
        batch.push_packed(count, &packed);
        assert_eq!(batch.rows(), 6);
        let seen = debug_rows(&batch);
        let guest_a = format!(
            "{:?}",
            [
                Value::Time(1_500_000),
                Value::Str("guest"),
                Value::Port(53),
                Value::List(&[Value::Str("a"), Value::Str("b")]),
            ]
        );
        let guest_b = format!("{:?}", [Value::Count(9)]);
        let host = format!("{host:?}");
        assert_eq!(
            seen,
            [&host, &guest_a, &guest_b, &host, &guest_a, &guest_b].map(String::clone)
        );
    }

    #[test]
    fn a_packed_segment_must_hold_its_rows() {
        use sandpiper_packed::{Encoder, ValueRef};
        let mut enc = Encoder::new();
        enc.begin_row();
        enc.push(ValueRef::Str("x"));
        enc.end_row();
        let (count, packed) = enc.take();
        // A segment announcing more rows than it holds, one cut short, and a batch counting
        // more rows than its segments hold.
        for (announced, bytes, rows) in [
            (count + 1, packed.clone(), count + 1),
            (count, packed[..packed.len() - 1].to_vec(), count),
            (count, packed.clone(), count + 1),
        ] {
            let mut batch = RowBatch::default();
            batch.push_packed(announced, &bytes);
            batch.rows = rows;
            let r = batch.for_each(|_| Ok(()));
            assert_eq!(r.unwrap_err().kind(), io::ErrorKind::InvalidData);
        }
    }

    #[test]
    fn the_buffer_is_reused() {
        let mut batch = RowBatch::default();
        batch.push(&[Value::Str("some text to grow the buffer")]);
        let buf = batch.into_buffer();
        let cap = buf.capacity();
        let batch = RowBatch::with_buffer(buf);
        assert!(batch.is_empty());
        assert_eq!(batch.len_bytes(), 0);
        assert_eq!(batch.into_buffer().capacity(), cap);
    }

    #[test]
    fn corrupt_bytes_are_an_error_and_nothing_is_written() {
        let mut good = RowBatch::default();
        good.push(&[Value::Str("abc"), Value::Count(7)]);
        good.push(&[Value::Set(&["x", "y"])]);
        let bytes = good.into_buffer();
        // Every truncation, a bad tag, bad UTF-8 and trailing bytes.
        let mut cases: Vec<(u32, Vec<u8>)> =
            (0..bytes.len()).map(|n| (2, bytes[..n].to_vec())).collect();
        let mut bad_tag = bytes.clone();
        bad_tag[4] = 99;
        cases.push((2, bad_tag));
        let mut bad_utf8 = bytes.clone();
        bad_utf8[9] = 0xff;
        cases.push((2, bad_utf8));
        cases.push((1, bytes.clone()));
        let mut huge = bytes.clone();
        huge[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
        cases.push((2, huge));
        for (rows, b) in cases {
            let batch = RowBatch { bytes: b, rows };
            let mut written = 0;
            let r = batch.for_each(|_| {
                written += 1;
                Ok(())
            });
            assert_eq!(r.unwrap_err().kind(), io::ErrorKind::InvalidData);
            assert_eq!(written, 0);
        }
    }
}
