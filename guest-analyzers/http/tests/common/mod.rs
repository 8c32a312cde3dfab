//! Test helpers: real TCP streams out of the corpus pcaps, a recording host, the analyzer run
//! over a trace as the Sandpiper host would run it, and a comparison with Zeek's http.log.

#![allow(dead_code)] // each test binary uses its own subset

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use http::event::Event;
use http::script::{ConnMeta, Host, Info, Script};
use http::state::Http;

/// The shared/ folder beside the repository (corpus, tools).
pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

pub fn corpus() -> PathBuf {
    shared().join("corpus/zeek")
}

/// One thing that happens to a connection, in capture order.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Data {
        is_orig: bool,
        ts: f64,
        data: Vec<u8>,
    },
    Gap {
        is_orig: bool,
        len: u64,
    },
    Eof {
        is_orig: bool,
    },
}

/// An address and port.
pub type Endpoint = (IpAddr, u16);

/// A TCP connection's reassembled content.
#[derive(Debug)]
pub struct Conn {
    pub orig: (IpAddr, u16),
    pub resp: (IpAddr, u16),
    pub start: f64,
    pub steps: Vec<Step>,
    /// First payload bytes of each direction (for the signature check).
    pub first: [Vec<u8>; 2],
}

impl Conn {
    /// The bytes of one direction, concatenated.
    pub fn stream(&self, is_orig: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for s in &self.steps {
            if let Step::Data {
                is_orig: o, data, ..
            } = s
            {
                if *o == is_orig {
                    out.extend_from_slice(data);
                }
            }
        }
        out
    }
}

/// A piece of one direction waiting to be delivered in order.
enum Seg {
    Data(f64, Vec<u8>),
    /// Bytes the capture did not keep (snap length).
    Hole(u32),
}

/// Per-direction reassembly state.
#[derive(Default)]
struct Half {
    next: Option<u32>,
    pending: BTreeMap<u32, Seg>,
    fin: Option<u32>,
    ended: bool,
}

struct Flow {
    conn: Conn,
    halves: [Half; 2],
}

/// Where the IP header starts for a link type; `None` for what this helper does not decode.
fn ip_start(linktype: u32, data: &[u8]) -> Option<usize> {
    match linktype {
        // Ethernet, with 802.1Q tags.
        1 => {
            let mut at = 12;
            loop {
                let et = u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]);
                match et {
                    0x8100 | 0x88a8 => at += 4,
                    0x0800 | 0x86dd => return Some(at + 2),
                    // 802.3 length + LLC/SNAP header carrying IP.
                    n if n <= 1500 && data.get(at + 2..at + 5) == Some(&[0xaa, 0xaa, 0x03]) => {
                        let et = data.get(at + 8..at + 10)?;
                        return matches!(et, [0x08, 0x00] | [0x86, 0xdd]).then_some(at + 10);
                    }
                    _ => return None,
                }
            }
        }
        // BSD loopback.
        0 => Some(4),
        // Raw IP.
        12 | 14 | 101 | 228 | 229 => Some(0),
        // Linux cooked capture v1 and v2.
        113 => Some(16),
        276 => Some(20),
        // NFLOG: TLVs after a 4-byte header; type 9 is the packet.
        239 => {
            let mut at = 4;
            while at + 4 <= data.len() {
                let len = usize::from(u16::from_le_bytes([data[at], data[at + 1]]));
                let ty = u16::from_le_bytes([data[at + 2], data[at + 3]]);
                if len < 4 {
                    return None;
                }
                if ty == 9 {
                    return Some(at + 4);
                }
                at += (len + 3) & !3;
            }
            None
        }
        _ => None,
    }
}

