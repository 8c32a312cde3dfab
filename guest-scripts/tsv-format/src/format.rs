//! Zeek's TSV log format over the flat value model, as pure functions into a byte buffer (no
//! host calls), so every byte is checked by native unit tests. The rules are those of the
//! host's former native writer (runtime/src/log/tsv.rs), which follows Zeek's ASCII writer.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sandpiper_sdk::packed::ValueRef as Value;
use sandpiper_sdk::types::{FieldType, LogSchema, ScalarType};

use crate::{double, timestamp};

/// The two constant parts of a file's header for one schema, around the `#open` stamp that
/// changes with every file.
pub struct Header {
    /// `#separator` ... `#path\t<path>\n#open\t`.
    before_open: Vec<u8>,
    /// `\n#fields\t...\n#types\t...\n`.
    after_open: Vec<u8>,
}

impl Header {
    pub fn new(schema: &LogSchema) -> Header {
        let mut before_open = Vec::new();
        before_open.extend_from_slice(
            b"#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t",
        );
        before_open.extend_from_slice(schema.path.as_bytes());
        before_open.extend_from_slice(b"\n#open\t");
        let mut after_open = Vec::new();
        after_open.extend_from_slice(b"\n#fields");
        for f in &schema.fields {
            after_open.push(b'\t');
            after_open.extend_from_slice(f.name.as_bytes());
        }
        after_open.extend_from_slice(b"\n#types");
        for f in &schema.fields {
            after_open.push(b'\t');
            after_open.extend_from_slice(type_name(f.type_).as_bytes());
        }
        after_open.push(b'\n');
        Header {
            before_open,
            after_open,
        }
    }

    /// Appends the header of a file opened at `opened` (see [`timestamp::write_zeek_stamp`]).
    pub fn write(&self, out: &mut Vec<u8>, opened: f64) {
        out.extend_from_slice(&self.before_open);
        timestamp::write_zeek_stamp(out, opened);
        out.extend_from_slice(&self.after_open);
    }
}

/// Appends the `#close` footer of a file closed at `at`.
pub fn write_footer(out: &mut Vec<u8>, at: f64) {
    out.extend_from_slice(b"#close\t");
    timestamp::write_zeek_stamp(out, at);
    out.push(b'\n');
}

/// A type's name in the `#types` line ("count", "set[string]", "vector[addr]").
pub fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Scalar(s) => scalar_name(s),
        FieldType::Set(s) => set_name(s),
        FieldType::Vector(s) => vector_name(s),
    }
}

fn scalar_name(t: ScalarType) -> &'static str {
    match t {
        ScalarType::Boolean => "bool",
        ScalarType::Count => "count",
        ScalarType::Integer => "int",
        ScalarType::Double => "double",
        ScalarType::Time => "time",
        ScalarType::Interval => "interval",
        ScalarType::Str => "string",
        ScalarType::Addr => "addr",
        ScalarType::Port => "port",
        ScalarType::Subnet => "subnet",
        ScalarType::Enumeration => "enum",
    }
}

fn set_name(t: ScalarType) -> &'static str {
    match t {
        ScalarType::Boolean => "set[bool]",
        ScalarType::Count => "set[count]",
        ScalarType::Integer => "set[int]",
        ScalarType::Double => "set[double]",
        ScalarType::Time => "set[time]",
        ScalarType::Interval => "set[interval]",
        ScalarType::Str => "set[string]",
        ScalarType::Addr => "set[addr]",
        ScalarType::Port => "set[port]",
        ScalarType::Subnet => "set[subnet]",
        ScalarType::Enumeration => "set[enum]",
    }
}

fn vector_name(t: ScalarType) -> &'static str {
    match t {
        ScalarType::Boolean => "vector[bool]",
        ScalarType::Count => "vector[count]",
        ScalarType::Integer => "vector[int]",
        ScalarType::Double => "vector[double]",
        ScalarType::Time => "vector[time]",
        ScalarType::Interval => "vector[interval]",
        ScalarType::Str => "vector[string]",
        ScalarType::Addr => "vector[addr]",
        ScalarType::Port => "vector[port]",
        ScalarType::Subnet => "vector[subnet]",
        ScalarType::Enumeration => "vector[enum]",
    }
}

