//! What fuel metering and epoch interruption cost the shipped parsers on real traffic: the
//! whole corpus as one stream (`common::corpus_stream`: HTTP, DNS and everything else Zeek's
//! test suite captured) through `Engine::packet` with the `dns` and `http` protocol analyzers
//! of `target/modules`, once on an engine with fuel + epoch checks compiled in (as the monitor
//! always runs) and once without, plus the fast path alone (no modules) for the share of the
//! time the analyzers take.
//!
//! `wasm_parse_64k` in `benches/wasm.rs` is the worst case (a per-byte loop of a few
//! instructions, where a fuel decrement and an epoch check per iteration weigh most); this is
//! the case that decides what a user pays. With `BENCH_PCAP=<pcap>` that trace (its first
//! `BENCH_PCAP_PACKETS` packets, default all) is measured as well.
//!
//! Not criterion: the three configurations run in turn, `ROUNDS` times (default 7), so that a
//! machine that speeds up or slows down during the run (a shared VM does) weighs on all three
//! alike; medians of the packet thread's CPU time are compared. The overhead on the parsers
//! is (fuel+epoch - unmetered) / (unmetered - fast path): the analyzers' share of the run (the
//! Wasm calls and the host's pipeline around them) is what metering can slow down.
//!
//!     cargo bench -p sandpiper-benches --bench metering
//!     BENCH_PCAP=/tmp/bench-200.pcap cargo bench -p sandpiper-benches --bench metering

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use sandpiper::engine::{Engine, EngineConfig};
use sandpiper::log::manager::LogManager;
use sandpiper::log::LogFormat;
use sandpiper::site::LocalNets;
use sandpiper::wasm::analyzers::Analyzers;
use sandpiper::wasm::event_bus::EventBus;
use sandpiper::wasm::failures::{FailureLog, QuarantinePolicy};
use sandpiper::wasm::handlers::Dispatcher;
use sandpiper::wasm::modules::{builtin_dir, load_dir};
use sandpiper::wasm::monitor::Monitor;
use sandpiper::wasm::runtime::{Enforce, LoadedModule, WasmRuntime};
use sandpiper::wasm::streams::GuestLogs;

mod common;
use common::Frame;

/// The parsers measured: the shipped protocol analyzers.
const ANALYZERS: &[&str] = &["dns", "http"];

/// A runtime and the analyzers it compiled.
type Wasm = (Arc<WasmRuntime>, Vec<Arc<LoadedModule>>);

/// The shipped analyzers, compiled by an engine with the given checks.
fn runtime(limits: Enforce) -> Wasm {
    let rt = Arc::new(WasmRuntime::with_limits(None, limits).expect("wasm runtime"));
    let dir = builtin_dir().expect("target/modules (run `cargo build` first)");
    let set = load_dir(&rt, &dir).expect("modules directory");
    let modules: Vec<_> = set
        .loaded
        .into_iter()
        .filter(|m| ANALYZERS.contains(&m.manifest.name.as_str()))
        .collect();
    assert_eq!(modules.len(), ANALYZERS.len(), "dns and http modules built");
    (rt, modules)
}

/// An engine as `sandpiper -r` builds it, with `modules` as analyzers (no handlers), or the
/// fast path alone.
fn engine(dir: &Path, wasm: Option<&Wasm>) -> Engine {
    let logs = LogManager::native(dir, LogFormat::Tsv);
    let mut e = Engine::new(EngineConfig {
        log_dir: dir.to_path_buf(),
        log_manager: Some(logs.clone()),
        seed: Some(1),
        ..EngineConfig::default()
    });
    if let Some((rt, modules)) = wasm {
        let failures = FailureLog::new(logs.clone(), QuarantinePolicy::default());
        let handlers = Dispatcher::new(
            rt.clone(),
            modules,
            failures.clone(),
            GuestLogs::new(logs.clone()),
        );
        let bus =
            EventBus::new(handlers, failures, GuestLogs::new(logs), false).expect("event bus");
        let analyzers = Analyzers::new(rt.clone(), modules, LocalNets::default());
        e.set_observer(Box::new(Monitor::new(bus, analyzers)));
    }
    e
}

/// One timed pass: build the engine (untimed), then every packet and the end of input.
/// Returns (wall, this thread's CPU time) in seconds.
fn pass(dir: &Path, wasm: Option<&Wasm>, frames: &[Frame]) -> (f64, f64) {
    let mut e = engine(dir, wasm);
    let (wall, cpu) = (Instant::now(), thread_cpu());
    for f in frames {
        e.packet(f.ts, f.dlt, &f.data, f.wire_len);
    }
    // Connections still open end here, as at the end of a trace: their analyzers finish and
    // log.
    e.finish().expect("logs");
    (wall.elapsed().as_secs_f64(), thread_cpu() - cpu)
}

/// CPU time of the calling thread, in seconds.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the three configurations in turn, `rounds` times, so that a machine that speeds up or
/// slows down during the run affects all three alike, and prints medians and the overhead.
fn run(name: &str, frames: &[Frame], rounds: usize) {
    let metered = runtime(Enforce::ALL);
    let unmetered = runtime(Enforce {
        fuel: false,
        epoch: false,
    });
    let configs: [(&str, Option<&Wasm>); 3] = [
        ("fast path only", None),
        ("dns+http, unmetered", Some(&unmetered)),
        ("dns+http, fuel+epoch", Some(&metered)),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    // Warm-up: page in the frames, instantiate once, fill the caches.
    for (_, wasm) in configs {
        pass(dir.path(), wasm, frames);
    }
    let mut wall = vec![Vec::new(); 3];
    let mut cpu = vec![Vec::new(); 3];
    let mut overhead = Vec::new();
    for _ in 0..rounds {
        let mut w = [0.0; 3];
        for (i, (_, wasm)) in configs.iter().enumerate() {
            let (pw, pc) = pass(dir.path(), *wasm, frames);
            wall[i].push(pw);
            cpu[i].push(pc);
            w[i] = pc;
        }
        overhead.push((w[2] - w[1]) / (w[1] - w[0]));
    }
    println!(
        "metering/{name}: {} packets, {rounds} rounds, medians",
        frames.len()
    );
    for (i, (label, _)) in configs.iter().enumerate() {
        let c = median(cpu[i].clone());
        println!(
            "  {label:<22} wall {:>8.1} ms  cpu {:>8.1} ms  {:>6.0} ns/packet",
            median(wall[i].clone()) * 1e3,
            c * 1e3,
            c * 1e9 / frames.len() as f64
        );
    }
    let (f, u, m) = (
        median(cpu[0].clone()),
        median(cpu[1].clone()),
        median(cpu[2].clone()),
    );
    let mut sorted = overhead.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "  fuel+epoch overhead: {:+.1}% of the whole run, {:+.1}% of the analyzers' share \
         (per-round: median {:+.1}%, range {:+.1}% .. {:+.1}%)",
        (m - u) / u * 100.0,
        (m - u) / (u - f) * 100.0,
        median(overhead) * 100.0,
        sorted[0] * 100.0,
        sorted[sorted.len() - 1] * 100.0
    );
}

fn main() {
    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    run("corpus", &common::corpus_stream(), rounds);
    if let Ok(p) = std::env::var("BENCH_PCAP") {
        let max: usize = std::env::var("BENCH_PCAP_PACKETS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(usize::MAX);
        let mut frames = common::load(Path::new(&p)).unwrap_or_else(|e| panic!("{e}"));
        frames.truncate(max);
        run("bench_pcap", &frames, rounds);
    }
}
