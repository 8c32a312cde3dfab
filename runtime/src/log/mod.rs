//! The logging interface: typed schemas, borrowed values, and writers.
//!
//! A log stream has a path ("conn") and a schema (field names and Zeek types). Rows are
//! slices of borrowed [`Value`]s. Streams are opened through the logging framework
//! ([`manager::LogManager`]), which sends each row to the stream's filters ([`config`]): a
//! format ([`format`]: the built-in Zeek TSV and JSON, or a log-writer component) writing a
//! file the host owns and rotates ([`file`]).

pub mod config;
pub mod conn;
pub mod file;
pub mod format;
pub mod json;
pub mod manager;
pub mod offload;
pub mod packed;
pub mod row_batch;
pub mod tsv;
pub mod weird;

use std::borrow::Cow;
use std::io::{self, Write};
use std::net::IpAddr;

/// The Zeek types a set or vector column can hold, and the scalar column types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarType {
    Time,
    Interval,
    String,
    Addr,
    Port,
    Enum,
    Count,
    Int,
    Double,
    Bool,
    Subnet,
}

impl ScalarType {
    /// Every scalar type, in declaration order.
    pub const ALL: [ScalarType; 11] = [
        ScalarType::Time,
        ScalarType::Interval,
        ScalarType::String,
        ScalarType::Addr,
        ScalarType::Port,
        ScalarType::Enum,
        ScalarType::Count,
        ScalarType::Int,
        ScalarType::Double,
        ScalarType::Bool,
        ScalarType::Subnet,
    ];

    /// The type's name in a Zeek `#types` header line.
    pub const fn zeek_name(self) -> &'static str {
        match self {
            ScalarType::Time => "time",
            ScalarType::Interval => "interval",
            ScalarType::String => "string",
            ScalarType::Addr => "addr",
            ScalarType::Port => "port",
            ScalarType::Enum => "enum",
            ScalarType::Count => "count",
            ScalarType::Int => "int",
            ScalarType::Double => "double",
            ScalarType::Bool => "bool",
            ScalarType::Subnet => "subnet",
        }
    }

    /// `set[<name>]`, from a static table so dynamic schemas never allocate type names.
    const fn set_name(self) -> &'static str {
        match self {
            ScalarType::Time => "set[time]",
            ScalarType::Interval => "set[interval]",
            ScalarType::String => "set[string]",
            ScalarType::Addr => "set[addr]",
            ScalarType::Port => "set[port]",
            ScalarType::Enum => "set[enum]",
            ScalarType::Count => "set[count]",
            ScalarType::Int => "set[int]",
            ScalarType::Double => "set[double]",
            ScalarType::Bool => "set[bool]",
            ScalarType::Subnet => "set[subnet]",
        }
    }

    /// `vector[<name>]`, from a static table.
    const fn vector_name(self) -> &'static str {
        match self {
            ScalarType::Time => "vector[time]",
            ScalarType::Interval => "vector[interval]",
            ScalarType::String => "vector[string]",
            ScalarType::Addr => "vector[addr]",
            ScalarType::Port => "vector[port]",
            ScalarType::Enum => "vector[enum]",
            ScalarType::Count => "vector[count]",
            ScalarType::Int => "vector[int]",
            ScalarType::Double => "vector[double]",
            ScalarType::Bool => "vector[bool]",
            ScalarType::Subnet => "vector[subnet]",
        }
    }

    /// The scalar type whose Zeek name is `name` ("count", "addr", ...).
    pub fn from_zeek_name(name: &str) -> Option<ScalarType> {
        ScalarType::ALL.into_iter().find(|t| t.zeek_name() == name)
    }
}

/// Zeek field types of log columns.
///
/// `SetString` predates `Set(ScalarType::String)`; both are Zeek's `set[string]` and format
/// identically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    Int,
    Double,
    Subnet,
    Set(ScalarType),
    Vector(ScalarType),
}