/// Appends one row of `columns` columns and its newline. A row whose flat values do not make
/// exactly `columns` columns (a container header promising more elements than follow, a nested
/// container) is refused and leaves `out` as it was.
pub fn write_row(out: &mut Vec<u8>, row: &[Value<'_>], columns: usize) -> Result<(), String> {
    let start = out.len();
    let result = write_columns(out, row, columns);
    match result {
        Ok(()) => {
            out.push(b'\n');
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

fn write_columns(out: &mut Vec<u8>, row: &[Value<'_>], columns: usize) -> Result<(), String> {
    let mut column = 0;
    let mut i = 0;
    while i < row.len() {
        if column > 0 {
            out.push(b'\t');
        }
        match &row[i] {
            Value::SetOf(n) | Value::VectorOf(n) => {
                let elements = container_elements(row, i, *n)?;
                write_container(out, elements)?;
                i += 1 + elements.len();
            }
            v => {
                write_value(out, v, false)?;
                i += 1;
            }
        }
        column += 1;
    }
    if column != columns {
        return Err(format!(
            "the row has {column} columns, the schema {columns}"
        ));
    }
    Ok(())
}

/// The `n` elements following the container header at `header`.
fn container_elements<'r, 'a>(
    row: &'r [Value<'a>],
    header: usize,
    n: u32,
) -> Result<&'r [Value<'a>], String> {
    let first = header + 1;
    usize::try_from(n)
        .ok()
        .and_then(|n| first.checked_add(n))
        .and_then(|end| row.get(first..end))
        .ok_or_else(|| format!("a container of {n} elements is cut short by the row's end"))
}

/// A set or vector: elements joined by `,`, "(empty)" when there are none.
fn write_container(out: &mut Vec<u8>, elements: &[Value<'_>]) -> Result<(), String> {
    if elements.is_empty() {
        out.extend_from_slice(b"(empty)");
        return Ok(());
    }
    for (k, e) in elements.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        write_value(out, e, true)?;
    }
    Ok(())
}

/// Appends one scalar; `in_container` when it is an element of a set or vector (then `,` in
/// strings is escaped too).
pub fn write_value(out: &mut Vec<u8>, v: &Value<'_>, in_container: bool) -> Result<(), String> {
    let mut ib = itoa::Buffer::new();
    match v {
        Value::Unset => out.push(b'-'),
        Value::Boolean(b) => out.push(if *b { b'T' } else { b'F' }),
        Value::Count(c) => out.extend_from_slice(ib.format(*c).as_bytes()),
        Value::Integer(i) => out.extend_from_slice(ib.format(*i).as_bytes()),
        Value::Double(d) => double::write_double(out, *d),
        Value::Time(t) | Value::Interval(t) => write_micros(out, to_micros(*t)),
        Value::Str(s) | Value::Enumeration(s) => write_escaped(out, s, in_container),
        Value::Addr(a) => write_addr(out, a),
        Value::Port(number, _) => out.extend_from_slice(ib.format(*number).as_bytes()),
        Value::Subnet(address, len) => write_subnet(out, address, *len),
        Value::SetOf(_) | Value::VectorOf(_) => {
            return Err("a container inside a container (containers do not nest)".into())
        }
    }
    Ok(())
}

/// Escapes a string as Zeek does: non-printable bytes (anything outside 0x20..0x7e, so every
/// byte of a non-ASCII character), the tab, `\` and, inside a container, `,` as `\xNN`; an
/// empty string is "(empty)", and a string equal to the unset ("-") or empty ("(empty)")
/// marker has its first byte escaped so it is not read as one.
pub fn write_escaped(out: &mut Vec<u8>, s: &str, in_container: bool) {
    match s {
        "" => return out.extend_from_slice(b"(empty)"),
        "-" => return out.extend_from_slice(b"\\x2d"),
        "(empty)" => return out.extend_from_slice(b"\\x28empty)"),
        _ => {}
    }
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape =
            b == b'\t' || b == b'\\' || !(0x20..0x7f).contains(&b) || (in_container && b == b',');
        if escape {
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(&[b'\\', b'x', hex_digit(b >> 4), hex_digit(b & 0xf)]);
            start = i + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

fn hex_digit(n: u8) -> u8 {
    b"0123456789abcdef"[usize::from(n)]
}

/// Seconds (WIT `time` and `interval`) to the whole microseconds the native side stored.
pub fn to_micros(seconds: f64) -> i64 {
    (seconds * 1e6).round() as i64
}

/// Formats microseconds as seconds with six decimals, as Zeek prints time and interval.
pub fn write_micros(out: &mut Vec<u8>, us: i64) {
    let a = us.unsigned_abs();
    if us < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(itoa::Buffer::new().format(a / 1_000_000).as_bytes());
    let mut digits = [b'0'; 7];
    digits[0] = b'.';
    let mut frac = a % 1_000_000;
    for d in digits[1..].iter_mut().rev() {
        *d = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    out.extend_from_slice(&digits);
}

/// An address as Rust's `IpAddr` shows it (RFC 5952 for IPv6, as Zeek).
pub fn write_addr(out: &mut Vec<u8>, a: &IpAddr) {
    match a {
        IpAddr::V4(v4) => {
            let mut ib = itoa::Buffer::new();
            for (k, octet) in v4.octets().into_iter().enumerate() {
                if k > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(ib.format(octet).as_bytes());
            }
        }
        IpAddr::V6(v6) => {
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{v6}");
        }
    }
}

/// A subnet as Zeek shows one ("10.0.0.0/8", "2001:db8::/32"): Zeek keeps subnets masked to
/// their length, so host bits are cleared.
pub fn write_subnet(out: &mut Vec<u8>, address: &IpAddr, len: u8) {
    let masked = match *address {
        IpAddr::V4(v4) => {
            let keep = u32::from(len.min(32));
            let mask = u32::MAX.checked_shl(32 - keep).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let keep = u32::from(len.min(128));
            let mask = u128::MAX.checked_shl(128 - keep).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    };
    write_addr(out, &masked);
    out.push(b'/');
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
}
