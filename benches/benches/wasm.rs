//! Costs of crossing the Wasm boundary, with the real host (runtime/src/wasm) and real guests
//! built from tests/guests: a call with no data, delivery of 64 B / 1460 B / 64 KiB to an
//! analyzer session, events raised from guest to host, session create + drop, instantiation
//! from the pooling allocator, a parsing workload with and without fuel + epoch checks, and
//! loading a changed module from the artifact cache (what a hot-reload swap costs).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sandpiper::wasm::bindings::types::{ConnId, ConnInfo, Event, Port, Transport};
use sandpiper::wasm::modules::test_modules_dir;
use sandpiper::wasm::runtime::{arm, Enforce, Exports, Instance, LoadedModule, WasmRuntime};
use sandpiper::wasm::streams::ip_address;

fn module(rt: &WasmRuntime, name: &str) -> Arc<LoadedModule> {
    let path: PathBuf = test_modules_dir().join(format!("{name}.wasm"));
    rt.load(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn conn() -> ConnInfo {
    let port = |number| Port {
        number,
        proto: Transport::Tcp,
    };
    ConnInfo {
        uid: "CHhAvVGS1DHFjwGM9".into(),
        id: ConnId {
            orig_h: ip_address("10.0.0.1".parse().unwrap()),
            orig_p: port(40000),
            resp_h: ip_address("10.0.0.2".parse().unwrap()),
            resp_p: port(80),
        },
        start: 1.7e9,
        duration: 0.0,
        orig_bytes: 0,
        resp_bytes: 0,
        orig_pkts: 1,
        resp_pkts: 0,
        conn_state: String::new(),
        history: "S".into(),
        service: Vec::new(),
        local_orig: true,
        local_resp: true,
        tunnel_parents: Vec::new(),
    }
}

fn event() -> Event {
    Event {
        name: "connection_state_remove".into(),
        ts: 1.7e9,
        conn: Some(conn()),
        args: Vec::new(),
    }
}

fn handler(exports: &Exports) -> &sandpiper::wasm::bindings::guest::handler::Guest {
    match exports {
        Exports::Handler(h) => h,
        _ => panic!("not a handler"),
    }
}

fn analyzer(exports: &Exports) -> &sandpiper::wasm::bindings::guest::analyzer::Guest {
    match exports {
        Exports::Analyzer(a) => a,
        _ => panic!("not an analyzer"),
    }
}

const FUEL: u64 = 50_000_000;
const WALL_MS: u64 = 1_000;

fn calls(c: &mut Criterion) {
    let rt = WasmRuntime::new(None).unwrap();
    let mut g = c.benchmark_group("wasm");

    // A call with no data: handle(empty batch), refuelled before each call as the host does.
    let null_handler = module(&rt, "null-handler");
    let Instance { mut store, exports } = null_handler.instantiate(&rt).unwrap();
    g.bench_function("call/noop", |b| {
        b.iter(|| {
            arm(&mut store, FUEL, WALL_MS);
            handler(&exports).call_handle(&mut store, &[]).unwrap();
        })
    });

    // The same call without the per-call re-arm (fuel unlimited, long deadline), and the
    // re-arm alone: they split the per-call floor between wasmtime's call path and ours.
    arm(&mut store, 0, 60_000);
    g.bench_function("call/noop_no_arm", |b| {
        b.iter(|| {
            handler(&exports).call_handle(&mut store, &[]).unwrap();
        })
    });
    g.bench_function("arm_only", |b| b.iter(|| arm(&mut store, FUEL, WALL_MS)));

    // Delivery to one analyzer session.
    let null_analyzer = module(&rt, "null-analyzer");
    let Instance { mut store, exports } = null_analyzer.instantiate(&rt).unwrap();
    arm(&mut store, FUEL, WALL_MS);
    let a = analyzer(&exports).session();
    let session = a.call_constructor(&mut store, &conn()).unwrap();
    for size in [64usize, 1460, 65536] {
        let data = vec![0x41u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("deliver", size), &data, |b, data| {
            b.iter(|| {
                arm(&mut store, FUEL, WALL_MS);
                a.call_deliver(&mut store, session, true, data).unwrap();
            })
        });
    }
    g.throughput(Throughput::Elements(1));

    // Session create + drop (constructor, then the host drops the resource).
    g.bench_function("session/create_drop", |b| {
        b.iter(|| {
            arm(&mut store, FUEL, WALL_MS);
            let s = a.call_constructor(&mut store, &conn()).unwrap();
            s.resource_drop(&mut store).unwrap();
        })
    });

    // Events from guest to host: handle(batch of n) raises the n events back; the host lifts
    // them lazily with its budgets. Compare with call/noop for the crossing cost.
    let raise = module(&rt, "bench-raise");
    let Instance {
        store: mut raise_store,
        exports: raise_exports,
    } = raise.instantiate(&rt).unwrap();
    for n in [1usize, 64] {
        let batch: Vec<Event> = (0..n).map(|_| event()).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(
            BenchmarkId::new("raise_roundtrip", n),
            &batch,
            |b, batch| {
                b.iter(|| {
                    arm(&mut raise_store, FUEL, WALL_MS);
                    handler(&raise_exports)
                        .call_handle(&mut raise_store, batch)
                        .unwrap();
                    assert_eq!(raise_store.data_mut().call.events.len(), batch.len());
                })
            },
        );
        // The same batch to a handler that raises nothing: the difference is the raise.
        let Instance {
            store: mut quiet,
            exports: quiet_exports,
        } = null_handler.instantiate(&rt).unwrap();
        g.bench_with_input(BenchmarkId::new("handle_only", n), &batch, |b, batch| {
            b.iter(|| {
                arm(&mut quiet, FUEL, WALL_MS);
                handler(&quiet_exports)
                    .call_handle(&mut quiet, batch)
                    .unwrap();
            })
        });
    }
    g.throughput(Throughput::Elements(1));

    // A fresh Store and instance from the pooling allocator.
    g.bench_function("instantiate/pooled", |b| {
        b.iter(|| null_analyzer.instantiate(&rt).unwrap())
    });
    g.finish();
}

/// Events per second through a handler that does nothing, per guest language: what lifting a
/// batch of connection_state_remove events costs in each (the Rust SDK, componentize-js,
/// componentize-py).
fn handler_languages(c: &mut Criterion) {
    let rt = WasmRuntime::new(None).unwrap();
    let mut g = c.benchmark_group("handler_noop_256");
    let batch: Vec<Event> = (0..256).map(|_| event()).collect();
    g.throughput(Throughput::Elements(batch.len() as u64));
    for (language, name) in [
        ("rust", "null-handler"),
        ("javascript", "null-handler-js"),
        ("python", "null-handler-py"),
    ] {
        let m = module(&rt, name);
        let fuel = m.manifest.limits.fuel;
        let Instance { mut store, exports } = m.instantiate(&rt).unwrap();
        g.bench_with_input(
            BenchmarkId::new(language, batch.len()),
            &batch,
            |b, batch| {
                b.iter(|| {
                    arm(&mut store, fuel, 60_000);
                    handler(&exports).call_handle(&mut store, batch).unwrap();
                })
            },
        );
    }
    g.finish();
}

/// The same parsing workload with fuel + epoch on and off.
fn limits_overhead(c: &mut Criterion) {
    let text: Vec<u8> = (0..2_000)
        .flat_map(|i| format!("X-Header-{i}: value number {i} with some text\r\n").into_bytes())
        .take(65_536)
        .collect();
    let mut g = c.benchmark_group("wasm_parse_64k");
    g.throughput(Throughput::Bytes(text.len() as u64));
    let on = |fuel, epoch| Enforce { fuel, epoch };
    for (label, limits) in [
        ("fuel_epoch_on", on(true, true)),
        ("fuel_only", on(true, false)),
        ("epoch_only", on(false, true)),
        ("fuel_epoch_off", on(false, false)),
    ] {
        let rt = WasmRuntime::with_limits(None, limits).unwrap();
        let m = module(&rt, "bench-parse");
        let Instance { mut store, exports } = m.instantiate(&rt).unwrap();
        arm(&mut store, 0, WALL_MS);
        let a = analyzer(&exports).session();
        let s = a.call_constructor(&mut store, &conn()).unwrap();
        g.bench_function(label, |b| {
            b.iter(|| {
                arm(&mut store, 0, WALL_MS);
                a.call_deliver(&mut store, s, true, &text).unwrap();
            })
        });
    }
    g.finish();
}

/// What a hot-reload swap costs with a cached artifact: load (manifest, checks, deserialize
/// from the cache, instantiate_pre) plus the first instance.
fn swap(c: &mut Criterion) {
    let cache = tempfile::tempdir().unwrap();
    let rt = WasmRuntime::new(Some(cache.path().to_path_buf())).unwrap();
    let path = test_modules_dir().join("conn-rows.wasm");
    rt.load(&path).unwrap(); // fills the cache
    let mut g = c.benchmark_group("wasm_reload");
    g.bench_function("load_cached_and_instantiate", |b| {
        b.iter(|| {
            let m = rt.load(&path).unwrap();
            assert!(m.from_cache);
            m.instantiate(&rt).unwrap()
        })
    });
    g.bench_function("compile_uncached", |b| {
        let bytes = std::fs::read(&path).unwrap();
        b.iter(|| rt.compile_uncached(&bytes).unwrap())
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = calls, handler_languages, limits_overhead, swap
}
criterion_main!(benches);
