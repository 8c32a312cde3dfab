//! The wasmtime side: one `Engine` (fuel, epoch interruption, pooling allocator), an artifact
//! cache keyed by content hash, loading and checking modules, and running calls under limits.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use std::io::Read;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use super::bindings::{guest, PACKAGE, PACKAGE_VERSION};
use super::host::{self, HostState};
use super::manifest::{Capability, Kind, Manifest};
use super::source_hashes::{hex, SourceHashes};
use super::streams::StreamRegistry;

/// The interface an event handler may export instead of `handler`: batches as `packed-events`.
const PACKED_HANDLER: &str = "packed-handler";

/// How often the epoch advances: the granularity of wall-clock limits.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The shared wasmtime engine and everything that does not belong to one Store.
pub struct WasmRuntime {
    pub engine: Engine,
    linker: Linker<HostState>,
    cache_dir: Option<PathBuf>,
    /// Component hashes remembered beside the artifacts (none with `--no-cache`).
    sources: SourceHashes,
    pub streams: Arc<StreamRegistry>,
    ticker: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    /// Whether the pooling allocator is in use (it needs a large virtual address space).
    pub pooling: bool,
    /// `--set` values for the modules' options, applied to every manifest loaded (reloads
    /// too).
    pub overrides: super::options::Overrides,
}

/// Which limits the engine enforces; the monitor always enforces both.
#[derive(Debug, Clone, Copy)]
pub struct Enforce {
    pub fuel: bool,
    pub epoch: bool,
}

impl Enforce {
    pub const ALL: Enforce = Enforce {
        fuel: true,
        epoch: true,
    };
}

fn base_config(limits: Enforce) -> Config {
    let mut c = Config::new();
    c.consume_fuel(limits.fuel);
    c.epoch_interruption(limits.epoch);
    // Component-model async is not used; leaving it on costs ~450 ns per call.
    c.concurrency_support(false);
    c
}

fn pooling_config(limits: Enforce) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(1_000);
    pool.total_core_instances(4_000);
    pool.max_core_instances_per_component(64);
    pool.total_memories(1_000);
    pool.total_tables(2_000);
    pool.max_memories_per_component(16);
    pool.max_tables_per_component(16);
    pool.max_memory_size((super::manifest::MAX_MEMORY_MB as usize) << 20);
    let mut c = base_config(limits);
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    c
}

impl WasmRuntime {
    /// Creates the engine, the linker with every host import, and the epoch ticker.
    /// `cache_dir`: where compiled artifacts are kept (None: compile every time).
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self, String> {
        Self::with_limits(cache_dir, Enforce::ALL)
    }

