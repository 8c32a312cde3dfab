//! {{name}}: a log writer. This starting point formats rows as tab-separated text, one line per
//! row after a `#path`/`#fields` header, and hands the bytes to the sink with `sink::write`.
//!
//! The host creates one `TsvWriter` per log stream this writer is configured for and owns the
//! sink (a file with rotation, stdout, ...): the writer only turns rows into bytes. Rows arrive
//! packed ([`Rows`]): each is read in place into borrowed values, so a row costs no allocation.

use std::fmt::Write as _;

use sandpiper_sdk::packed::{Rows, ValueRef as Value};
use sandpiper_sdk::types::{LogSchema, Time};
use sandpiper_sdk::{sink, Writer};

/// The state of one stream.
struct TsvWriter {
    /// The header lines, written at the start of every file.
    header: String,
    /// Whether the current file still needs its header.
    needs_header: bool,
}

impl TsvWriter {
    /// Writes whatever the current file still needs and then `body`.
    fn emit(&mut self, body: &str) -> Result<(), String> {
        let mut bytes = String::new();
        if self.needs_header {
            bytes.push_str(&self.header);
        }
        bytes.push_str(body);
        if !bytes.is_empty() {
            sink::write(bytes.as_bytes())?;
        }
        self.needs_header = false;
        Ok(())
    }
}

impl Writer for TsvWriter {
    fn new(schema: LogSchema, _opened: Time) -> Self {
        let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        TsvWriter {
            header: format!("#path\t{}\n#fields\t{}\n", schema.path, names.join("\t")),
            needs_header: true,
        }
    }

    fn write(&mut self, mut rows: Rows<'_>) -> Result<(), String> {
        let mut text = String::new();
        let mut row = Vec::new();
        while let Some(decoded) = rows.next_into(&mut row) {
            decoded.map_err(|e| e.to_string())?;
            format_row(&row, &mut text);
        }
        self.emit(&text)
    }

    fn rotate(&mut self, _at: Time) -> Result<(), String> {
        // The host starts a new file: it gets the header again.
        self.needs_header = true;
        Ok(())
    }

    fn finish(&mut self, _at: Time) -> Result<(), String> {
        // A stream that never got a row still gets its header.
        self.emit("")
    }
}

/// Appends one row as a line. Containers are flat in a row: a set or vector header is followed
/// by its elements, which go into one column, separated by commas.
fn format_row(row: &[Value<'_>], out: &mut String) {
    let mut values = row.iter();
    let mut column = 0;
    while let Some(value) = values.next() {
        if column > 0 {
            out.push('\t');
        }
        column += 1;
        match value {
            Value::SetOf(0) | Value::VectorOf(0) => out.push_str("(empty)"),
            Value::SetOf(n) | Value::VectorOf(n) => {
                for (i, element) in values.by_ref().take(*n as usize).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    format_scalar(element, out);
                }
            }
            scalar => format_scalar(scalar, out),
        }
    }
    out.push('\n');
}

/// Appends one value as Zeek's TSV writes it.
fn format_scalar(value: &Value<'_>, out: &mut String) {
    // Writing to a String cannot fail.
    let _ = match value {
        Value::Unset => write!(out, "-"),
        Value::Boolean(b) => write!(out, "{}", if *b { "T" } else { "F" }),
        Value::Count(n) => write!(out, "{n}"),
        Value::Integer(n) => write!(out, "{n}"),
        Value::Double(x) | Value::Time(x) | Value::Interval(x) => write!(out, "{x:.6}"),
        Value::Str(s) | Value::Enumeration(s) => {
            escape(s, out);
            Ok(())
        }
        Value::Addr(a) => write!(out, "{a}"),
        Value::Port(number, _) => write!(out, "{number}"),
        Value::Subnet(address, len) => write!(out, "{address}/{len}"),
        // Containers do not nest.
        Value::SetOf(_) | Value::VectorOf(_) => write!(out, "?"),
    };
}

/// Escapes what would break the line or column structure, as Zeek does (`\x09`).
fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

sandpiper_sdk::export_writer!(TsvWriter);
