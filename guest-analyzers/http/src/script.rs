//! The port of Zeek's HTTP scripts: `base/protocols/http/main.zeek` (transactions matched across
//! pipelining, the http.log record), `entities.zeek` (file ids, names and MIME types per
//! transaction) and `files.zeek` (which file a body belongs to). It consumes the state
//! machine's events in order and talks to the outside only through the [`Host`] trait, so it
//! runs in native tests as it runs in the component.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::event::{Event, MessageStat, Sink};
use crate::parser::{decode_base64, filename_from_disposition};
use crate::sniff::{sniff, BOF_SIZE};

/// Zeek's `HTTP::max_pending_requests`.
pub const MAX_PENDING_REQUESTS: usize = 100;
/// Zeek's `HTTP::max_files_orig` / `max_files_resp`.
pub const MAX_FILES: usize = 15;

/// Zeek's `HTTP::http_methods`: other methods are a weird.
const HTTP_METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"OPTIONS",
    b"PUT",
    b"DELETE",
    b"TRACE",
    b"CONNECT",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"POLL",
    b"REPORT",
    b"SUBSCRIBE",
    b"BMOVE",
    b"SEARCH",
];

/// Zeek's `HTTP::proxy_headers`.
const PROXY_HEADERS: &[&[u8]] = &[
    b"FORWARDED",
    b"X-FORWARDED-FOR",
    b"X-FORWARDED-FROM",
    b"CLIENT-IP",
    b"VIA",
    b"XROXY-CONNECTION",
    b"PROXY-CONNECTION",
];

/// What the script needs to know about the connection.
#[derive(Clone, Debug, Default)]
pub struct ConnMeta {
    pub uid: String,
    /// Time of the connection's first packet (part of Zeek's file handles).
    pub start: f64,
    pub orig_h: String,
    /// The responder address as a URI host (IPv6 in brackets), for URLs without a Host header.
    pub resp_host: String,
    pub resp_p: u16,
}

/// Zeek's `HTTP::Info`: one http.log record. Strings are the bytes seen on the wire.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Info {
    pub ts: f64,
    pub trans_depth: u64,
    pub method: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
    pub uri: Option<Vec<u8>>,
    pub referrer: Option<Vec<u8>>,
    pub version: Option<String>,
    pub user_agent: Option<Vec<u8>>,
    pub origin: Option<Vec<u8>>,
    pub request_body_len: u64,
    pub response_body_len: u64,
    pub status_code: Option<u64>,
    pub status_msg: Option<Vec<u8>>,
    pub info_code: Option<u64>,
    pub info_msg: Option<Vec<u8>>,
    pub username: Option<Vec<u8>>,
    pub password: Option<Vec<u8>>,
    pub proxied: Option<BTreeSet<Vec<u8>>>,
    pub orig_fuids: Option<Vec<String>>,
    pub orig_filenames: Option<Vec<Vec<u8>>>,
    pub orig_mime_types: Option<Vec<String>>,
    pub resp_fuids: Option<Vec<String>>,
    pub resp_filenames: Option<Vec<Vec<u8>>>,
    pub resp_mime_types: Option<Vec<String>>,
    // Not logged.
    /// Identity of this record object (Zeek's records are references: a file keeps pointing
    /// at the record it started in even after the record left the pending table).
    rid: u64,
    range_request: bool,
    /// `current_entity` exists, and its filename if one was seen.
    current_entity: Option<Option<Vec<u8>>>,
    orig_mime_depth: u64,
    resp_mime_depth: u64,
}

