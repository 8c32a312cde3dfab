//! A native timing harness (ignored by default): every HTTP stream of the corpus traces through
//! the state machine, the scripts and the row/event building the component does, N times.
//!
//! `cargo test --release -p http --test bench -- --ignored --nocapture bench_corpus`

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use http::event::Event;
use http::script::{Host, Info, Script};
use http::state::Http;
use sandpiper_sdk::types::{ConnId, ConnInfo, IpAddress, Port, Row, Value};

use common::{corpus, is_http, meta, tcp_conns, Conn, Step};

/// Counts allocations (this test binary only).
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Does what `SdkHost` does, minus the host calls.
struct BenchHost {
    conn: ConnInfo,
    rows: Vec<Row>,
    events: Vec<(String, f64, ConnInfo, Vec<Value>)>,
    transactions: u64,
    file_bytes: u64,
    /// Everything produced, as text, when comparing outputs (BENCH_DUMP).
    dump: Option<String>,
    events_on: bool,
}

impl Host for BenchHost {
    fn network_time(&mut self) -> f64 {
        0.0
    }
    fn log(&mut self, info: Info) {
        self.transactions += 1;
        self.rows.push(http::log::into_row(&self.conn, info));
    }
    fn raise(&mut self, ev: &Event<'_>) {
        // BENCH_EVENTS=0: no handler subscribes (the component then builds no events).
        if !self.events_on {
            return;
        }
        if let Some((name, args)) = http::event_args(ev) {
            self.events
                .push((name.to_string(), 0.0, self.conn.clone(), args));
        }
    }
    fn weird(&mut self, name: &'static str, addl: &[u8]) {
        let t = http::log::text(addl);
        if let Some(d) = &mut self.dump {
            d.push_str(&format!("weird {name} {t}\n"));
        }
    }
    fn confirm(&mut self) {
        if let Some(d) = &mut self.dump {
            d.push_str("confirm\n");
        }
    }
    fn violation(&mut self, reason: &str, data: &[u8]) {
        if let Some(d) = &mut self.dump {
            d.push_str(&format!("violation {reason} {data:?}\n"));
        }
    }
    fn file_begin(&mut self, is_orig: bool, mime: Option<&[u8]>, size: Option<u64>) -> u32 {
        let m = mime.map(http::log::text);
        if let Some(d) = &mut self.dump {
            d.push_str(&format!("file_begin {is_orig} {m:?} {size:?}\n"));
        }
        1
    }
    fn file_data(&mut self, _file: u32, data: &[u8]) {
        self.file_bytes += data.len() as u64;
        if let Some(d) = &mut self.dump {
            d.push_str(&format!("file_data {data:?}\n"));
        }
    }
    fn file_end(&mut self, _file: u32) {
        if let Some(d) = &mut self.dump {
            d.push_str("file_end\n");
        }
    }
}

fn conn_info(c: &Conn) -> ConnInfo {
    let ip = |a: std::net::IpAddr| match a {
        std::net::IpAddr::V4(v) => {
            let o = v.octets();
            IpAddress::V4((o[0], o[1], o[2], o[3]))
        }
        std::net::IpAddr::V6(v) => {
            let s = v.segments();
            IpAddress::V6((s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]))
        }
    };
    ConnInfo::fresh(
        "CbenchUid0000000001",
        ConnId {
            orig_h: ip(c.orig.0),
            orig_p: Port::tcp(c.orig.1),
            resp_h: ip(c.resp.0),
            resp_p: Port::tcp(c.resp.1),
        },
        c.start,
    )
}

/// One connection as the component runs it (rows and events dropped at the end of each call).
fn run(c: &Conn, dump: bool) -> (u64, u64, String) {
    let mut http = Http::new();
    let host = BenchHost {
        conn: conn_info(c),
        rows: Vec::new(),
        events: Vec::new(),
        transactions: 0,
        file_bytes: 0,
        dump: dump.then(String::new),
        events_on: std::env::var("BENCH_EVENTS").map_or(true, |v| v != "0"),
    };
    let mut script = Script::new(meta(c, "CbenchUid0000000001"), host);
    for step in &c.steps {
        match step {
            Step::Data { is_orig, data, .. } => http.deliver(*is_orig, data, &mut script),
            Step::Gap { is_orig, len } => http.gap(*is_orig, *len, &mut script),
            Step::Eof { is_orig } => http.end_of_data(*is_orig, &mut script),
        }
        flush(&mut script.host);
    }
    http.finish(&mut script);
    script.finalize();
    flush(&mut script.host);
    let h = script.host;
    (h.transactions, h.file_bytes, h.dump.unwrap_or_default())
}

