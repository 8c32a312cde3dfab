//! The notice framework: notices raised by handlers become notice.log rows with Zeek's columns,
//! after suppression.
//!
//! Suppression follows Zeek's `Notice::is_being_suppressed`: a notice with an identifier is
//! dropped while an earlier notice with the same note and identifier is within its
//! `suppress_for` interval (network time). The first notice starts the interval; notices
//! dropped during it do not extend it. A notice without an identifier is never suppressed.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use super::bindings::sandpiper::monitor::notice::Info;
use super::bindings::types::Transport;
use super::streams::ip;
use crate::log::manager::LogManager;
#[cfg(test)]
use crate::log::LogFormat;
use crate::log::{Field, FieldType as T, LogWriter, ScalarType, Schema, Value};

/// Zeek's `Notice::default_suppression_interval`.
pub const DEFAULT_SUPPRESS_SECS: f64 = 3600.0;
/// Identifiers remembered for suppression; past this the expired ones are swept, and if none
/// has expired the oldest half is forgotten (a guest cannot grow the table without bound).
const MAX_SUPPRESSED: usize = 65_536;

/// notice.log as Zeek 7 writes it by default (base/frameworks/notice/main.zeek `Notice::Info`
/// with the geo fields of `remote_location`, which Sandpiper does not fill).
const FIELDS: &[Field] = &[
    Field::new_static("ts", T::Time),
    Field::new_static("uid", T::String),
    Field::new_static("id.orig_h", T::Addr),
    Field::new_static("id.orig_p", T::Port),
    Field::new_static("id.resp_h", T::Addr),
    Field::new_static("id.resp_p", T::Port),
    Field::new_static("fuid", T::String),
    Field::new_static("file_mime_type", T::String),
    Field::new_static("file_desc", T::String),
    Field::new_static("proto", T::Enum),
    Field::new_static("note", T::Enum),
    Field::new_static("msg", T::String),
    Field::new_static("sub", T::String),
    Field::new_static("src", T::Addr),
    Field::new_static("dst", T::Addr),
    Field::new_static("p", T::Port),
    Field::new_static("n", T::Count),
    Field::new_static("peer_descr", T::String),
    Field::new_static("actions", T::Set(ScalarType::Enum)),
    Field::new_static("email_dest", T::Set(ScalarType::String)),
    Field::new_static("suppress_for", T::Interval),
    Field::new_static("remote_location.country_code", T::String),
    Field::new_static("remote_location.region", T::String),
    Field::new_static("remote_location.city", T::String),
    Field::new_static("remote_location.latitude", T::Double),
    Field::new_static("remote_location.longitude", T::Double),
];

pub fn schema() -> Schema {
    Schema::new_static("notice", FIELDS)
}

/// Checks what `notice.raise` accepts: Zeek's `Module::Name` spelling of a notice type.
pub fn check(n: &Info) -> Result<(), String> {
    let note = n.note.as_str();
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
    };
    if note.len() > 128 || !plain(note) || !note.contains("::") {
        return Err(format!(
            "note {note:?} is not a notice type name like \"Scan::Port_Scan\""
        ));
    }
    if let Some(s) = n.suppress_for {
        if !(s.is_finite() && s >= 0.0) {
            return Err(format!("suppress-for {s} is not a duration >= 0"));
        }
    }
    Ok(())
}

/// Writes notice.log (opened at the first notice, as Zeek creates logs lazily).
pub struct NoticeLog {
    manager: Arc<LogManager>,
    writer: Option<Box<dyn LogWriter>>,
    /// (note, identifier) -> end of its suppression interval.
    suppressed: HashMap<(String, String), f64>,
    pub logged: u64,
    pub suppressed_count: u64,
}

impl NoticeLog {
    pub fn new(manager: Arc<LogManager>) -> Self {
        NoticeLog {
            manager,
            writer: None,
            suppressed: HashMap::new(),
            logged: 0,
            suppressed_count: 0,
        }
    }

    /// Logs `n` raised at network time `ts` unless it is suppressed; returns whether it was
    /// logged.
    pub fn raise(&mut self, ts: f64, n: &Info) -> io::Result<bool> {
        let suppress_for = n.suppress_for.unwrap_or(DEFAULT_SUPPRESS_SECS);
        if let Some(id) = &n.identifier {
            if suppress_for > 0.0 {
                let key = (n.note.clone(), id.clone());
                if self.suppressed.get(&key).is_some_and(|&until| ts < until) {
                    self.suppressed_count += 1;
                    return Ok(false);
                }
                if self.suppressed.len() >= MAX_SUPPRESSED {
                    self.sweep(ts);
                }
                self.suppressed.insert(key, ts + suppress_for);
            }
        }
        self.write(ts, n, suppress_for)?;
        self.logged += 1;
        Ok(true)
    }

    fn sweep(&mut self, ts: f64) {
        self.suppressed.retain(|_, &mut until| ts < until);
        if self.suppressed.len() >= MAX_SUPPRESSED / 2 {
            let mut ends: Vec<f64> = self.suppressed.values().copied().collect();
            ends.sort_by(f64::total_cmp);
            let cut = ends[ends.len() / 2];
            self.suppressed.retain(|_, &mut until| until > cut);
        }
    }