    /// As [`WasmRuntime::new`], with fuel metering and epoch interruption chosen separately
    /// (benchmarks measure their overhead; the monitor always runs with both on).
    pub fn with_limits(cache_dir: Option<PathBuf>, limits: Enforce) -> Result<Self, String> {
        // The pooling allocator reserves virtual memory up front; where that is refused
        // (ulimit -v), fall back to on-demand allocation rather than not running at all.
        let (engine, pooling) = match Engine::new(&pooling_config(limits)) {
            Ok(e) => (e, true),
            Err(_) => (
                Engine::new(&base_config(limits)).map_err(|e| format!("wasm engine: {e:?}"))?,
                false,
            ),
        };
        let mut linker = Linker::new(&engine);
        host::add_to_linker(&mut linker).map_err(|e| format!("linking host imports: {e:?}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (engine, stop) = (engine.clone(), stop.clone());
            std::thread::Builder::new()
                .name("wasm-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| format!("epoch thread: {e}"))?
        };
        Ok(WasmRuntime {
            engine,
            linker,
            sources: SourceHashes::new(cache_dir.as_deref()),
            cache_dir,
            streams: Arc::new(StreamRegistry::default()),
            ticker: Some((stop, ticker)),
            pooling,
            overrides: Default::default(),
        })
    }

    /// The default artifact cache: $XDG_CACHE_HOME/sandpiper or ~/.cache/sandpiper.
    pub fn default_cache_dir() -> Option<PathBuf> {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("sandpiper"))
    }

    /// Where the artifact of the component with SHA-256 `sha256` (hex) is cached: the key is
    /// the hash plus the engine's compatibility hash (wasmtime version and settings), so a
    /// changed module or engine never loads a stale artifact.
    fn artifact_path(&self, sha256: &str) -> Option<PathBuf> {
        let mut h = DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        let key = format!("{sha256}-{:016x}", h.finish());
        Some(self.cache_dir.as_ref()?.join(format!("{key}.cwasm")))
    }

    /// The cached artifact of the component with SHA-256 `sha256`, if there is a usable one.
    fn cached_artifact(&self, sha256: &str) -> Option<Component> {
        let path = self.artifact_path(sha256).filter(|p| p.exists())?;
        // SAFETY: the artifact was written by this cache from a component compiled by an
        // engine with the same compatibility hash; wasmtime still checks its header.
        unsafe { Component::deserialize_file(&self.engine, path) }.ok()
    }

    /// Compiles a component and stores its artifact in the cache.
    fn compile(&self, bytes: &[u8], sha256: &str) -> Result<Component, String> {
        let component =
            Component::new(&self.engine, bytes).map_err(|e| format!("does not compile: {e:#}"))?;
        if let Some(path) = self.artifact_path(sha256) {
            // A cache that cannot be written only costs time on the next start.
            if let Ok(art) = component.serialize() {
                let _ = std::fs::create_dir_all(path.parent().unwrap());
                let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                if std::fs::write(&tmp, art).is_ok() {
                    let _ = std::fs::rename(&tmp, &path);
                }
            }
        }
        Ok(component)
    }

    /// The component at `wasm_path` with its SHA-256: the cached artifact when there is one
    /// (the file is then not read at all if its hash is remembered), else compiled from the
    /// file. Returns whether the artifact came from the cache.
    fn component(&self, wasm_path: &Path) -> Result<(Component, String, bool), String> {
        let read_err = |e: std::io::Error| format!("{}: {e}", wasm_path.display());
        let not_component = || {
            format!(
                "{} is not a WebAssembly component (a core module? build for wasm32-wasip2)",
                wasm_path.display()
            )
        };
        let source = self.sources.hash(wasm_path).map_err(read_err)?;
        let (bytes, sha256) = match source.bytes {
            Some(bytes) => (bytes, source.sha256),
            None => {
                if !is_component(&read_preamble(wasm_path).map_err(read_err)?) {
                    return Err(not_component());
                }
                if let Some(c) = self.cached_artifact(&source.sha256) {
                    return Ok((c, source.sha256, true));
                }
                // No artifact to go with the remembered hash: compile from the bytes, under
                // their own hash.
                let bytes = std::fs::read(wasm_path).map_err(read_err)?;
                let sha256 = hex(&Sha256::digest(&bytes));
                (bytes, sha256)
            }
        };
        if !is_component(&bytes) {
            return Err(not_component());
        }
        if let Some(c) = self.cached_artifact(&sha256) {
            return Ok((c, sha256, true));
        }
        Ok((self.compile(&bytes, &sha256)?, sha256, false))
    }

    /// Compiles without the artifact cache (benchmarks of compile time).
    pub fn compile_uncached(&self, bytes: &[u8]) -> Result<Component, String> {
        Component::new(&self.engine, bytes).map_err(|e| format!("does not compile: {e:#}"))
    }

    /// Loads `<dir>/<name>.wasm` with its manifest `<dir>/<name>.toml`, checks both, and
    /// prepares it for instantiation.
    pub fn load(&self, wasm_path: &Path) -> Result<Arc<LoadedModule>, String> {
        let manifest_path = wasm_path.with_extension("toml");
        if !manifest_path.exists() {
            return Err(format!(
                "no manifest: expected {} beside the component",
                manifest_path.display()
            ));
        }
        let manifest_text = std::fs::read_to_string(&manifest_path)
            .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
        let mut manifest = Manifest::parse(&manifest_text)
            .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
        self.overrides
            .apply(&manifest.name, &mut manifest.options)?;
        let (component, hash, cached) = self.component(wasm_path)?;
        // Of the component loaded and the manifest read: if either file changes meanwhile, the
        // next rescan sees a difference.
        let fingerprint = fingerprint_of(&hash, manifest_text.as_bytes());
        check_world(&self.engine, &component, manifest.kind)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| format!("imports something the host does not provide: {e:#}"))?;
        let exports = ExportIndices::new(manifest.kind, &pre)?;
        Ok(Arc::new(LoadedModule {
            hash,
            manifest,
            path: wasm_path.to_path_buf(),
            pre,
            exports,
            from_cache: cached,
            fingerprint,
        }))
    }
}

