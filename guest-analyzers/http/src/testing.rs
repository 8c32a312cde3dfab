//! Test support: runs the state machine and the script over hand-built byte streams with a
//! host that records everything.

use crate::event::Event;
use crate::script::{ConnMeta, Host, Info, Script};
use crate::state::Http;

/// What a test host saw.
#[derive(Default, Debug)]
pub struct Rec {
    pub rows: Vec<Info>,
    pub weirds: Vec<String>,
    pub raised: Vec<String>,
    pub confirmed: bool,
    pub violation: Option<String>,
    pub files_begun: u32,
    pub file_bytes: u64,
    pub files_ended: u32,
}

impl Host for Rec {
    fn network_time(&mut self) -> f64 {
        1.0
    }
    fn log(&mut self, info: Info) {
        self.rows.push(info);
    }
    fn raise(&mut self, ev: &Event<'_>) {
        if let Some((name, args)) = crate::event_args(ev) {
            self.raised.push(format!("{name}/{}", args.len()));
        }
    }
    fn weird(&mut self, name: &'static str, _addl: &[u8]) {
        self.weirds.push(name.to_string());
    }
    fn confirm(&mut self) {
        self.confirmed = true;
    }
    fn violation(&mut self, reason: &str, _data: &[u8]) {
        self.violation.get_or_insert_with(|| reason.to_string());
    }
    fn file_begin(&mut self, _is_orig: bool, _mime: Option<&[u8]>, _size: Option<u64>) -> u32 {
        self.files_begun += 1;
        self.files_begun
    }
    fn file_data(&mut self, _file: u32, data: &[u8]) {
        self.file_bytes += data.len() as u64;
    }
    fn file_end(&mut self, _file: u32) {
        self.files_ended += 1;
    }
}

/// One step of a hand-built connection.
#[derive(Clone, Copy, Debug)]
pub enum In<'a> {
    Orig(&'a [u8]),
    Resp(&'a [u8]),
    Gap(bool, u64),
    Eof(bool),
}

/// Runs the steps, each delivery cut into pieces of `split` bytes (0: whole), then finishes
/// the connection as the host does (stopping early after a violation).
pub fn run(steps: &[In], split: usize) -> Rec {
    let conn = ConnMeta {
        uid: "CTest".into(),
        start: 1.0,
        orig_h: "10.0.0.1".into(),
        resp_host: "10.0.0.2".into(),
        resp_p: 80,
    };
    let mut http = Http::new();
    let mut script = Script::new(conn, Rec::default());
    for step in steps {
        if script.host.violation.is_some() {
            break;
        }
        match *step {
            In::Orig(d) | In::Resp(d) => {
                let is_orig = matches!(step, In::Orig(_));
                let size = if split == 0 { d.len().max(1) } else { split };
                for piece in d.chunks(size) {
                    http.deliver(is_orig, piece, &mut script);
                }
            }
            In::Gap(is_orig, len) => http.gap(is_orig, len, &mut script),
            In::Eof(is_orig) => http.end_of_data(is_orig, &mut script),
        }
    }
    http.finish(&mut script);
    script.finalize();
    script.host
}

/// A record's fields as one comparable line (everything but ts).
pub fn line(i: &Info) -> String {
    let s = |v: &Option<Vec<u8>>| {
        v.as_deref()
            .map_or("-".into(), |b| String::from_utf8_lossy(b).into_owned())
    };
    let n = |v: Option<u64>| v.map_or("-".into(), |n| n.to_string());
    let l = |v: &Option<Vec<String>>| v.as_ref().map_or("-".into(), |v| v.join(","));
    format!(
        "{} {} {} {} ver={} req={} resp={} status={} {} info={} {} user={} proxied={:?} ofuids={} omime={} rfuids={} rfiles={:?} rmime={}",
        i.trans_depth,
        s(&i.method),
        s(&i.host),
        s(&i.uri),
        i.version.clone().unwrap_or("-".into()),
        i.request_body_len,
        i.response_body_len,
        n(i.status_code),
        s(&i.status_msg),
        n(i.info_code),
        s(&i.info_msg),
        s(&i.username),
        i.proxied,
        i.orig_fuids.as_ref().map_or(0, Vec::len),
        l(&i.orig_mime_types),
        i.resp_fuids.as_ref().map_or(0, Vec::len),
        i.resp_filenames.as_ref().map(|v| v.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect::<Vec<_>>()),
        l(&i.resp_mime_types),
    )
}

/// All records as lines, sorted by transaction depth.
pub fn lines(rec: &Rec) -> Vec<String> {
    let mut rows: Vec<&Info> = rec.rows.iter().collect();
    rows.sort_by_key(|i| i.trans_depth);
    rows.into_iter().map(line).collect()
}
