//! Log streams created by components: ownership, schema checks, and conversion of guest rows
//! into the host's log writers (Zeek TSV or JSON, like the host's own logs).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use sandpiper_packed::ValueRef;

use super::bindings::types::{FieldType, IpAddress, LogSchema, ScalarType, Value};
use super::host::CallRows;
use crate::log::manager::LogManager;
use crate::log::{self, LogWriter};

/// Most columns in a guest log stream.
pub const MAX_FIELDS: usize = 256;
/// Most values in one row (columns plus container elements).
pub const MAX_ROW_VALUES: usize = 65_536;
/// Most streams one module may create.
pub const MAX_STREAMS_PER_MODULE: usize = 32;
/// Log paths the host writes itself.
const RESERVED: &[&str] = &["conn", "weird", "analyzer_failed", "notice", "reporter"];

struct Stream {
    owner: String,
    /// Shared: `log.write` checks rows against it without copying it.
    schema: Arc<LogSchema>,
}

/// Every stream created by any component, shared by all Stores. Stream ids are indexes.
#[derive(Default)]
pub struct StreamRegistry {
    streams: Mutex<Vec<Stream>>,
}

impl StreamRegistry {
    /// `log.create-stream`.
    pub fn create(&self, module: &str, schema: LogSchema) -> Result<u32, String> {
        validate_schema(&schema)?;
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((i, s)) = streams
            .iter()
            .enumerate()
            .find(|(_, s)| s.schema.path == schema.path)
        {
            if s.owner != module {
                return Err(format!(
                    "log path {:?} belongs to module {}",
                    schema.path, s.owner
                ));
            }
            if *s.schema != schema {
                return Err(format!(
                    "log path {:?} exists with a different schema",
                    schema.path
                ));
            }
            return Ok(i as u32);
        }
        if streams.iter().filter(|s| s.owner == module).count() >= MAX_STREAMS_PER_MODULE {
            return Err(format!(
                "a module creates at most {MAX_STREAMS_PER_MODULE} streams"
            ));
        }
        streams.push(Stream {
            owner: module.to_string(),
            schema: Arc::new(schema),
        });
        Ok((streams.len() - 1) as u32)
    }

    /// The schema of `stream` if `module` owns it.
    pub fn schema_for(&self, module: &str, stream: u32) -> Result<Arc<LogSchema>, String> {
        let streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        match streams.get(stream as usize) {
            Some(s) if s.owner == module => Ok(s.schema.clone()),
            _ => Err(format!("stream {stream} was not created by this module")),
        }
    }

    fn schema(&self, stream: u32) -> Option<Arc<LogSchema>> {
        let streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams.get(stream as usize).map(|s| s.schema.clone())
    }
}

fn validate_schema(schema: &LogSchema) -> Result<(), String> {
    let p = &schema.path;
    let path_ok = !p.is_empty()
        && p.len() <= 64
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !path_ok {
        return Err(format!(
            "log path {p:?}: use 1-64 characters of a-z, 0-9 and '_'"
        ));
    }
    if RESERVED.contains(&p.as_str()) {
        return Err(format!("log path {p:?} is written by the host"));
    }
    if schema.fields.is_empty() || schema.fields.len() > MAX_FIELDS {
        return Err(format!("a schema has 1 to {MAX_FIELDS} fields"));
    }
    for (i, f) in schema.fields.iter().enumerate() {
        let ok = !f.name.is_empty()
            && f.name.len() <= 64
            && f.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
        if !ok {
            return Err(format!(
                "field {i} name {:?}: use a-z, 0-9, '_' and '.'",
                f.name
            ));
        }
        if schema.fields[..i].iter().any(|g| g.name == f.name) {
            return Err(format!("field {:?} appears twice", f.name));
        }
    }
    Ok(())
}

pub use crate::log::packed::{host_row, GuestValue};

impl GuestValue for Value {
    fn view(&self) -> ValueRef<'_> {
        super::packed_wit::value_ref(self)
    }
}

fn scalar_matches(ty: ScalarType, v: ValueRef<'_>) -> bool {
    matches!(
        (ty, v),
        (ScalarType::Boolean, ValueRef::Boolean(_))
            | (ScalarType::Count, ValueRef::Count(_))
            | (ScalarType::Integer, ValueRef::Integer(_))
            | (ScalarType::Double, ValueRef::Double(_))
            | (ScalarType::Time, ValueRef::Time(_))
            | (ScalarType::Interval, ValueRef::Interval(_))
            | (ScalarType::Str, ValueRef::Str(_))
            | (ScalarType::Addr, ValueRef::Addr(_))
            | (ScalarType::Port, ValueRef::Port(..))
            | (ScalarType::Subnet, ValueRef::Subnet(..))
            | (ScalarType::Enumeration, ValueRef::Enumeration(_))
    )
}

