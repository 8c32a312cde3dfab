//! The logging interface: typed schemas, borrowed values, and writers.
//!
//! A log stream has a path ("conn") and a schema (field names and Zeek types).
//! Rows are slices of borrowed [`Value`]s; a [`LogWriter`] turns them into bytes
//! (Zeek TSV or JSON lines) into a buffered sink. Later issues move the
//! formatting into Wasm writer components behind this same trait.

pub mod conn;
pub mod json;
pub mod tsv;
pub mod weird;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Zeek field types used by the logs written here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Time,
    Interval,
    String,
    Addr,
    Port,
    Enum,
    Count,
    Bool,
    SetString,
}

impl FieldType {
    pub fn zeek_name(self) -> &'static str {
        match self {
            FieldType::Time => "time",
            FieldType::Interval => "interval",
            FieldType::String => "string",
            FieldType::Addr => "addr",
            FieldType::Port => "port",
            FieldType::Enum => "enum",
            FieldType::Count => "count",
            FieldType::Bool => "bool",
            FieldType::SetString => "set[string]",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
}

/// A log stream's identity and columns.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    pub path: &'static str,
    pub fields: &'static [Field],
}

/// One field value, borrowed from the record being logged. Times are microseconds.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Unset,
    Time(i64),
    Interval(i64),
    Str(&'a str),
    Addr(IpAddr),
    Port(u16),
    Enum(&'a str),
    Count(u64),
    Bool(bool),
    Set(&'a [&'a str]),
}

/// Writes rows of one stream. Implementations buffer; `finish` flushes and closes.
pub trait LogWriter: Send {
    fn write_row(&mut self, row: &[Value<'_>]) -> io::Result<()>;
    fn finish(&mut self) -> io::Result<()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Tsv,
    Json,
}

/// Opens a writer of `format` for `schema` under `dir`.
pub fn open_writer(
    dir: &Path,
    schema: Schema,
    format: LogFormat,
) -> io::Result<Box<dyn LogWriter>> {
    let path: PathBuf = dir.join(format!("{}.log", schema.path));
    let file = File::create(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))?;
    let out = BufWriter::with_capacity(256 * 1024, file);
    Ok(match format {
        LogFormat::Tsv => Box::new(tsv::TsvWriter::new(out, schema)?),
        LogFormat::Json => Box::new(json::JsonWriter::new(out, schema)),
    })
}

/// Formats microseconds as seconds with six decimals, as Zeek prints time/interval.
pub fn write_micros(out: &mut impl Write, us: i64) -> io::Result<()> {
    let neg = us < 0;
    let a = us.unsigned_abs();
    let mut b = itoa::Buffer::new();
    if neg {
        out.write_all(b"-")?;
    }
    out.write_all(b.format(a / 1_000_000).as_bytes())?;
    let frac = a % 1_000_000;
    let mut digits = [b'0'; 7];
    digits[0] = b'.';
    let mut f = frac;
    for i in (1..7).rev() {
        digits[i] = b'0' + (f % 10) as u8;
        f /= 10;
    }
    out.write_all(&digits)
}

/// Local time as Zeek writes it in #open/#close: %Y-%m-%d-%H-%M-%S.
pub fn zeek_timestamp_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r only writes into the tm we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&now, &mut tm) };
    format!(
        "{:04}-{:02}-{:02}-{:02}-{:02}-{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn micros_format() {
        let mut v = Vec::new();
        write_micros(&mut v, 1_300_475_167_096_535).unwrap();
        assert_eq!(v, b"1300475167.096535");
        v.clear();
        write_micros(&mut v, 5).unwrap();
        assert_eq!(v, b"0.000005");
        v.clear();
        write_micros(&mut v, -1_500_000).unwrap();
        assert_eq!(v, b"-1.500000");
    }
    #[test]
    fn open_timestamp_shape() {
        let t = zeek_timestamp_now();
        assert_eq!(t.len(), 19);
        assert_eq!(t.matches('-').count(), 5);
    }
}
