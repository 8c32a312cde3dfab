//! JSON lines with Zeek's field names over the flat value model, as pure functions into a byte
//! buffer (no host calls), so every byte is checked by native unit tests. The rules are those
//! of the host's former native writer (runtime/src/log/json.rs), which follows Zeek's JSON
//! logs: one object per row, keys in schema order, unset fields left out.

use sandpiper_sdk::packed::ValueRef as Value;
use sandpiper_sdk::types::LogSchema;
// Times and addresses print as in TSV.
pub use tsv_format::format::{to_micros, write_addr, write_micros, write_subnet};

use crate::double;

/// `"name":` for each column of `schema`, escaped once.
pub fn column_keys(schema: &LogSchema) -> Vec<Box<[u8]>> {
    schema
        .fields
        .iter()
        .map(|f| {
            let mut key = Vec::with_capacity(f.name.len() + 3);
            write_json_str(&mut key, &f.name);
            key.push(b':');
            key.into_boxed_slice()
        })
        .collect()
}

/// Appends one row (`keys` has one entry per column) and its newline. A row whose flat values
/// do not make exactly one value per column (a container header promising more elements than
/// follow, a nested container) is refused and leaves `out` as it was.
pub fn write_row(out: &mut Vec<u8>, row: &[Value<'_>], keys: &[Box<[u8]>]) -> Result<(), String> {
    let start = out.len();
    match write_object(out, row, keys) {
        Ok(()) => {
            out.extend_from_slice(b"}\n");
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

fn write_object(out: &mut Vec<u8>, row: &[Value<'_>], keys: &[Box<[u8]>]) -> Result<(), String> {
    out.push(b'{');
    let mut first = true;
    let mut column = 0;
    let mut i = 0;
    while i < row.len() {
        let key = keys.get(column).ok_or_else(|| too_many(keys.len()))?;
        match &row[i] {
            Value::Unset => i += 1,
            Value::SetOf(n) | Value::VectorOf(n) => {
                let elements = container_elements(row, i, *n)?;
                separate(out, &mut first, key);
                out.push(b'[');
                for (k, e) in elements.iter().enumerate() {
                    if k > 0 {
                        out.push(b',');
                    }
                    write_value(out, e)?;
                }
                out.push(b']');
                i += 1 + elements.len();
            }
            v => {
                separate(out, &mut first, key);
                write_value(out, v)?;
                i += 1;
            }
        }
        column += 1;
    }
    if column != keys.len() {
        return Err(format!(
            "the row has {column} columns, the schema {}",
            keys.len()
        ));
    }
    Ok(())
}

fn too_many(columns: usize) -> String {
    format!("the row has more than the schema's {columns} columns")
}

/// Writes the `,` before every member but the first, then the member's key.
fn separate(out: &mut Vec<u8>, first: &mut bool, key: &[u8]) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.extend_from_slice(key);
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

/// Appends one scalar. `Unset` reaches here only inside a container, where Zeek writes null.
pub fn write_value(out: &mut Vec<u8>, v: &Value<'_>) -> Result<(), String> {
    let mut ib = itoa::Buffer::new();
    match v {
        Value::Unset => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Count(c) => out.extend_from_slice(ib.format(*c).as_bytes()),
        Value::Integer(i) => out.extend_from_slice(ib.format(*i).as_bytes()),
        Value::Double(d) => double::write_json_double(out, *d),
        Value::Time(t) | Value::Interval(t) => write_micros(out, to_micros(*t)),
        Value::Str(s) | Value::Enumeration(s) => write_json_str(out, s),
        Value::Addr(a) => {
            out.push(b'"');
            write_addr(out, a);
            out.push(b'"');
        }
        Value::Port(number, _) => out.extend_from_slice(ib.format(*number).as_bytes()),
        Value::Subnet(address, len) => {
            out.push(b'"');
            write_subnet(out, address, *len);
            out.push(b'"');
        }
        Value::SetOf(_) | Value::VectorOf(_) => {
            return Err("a container inside a container (containers do not nest)".into())
        }
    }
    Ok(())
}

/// A JSON string: `"`, `\`, newline, carriage return and tab as two-character escapes, other
/// control bytes (below 0x20) as `\u00xx`; DEL and non-ASCII characters as they are (UTF-8).
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            _ => None,
        };
        if short.is_some() || b < 0x20 {
            out.extend_from_slice(&bytes[start..i]);
            match short {
                Some(e) => out.extend_from_slice(e),
                None => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    hex_digit(b >> 4),
                    hex_digit(b & 0xf),
                ]),
            }
            start = i + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn hex_digit(n: u8) -> u8 {
    b"0123456789abcdef"[usize::from(n)]
}