/// Checks that a row matches its schema (see `types.value` for the flat container encoding).
pub fn check_row<V: GuestValue>(schema: &LogSchema, row: &[V]) -> Result<(), String> {
    let mut at = 0;
    for f in &schema.fields {
        let Some(v) = row.get(at) else {
            return Err(format!("missing a value for {:?}", f.name));
        };
        at += 1;
        if matches!(v.view(), ValueRef::Unset) {
            if !f.optional {
                return Err(format!("{:?} is not optional", f.name));
            }
            continue;
        }
        match f.type_ {
            FieldType::Scalar(t) => {
                if !scalar_matches(t, v.view()) {
                    return Err(format!("{:?} expects a {t:?}", f.name));
                }
            }
            FieldType::Set(t) | FieldType::Vector(t) => {
                let n = match (f.type_, v.view()) {
                    (FieldType::Set(_), ValueRef::SetOf(n))
                    | (FieldType::Vector(_), ValueRef::VectorOf(n)) => n as usize,
                    _ => return Err(format!("{:?} expects a container header", f.name)),
                };
                let Some(items) = row.get(at..at + n) else {
                    return Err(format!(
                        "{:?}: the container has fewer than {n} elements",
                        f.name
                    ));
                };
                if let Some(bad) = items.iter().find(|e| !scalar_matches(t, e.view())) {
                    return Err(format!("{:?}: element {bad:?} is not a {t:?}", f.name));
                }
                at += n;
            }
        }
    }
    if at != row.len() {
        return Err(format!(
            "{} values for {} columns",
            row.len(),
            schema.fields.len()
        ));
    }
    Ok(())
}

fn host_scalar(t: ScalarType) -> log::ScalarType {
    use log::ScalarType as S;
    match t {
        ScalarType::Boolean => S::Bool,
        ScalarType::Count => S::Count,
        ScalarType::Integer => S::Int,
        ScalarType::Double => S::Double,
        ScalarType::Time => S::Time,
        ScalarType::Interval => S::Interval,
        ScalarType::Str => S::String,
        ScalarType::Addr => S::Addr,
        ScalarType::Port => S::Port,
        ScalarType::Subnet => S::Subnet,
        ScalarType::Enumeration => S::Enum,
    }
}

fn host_field_type(t: FieldType) -> log::FieldType {
    use log::FieldType as F;
    match t {
        FieldType::Set(s) => F::Set(host_scalar(s)),
        FieldType::Vector(s) => F::Vector(host_scalar(s)),
        FieldType::Scalar(s) => F::scalar(host_scalar(s)),
    }
}

/// The host log schema for a guest schema.
pub fn host_schema(s: &LogSchema) -> log::Schema {
    log::Schema {
        path: Cow::Owned(s.path.clone()),
        fields: Cow::Owned(
            s.fields
                .iter()
                .map(|f| log::Field {
                    name: Cow::Owned(f.name.clone()),
                    ty: host_field_type(f.type_),
                })
                .collect(),
        ),
    }
}

pub fn ip(a: &IpAddress) -> IpAddr {
    match *a {
        IpAddress::V4((a, b, c, d)) => Ipv4Addr::new(a, b, c, d).into(),
        IpAddress::V6((a, b, c, d, e, f, g, h)) => Ipv6Addr::new(a, b, c, d, e, f, g, h).into(),
    }
}

pub fn ip_address(a: IpAddr) -> IpAddress {
    match a {
        IpAddr::V4(a) => {
            let [a, b, c, d] = a.octets();
            IpAddress::V4((a, b, c, d))
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            IpAddress::V6((s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]))
        }
    }
}

/// Writes committed guest rows into per-stream logs, opened on first use.
pub struct GuestLogs {
    manager: Arc<LogManager>,
    writers: HashMap<u32, Box<dyn LogWriter>>,
}

impl GuestLogs {
    pub fn new(manager: Arc<LogManager>) -> Self {
        GuestLogs {
            manager,
            writers: HashMap::new(),
        }
    }

    pub fn manager(&self) -> &Arc<LogManager> {
        &self.manager
    }