fn flush(h: &mut BenchHost) {
    let rows = std::mem::take(&mut h.rows);
    let events = std::mem::take(&mut h.events);
    if let Some(d) = &mut h.dump {
        d.push_str(&format!("{rows:?}\n{events:?}\n"));
    }
    std::hint::black_box((rows, events));
}

fn pcaps(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            pcaps(&p, out);
        } else if p.extension().is_some_and(|x| x == "pcap") {
            out.push(p);
        }
    }
}

#[test]
#[ignore]
fn bench_corpus() {
    let mut files = Vec::new();
    pcaps(&corpus().join("traces/http"), &mut files);
    files.sort();
    let conns: Vec<Conn> = files
        .iter()
        .flat_map(|f| tcp_conns(f))
        .filter(is_http)
        .collect();
    let bytes: usize = conns
        .iter()
        .flat_map(|c| &c.steps)
        .map(|s| match s {
            Step::Data { data, .. } => data.len(),
            _ => 0,
        })
        .sum();
    let n: u32 = std::env::var("BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut trans = 0;
    let mut dump = String::new();
    for c in &conns {
        let (t, _, d) = run(c, true);
        trans += t;
        dump.push_str(&d);
    }
    if let Ok(path) = std::env::var("BENCH_DUMP") {
        std::fs::write(path, dump).unwrap();
    }
    let a0 = ALLOCS.load(Ordering::Relaxed);
    // The machine is shared: each pass is timed, and the fastest and the median reported.
    let mut passes = Vec::new();
    for _ in 0..n {
        let t0 = Instant::now();
        for c in &conns {
            std::hint::black_box(run(c, false));
        }
        passes.push(t0.elapsed().as_secs_f64() * 1e6 / trans as f64);
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - a0;
    passes.sort_by(f64::total_cmp);
    println!(
        "{} conns, {} transactions, {} bytes, {} runs: {:.2} µs/transaction (fastest run; median {:.2}), {:.1} allocations/transaction",
        conns.len(),
        trans,
        bytes,
        n,
        passes[0],
        passes[passes.len() / 2],
        allocs as f64 / f64::from(n) / trans as f64
    );
}

/// Writes everything the analyzer produces for each input of the fuzz corpus (decoded as the
/// fuzz target does) to BENCH_DUMP: two builds must write the same file.
#[test]
#[ignore]
fn dump_fuzz_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_stream");
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    let mut dump = String::new();
    for path in &names {
        let input = std::fs::read(path).unwrap();
        let mut steps = Vec::new();
        let mut rest = &input[..];
        while let [ctl, len, tail @ ..] = rest {
            let is_orig = ctl & 1 == 0;
            let n = usize::from(*len).min(tail.len());
            let (chunk, after) = tail.split_at(n);
            steps.push(match (ctl >> 1) & 3 {
                1 => Step::Gap {
                    is_orig,
                    len: u64::from(*len) * 7,
                },
                2 => Step::Eof { is_orig },
                _ => Step::Data {
                    is_orig,
                    ts: 1.0,
                    data: chunk.to_vec(),
                },
            });
            rest = if (ctl >> 1) & 3 == 0 || (ctl >> 1) & 3 == 3 {
                after
            } else {
                tail
            };
        }
        let c = Conn {
            orig: ("10.0.0.1".parse().unwrap(), 40000),
            resp: ("10.0.0.2".parse().unwrap(), 80),
            start: 1.0,
            steps,
            first: [Vec::new(), Vec::new()],
        };
        dump.push_str(&format!("== {:?}\n", path.file_name()));
        dump.push_str(&run(&c, true).2);
    }
    std::fs::write(std::env::var("BENCH_DUMP").unwrap(), dump).unwrap();
}