/// The packets of a pcap or pcapng file: (timestamp, link type, bytes).
fn packets(path: &Path) -> Vec<(f64, u32, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let mut r = pcap_file::pcapng::PcapNgReader::new(&bytes[..]).expect("pcapng");
        let mut links = Vec::new();
        while let Some(block) = r.next_block() {
            match block {
                Ok(pcap_file::pcapng::Block::InterfaceDescription(i)) => {
                    links.push(u32::from(i.linktype))
                }
                Ok(pcap_file::pcapng::Block::EnhancedPacket(p)) => {
                    let lt = links.get(p.interface_id as usize).copied().unwrap_or(1);
                    out.push((p.timestamp.as_secs_f64(), lt, p.data.to_vec()));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    } else {
        let mut r = pcap_file::pcap::PcapReader::new(&bytes[..]).expect("pcap");
        let lt = u32::from(r.header().datalink);
        while let Some(p) = r.next_packet() {
            match p {
                Ok(p) => out.push((p.timestamp.as_secs_f64(), lt, p.data.to_vec())),
                Err(_) => break,
            }
        }
    }
    out
}

/// All TCP connections of a trace, reassembled per direction, in order of first packet.
pub fn tcp_conns(path: &Path) -> Vec<Conn> {
    use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
    let mut flows: Vec<Flow> = Vec::new();
    let mut index: HashMap<(Endpoint, Endpoint), usize> = HashMap::new();
    for (ts, lt, data) in packets(path) {
        let Some(at) = ip_start(lt, &data) else {
            continue;
        };
        let Some(ip) = data.get(at..) else { continue };
        let Ok(p) = LaxSlicedPacket::from_ip(ip) else {
            continue;
        };
        let (src, dst, ip_payload_len) = match &p.net {
            Some(LaxNetSlice::Ipv4(v4)) => {
                let h = v4.header();
                (
                    IpAddr::V4(h.source_addr()),
                    IpAddr::V4(h.destination_addr()),
                    usize::from(h.total_len()).saturating_sub(h.slice().len()),
                )
            }
            Some(LaxNetSlice::Ipv6(v6)) => {
                let h = v6.header();
                (
                    IpAddr::V6(h.source_addr()),
                    IpAddr::V6(h.destination_addr()),
                    usize::from(h.payload_length()),
                )
            }
            _ => continue,
        };
        let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
            continue;
        };
        let (sp, dp) = (tcp.source_port(), tcp.destination_port());
        let a = (src, sp);
        let b = (dst, dp);
        let fi = match index.get(&(a, b)).or_else(|| index.get(&(b, a))) {
            Some(&i) => i,
            None => {
                // The originator sent the SYN; without one, the first packet's sender.
                let (orig, resp) = if tcp.syn() && tcp.ack() {
                    (b, a)
                } else {
                    (a, b)
                };
                flows.push(Flow {
                    conn: Conn {
                        orig,
                        resp,
                        start: ts,
                        steps: Vec::new(),
                        first: [Vec::new(), Vec::new()],
                    },
                    halves: [Half::default(), Half::default()],
                });
                index.insert((orig, resp), flows.len() - 1);
                flows.len() - 1
            }
        };
        let flow = &mut flows[fi];
        let is_orig = flow.conn.orig == a;
        let h = &mut flow.halves[usize::from(!is_orig)];
        let seq = tcp.sequence_number();
        if tcp.syn() {
            h.next = Some(seq.wrapping_add(1));
            continue;
        }
        let payload = tcp.payload();
        // A truncated capture (snap length): the missing tail is a gap.
        let full_len = ip_payload_len
            .saturating_sub(tcp.header_len())
            .max(payload.len());
        let next = *h.next.get_or_insert(seq);
        if tcp.fin() {
            h.fin = Some(seq.wrapping_add(full_len as u32));
        }
        let rel = seq.wrapping_sub(next) as i32;
        let retransmitted = rel <= 0 && (-(rel as i64)) as usize >= full_len;
        if full_len > 0 && !retransmitted {
            h.pending
                .entry(seq)
                .or_insert(Seg::Data(ts, payload.to_vec()));
            if payload.len() < full_len {
                h.pending
                    .entry(seq.wrapping_add(payload.len() as u32))
                    .or_insert(Seg::Hole((full_len - payload.len()) as u32));
            }
        }
        drain(&mut flow.conn, &mut flow.halves, is_orig, false);
        if tcp.rst() {
            for o in [true, false] {
                let h = &mut flow.halves[usize::from(!o)];
                if !h.ended {
                    h.ended = true;
                    flow.conn.steps.push(Step::Eof { is_orig: o });
                }
            }
        }
    }
    flows
        .into_iter()
        .map(|mut f| {
            for o in [true, false] {
                drain(&mut f.conn, &mut f.halves, o, true);
            }
            f.conn
        })
        .collect()
}

/// Delivers what is in order; at the end (`flush`) holes become gaps.
fn drain(conn: &mut Conn, halves: &mut [Half; 2], is_orig: bool, flush: bool) {
    let h = &mut halves[usize::from(!is_orig)];
    if h.ended {
        return;
    }
    loop {
        let Some(next) = h.next else { return };
        let Some((&seq, _)) = h.pending.iter().next() else {
            break;
        };
        let rel = seq.wrapping_sub(next) as i32;
        if rel > 0 {
            if !flush {
                break;
            }
            conn.steps.push(Step::Gap {
                is_orig,
                len: rel as u64,
            });
            h.next = Some(seq);
            continue;
        }
        let Some(seg) = h.pending.remove(&seq) else {
            break;
        };
        let skip = (-rel) as usize;
        match seg {
            Seg::Hole(len) => {
                if skip < len as usize {
                    let len = len - skip as u32;
                    conn.steps.push(Step::Gap {
                        is_orig,
                        len: u64::from(len),
                    });
                    h.next = Some(next.wrapping_add(len));
                }
            }
            Seg::Data(ts, data) => {
                if skip < data.len() {
                    let data = data[skip..].to_vec();
                    h.next = Some(next.wrapping_add(data.len() as u32));
                    let first = &mut conn.first[usize::from(!is_orig)];
                    if first.is_empty() {
                        *first = data.clone();
                    }
                    conn.steps.push(Step::Data { is_orig, ts, data });
                }
            }
        }
    }
    if h.fin.is_some() && h.fin == h.next && !h.ended {
        h.ended = true;
        conn.steps.push(Step::Eof { is_orig });
    }
}

/// Whether Sandpiper attaches the HTTP analyzer: a registered port or the DPD signatures.
pub fn is_http(c: &Conn) -> bool {
    const PORTS: [u16; 8] = [80, 81, 631, 1080, 3128, 8000, 8080, 8888];
    if PORTS.contains(&c.resp.1) {
        return true;
    }
    let req = &c.first[0];
    let trimmed = &req[req.iter().take_while(|c| c.is_ascii_whitespace()).count()..];
    let methods = [
        "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT", "PROPFIND", "PATCH",
    ];
    let client = methods.iter().any(|m| trimmed.starts_with(m.as_bytes()))
        && trimmed.windows(5).any(|w| w == b"HTTP/");
    let server = c.first[1].starts_with(b"HTTP/");
    client || server
}

/// A host that records what the analyzer hands over.
#[derive(Default)]
pub struct Recording {
    pub now: f64,
    pub rows: Vec<Info>,
    pub weirds: Vec<(String, String)>,
    pub events: Vec<String>,
    pub confirmed: bool,
    pub violation: Option<String>,
    pub files: u32,
    pub file_bytes: u64,
}

impl Host for Recording {
    fn network_time(&mut self) -> f64 {
        self.now
    }
    fn log(&mut self, info: Info) {
        self.rows.push(info);
    }
    fn raise(&mut self, ev: &Event<'_>) {
        if let Some((name, args)) = http::event_args(ev) {
            self.events.push(format!("{name} {}", args.len()));
        }
    }
    fn weird(&mut self, name: &'static str, addl: &[u8]) {
        self.weirds
            .push((name.to_string(), String::from_utf8_lossy(addl).into_owned()));
    }
    fn confirm(&mut self) {
        self.confirmed = true;
    }
    fn violation(&mut self, reason: &str, _data: &[u8]) {
        self.violation.get_or_insert_with(|| reason.to_string());
    }
    fn file_begin(&mut self, _is_orig: bool, _mime: Option<&[u8]>, _size: Option<u64>) -> u32 {
        self.files += 1;
        self.files
    }
    fn file_data(&mut self, _file: u32, data: &[u8]) {
        self.file_bytes += data.len() as u64;
    }
    fn file_end(&mut self, _file: u32) {}
}

pub fn meta(c: &Conn, uid: &str) -> ConnMeta {
    ConnMeta {
        uid: uid.to_string(),
        start: c.start,
        orig_h: c.orig.0.to_string(),
        resp_host: match c.resp.0 {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        },
        resp_p: c.resp.1,
    }
}

/// Runs the analyzer over a connection's steps, each delivery split into pieces of at most
/// `split` bytes (0: as captured), as the host does: detached after a violation.
pub fn run_steps(c: &Conn, uid: &str, split: usize) -> Recording {
    let mut http = Http::new();
    let mut script = Script::new(meta(c, uid), Recording::default());
    for step in &c.steps {
        if script.host.violation.is_some() {
            break;
        }
        match step {
            Step::Data { is_orig, ts, data } => {
                script.host.now = *ts;
                if split == 0 {
                    http.deliver(*is_orig, data, &mut script);
                } else {
                    for piece in data.chunks(split) {
                        http.deliver(*is_orig, piece, &mut script);
                    }
                }
            }
            Step::Gap { is_orig, len } => http.gap(*is_orig, *len, &mut script),
            Step::Eof { is_orig } => http.end_of_data(*is_orig, &mut script),
        }
    }
    http.finish(&mut script);
    script.finalize();
    script.host
}

/// Zeek's TSV rendering of a string: non-printable bytes as \xNN.
fn tsv(b: &[u8]) -> String {
    if b.is_empty() {
        return "(empty)".into();
    }
    let mut s = String::new();
    for &c in b {
        if (0x20..0x7f).contains(&c) {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s
}

fn opt(b: &Option<Vec<u8>>) -> String {
    b.as_deref().map_or("-".into(), tsv)
}

fn list(v: Option<Vec<String>>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.is_empty() => "(empty)".into(),
        Some(v) => v.join(","),
    }
}

/// An http.log record as Zeek's TSV fields (uid and fuids are compared by count only).
pub fn render(c: &Conn, i: &Info) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), v);
    };
    put("id.orig_h", c.orig.0.to_string());
    put("id.orig_p", c.orig.1.to_string());
    put("id.resp_h", c.resp.0.to_string());
    put("id.resp_p", c.resp.1.to_string());
    put("trans_depth", i.trans_depth.to_string());
    put("method", opt(&i.method));
    put("host", opt(&i.host));
    put("uri", opt(&i.uri));
    put("referrer", opt(&i.referrer));
    put("version", i.version.clone().unwrap_or("-".into()));
    put("user_agent", opt(&i.user_agent));
    put("origin", opt(&i.origin));
    put("request_body_len", i.request_body_len.to_string());
    put("response_body_len", i.response_body_len.to_string());
    put(
        "status_code",
        i.status_code.map_or("-".into(), |c| c.to_string()),
    );
    put("status_msg", opt(&i.status_msg));
    put(
        "info_code",
        i.info_code.map_or("-".into(), |c| c.to_string()),
    );
    put("info_msg", opt(&i.info_msg));
    put("tags", "(empty)".into());
    put("username", opt(&i.username));
    put("password", opt(&i.password));
    put(
        "proxied",
        list(
            i.proxied
                .as_ref()
                .map(|s| s.iter().map(|b| tsv(b)).collect()),
        ),
    );
    let count =
        |v: &Option<Vec<String>>| v.as_ref().map_or("-".into(), |v| format!("#{}", v.len()));
    put("orig_fuids", count(&i.orig_fuids));
    put("resp_fuids", count(&i.resp_fuids));
    put(
        "orig_filenames",
        list(
            i.orig_filenames
                .as_ref()
                .map(|v| v.iter().map(|b| tsv(b)).collect()),
        ),
    );
    put(
        "resp_filenames",
        list(
            i.resp_filenames
                .as_ref()
                .map(|v| v.iter().map(|b| tsv(b)).collect()),
        ),
    );
    put("orig_mime_types", list(i.orig_mime_types.clone()));
    put("resp_mime_types", list(i.resp_mime_types.clone()));
    m
}