    fn write(&mut self, ts: f64, n: &Info, suppress_for: f64) -> io::Result<()> {
        if self.writer.is_none() {
            self.writer = Some(self.manager.open(schema())?);
        }
        let micros = |s: f64| (s * 1e6).round() as i64;
        let addr = |a: &Option<_>| a.as_ref().map_or(Value::Unset, |a| Value::Addr(ip(a)));
        // Zeek's Notice::apply_policy takes proto from the connection's id, else from $p.
        let proto = match (&n.id, &n.p) {
            (Some(id), _) => Value::Enum(proto_name(id.resp_p.proto)),
            (None, Some(p)) => Value::Enum(proto_name(p.proto)),
            (None, None) => Value::Unset,
        };
        let (oh, op, rh, rp) = match &n.id {
            Some(id) => (
                Value::Addr(ip(&id.orig_h)),
                Value::Port(id.orig_p.number),
                Value::Addr(ip(&id.resp_h)),
                Value::Port(id.resp_p.number),
            ),
            None => (Value::Unset, Value::Unset, Value::Unset, Value::Unset),
        };
        let actions = [Value::Enum("Notice::ACTION_LOG")];
        let row = [
            Value::Time(micros(ts)),
            n.uid.as_deref().map_or(Value::Unset, Value::Str),
            oh,
            op,
            rh,
            rp,
            Value::Unset,
            Value::Unset,
            Value::Unset,
            proto,
            Value::Enum(&n.note),
            Value::Str(&n.msg),
            n.sub.as_deref().map_or(Value::Unset, Value::Str),
            addr(&n.src),
            addr(&n.dst),
            n.p.as_ref().map_or(Value::Unset, |p| Value::Port(p.number)),
            n.n.map_or(Value::Unset, Value::Count),
            Value::Unset,
            Value::List(&actions),
            Value::List(&[]),
            Value::Interval(micros(suppress_for)),
            Value::Unset,
            Value::Unset,
            Value::Unset,
            Value::Unset,
            Value::Unset,
        ];
        self.writer.as_mut().expect("opened").write_row(&row)
    }

    pub fn finish(&mut self) -> io::Result<()> {
        match self.writer.as_mut() {
            Some(w) => w.finish(),
            None => Ok(()),
        }
    }
}

fn proto_name(t: Transport) -> &'static str {
    match t {
        Transport::Tcp => "tcp",
        Transport::Udp => "udp",
        Transport::Icmp => "icmp",
        Transport::Unknown => "unknown_transport",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasm::bindings::types::IpAddress;

    fn info(note: &str, id: Option<&str>) -> Info {
        Info {
            note: note.into(),
            msg: "m".into(),
            sub: None,
            uid: None,
            id: None,
            src: Some(IpAddress::V4((10, 0, 0, 1))),
            dst: None,
            p: None,
            n: None,
            identifier: id.map(String::from),
            suppress_for: None,
        }
    }

    #[test]
    fn note_names_are_checked() {
        assert!(check(&info("Scan::Port_Scan", None)).is_ok());
        for bad in ["", "Port_Scan", "Scan::Port Scan", "Scan::\tx"] {
            assert!(check(&info(bad, None)).is_err(), "{bad:?}");
        }
        let mut n = info("A::B", None);
        n.suppress_for = Some(f64::NAN);
        assert!(check(&n).is_err());
    }

    #[test]
    fn suppression_per_note_and_identifier() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = NoticeLog::new(LogManager::native(dir.path(), LogFormat::Tsv));
        assert!(log.raise(100.0, &info("A::B", Some("x"))).unwrap());
        // Same key within the hour: dropped; another identifier or note: logged.
        assert!(!log.raise(200.0, &info("A::B", Some("x"))).unwrap());
        assert!(log.raise(200.0, &info("A::B", Some("y"))).unwrap());
        assert!(log.raise(200.0, &info("A::C", Some("x"))).unwrap());
        // No identifier: never suppressed.
        assert!(log.raise(300.0, &info("A::B", None)).unwrap());
        assert!(log.raise(300.0, &info("A::B", None)).unwrap());
        // The interval runs from the first notice, not from the dropped ones.
        assert!(log.raise(3700.0, &info("A::B", Some("x"))).unwrap());
        let mut zero = info("A::B", Some("z"));
        zero.suppress_for = Some(0.0);
        assert!(log.raise(4000.0, &zero).unwrap());
        assert!(log.raise(4000.0, &zero).unwrap());
        assert_eq!((log.logged, log.suppressed_count), (8, 1));
        log.finish().unwrap();
        let text = std::fs::read_to_string(dir.path().join("notice.log")).unwrap();
        let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(rows.len(), 8);
        assert_eq!(
            rows[0],
            "100.000000\t-\t-\t-\t-\t-\t-\t-\t-\t-\tA::B\tm\t-\t10.0.0.1\t-\t-\t-\t-\t\
             Notice::ACTION_LOG\t(empty)\t3600.000000\t-\t-\t-\t-\t-"
        );
        assert!(rows[6].contains("\t0.000000\t"));
    }

    #[test]
    fn proto_comes_from_the_id_else_from_p() {
        use crate::wasm::bindings::types::Port;
        let dir = tempfile::tempdir().unwrap();
        let mut log = NoticeLog::new(LogManager::native(dir.path(), LogFormat::Tsv));
        let mut n = info("Scan::Address_Scan", None);
        n.p = Some(Port {
            number: 22,
            proto: Transport::Tcp,
        });
        log.raise(1.0, &n).unwrap();
        log.finish().unwrap();
        let text = std::fs::read_to_string(dir.path().join("notice.log")).unwrap();
        let row = text.lines().find(|l| !l.starts_with('#')).unwrap();
        let cols: Vec<&str> = row.split('\t').collect();
        assert_eq!((cols[9], cols[15]), ("tcp", "22"), "{row}");
    }

    #[test]
    fn the_table_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = NoticeLog::new(LogManager::native(dir.path(), LogFormat::Tsv));
        for i in 0..(MAX_SUPPRESSED + 10) {
            log.raise(i as f64, &info("A::B", Some(&i.to_string())))
                .unwrap();
        }
        assert!(log.suppressed.len() <= MAX_SUPPRESSED);
    }
}
