//! Timing harness (ignored): every DNS message of the corpus traces through a session, dns.log
//! rows and events, as the guest does per call. Run with
//! `cargo test --release -p dns --test bench_corpus -- --ignored --nocapture`; `BENCH_PCAP=<file>`
//! runs one trace instead (the DNS packets of the bench trace, say), `ROUNDS=<n>` sets the rounds,
//! `EVENTS=none` leaves the events out (no handler subscribes).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Counts allocations (and reallocations) of this test binary.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What `testutil` names `crate::session`.
mod session {
    pub use dns::session::*;
}

#[path = "../src/testutil.rs"]
#[allow(dead_code)]
mod testutil;

use dns::session::{Effects, Session};

fn traces(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            traces(&p, base, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "pcap" || x == "trace" || x == "pcapng")
        {
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

/// The guest's per-call work on the effects: rows then events.
fn consume(
    conn: &sandpiper_sdk::types::ConnInfo,
    s: &Session,
    fx: Effects,
    rows: &mut sandpiper_sdk::packed::Encoder,
) -> usize {
    let netbios = s.netbios();
    rows.clear();
    for info in &fx.rows {
        dns::log::encode_row(rows, conn, info, netbios);
    }
    let events: Vec<_> = fx
        .events
        .into_iter()
        .map(|e| dns::log::into_event(conn, e))
        .collect();
    std::hint::black_box((rows.bytes(), &events));
    rows.rows() as usize + events.len()
}

#[test]
#[ignore]
fn bench_corpus() {
    let base = testutil::traces_dir();
    let mut names = Vec::new();
    traces(&base, &base, &mut names);
    let mut conns = Vec::new();
    // One trace instead, e.g. the DNS packets of the bench trace cut out with tcpdump.
    if let Ok(trace) = std::env::var("BENCH_PCAP") {
        names = vec![trace];
    }
    for n in &names {
        // Traces pcap_file cannot read are skipped.
        let r = std::panic::catch_unwind(|| testutil::connections(n, true));
        if let Ok(c) = r {
            conns.extend(c);
        }
    }
    let messages: usize = conns.iter().map(|c| c.packets.len()).sum();
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    // EVENTS=none: no handler subscribes (the events are not built, as in the guest).
    let events = std::env::var("EVENTS").map_or(true, |e| e != "none");
    let run = || {
        let mut items = 0;
        let mut rows = sandpiper_sdk::packed::Encoder::new();
        for c in &conns {
            let mut s = Session::new(c.tcp, c.info.id.resp_p.number);
            for (is_orig, ts, data) in &c.packets {
                let fx = s.deliver_with(*is_orig, data, *ts, &mut |_| events);
                items += consume(&c.info, &s, fx, &mut rows);
            }
            let fx = s.finish_with(&mut |_| events);
            items += consume(&c.info, &s, fx, &mut rows);
        }
        items
    };
    let items = run();
    let a0 = ALLOCS.load(Relaxed);
    let t0 = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(run());
    }
    let dt = t0.elapsed();
    let allocs = ALLOCS.load(Relaxed) - a0;
    let n = (messages * rounds) as f64;
    println!(
        "{} connections, {messages} messages, {items} rows+events; {rounds} rounds: {:.0} ns/message, {:.2} allocations/message, {:.2} per connection",
        conns.len(),
        dt.as_nanos() as f64 / n,
        allocs as f64 / n,
        allocs as f64 / (conns.len() * rounds) as f64,
    );
}