/// The records of a Zeek TSV log (baseline) as field maps; fuid fields become counts.
pub fn baseline_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut fields: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').map(str::to_string).collect();
        } else if !line.starts_with('#') && fields.is_empty() && !line.is_empty() {
            // A zeek-cut baseline: its first line names the columns.
            fields = line.split('\t').map(str::to_string).collect();
        } else if !line.starts_with('#') && !fields.is_empty() {
            let mut row: HashMap<String, String> = fields
                .iter()
                .cloned()
                .zip(line.split('\t').map(str::to_string))
                .collect();
            // The canonifier masks timestamps; zeek-cut baselines keep ts and uid columns.
            for k in ["orig_fuids", "resp_fuids"] {
                if let Some(v) = row.get_mut(k) {
                    if v != "-" {
                        *v = format!("#{}", v.split(',').count());
                    }
                }
            }
            rows.push(row);
        }
    }
    rows
}

/// Field agreement of produced records with baseline records, paired per connection by
/// trans_depth: (equal fields, compared fields, differences).
pub fn compare(
    expected: &[HashMap<String, String>],
    got: &[HashMap<String, String>],
) -> (usize, usize, Vec<String>) {
    const SKIP: [&str; 2] = ["ts", "uid"];
    const KEYS: [&str; 5] = [
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "trans_depth",
    ];
    let key = |r: &HashMap<String, String>, like: &HashMap<String, String>| {
        KEYS.iter()
            .filter(|k| like.contains_key(**k))
            .map(|k| r.get(*k).cloned().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let mut used = vec![false; got.len()];
    let (mut equal, mut total) = (0, 0);
    let mut diffs = Vec::new();
    for e in expected {
        let fields: Vec<&String> = e.keys().filter(|k| !SKIP.contains(&k.as_str())).collect();
        total += fields.len();
        // The best-agreeing unused record with the same connection and depth.
        let agree = |g: &HashMap<String, String>| {
            fields.iter().filter(|f| g.get(**f) == e.get(**f)).count()
        };
        let Some(j) = (0..got.len())
            .filter(|&j| !used[j] && key(&got[j], e) == key(e, e))
            .max_by_key(|&j| (agree(&got[j]), std::cmp::Reverse(j)))
        else {
            diffs.push(format!("missing record {:?}", key(e, e)));
            continue;
        };
        used[j] = true;
        for f in fields {
            let g = got[j].get(f).cloned().unwrap_or("-".into());
            if &g == e.get(f).unwrap() {
                equal += 1;
            } else {
                diffs.push(format!(
                    "{:?} {f}: expected {:?} got {:?}",
                    key(e, e),
                    e[f],
                    g
                ));
            }
        }
    }
    let fields_per_row = expected.first().map_or(28, |e| {
        e.keys().filter(|k| !SKIP.contains(&k.as_str())).count()
    });
    for (j, u) in used.iter().enumerate() {
        if !u {
            total += fields_per_row;
            diffs.push(format!("extra record {:?}", key(&got[j], &got[j])));
        }
    }
    (equal, total, diffs)
}

/// Runs a corpus case (its traces) and compares with its http.log baseline.
pub fn score_case(case: &str, traces: &[&str]) -> (usize, usize, Vec<String>) {
    let mut got = Vec::new();
    for t in traces {
        for c in tcp_conns(&corpus().join("traces").join(t)) {
            if !is_http(&c) {
                continue;
            }
            let rec = run_steps(&c, "C", 0);
            got.extend(rec.rows.iter().map(|i| render(&c, i)));
        }
    }
    let dir = corpus().join("baselines").join(case);
    let file = if dir.join("http.log").is_file() {
        "http.log"
    } else {
        "http.log.cut"
    };
    let expected = baseline_rows(&dir.join(file));
    compare(&expected, &got)
}
