//! JSON lines with Zeek's field names (`id.orig_h`, ...); unset fields are omitted.

use std::io::{self, Write};

use super::{write_micros, LogWriter, Schema, Value};

pub struct JsonWriter<W: Write> {
    out: W,
    schema: Schema,
}

impl<W: Write + Send> JsonWriter<W> {
    pub fn new(out: W, schema: Schema) -> Self {
        JsonWriter { out, schema }
    }
}

fn write_json_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            _ => None,
        };
        if esc.is_some() || b < 0x20 {
            out.write_all(&bytes[start..i])?;
            match esc {
                Some(e) => out.write_all(e)?,
                None => write!(out, "\\u{:04x}", b)?,
            }
            start = i + 1;
        }
    }
    out.write_all(&bytes[start..])?;
    out.write_all(b"\"")
}

impl<W: Write + Send> LogWriter for JsonWriter<W> {
    fn write_row(&mut self, row: &[Value<'_>]) -> io::Result<()> {
        let mut ib = itoa::Buffer::new();
        let mut first = true;
        self.out.write_all(b"{")?;
        for (f, v) in self.schema.fields.iter().zip(row) {
            if matches!(v, Value::Unset) {
                continue;
            }
            if !first {
                self.out.write_all(b",")?;
            }
            first = false;
            write_json_str(&mut self.out, f.name)?;
            self.out.write_all(b":")?;
            match *v {
                Value::Unset => {}
                Value::Time(us) | Value::Interval(us) => write_micros(&mut self.out, us)?,
                Value::Str(s) | Value::Enum(s) => write_json_str(&mut self.out, s)?,
                Value::Addr(a) => write!(self.out, "\"{a}\"")?,
                Value::Port(p) => self.out.write_all(ib.format(p).as_bytes())?,
                Value::Count(c) => self.out.write_all(ib.format(c).as_bytes())?,
                Value::Bool(b) => self.out.write_all(if b { b"true" } else { b"false" })?,
                Value::Set(items) => {
                    self.out.write_all(b"[")?;
                    for (i, s) in items.iter().enumerate() {
                        if i > 0 {
                            self.out.write_all(b",")?;
                        }
                        write_json_str(&mut self.out, s)?;
                    }
                    self.out.write_all(b"]")?;
                }
            }
        }
        self.out.write_all(b"}\n")
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Field, FieldType};

    #[test]
    fn zeek_json_shape() {
        const F: &[Field] = &[
            Field {
                name: "ts",
                ty: FieldType::Time,
            },
            Field {
                name: "id.orig_h",
                ty: FieldType::Addr,
            },
            Field {
                name: "id.orig_p",
                ty: FieldType::Port,
            },
            Field {
                name: "service",
                ty: FieldType::String,
            },
            Field {
                name: "local_orig",
                ty: FieldType::Bool,
            },
            Field {
                name: "tunnel_parents",
                ty: FieldType::SetString,
            },
        ];
        let mut buf = Vec::new();
        let mut w = JsonWriter::new(
            &mut buf,
            Schema {
                path: "conn",
                fields: F,
            },
        );
        w.write_row(&[
            Value::Time(1_500_000),
            Value::Addr("10.0.0.1".parse().unwrap()),
            Value::Port(80),
            Value::Unset,
            Value::Bool(true),
            Value::Set(&["C1\"x"]),
        ])
        .unwrap();
        w.finish().unwrap();
        let line = String::from_utf8(buf).unwrap();
        assert_eq!(
            line,
            "{\"ts\":1.500000,\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":80,\"local_orig\":true,\"tunnel_parents\":[\"C1\\\"x\"]}\n"
        );
    }
}
