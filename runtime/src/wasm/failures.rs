//! analyzer_failed.log and quarantine.
//!
//! Every failed call becomes one row with Zeek's columns (ts, cause, analyzer_kind,
//! analyzer_name, uid, fuid, id.*, failure_reason, failure_data). A module that fails
//! `threshold` times within `window` seconds of network time is quarantined: disabled for the
//! rest of the run (or until a new version is loaded), with one more row saying so.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use super::manifest::Kind;
use super::runtime::Failure;
use crate::log::manager::LogManager;
#[cfg(test)]
use crate::log::LogFormat;
use crate::log::{Field, FieldType as T, LogWriter, Schema, Value};

const FIELDS: &[Field] = &[
    Field::new_static("ts", T::Time),
    Field::new_static("cause", T::String),
    Field::new_static("analyzer_kind", T::String),
    Field::new_static("analyzer_name", T::String),
    Field::new_static("uid", T::String),
    Field::new_static("fuid", T::String),
    Field::new_static("id.orig_h", T::Addr),
    Field::new_static("id.orig_p", T::Port),
    Field::new_static("id.resp_h", T::Addr),
    Field::new_static("id.resp_p", T::Port),
    Field::new_static("failure_reason", T::String),
    Field::new_static("failure_data", T::String),
];

pub fn schema() -> Schema {
    Schema {
        path: Cow::Borrowed("analyzer_failed"),
        fields: Cow::Borrowed(FIELDS),
    }
}

/// Zeek logs at most this many bytes of the offending data (Analyzer::Logging::failure_data_max_size).
pub const FAILURE_DATA_MAX: usize = 40;

/// The connection a failed call was serving, if any.
#[derive(Debug, Clone, Default)]
pub struct FailureConn {
    pub uid: Option<String>,
    pub id: Option<(IpAddr, u16, IpAddr, u16)>,
}

#[derive(Debug, Clone, Copy)]
pub struct QuarantinePolicy {
    /// Failures within `window_secs` that quarantine a module; 0 disables quarantine.
    pub threshold: usize,
    pub window_secs: f64,
}

impl Default for QuarantinePolicy {
    fn default() -> Self {
        QuarantinePolicy {
            threshold: 5,
            window_secs: 60.0,
        }
    }
}

/// One module's lines in `sandpiper ctl status`: what it is, then `counters` and its
/// failure record.
pub fn status_lines(
    m: &super::runtime::LoadedModule,
    counters: &str,
    h: Option<&ModuleHealth>,
) -> String {
    format!(
        "{}\n  {counters}, failures {}{}\n",
        super::modules::describe(m),
        h.map_or(0, |x| x.failures),
        if h.is_some_and(|x| x.quarantined) {
            ", QUARANTINED"
        } else {
            ""
        }
    )
}

#[derive(Default, Debug, Clone)]
pub struct ModuleHealth {
    pub failures: u64,
    pub quarantined: bool,
    recent: VecDeque<f64>,
}

/// analyzer_failed.log and the modules' health, shared by the packet thread (analyzers) and
/// the handler thread: a handle, cloned for each, over one log file.
#[derive(Clone)]
pub struct FailureLog {
    state: Arc<Mutex<FailureState>>,
}

struct FailureState {
    manager: Arc<LogManager>,
    writer: Option<Box<dyn LogWriter>>,
    policy: QuarantinePolicy,
    health: HashMap<String, ModuleHealth>,
}