impl FieldType {
    /// The type's name in a Zeek `#types` header line ("count", "set[string]", "vector[addr]").
    pub const fn zeek_name(self) -> &'static str {
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
            FieldType::Int => "int",
            FieldType::Double => "double",
            FieldType::Subnet => "subnet",
            FieldType::Set(t) => t.set_name(),
            FieldType::Vector(t) => t.vector_name(),
        }
    }

    /// The column type holding a single value of `t`.
    pub const fn scalar(t: ScalarType) -> FieldType {
        match t {
            ScalarType::Time => FieldType::Time,
            ScalarType::Interval => FieldType::Interval,
            ScalarType::String => FieldType::String,
            ScalarType::Addr => FieldType::Addr,
            ScalarType::Port => FieldType::Port,
            ScalarType::Enum => FieldType::Enum,
            ScalarType::Count => FieldType::Count,
            ScalarType::Int => FieldType::Int,
            ScalarType::Double => FieldType::Double,
            ScalarType::Bool => FieldType::Bool,
            ScalarType::Subnet => FieldType::Subnet,
        }
    }

    /// The element type of a set or vector column, `None` for a scalar column.
    pub const fn element(self) -> Option<ScalarType> {
        match self {
            FieldType::SetString => Some(ScalarType::String),
            FieldType::Set(t) | FieldType::Vector(t) => Some(t),
            _ => None,
        }
    }

    /// Parses a Zeek type name as written by [`FieldType::zeek_name`]. `set[string]` parses
    /// as `Set(ScalarType::String)`.
    pub fn from_zeek_name(name: &str) -> Option<FieldType> {
        let inner = |prefix: &str| {
            name.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(']'))
                .and_then(ScalarType::from_zeek_name)
        };
        if let Some(t) = inner("set[") {
            return Some(FieldType::Set(t));
        }
        if let Some(t) = inner("vector[") {
            return Some(FieldType::Vector(t));
        }
        ScalarType::from_zeek_name(name).map(FieldType::scalar)
    }
}

/// One column: Zeek's (flattened) field name and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: Cow<'static, str>,
    pub ty: FieldType,
}

impl Field {
    /// A field with a static name, usable in `const` tables.
    pub const fn new_static(name: &'static str, ty: FieldType) -> Field {
        Field {
            name: Cow::Borrowed(name),
            ty,
        }
    }

    /// A field whose name may be known only at run time.
    pub fn new(name: impl Into<Cow<'static, str>>, ty: FieldType) -> Field {
        Field {
            name: name.into(),
            ty,
        }
    }
}

/// A log stream's identity and columns. Built-in streams use static schemas
/// ([`Schema::new_static`]); streams created at run time own their path and fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub path: Cow<'static, str>,
    pub fields: Cow<'static, [Field]>,
}

impl Schema {
    /// A schema of static data, usable in `const` items.
    pub const fn new_static(path: &'static str, fields: &'static [Field]) -> Schema {
        Schema {
            path: Cow::Borrowed(path),
            fields: Cow::Borrowed(fields),
        }
    }

    /// A schema built at run time.
    pub fn new(
        path: impl Into<Cow<'static, str>>,
        fields: impl Into<Cow<'static, [Field]>>,
    ) -> Schema {
        Schema {
            path: path.into(),
            fields: fields.into(),
        }
    }

    /// Checks what the writers rely on: the path is a plain file name (not empty, no `/`,
    /// `\`, NUL, no leading `.`), and field names are non-empty, unique, and printable ASCII
    /// without spaces (so `#fields` stays one tab-separated line and JSON keys are unique).
    /// Callers that accept schemas from guests should apply their own, stricter policy first.
    pub fn validate(&self) -> Result<(), String> {
        let p = self.path.as_ref();
        if p.is_empty() || p.starts_with('.') || p.contains(['/', '\\', '\0']) {
            return Err(format!("invalid log path {p:?}"));
        }
        for (i, f) in self.fields.iter().enumerate() {
            let n = f.name.as_ref();
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!("invalid field name {n:?} in log {p:?}"));
            }
            if self.fields[..i].iter().any(|g| g.name == f.name) {
                return Err(format!("duplicate field name {n:?} in log {p:?}"));
            }
        }
        Ok(())
    }
}

/// One field value, borrowed from the record being logged. Times are microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
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
    /// A `set[string]`'s elements.
    Set(&'a [&'a str]),
    Int(i64),
    Double(f64),
    /// A subnet: the prefix and its length in bits. Written masked to the length, as Zeek
    /// stores subnets.
    Subnet(IpAddr, u8),
    /// The elements of a set or vector column, of any scalar type.
    List(&'a [Value<'a>]),
}

