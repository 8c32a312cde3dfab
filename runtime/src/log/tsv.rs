//! Zeek's tab-separated log format, header and footer included.

use std::io::{self, Write};

use super::{write_micros, LogWriter, Schema, Value};

pub struct TsvWriter<W: Write> {
    out: W,
    closed: bool,
}

impl<W: Write + Send> TsvWriter<W> {
    pub fn new(mut out: W, schema: Schema) -> io::Result<Self> {
        write!(
            out,
            "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t{}\n#open\t{}\n#fields",
            schema.path,
            super::zeek_timestamp_now()
        )?;
        for f in schema.fields {
            write!(out, "\t{}", f.name)?;
        }
        out.write_all(b"\n#types")?;
        for f in schema.fields {
            write!(out, "\t{}", f.ty.zeek_name())?;
        }
        out.write_all(b"\n")?;
        Ok(TsvWriter { out, closed: false })
    }
}

/// Escapes a string as Zeek does: non-printable bytes and the separators as \xNN;
/// an empty string is "(empty)" and a lone "-" is escaped so it is not "unset".
pub fn write_escaped(out: &mut impl Write, s: &str, in_set: bool) -> io::Result<()> {
    if s.is_empty() {
        return out.write_all(b"(empty)");
    }
    if s == "-" {
        return out.write_all(b"\\x2d");
    }
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = b == b'\t' || b == b'\\' || !(0x20..0x7f).contains(&b) || (in_set && b == b',');
        if esc {
            out.write_all(&bytes[start..i])?;
            write!(out, "\\x{b:02x}")?;
            start = i + 1;
        }
    }
    out.write_all(&bytes[start..])
}

fn write_value(out: &mut impl Write, v: &Value<'_>) -> io::Result<()> {
    let mut ib = itoa::Buffer::new();
    match *v {
        Value::Unset => out.write_all(b"-"),
        Value::Time(us) | Value::Interval(us) => write_micros(out, us),
        Value::Str(s) | Value::Enum(s) => write_escaped(out, s, false),
        Value::Addr(a) => write!(out, "{a}"),
        Value::Port(p) => out.write_all(ib.format(p).as_bytes()),
        Value::Count(c) => out.write_all(ib.format(c).as_bytes()),
        Value::Bool(b) => out.write_all(if b { b"T" } else { b"F" }),
        Value::Set(items) => {
            if items.is_empty() {
                return out.write_all(b"(empty)");
            }
            for (i, s) in items.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_escaped(out, s, true)?;
            }
            Ok(())
        }
    }
}

impl<W: Write + Send> LogWriter for TsvWriter<W> {
    fn write_row(&mut self, row: &[Value<'_>]) -> io::Result<()> {
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                self.out.write_all(b"\t")?;
            }
            write_value(&mut self.out, v)?;
        }
        self.out.write_all(b"\n")
    }

    fn finish(&mut self) -> io::Result<()> {
        if !self.closed {
            self.closed = true;
            writeln!(self.out, "#close\t{}", super::zeek_timestamp_now())?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Field, FieldType};

    const FIELDS: &[Field] = &[
        Field {
            name: "ts",
            ty: FieldType::Time,
        },
        Field {
            name: "s",
            ty: FieldType::String,
        },
        Field {
            name: "b",
            ty: FieldType::Bool,
        },
        Field {
            name: "set",
            ty: FieldType::SetString,
        },
    ];

    #[test]
    fn header_rows_footer() {
        let mut buf = Vec::new();
        {
            let mut w = TsvWriter::new(
                &mut buf,
                Schema {
                    path: "test",
                    fields: FIELDS,
                },
            )
            .unwrap();
            w.write_row(&[
                Value::Time(1_000_001),
                Value::Str("a\tb"),
                Value::Bool(true),
                Value::Set(&["x", "y"]),
            ])
            .unwrap();
            w.write_row(&[
                Value::Unset,
                Value::Str(""),
                Value::Bool(false),
                Value::Set(&[]),
            ])
            .unwrap();
            w.finish().unwrap();
        }
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "#separator \\x09");
        assert_eq!(lines[4], "#path\ttest");
        assert_eq!(lines[6], "#fields\tts\ts\tb\tset");
        assert_eq!(lines[7], "#types\ttime\tstring\tbool\tset[string]");
        assert_eq!(lines[8], "1.000001\ta\\x09b\tT\tx,y");
        assert_eq!(lines[9], "-\t(empty)\tF\t(empty)");
        assert!(lines[10].starts_with("#close\t"));
    }
}