impl WasmRuntime {
    /// The SHA-256 of a component file and of its manifest: what a reload compares. The
    /// component's hash is the remembered one while the file is unchanged, so a rescan does
    /// not read every module again.
    pub fn source_fingerprint(&self, wasm_path: &Path) -> std::io::Result<String> {
        let wasm = self.sources.hash(wasm_path)?.sha256;
        Ok(fingerprint_of(
            &wasm,
            &std::fs::read(wasm_path.with_extension("toml"))?,
        ))
    }
}

impl Drop for WasmRuntime {
    fn drop(&mut self) {
        if let Some((stop, t)) = self.ticker.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = t.join();
        }
    }
}

/// A module's fingerprint from its component's SHA-256 (hex) and its manifest's bytes.
fn fingerprint_of(wasm_sha256: &str, manifest: &[u8]) -> String {
    format!("{wasm_sha256}-{}", hex(&Sha256::digest(manifest)))
}

/// The first 8 bytes of a file (fewer if it is shorter).
fn read_preamble(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(8);
    std::fs::File::open(path)?.take(8).read_to_end(&mut head)?;
    Ok(head)
}

/// A component starts with the preamble \0asm, version 0x0d and layer 1 (core modules: 1, 0).
fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[0..4] == b"\0asm" && bytes[6..8] == [1, 0] && bytes[4] == 0x0d
}

/// Checks that the component was built against a compatible version of the WIT package and
/// exports its kind's interface.
fn check_world(engine: &Engine, component: &Component, kind: Kind) -> Result<(), String> {
    let ty = component.component_type();
    let host = semver::Version::parse(PACKAGE_VERSION).expect("valid");
    let prefix = format!("{PACKAGE}/");
    let names = ty
        .imports(engine)
        .map(|(n, _)| n.to_string())
        .chain(ty.exports(engine).map(|(n, _)| n.to_string()))
        .collect::<Vec<_>>();
    for name in &names {
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let Some((_, version)) = rest.split_once('@') else {
            return Err(format!(
                "{name}: unversioned; build against {PACKAGE}@{host}"
            ));
        };
        let v = semver::Version::parse(version).map_err(|_| format!("{name}: bad version"))?;
        if !compatible(&host, &v) {
            return Err(format!(
                "built against {PACKAGE}@{v}, but this host provides {PACKAGE}@{host}: rebuild it with a matching sandpiper-sdk"
            ));
        }
    }
    let exports_kind = |interface: &str| {
        let want = format!("{prefix}{interface}@");
        ty.exports(engine).any(|(n, _)| n.starts_with(&want))
    };
    let packed_handler = kind == Kind::EventHandler && exports_kind(PACKED_HANDLER);
    if !exports_kind(kind.export_interface()) && !packed_handler {
        let exported: Vec<_> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
        let or_packed = if kind == Kind::EventHandler {
            format!(" or {prefix}{PACKED_HANDLER}@{host}")
        } else {
            String::new()
        };
        return Err(format!(
            "the manifest says kind = \"{kind}\", but the component does not export {}{}@{host}{or_packed} (it exports: {})",
            prefix,
            kind.export_interface(),
            if exported.is_empty() { "nothing".to_string() } else { exported.join(", ") }
        ));
    }
    Ok(())
}

/// Semver compatibility of a component's WIT package version with the host's: the same major
/// version, and while the major version is 0, the same minor version too.
pub fn compatible(host: &semver::Version, component: &semver::Version) -> bool {
    if host.major == 0 {
        component.major == 0 && component.minor == host.minor
    } else {
        component.major == host.major
    }
}

/// The export lookups of a module's kind, resolved once per loaded module.
pub enum ExportIndices {
    Analyzer(guest::analyzer::GuestIndices),
    FileAnalyzer(guest::file_analysis::GuestIndices),
    Handler(guest::handler::GuestIndices),
    PackedHandler(guest::packed_handler::GuestIndices),
    Writer(guest::writer::GuestIndices),
    Netcontrol(guest::netcontrol::GuestIndices),
    Input(guest::input::GuestIndices),
}