    /// Writes rows already checked against their schema by `log.write`.
    pub fn write(&mut self, registry: &StreamRegistry, rows: &[CallRows]) -> io::Result<()> {
        for batch in rows {
            let stream = match batch {
                CallRows::Owned(stream, _) | CallRows::Packed { stream, .. } => *stream,
            };
            if !self.writers.contains_key(&stream) {
                let Some(schema) = registry.schema(stream) else {
                    continue;
                };
                let w = self.manager.open(host_schema(&schema))?;
                self.writers.insert(stream, w);
            }
            let w = self.writers.get_mut(&stream).expect("opened above");
            match batch {
                CallRows::Owned(_, row) => host_row(row, |cells| w.write_row(cells))?,
                // Checked when the guest wrote them; the formats take the batch as it is.
                CallRows::Packed { count, bytes, .. } => w.write_packed(*count, bytes)?,
            }
        }
        Ok(())
    }

    pub fn finish(&mut self) -> io::Result<()> {
        for w in self.writers.values_mut() {
            w.finish()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasm::bindings::types::Field;

    fn schema() -> LogSchema {
        LogSchema {
            path: "demo".into(),
            fields: vec![
                Field {
                    name: "ts".into(),
                    type_: FieldType::Scalar(ScalarType::Time),
                    optional: false,
                },
                Field {
                    name: "tags".into(),
                    type_: FieldType::Set(ScalarType::Str),
                    optional: true,
                },
                Field {
                    name: "n".into(),
                    type_: FieldType::Scalar(ScalarType::Count),
                    optional: true,
                },
            ],
        }
    }

    #[test]
    fn rows_must_match_the_schema() {
        let s = schema();
        let ok = [
            Value::Time(1.5),
            Value::SetOf(2),
            Value::Str("a".into()),
            Value::Str("b".into()),
            Value::Count(3),
        ];
        assert_eq!(check_row(&s, &ok), Ok(()));
        assert!(check_row(&s, &[Value::Time(1.0), Value::Unset, Value::Unset]).is_ok());
        assert!(check_row(&s, &[Value::Unset, Value::Unset, Value::Unset])
            .unwrap_err()
            .contains("not optional"));
        assert!(check_row(
            &s,
            &[Value::Time(1.0), Value::SetOf(5), Value::Str("a".into())]
        )
        .unwrap_err()
        .contains("fewer"));
        assert!(check_row(
            &s,
            &[
                Value::Time(1.0),
                Value::SetOf(1),
                Value::Count(1),
                Value::Unset
            ]
        )
        .unwrap_err()
        .contains("element"));
        assert!(check_row(
            &s,
            &[Value::Time(1.0), Value::Unset, Value::Unset, Value::Unset]
        )
        .unwrap_err()
        .contains("4 values"));
    }

    #[test]
    fn streams_belong_to_their_module() {
        let r = StreamRegistry::default();
        let id = r.create("a", schema()).unwrap();
        assert_eq!(r.create("a", schema()), Ok(id));
        assert!(r
            .create("b", schema())
            .unwrap_err()
            .contains("belongs to module a"));
        let mut other = schema();
        other.fields.pop();
        assert!(r
            .create("a", other)
            .unwrap_err()
            .contains("different schema"));
        assert!(r.schema_for("b", id).is_err());
        let mut conn = schema();
        conn.path = "conn".into();
        assert!(r.create("a", conn).unwrap_err().contains("host"));
        let mut bad = schema();
        bad.path = "../etc/passwd".into();
        assert!(r.create("a", bad).is_err());
    }

    #[test]
    fn guest_rows_are_written_as_zeek_tsv() {
        let dir = tempfile::tempdir().unwrap();
        let r = StreamRegistry::default();
        let id = r.create("a", schema()).unwrap();
        let manager = LogManager::native(dir.path(), crate::log::format::Builtin::Tsv);
        let mut logs = GuestLogs::new(manager);
        let row = vec![
            Value::Time(1.5),
            Value::SetOf(2),
            Value::Str("a".into()),
            Value::Str("b".into()),
            Value::Unset,
        ];
        // The same row lifted (log.write) and packed (log.write-packed), then packed again.
        let mut packed = sandpiper_packed::Encoder::new();
        for _ in 0..2 {
            packed.begin_row();
            for v in &row {
                packed.push(crate::wasm::packed_wit::value_ref(v));
            }
            packed.end_row();
        }
        let (count, bytes) = packed.take();
        let rows = [
            CallRows::Owned(id, row),
            CallRows::Packed {
                stream: id,
                count,
                bytes,
            },
        ];
        logs.write(&r, &rows).unwrap();
        logs.finish().unwrap();
        let text = std::fs::read_to_string(dir.path().join("demo.log")).unwrap();
        assert!(text.contains("#fields\tts\ttags\tn\n#types\ttime\tset[string]\tcount\n"));
        let rows = text.lines().filter(|l| *l == "1.500000\ta,b\t-").count();
        assert_eq!(rows, 3, "{text}");
    }
}