/// Writes rows of one stream. Implementations buffer; `finish` flushes and closes.
pub trait LogWriter: Send {
    fn write_row(&mut self, row: &[Value<'_>]) -> io::Result<()>;
    /// `count` rows in the WIT `packed-rows` encoding, already checked against the stream's
    /// schema (a guest's `log.write-packed`); by default written row by row.
    fn write_packed(&mut self, count: u32, bytes: &[u8]) -> io::Result<()> {
        packed::for_each_row(count, bytes, |row| self.write_row(row))
    }
    fn finish(&mut self) -> io::Result<()>;
}

/// The built-in formats (`--log-format tsv|json` without writer components).
pub type LogFormat = format::Builtin;

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

/// Writes an address as Zeek renders one: dotted quad, or RFC 5952 text for IPv6.
/// IPv4 is formatted here without `fmt`: two addresses go into every conn.log row, and
/// `Display` for `Ipv4Addr` costs several times as much as the digits themselves.
pub fn write_addr(out: &mut impl Write, addr: IpAddr) -> io::Result<()> {
    match addr {
        IpAddr::V4(a) => {
            let mut text = [0u8; 15];
            let mut len = 0;
            for (i, octet) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    text[len] = b'.';
                    len += 1;
                }
                let (h, t, o) = (octet / 100, octet / 10 % 10, octet % 10);
                if h > 0 {
                    text[len] = b'0' + h;
                    len += 1;
                }
                if h > 0 || t > 0 {
                    text[len] = b'0' + t;
                    len += 1;
                }
                text[len] = b'0' + o;
                len += 1;
            }
            out.write_all(&text[..len])
        }
        IpAddr::V6(a) => write!(out, "{a}"),
    }
}

/// Writes a subnet as Zeek renders one ("10.0.0.0/8", "2001:db8::/32"). Zeek keeps subnets
/// masked to their length, so host bits of `addr` are cleared here.
pub fn write_subnet(out: &mut impl Write, addr: IpAddr, len: u8) -> io::Result<()> {
    let masked = match addr {
        IpAddr::V4(a) => {
            let keep = u32::from(len.min(32));
            let mask = u32::MAX.checked_shl(32 - keep).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let keep = u32::from(len.min(128));
            let mask = u128::MAX.checked_shl(128 - keep).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    };
    write_addr(out, masked)?;
    out.write_all(b"/")?;
    out.write_all(itoa::Buffer::new().format(len).as_bytes())
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
    fn addresses_render_as_display_does() {
        let mut samples: Vec<IpAddr> = ["2001:db8::1", "::ffff:1.2.3.4", "::", "fe80::1:2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        for octet in 0..=255u8 {
            samples.push(IpAddr::from([octet, 255 - octet, octet / 3, 9]));
        }
        for a in samples {
            let mut v = Vec::new();
            write_addr(&mut v, a).unwrap();
            assert_eq!(String::from_utf8(v).unwrap(), a.to_string());
        }
    }

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
    fn type_names() {
        assert_eq!(FieldType::Int.zeek_name(), "int");
        assert_eq!(FieldType::Double.zeek_name(), "double");
        assert_eq!(FieldType::Subnet.zeek_name(), "subnet");
        assert_eq!(FieldType::SetString.zeek_name(), "set[string]");
        assert_eq!(FieldType::Set(ScalarType::Count).zeek_name(), "set[count]");
        assert_eq!(
            FieldType::Vector(ScalarType::String).zeek_name(),
            "vector[string]"
        );
        for t in ScalarType::ALL {
            let scalar = FieldType::scalar(t);
            assert_eq!(scalar.zeek_name(), t.zeek_name());
            assert_eq!(
                FieldType::Set(t).zeek_name(),
                format!("set[{}]", t.zeek_name())
            );
            assert_eq!(
                FieldType::Vector(t).zeek_name(),
                format!("vector[{}]", t.zeek_name())
            );
            for ty in [scalar, FieldType::Set(t), FieldType::Vector(t)] {
                assert_eq!(FieldType::from_zeek_name(ty.zeek_name()), Some(ty));
            }
        }
        assert_eq!(FieldType::from_zeek_name("set[set[count]]"), None);
        assert_eq!(FieldType::from_zeek_name("table"), None);
    }

    #[test]
    fn schema_validation() {
        let ok = Schema::new(
            String::from("dns_x"),
            vec![Field::new("a.b", FieldType::Int)],
        );
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.clone(), ok);
        for bad_path in ["", "../x", "a/b", ".hidden"] {
            assert!(
                Schema::new(bad_path, Vec::new()).validate().is_err(),
                "{bad_path:?}"
            );
        }
        for bad_fields in [
            vec![Field::new("", FieldType::Int)],
            vec![Field::new("a\tb", FieldType::Int)],
            vec![Field::new("a b", FieldType::Int)],
            vec![
                Field::new("x", FieldType::Int),
                Field::new("x", FieldType::Bool),
            ],
        ] {
            assert!(Schema::new("p", bad_fields).validate().is_err());
        }
        let dir = tempfile::tempdir().unwrap();
        let manager = manager::LogManager::native(dir.path(), format::Builtin::Tsv);
        let err = match manager.open(Schema::new("../escape", Vec::new())) {
            Err(e) => e,
            Ok(_) => panic!("opened a writer outside the log directory"),
        };
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn open_timestamp_shape() {
        let t = zeek_timestamp_now();
        assert_eq!(t.len(), 19);
        assert_eq!(t.matches('-').count(), 5);
    }
}