impl ExportIndices {
    fn new(kind: Kind, pre: &InstancePre<HostState>) -> Result<Self, String> {
        let e = |e: wasmtime::Error| format!("exports do not match the {kind} world: {e:#}");
        Ok(match kind {
            Kind::ProtocolAnalyzer => {
                ExportIndices::Analyzer(guest::analyzer::GuestIndices::new(pre).map_err(e)?)
            }
            Kind::FileAnalyzer => ExportIndices::FileAnalyzer(
                guest::file_analysis::GuestIndices::new(pre).map_err(e)?,
            ),
            // An event handler exports `handler` or `packed-handler` (check_world saw one).
            Kind::EventHandler => match guest::handler::GuestIndices::new(pre) {
                Ok(i) => ExportIndices::Handler(i),
                Err(plain) => match guest::packed_handler::GuestIndices::new(pre) {
                    Ok(i) => ExportIndices::PackedHandler(i),
                    Err(_) => return Err(e(plain)),
                },
            },
            Kind::LogWriter => {
                ExportIndices::Writer(guest::writer::GuestIndices::new(pre).map_err(e)?)
            }
            Kind::NetcontrolPlugin => {
                ExportIndices::Netcontrol(guest::netcontrol::GuestIndices::new(pre).map_err(e)?)
            }
            Kind::InputReader => {
                ExportIndices::Input(guest::input::GuestIndices::new(pre).map_err(e)?)
            }
        })
    }
}

/// The loaded exports of one instance.
pub enum Exports {
    Analyzer(guest::analyzer::Guest),
    FileAnalyzer(guest::file_analysis::Guest),
    Handler(guest::handler::Guest),
    PackedHandler(guest::packed_handler::Guest),
    Writer(guest::writer::Guest),
    Netcontrol(guest::netcontrol::Guest),
    Input(guest::input::Guest),
}

/// A compiled, checked module ready to instantiate. Shared by every worker and instance.
pub struct LoadedModule {
    pub manifest: Manifest,
    pub path: PathBuf,
    /// SHA-256 of the component, hex.
    pub hash: String,
    pub pre: InstancePre<HostState>,
    pub exports: ExportIndices,
    /// Whether the compiled artifact came from the cache.
    pub from_cache: bool,
    /// Hash of the component and manifest files as loaded (reload skips unchanged modules).
    pub fingerprint: String,
}

/// Why a call failed: analyzer_failed.log `cause` and `failure_reason`.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// "fuel-exhausted", "timeout", "memory-limit", "host-limit" or "trap"; the reason says
    /// whether it happened while instantiating.
    pub cause: &'static str,
    pub reason: String,
    /// The guest's last stderr line (its panic message), if any.
    pub data: Option<String>,
}

/// One live instance of a module: its own Store, so a trap poisons nothing else.
pub struct Instance {
    pub store: Store<HostState>,
    pub exports: Exports,
}

impl LoadedModule {
    /// A new Store and instance. Fuel and the epoch deadline are set before instantiation,
    /// because instantiation runs guest code (constructors, `_initialize`).
    pub fn instantiate(&self, rt: &WasmRuntime) -> Result<Instance, Failure> {
        let l = &self.manifest.limits;
        let state = HostState::new(
            Arc::from(self.manifest.name.as_str()),
            rt.streams.clone(),
            (l.memory_mb as usize) << 20,
            self.manifest.capabilities.contains(&Capability::Stderr),
            &super::options::environment(&self.manifest.options),
        );
        let mut store = Store::new(&rt.engine, state);
        store.limiter(|s| &mut s.limiter);
        arm(&mut store, l.fuel, l.wall_clock_ms);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(&store, &e, l.fuel, l.wall_clock_ms, "instantiation"))?;
        let fail = |store: &Store<HostState>, e: wasmtime::Error| {
            classify(store, &e, l.fuel, l.wall_clock_ms, "instantiation")
        };
        let exports = match &self.exports {
            ExportIndices::Analyzer(i) => {
                Exports::Analyzer(i.load(&mut store, &instance).map_err(|e| fail(&store, e))?)
            }
            ExportIndices::FileAnalyzer(i) => {
                Exports::FileAnalyzer(i.load(&mut store, &instance).map_err(|e| fail(&store, e))?)
            }
            ExportIndices::Handler(i) => {
                Exports::Handler(i.load(&mut store, &instance).map_err(|e| fail(&store, e))?)
            }
            ExportIndices::PackedHandler(i) => {
                Exports::PackedHandler(i.load(&mut store, &instance).map_err(|e| fail(&store, e))?)
            }
            ExportIndices::Writer(i) => {
                Exports::Writer(i.load(&mut store, &instance).map_err(|e| fail(&store, e))?)
            }
            ExportIndices::Netcontrol(i) => {
                Exports::Netcontrol(i.load(&mut store, &instance).map_err(|e| fail(&store, e))?)
            }
            ExportIndices::Input(i) => {
                Exports::Input(i.load(&mut store, &instance).map_err(|e| fail(&store, e))?)
            }
        };
        Ok(Instance { store, exports })
    }
}