/// Where the script's output goes.
pub trait Host {
    /// Network time of the data being processed (Zeek's `network_time()`).
    fn network_time(&mut self) -> f64;
    /// Writes an http.log record (it is handed over: its strings can become the row's).
    fn log(&mut self, info: Info);
    /// Raises a protocol event to the event handlers (request, reply, all headers, message
    /// done).
    fn raise(&mut self, ev: &Event<'_>);
    fn weird(&mut self, name: &'static str, addl: &[u8]);
    fn confirm(&mut self);
    fn violation(&mut self, reason: &str, data: &[u8]);
    fn file_begin(&mut self, is_orig: bool, mime_hint: Option<&[u8]>, size: Option<u64>) -> u32;
    fn file_data(&mut self, file: u32, data: &[u8]);
    fn file_end(&mut self, file: u32);
}

/// A file being transferred in one direction.
struct OpenFile {
    entity: u64,
    fuid: String,
    /// `None` when Zeek would not analyse it (no transaction to attach it to).
    handle: Option<u32>,
    /// The record the file belongs to (`f$http`): pending index and record identity.
    http: Option<(u64, u64)>,
    bof: Vec<u8>,
    /// Whether the beginning of the file is being collected for sniffing.
    sniffing: bool,
    /// Total size if known, and bytes seen: a file that is complete is sniffed at once, as
    /// Zeek ends it then (a 206 body's file otherwise stays open past the log record).
    size: Option<u64>,
    seen: u64,
}

/// Per-connection script state (Zeek's `HTTP::State` plus the file bookkeeping).
pub struct Script<H: Host> {
    pub host: H,
    conn: ConnMeta,
    /// `HTTP|<start>|`, the constant beginning of the connection's file handles.
    handle_prefix: String,
    pending: BTreeMap<u64, Info>,
    current_request: u64,
    current_response: u64,
    trans_depth: u64,
    /// `c$http`: the record the last event was about (pending index, record identity).
    c_http: Option<(u64, u64)>,
    next_rid: u64,
    files: [Option<OpenFile>; 2],
    /// The Content-Type of the entity being parsed in each direction (the file's MIME hint).
    entity_type: [Option<Vec<u8>>; 2],
}

fn dir(is_orig: bool) -> usize {
    usize::from(!is_orig)
}

/// A Zeek-format file id derived from the file handle, as Zeek hashes its handles: the same
/// handle (e.g. two range requests for one URL) gives the same id.
pub fn fuid(handle: &str) -> String {
    let mut h1: u64 = 0xcbf2_9ce4_8422_2325;
    let mut h2: u64 = 0x8422_2325_cbf2_9ce4;
    for &b in handle.as_bytes() {
        h1 = (h1 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        h2 = (h2 ^ u64::from(b))
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(5);
    }
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = (u128::from(h1) << 32) ^ u128::from(h2);
    n &= (1u128 << 96) - 1;
    let mut out = String::from("F");
    while n > 0 {
        out.push(char::from(DIGITS[(n % 62) as usize]));
        n /= 62;
    }
    out
}

impl<H: Host> Script<H> {
    pub fn new(conn: ConnMeta, host: H) -> Self {
        Script {
            host,
            handle_prefix: format!("HTTP|{:.6}|", conn.start),
            conn,
            pending: BTreeMap::new(),
            current_request: 0,
            current_response: 0,
            trans_depth: 0,
            c_http: None,
            next_rid: 0,
            files: [None, None],
            entity_type: [None, None],
        }
    }

    /// `new_http_session`.
    fn new_record(&mut self) -> Info {
        self.trans_depth += 1;
        self.next_rid += 1;
        Info {
            ts: self.host.network_time(),
            trans_depth: self.trans_depth,
            rid: self.next_rid,
            ..Info::default()
        }
    }

    /// `set_state`: makes the current request's (or response's) record `c$http`.
    fn set_state(&mut self, is_orig: bool) {
        let idx = if is_orig {
            self.current_request
        } else {
            self.current_response
        };
        let rid = match self.pending.get(&idx) {
            Some(r) => r.rid,
            None => {
                let rec = self.new_record();
                let rid = rec.rid;
                self.pending.insert(idx, rec);
                rid
            }
        };
        self.c_http = Some((idx, rid));
    }

    /// The record a reference points to, if it is still pending.
    fn record(&mut self, at: Option<(u64, u64)>) -> Option<&mut Info> {
        let (idx, rid) = at?;
        self.pending.get_mut(&idx).filter(|r| r.rid == rid)
    }

    fn http(&mut self) -> Option<&mut Info> {
        self.record(self.c_http)
    }

    fn write(&mut self, info: Info) {
        self.host.log(info);
    }

    fn request(&mut self, method: &[u8], unescaped_uri: &[u8]) {
        if self.current_request < self.current_response {
            self.host.weird("HTTP_response_before_request", b"");
            self.current_request = self.current_response;
        }
        if self.pending.len() > MAX_PENDING_REQUESTS {
            let addl = format!("{} > {}", self.pending.len(), MAX_PENDING_REQUESTS);
            self.host
                .weird("HTTP_excessive_pipelining", addl.as_bytes());
            if self.current_response == 0 {
                self.current_response = 1;
            }
            while self.current_response < self.current_request {
                if let Some(info) = self.pending.remove(&self.current_response) {
                    self.write(info);
                }
                self.current_response += 1;
            }
        }
        self.current_request += 1;
        self.set_state(true);
        if let Some(h) = self.http() {
            h.method = Some(method.to_vec());
            h.uri = Some(unescaped_uri.to_vec());
        }
        if !HTTP_METHODS.contains(&method) {
            self.host.weird("unknown_HTTP_method", method);
        }
    }

    fn reply(&mut self, version: String, code: u16, reason: Option<&[u8]>) {
        let advance = match self.pending.get(&self.current_response) {
            None => true,
            Some(r) => r.status_code.is_some_and(|c| !(100..=199).contains(&c)),
        };
        if advance {
            self.current_response += 1;
        }
        self.set_state(false);
        if let Some(h) = self.http() {
            let code = u64::from(code);
            let reason = reason.unwrap_or(b"<empty>").to_vec();
            h.status_code = Some(code);
            h.version = Some(version);
            if (100..=199).contains(&code) {
                h.info_code = Some(code);
                h.info_msg = Some(reason.clone());
            }
            h.status_msg = Some(reason);
        }
    }

    fn header(&mut self, is_orig: bool, name: &[u8], value: &[u8]) {
        self.set_state(is_orig);
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        let content_type = is(b"CONTENT-TYPE");
        if content_type {
            let t = self.entity_type[dir(is_orig)].get_or_insert_with(Vec::new);
            t.clear();
            t.extend_from_slice(value);
        }
        let Some(h) = self.http() else {
            return;
        };
        if is_orig {
            if is(b"REFERER") {
                h.referrer = Some(value.to_vec());
            } else if is(b"HOST") {
                h.host = Some(value.to_vec());
            } else if is(b"RANGE") {
                h.range_request = true;
            } else if is(b"ORIGIN") {
                h.origin = Some(value.to_vec());
            } else if is(b"USER-AGENT") {
                h.user_agent = Some(value.to_vec());
            } else if PROXY_HEADERS.iter().any(|p| is(p)) {
                let mut entry = name.to_ascii_uppercase();
                entry.extend_from_slice(b" -> ");
                entry.extend_from_slice(value);
                h.proxied.get_or_insert_with(BTreeSet::new).insert(entry);
            } else if is(b"AUTHORIZATION") || is(b"PROXY-AUTHORIZATION") {
                basic_auth(h, value);
            }
        }
        // entities.zeek: file names from Content-Disposition / Content-Type.
        let wants_name = if is(b"CONTENT-DISPOSITION") {
            has_assignment(value, b"filename", true)
        } else if content_type {
            has_assignment(value, b"name", false)
        } else {
            false
        };
        if wants_name {
            if let Some(entity) = &mut h.current_entity {
                *entity = Some(filename_from_disposition(value));
            }
        }
    }

    fn message_done(&mut self, is_orig: bool, stat: &MessageStat) {
        self.set_state(is_orig);
        let Some(h) = self.http() else {
            return;
        };
        if is_orig {
            h.request_body_len = stat.body_length;
            return;
        }
        h.response_body_len = stat.body_length;
        // The reply is done: log, unless it was an informational 1xx reply.
        if h.status_code.is_some_and(|c| (100..=199).contains(&c)) {
            return;
        }
        // `h` is the current response's record (set_state above): log it as it leaves.
        if let Some(info) = self.pending.remove(&self.current_response) {
            self.write(info);
        }
    }

    fn begin_entity(&mut self, is_orig: bool) {
        self.set_state(is_orig);
        self.entity_type[dir(is_orig)] = None;
        if let Some(h) = self.http() {
            if is_orig {
                h.orig_mime_depth += 1;
            } else {
                h.resp_mime_depth += 1;
            }
            h.current_entity = Some(None);
        }
    }

    fn end_entity(&mut self) {
        if let Some(h) = self.http() {
            h.current_entity = None;
        }
    }

    /// Zeek's `HTTP::get_file_handle` for the current record.
    fn file_handle(&mut self, is_orig: bool) -> Option<String> {
        let (idx, rid) = self.c_http?;
        let conn = &self.conn;
        let h = self.pending.get(&idx).filter(|r| r.rid == rid)?;
        Some(if h.range_request && !is_orig {
            // Parts of one resource requested in ranges are pieces of the same file.
            let uri = h.uri.as_deref().unwrap_or(b"/<missed_request>");
            let host = h.host.as_deref().unwrap_or(conn.resp_host.as_bytes());
            format!(
                "HTTP|{}|{}|{}|{}|{}",
                is_orig,
                conn.orig_h,
                String::from_utf8_lossy(host),
                conn.resp_p,
                String::from_utf8_lossy(uri)
            )
        } else {
            let depth = if is_orig {
                h.orig_mime_depth
            } else {
                h.resp_mime_depth
            };
            // format!("HTTP|{:.6}|{}|{}|{}|{}", start, is_orig, trans_depth, depth, uid)
            let mut s = String::with_capacity(self.handle_prefix.len() + conn.uid.len() + 32);
            s.push_str(&self.handle_prefix);
            let _ = write!(s, "{}|{}|{}|{}", is_orig, h.trans_depth, depth, conn.uid);
            s
        })
    }

    /// A new file in this connection (`file_over_new_connection` of entities.zeek).
    fn open_file(&mut self, is_orig: bool, entity: u64, size: Option<u64>) -> OpenFile {
        let Some(handle) = self.file_handle(is_orig) else {
            return OpenFile {
                entity,
                fuid: String::new(),
                handle: None,
                http: None,
                bof: Vec::new(),
                sniffing: false,
                size,
                seen: 0,
            };
        };
        let id = fuid(&handle);
        let at = self.c_http;
        if let Some(h) = self.record(at) {
            let id = id.clone();
            let filename = h.current_entity.clone().flatten();
            let (fuids, names) = if is_orig {
                (&mut h.orig_fuids, &mut h.orig_filenames)
            } else {
                (&mut h.resp_fuids, &mut h.resp_filenames)
            };
            if fuids.as_ref().map_or(0, Vec::len) < MAX_FILES {
                fuids.get_or_insert_with(Vec::new).push(id);
                if let Some(name) = filename {
                    names.get_or_insert_with(Vec::new).push(name);
                }
            }
        }
        let hint = self.entity_type[dir(is_orig)].as_deref();
        let file = self.host.file_begin(is_orig, hint, size);
        OpenFile {
            entity,
            fuid: id,
            handle: Some(file),
            http: at,
            bof: Vec::new(),
            sniffing: true,
            size,
            seen: 0,
        }
    }

    /// Sniffs what was collected of the file's beginning (`file_sniff` of entities.zeek).
    fn sniff_file(&mut self, is_orig: bool, file: &mut OpenFile) {
        if !file.sniffing {
            return;
        }
        file.sniffing = false;
        let Some(mime) = sniff(&file.bof) else {
            return;
        };
        file.bof = Vec::new();
        if let Some(h) = self.record(file.http) {
            let types = if is_orig {
                &mut h.orig_mime_types
            } else {
                &mut h.resp_mime_types
            };
            if types.as_ref().map_or(0, Vec::len) < MAX_FILES {
                types.get_or_insert_with(Vec::new).push(mime.to_string());
            }
        }
    }

    fn file_data(
        &mut self,
        is_orig: bool,
        entity: u64,
        data: &[u8],
        size: Option<u64>,
        offset: Option<u64>,
    ) {
        let d = dir(is_orig);
        let mut file = match self.files[d].take() {
            Some(f) if f.entity == entity => f,
            // A file that was not ended goes on where the same handle comes back: the parts
            // of a 206 multipart/byteranges reply are one file (Zeek ends no file of a 206).
            Some(mut f)
                if f.handle.is_some()
                    && self
                        .file_handle(is_orig)
                        .is_some_and(|h| fuid(&h) == f.fuid) =>
            {
                f.entity = entity;
                f
            }
            other => {
                if let Some(old) = other {
                    // Zeek leaves it to time out; its log fields are complete already.
                    if let Some(handle) = old.handle {
                        self.host.file_end(handle);
                    }
                }
                let mut f = self.open_file(is_orig, entity, size);
                // Only a file seen from its first byte can be sniffed.
                f.sniffing &= offset.unwrap_or(0) == 0;
                f
            }
        };
        if let Some(handle) = file.handle {
            if file.sniffing {
                let want = BOF_SIZE - file.bof.len();
                if file.bof.capacity() == 0 {
                    // Most files are small: collect what this file can give in one allocation.
                    let cap = file
                        .size
                        .map_or(BOF_SIZE, |s| s.min(BOF_SIZE as u64) as usize);
                    file.bof.reserve_exact(cap.max(data.len().min(BOF_SIZE)));
                }
                file.bof.extend_from_slice(&data[..want.min(data.len())]);
                if file.bof.len() >= BOF_SIZE {
                    self.sniff_file(is_orig, &mut file);
                }
            }
            file.seen = file.seen.saturating_add(data.len() as u64);
            if file.size.is_some_and(|s| file.seen >= s) {
                self.sniff_file(is_orig, &mut file);
            }
            self.host.file_data(handle, data);
        }
        self.files[d] = Some(file);
    }

    fn file_gap(&mut self, is_orig: bool, entity: u64) {
        let d = dir(is_orig);
        if let Some(mut file) = self.files[d].take() {
            if file.entity == entity {
                // A hole in the beginning of the file: sniff what there is.
                self.sniff_file(is_orig, &mut file);
            }
            self.files[d] = Some(file);
        }
    }

    fn file_end(&mut self, is_orig: bool, entity: u64) {
        let d = dir(is_orig);
        match self.files[d].take() {
            Some(mut file) if file.entity == entity => {
                self.sniff_file(is_orig, &mut file);
                if let Some(handle) = file.handle {
                    self.host.file_end(handle);
                }
            }
            other => self.files[d] = other,
        }
    }

    /// The connection is over: every pending record is logged (`finalize_http`).
    pub fn finalize(&mut self) {
        for d in 0..2 {
            if let Some(handle) = self.files[d].take().and_then(|f| f.handle) {
                self.host.file_end(handle);
            }
        }
        let pending = std::mem::take(&mut self.pending);
        for (idx, info) in pending {
            if idx != 0 {
                self.write(info);
            }
        }
    }
}

/// `value` contains `name`, optional blanks, (for filename) an optional `*`, and `=`; the name
/// compared ASCII case-insensitively (entities.zeek's patterns).
fn has_assignment(value: &[u8], name: &[u8], star: bool) -> bool {
    (0..value.len()).any(|i| {
        if !value[i..]
            .get(..name.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(name))
        {
            return false;
        }
        let mut j = i + name.len();
        while value.get(j).is_some_and(|&c| c == b' ' || c == b'\t') {
            j += 1;
        }
        if star && value.get(j) == Some(&b'*') {
            j += 1;
        }
        value.get(j) == Some(&b'=')
    })
}

/// Basic authentication: the user name (and never the password: Zeek's
/// `HTTP::default_capture_password` is off).
fn basic_auth(h: &mut Info, value: &[u8]) {
    if value.len() < 6 || !value[..5].eq_ignore_ascii_case(b"basic") || value[5] != b' ' {
        return;
    }
    // sub(value, /[bB][aA][sS][iI][cC][[:blank:]]+/, "")
    let blanks = value[5..]
        .iter()
        .take_while(|&&c| c == b' ' || c == b'\t')
        .count();
    let userpass = decode_base64(&value[5 + blanks..]);
    match userpass.iter().position(|&c| c == b':') {
        Some(p) => h.username = Some(userpass[..p].to_vec()),
        None => {
            let mut u = b"<problem-decoding> (".to_vec();
            u.extend_from_slice(value);
            u.push(b')');
            h.username = Some(u);
        }
    }
}

impl<H: Host> Sink for Script<H> {
    fn event(&mut self, ev: Event<'_>) {
        match &ev {
            Event::Request {
                method,
                unescaped_uri,
                ..
            } => self.request(method, unescaped_uri),
            Event::Reply {
                version,
                code,
                reason,
            } => self.reply(version.text(), *code, *reason),
            Event::Header {
                is_orig,
                name,
                value,
            } => self.header(*is_orig, name, value),
            Event::AllHeaders { .. } => {}
            Event::BeginEntity { is_orig } => self.begin_entity(*is_orig),
            Event::EndEntity { .. } => self.end_entity(),
            Event::MessageDone { is_orig, stat } => self.message_done(*is_orig, stat),
            Event::FileData {
                is_orig,
                entity,
                data,
                size,
                offset,
            } => self.file_data(*is_orig, *entity, data, *size, *offset),
            Event::FileGap {
                is_orig, entity, ..
            } => self.file_gap(*is_orig, *entity),
            Event::FileEnd { is_orig, entity } => self.file_end(*is_orig, *entity),
            Event::Weird { name, addl } => self.host.weird(name, addl),
            Event::Confirm => self.host.confirm(),
            Event::Violation { reason, data } => self.host.violation(reason, data),
        }
        if matches!(
            ev,
            Event::Request { .. }
                | Event::Reply { .. }
                | Event::AllHeaders { .. }
                | Event::MessageDone { .. }
        ) {
            self.host.raise(&ev);
        }
    }
}