impl FailureLog {
    pub fn new(manager: Arc<LogManager>, policy: QuarantinePolicy) -> Self {
        let state = FailureState {
            manager,
            writer: None,
            policy,
            health: HashMap::new(),
        };
        FailureLog {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Failures are rare and the lock is held only for a row, so it is not contended; a panic
    /// while it was held (a bug) leaves the health map usable.
    fn state(&self) -> MutexGuard<'_, FailureState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_quarantined(&self, module: &str) -> bool {
        self.state()
            .health
            .get(module)
            .is_some_and(|h| h.quarantined)
    }

    /// A module's record so far (for `sandpiper ctl status`).
    pub fn health(&self, module: &str) -> Option<ModuleHealth> {
        self.state().health.get(module).cloned()
    }

    /// A new version of a module starts with a clean record.
    pub fn reset(&self, module: &str) {
        self.state().health.remove(module);
    }

    /// Logs a failure; returns true if it put the module into quarantine.
    pub fn record(
        &self,
        ts: f64,
        kind: Kind,
        module: &str,
        f: &Failure,
        conn: &FailureConn,
    ) -> io::Result<bool> {
        let mut st = self.state();
        st.row(
            ts,
            f.cause,
            kind,
            module,
            &f.reason,
            f.data.as_deref(),
            conn,
        )?;
        let policy = st.policy;
        let h = st.health.entry(module.to_string()).or_default();
        h.failures += 1;
        h.recent.push_back(ts);
        while h
            .recent
            .front()
            .is_some_and(|&t| ts - t > policy.window_secs)
        {
            h.recent.pop_front();
        }
        if policy.threshold == 0 || h.quarantined || h.recent.len() < policy.threshold {
            return Ok(false);
        }
        h.quarantined = true;
        let reason = format!(
            "{} failures within {} s: module disabled",
            h.recent.len(),
            policy.window_secs
        );
        st.row(
            ts,
            "quarantined",
            kind,
            module,
            &reason,
            None,
            &FailureConn::default(),
        )?;
        Ok(true)
    }

    /// Logs a protocol violation: the traffic's fault, not the module's, so it does not
    /// count towards quarantine.
    pub fn record_violation(
        &self,
        ts: f64,
        module: &str,
        f: &Failure,
        conn: &FailureConn,
    ) -> io::Result<()> {
        self.state().row(
            ts,
            f.cause,
            Kind::ProtocolAnalyzer,
            module,
            &f.reason,
            f.data.as_deref(),
            conn,
        )
    }

    pub fn finish(&self) -> io::Result<()> {
        match self.state().writer.as_mut() {
            Some(w) => w.finish(),
            None => Ok(()),
        }
    }
}

impl FailureState {
    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        ts: f64,
        cause: &str,
        kind: Kind,
        module: &str,
        reason: &str,
        data: Option<&str>,
        conn: &FailureConn,
    ) -> io::Result<()> {
        if self.writer.is_none() {
            self.writer = Some(self.manager.open(schema())?);
        }
        let data = data.map(|d| truncate(d, FAILURE_DATA_MAX));
        let (oh, op, rh, rp) = match conn.id {
            Some((a, b, c, d)) => (
                Value::Addr(a),
                Value::Port(b),
                Value::Addr(c),
                Value::Port(d),
            ),
            None => (Value::Unset, Value::Unset, Value::Unset, Value::Unset),
        };
        let row = [
            Value::Time((ts * 1e6).round() as i64),
            Value::Str(cause),
            Value::Str(kind.log_name()),
            Value::Str(module),
            opt_str(conn.uid.as_deref()),
            Value::Unset,
            oh,
            op,
            rh,
            rp,
            Value::Str(reason),
            opt_str(data),
        ];
        self.writer.as_mut().expect("opened").write_row(&row)
    }
}

fn opt_str(s: Option<&str>) -> Value<'_> {
    s.map_or(Value::Unset, Value::Str)
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> Failure {
        Failure {
            cause: "trap",
            reason: "handle: unreachable".into(),
            data: Some("x".repeat(100)),
        }
    }

    #[test]
    fn quarantines_after_threshold_within_window() {
        let dir = tempfile::tempdir().unwrap();
        let policy = QuarantinePolicy {
            threshold: 3,
            window_secs: 10.0,
        };
        let log = FailureLog::new(LogManager::native(dir.path(), LogFormat::Tsv), policy);
        let c = FailureConn::default();
        let k = Kind::EventHandler;
        assert!(!log.record(0.0, k, "m", &failure(), &c).unwrap());
        assert!(!log.record(20.0, k, "m", &failure(), &c).unwrap());
        assert!(!log.record(25.0, k, "m", &failure(), &c).unwrap());
        assert!(!log.is_quarantined("m"));
        assert!(log.record(29.0, k, "m", &failure(), &c).unwrap());
        assert!(log.is_quarantined("m"));
        assert!(!log.is_quarantined("other"));
        log.finish().unwrap();
        let text = std::fs::read_to_string(dir.path().join("analyzer_failed.log")).unwrap();
        let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(rows.len(), 5);
        assert!(rows[4].contains("\tquarantined\thandler\tm\t"));
        // failure_data is cut to Zeek's 40 bytes.
        assert!(rows[0].ends_with(&format!("\t{}", "x".repeat(40))));
        log.reset("m");
        assert!(!log.is_quarantined("m"));
    }
}