/// Refills fuel to the module's budget and sets the wall-clock deadline for the next call.
pub fn arm(store: &mut Store<HostState>, fuel: u64, wall_clock_ms: u64) {
    let fuel = if fuel == 0 { u64::MAX } else { fuel };
    // Fails only on an engine built without fuel metering (benchmarks).
    let _ = store.set_fuel(fuel);
    let ticks = wall_clock_ms.div_ceil(EPOCH_TICK.as_millis() as u64).max(1);
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
    let state = store.data_mut();
    state.call = host::CallState::default();
    state.limiter.hit = false;
}

/// Turns a failed call into analyzer_failed.log's cause and reason.
pub fn classify(
    store: &Store<HostState>,
    e: &wasmtime::Error,
    fuel: u64,
    wall_clock_ms: u64,
    during: &str,
) -> Failure {
    let state = store.data();
    let data = state.stderr_tail();
    if let Some(what) = &state.call.limit_hit {
        return Failure {
            cause: "host-limit",
            reason: format!("{during}: {what}"),
            data,
        };
    }
    if state.limiter.hit {
        return Failure {
            cause: "memory-limit",
            reason: format!(
                "{during}: linear memory limit of {} MiB reached",
                state.limiter.memory_bytes >> 20
            ),
            data,
        };
    }
    let (cause, reason) = match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => ("fuel-exhausted", format!("fuel budget of {fuel} exhausted")),
        Some(Trap::Interrupt) => (
            "timeout",
            format!("wall-clock limit of {wall_clock_ms} ms exceeded"),
        ),
        Some(Trap::StackOverflow) => ("trap", "stack overflow".to_string()),
        Some(Trap::UnreachableCodeReached) => (
            "trap",
            "unreachable executed (a guest panic or abort)".to_string(),
        ),
        Some(t) => ("trap", t.to_string()),
        None => (
            "trap",
            format!("{e:#}").lines().next().unwrap_or("").to_string(),
        ),
    };
    Failure {
        cause,
        reason: format!("{during}: {reason}"),
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> semver::Version {
        semver::Version::parse(s).unwrap()
    }

    #[test]
    fn wit_versions_are_compatible_by_semver() {
        assert!(compatible(&v("0.1.0"), &v("0.1.0")));
        assert!(compatible(&v("0.1.3"), &v("0.1.0")));
        assert!(!compatible(&v("0.1.0"), &v("0.2.0")));
        assert!(!compatible(&v("0.2.0"), &v("0.1.9")));
        assert!(!compatible(&v("0.1.0"), &v("1.1.0")));
        assert!(compatible(&v("1.4.0"), &v("1.0.2")));
        assert!(!compatible(&v("2.0.0"), &v("1.9.0")));
    }

    #[test]
    fn core_modules_and_garbage_are_not_components() {
        assert!(is_component(b"\0asm\x0d\0\x01\0rest"));
        assert!(!is_component(b"\0asm\x01\0\0\0rest"));
        assert!(!is_component(b"\0as"));
        assert!(!is_component(b"#!/bin/sh\n"));
    }

    #[test]
    fn load_explains_what_is_wrong() {
        let err = |rt: &WasmRuntime, p: &Path| rt.load(p).err().expect("load must fail");
        let rt = WasmRuntime::new(None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("m.wasm");
        std::fs::write(&wasm, b"\0asm\x0d\0\x01\0").unwrap();
        assert!(err(&rt, &wasm).contains("no manifest"));
        let manifest = "name = \"m\"\nkind = \"event-handler\"\nversion = \"0.1.0\"\n[handler]\nevents = [\"x\"]\n";
        std::fs::write(dir.path().join("m.toml"), manifest).unwrap();
        // An empty component is valid but exports nothing.
        assert!(err(&rt, &wasm).contains("exports: nothing"));
        std::fs::write(&wasm, b"\0asm\x0d\0\x01\0garbage").unwrap();
        assert!(err(&rt, &wasm).contains("does not compile"));
        std::fs::write(&wasm, b"\0asm\x01\0\0\0").unwrap();
        assert!(err(&rt, &wasm).contains("not a WebAssembly component"));
        // A real component whose manifest claims another kind.
        let built = super::super::modules::test_modules_dir();
        std::fs::copy(built.join("null-handler.wasm"), &wasm).unwrap();
        let claim = manifest
            .replace("event-handler", "log-writer")
            .replace("[handler]\nevents = [\"x\"]\n", "");
        std::fs::write(dir.path().join("m.toml"), claim).unwrap();
        let e = err(&rt, &wasm);
        assert!(
            e.contains("kind = \"log-writer\"") && e.contains("sandpiper:monitor/handler@0.2.1"),
            "{e}"
        );
        std::fs::write(dir.path().join("m.toml"), manifest).unwrap();
        assert!(rt.load(&wasm).is_ok());
    }

    const NULL_HANDLER_MANIFEST: &str = "name = \"m\"\nkind = \"event-handler\"\nversion = \"0.1.0\"\n[handler]\nevents = [\"x\"]\n";

    /// A directory holding the test null-handler as `m.wasm` with its manifest: the directory,
    /// the component's path and the manifest text.
    fn null_handler_module() -> (tempfile::TempDir, PathBuf, &'static str) {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("m.wasm");
        let built = super::super::modules::test_modules_dir();
        std::fs::copy(built.join("null-handler.wasm"), &wasm).unwrap();
        std::fs::write(dir.path().join("m.toml"), NULL_HANDLER_MANIFEST).unwrap();
        (dir, wasm, NULL_HANDLER_MANIFEST)
    }

    /// A start with a remembered component hash loads the cached artifact without reading the
    /// component; a component replaced at the same path (even by one of the same size) is
    /// read and checked again, never mistaken for the artifact of the old one.
    #[test]
    fn a_remembered_hash_loads_the_artifact_until_the_file_is_replaced() {
        let cache = tempfile::tempdir().unwrap();
        let (_dir, wasm, _) = null_handler_module();
        // Only files left alone for a while are remembered (see source_hashes).
        std::thread::sleep(Duration::from_millis(2100));
        let rt = WasmRuntime::new(Some(cache.path().to_path_buf())).unwrap();
        let first = rt.load(&wasm).unwrap();
        assert!(!first.from_cache);
        assert!(cache.path().join("sources").read_dir().unwrap().count() == 1);
        let second = rt.load(&wasm).unwrap();
        assert!(second.from_cache);
        assert_eq!(second.hash, first.hash);
        assert_eq!(rt.source_fingerprint(&wasm).unwrap(), first.fingerprint);

        let len = std::fs::metadata(&wasm).unwrap().len() as usize;
        let mut garbage = b"\0asm\x0d\0\x01\0".to_vec();
        garbage.resize(len, 0xff);
        std::fs::write(&wasm, &garbage).unwrap();
        let e = rt
            .load(&wasm)
            .err()
            .expect("the replaced component must not load");
        assert!(e.contains("does not compile"), "{e}");
        assert_ne!(rt.source_fingerprint(&wasm).unwrap(), first.fingerprint);
    }

    /// A rescan keeps a module whose files are what was loaded, so the fingerprint of the
    /// files must equal the one load computed from the bytes it read (else every rescan
    /// would reload every module); and a changed component or manifest must differ.
    #[test]
    fn the_files_fingerprint_is_the_loaded_modules_until_either_file_changes() {
        let rt = WasmRuntime::new(None).unwrap();
        let (dir, wasm, manifest) = null_handler_module();
        let m = rt.load(&wasm).unwrap();
        let bytes = std::fs::read(&wasm).unwrap();
        assert_eq!(m.hash, hex(&Sha256::digest(&bytes)));
        assert_eq!(rt.source_fingerprint(&wasm).unwrap(), m.fingerprint);

        std::fs::write(
            dir.path().join("m.toml"),
            manifest.replace("0.1.0", "0.1.1"),
        )
        .unwrap();
        let edited_manifest = rt.source_fingerprint(&wasm).unwrap();
        assert_ne!(edited_manifest, m.fingerprint);
        let mut other = bytes.clone();
        other.extend_from_slice(b"\0\x05extra");
        std::fs::write(&wasm, other).unwrap();
        let edited_both = rt.source_fingerprint(&wasm).unwrap();
        assert_ne!(edited_both, m.fingerprint);
        assert_ne!(edited_both, edited_manifest);
    }
}
