//! The `sandpiper` binary.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

use sandpiper::capture::{self, EndReason, PacketHandler};
use sandpiper::cli::{Args, Command, CtlAction, ModuleCommand};
use sandpiper::ctl::{self, CtlServer};
use sandpiper::engine::{Engine, EngineConfig};
use sandpiper::flow::ports::ServerPorts;
use sandpiper::log::config::{parse_interval, LogConfig};
use sandpiper::log::manager::{FormatProvider, LogManager};
use sandpiper::scaffold::{self, Template};
use sandpiper::site::LocalNets;
use sandpiper::wasm::analyzers::Analyzers;
use sandpiper::wasm::event_bus::EventBus;
use sandpiper::wasm::failures::{FailureLog, QuarantinePolicy};
use sandpiper::wasm::handlers::Dispatcher;
use sandpiper::wasm::modules::{self, ModuleSet};
use sandpiper::wasm::monitor::Monitor;
use sandpiper::wasm::options::Overrides;
use sandpiper::wasm::reload::Reloader;
use sandpiper::wasm::runtime::WasmRuntime;
use sandpiper::wasm::streams::GuestLogs;
use sandpiper::wasm::writers::WriterModules;

/// mimalloc instead of glibc's malloc: the packet, handler and log-writer threads hand event
/// batches and row buffers to each other, and glibc frees memory allocated on another thread
/// through that thread's arena lock (malloc_consolidate and the arena locks were ~6% of the
/// packet thread's samples with every module loaded).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Feeds the engine and moves the progress bar every so many packets.
struct Feed<'a> {
    engine: &'a mut Engine,
    bar: Option<&'a ProgressBar>,
    /// Bytes read from the file so far (record headers included).
    offset: u64,
    since_tick: u32,
    /// --pace: the speed factor, and the first packet's time with the wall clock then.
    pace: Option<f64>,
    pace_origin: Option<(i64, Instant)>,
}

impl PacketHandler for Feed<'_> {
    fn packet(&mut self, ts: i64, dlt: i32, data: &[u8], wire_len: u32) {
        if let Some(factor) = self.pace {
            let (ts0, t0) = *self.pace_origin.get_or_insert((ts, Instant::now()));
            let due = ts.saturating_sub(ts0).max(0) as f64 / 1e6 / factor;
            let ahead = due - t0.elapsed().as_secs_f64();
            if ahead > 0.0 {
                std::thread::sleep(std::time::Duration::from_secs_f64(ahead));
            }
        }
        self.engine.packet(ts, dlt, data, wire_len);
        self.offset += data.len() as u64 + 16;
        self.since_tick += 1;
        if self.since_tick >= 65_536 {
            self.since_tick = 0;
            if let Some(b) = self.bar {
                b.set_position(self.offset);
            }
        }
    }
}

/// The logging framework: the writers of `--log-format`, the filters of `--log-config`,
/// rotation; log-writer modules among `modules` are the formats.
fn log_manager(
    args: &Args,
    writers: Option<Arc<WriterModules>>,
) -> Result<Arc<LogManager>, String> {
    let formats: Vec<String> = args
        .log_format
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if formats.is_empty() {
        return Err("--log-format: name at least one writer, e.g. tsv".into());
    }
    let config = match &args.log_config {
        Some(f) => LogConfig::load(formats, f)?,
        None => LogConfig::new(formats),
    };
    let rotate = args
        .rotate
        .as_deref()
        .map(parse_interval)
        .transpose()
        .map_err(|e| format!("--rotate: {e}"))?;
    let provider = writers.map(|w| w as Arc<dyn FormatProvider>);
    LogManager::new(&args.logdir, config, provider, rotate)
        .map_err(|e| format!("--log-format: {e}"))
}

fn wasm_runtime(args: &Args) -> Result<Arc<WasmRuntime>, String> {
    let cache = if args.no_cache {
        None
    } else {
        args.cache_dir
            .clone()
            .or_else(WasmRuntime::default_cache_dir)
    };
    let mut rt = WasmRuntime::new(cache)?;
    rt.overrides = Overrides::parse(&args.set)?;
    Ok(Arc::new(rt))
}

/// Loads the modules directory; a module that cannot be loaded is reported and skipped.
fn load_modules(
    args: &Args,
    rt: &WasmRuntime,
) -> Result<Option<(ModuleSet, std::path::PathBuf)>, String> {
    if args.no_modules {
        return Ok(None);
    }
    let dir = match &args.modules {
        Some(d) => d.clone(),
        None => match modules::builtin_dir() {
            Some(d) => d,
            None => return Ok(None),
        },
    };
    let set = modules::load_dir(rt, &dir)?;
    for (path, why) in &set.refused {
        eprintln!("sandpiper: module {} not loaded: {why}", path.display());
    }
    for m in rt.overrides.modules() {
        if !set.loaded.iter().any(|l| l.manifest.name == m) {
            eprintln!("sandpiper: warning: --set {m}.*: no module {m} is loaded");
        }
    }
    Ok(Some((set, dir)))
}

fn module_check(args: &Args, file: &std::path::Path) -> Result<(), String> {
    let rt = wasm_runtime(args)?;
    let m = rt.load(file)?;
    print!("{}", modules::details(&m));
    println!("ok");
    Ok(())
}

fn list_modules(args: &Args) -> Result<(), String> {
    let rt = wasm_runtime(args)?;
    match load_modules(args, &rt)? {
        Some((set, _)) => {
            for m in &set.loaded {
                println!("{}", modules::describe(m));
            }
            if !set.refused.is_empty() {
                return Err(format!(
                    "{} module(s) could not be loaded",
                    set.refused.len()
                ));
            }
        }
        None => println!("no modules loaded"),
    }
    Ok(())
}

/// `sandpiper new`: creates the crate and says what to do next.
fn new_module(kind: Template, name: &str, dir: &Path, sdk: Option<&Path>) -> Result<(), String> {
    let sdk = scaffold::sdk_dir(sdk)?;
    let (root, files) = scaffold::create(kind, name, dir, &sdk)?;
    println!(
        "Created the {} {name} in {} (sandpiper-sdk: {}):",
        kind.kind(),
        root.display(),
        sdk.display()
    );
    for f in files {
        println!("  {f}");
    }
    let wasm = format!(
        "target/wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    );
    println!("Next steps (see README.md there):");
    println!("  cd {}", root.display());
    println!("  cargo build --release --target wasm32-wasip2");
    println!(
        "  mkdir -p modules && cp {wasm} modules/{name}.wasm && cp module.toml modules/{name}.toml"
    );
    println!("  sandpiper module check modules/{name}.wasm");
    println!("  sandpiper --modules modules -r trace.pcap");
    Ok(())
}

fn run(args: Args) -> Result<(), String> {
    if let Some(Command::New {
        kind,
        name,
        dir,
        sdk,
    }) = &args.command
    {
        return new_module(*kind, name, dir, sdk.as_deref());
    }
    if let Some(Command::Module {
        action: ModuleCommand::Check { file },
    }) = &args.command
    {
        return module_check(&args, file);
    }
    if let Some(Command::Ctl { socket, action }) = &args.command {
        let cmd = match action {
            CtlAction::Reload => "reload",
            CtlAction::Status => "status",
            CtlAction::Rotate => "rotate",
        };
        print!("{}", ctl::request(socket, cmd)?);
        return Ok(());
    }
    if args.list_modules {
        return list_modules(&args);
    }
    let local_nets = match &args.local_nets {
        Some(s) => LocalNets::parse_list(s).map_err(|e| format!("--local-nets: {e}"))?,
        None => LocalNets::default(),
    };
    if args.read.is_empty() && args.interface.is_none() {
        return Err("nothing to do: give -r FILE or -i IFACE (see --help)".into());
    }
    std::fs::create_dir_all(&args.logdir)
        .map_err(|e| format!("cannot create log directory {}: {e}", args.logdir.display()))?;

    // Open every input before analysing anything, so a bad file fails fast.
    let mut files = Vec::new();
    for p in &args.read {
        files.push(capture::open_file(p, args.filter.as_deref())?);
    }
    let mut live = match &args.interface {
        Some(i) => Some(capture::open_live(i, args.filter.as_deref(), args.snaplen)?),
        None => None,
    };

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("signal setup: {e}"))?;
    }

    // Modules are compiled (or loaded from the artifact cache) before the first packet; the
    // log writers among them format every log, so they come before the engine.
    let rt = wasm_runtime(&args)?;
    let modules = load_modules(&args, &rt)?;
    let writers = modules
        .as_ref()
        .map(|(set, _)| Arc::new(WriterModules::new(rt.clone(), &set.loaded)))
        .filter(|w| !w.is_empty());
    let logs = log_manager(&args, writers.clone())?;

    let local_nets_for_wasm = local_nets.clone();
    let mut engine = Engine::new(EngineConfig {
        ignore_checksums: args.ignore_checksums,
        log_dir: args.logdir.clone(),
        log_manager: Some(logs.clone()),
        local_nets,
        seed: args.seed,
        max_flows: args.max_flows,
        vlan_in_key: args.conn_key == sandpiper::cli::ConnKeyArg::VlanFiveTuple,
        tunnel_max_depth: args.tunnel_max_depth,
        server_ports: ServerPorts::parse(&args.likely_server_ports)
            .map_err(|e| format!("--likely-server-ports {e}"))?,
        ..EngineConfig::default()
    });

    let ctl_path = args
        .ctl_socket
        .clone()
        .unwrap_or_else(|| args.logdir.join("sandpiper.ctl"));
    let status = Arc::new(std::sync::Mutex::new(String::from("no modules loaded\n")));
    let mut reload_requests = None;
    if let Some((set, dir)) = modules {
        let policy = QuarantinePolicy {
            threshold: args.quarantine_after,
            window_secs: args.quarantine_window,
        };
        let failures = FailureLog::new(logs.clone(), policy);
        let mut handlers = Dispatcher::new(
            rt.clone(),
            &set.loaded,
            failures.clone(),
            GuestLogs::new(logs.clone()),
        );
        handlers.batch_events = args.event_batch as usize;
        handlers.status = status.clone();
        handlers.writers = writers.clone();
        handlers.publish_status();
        // Handlers get a core of their own unless there are none yet (a reload that brings
        // the first one runs it inline) or the user asked otherwise.
        let threaded = !args.inline_handlers && !handlers.handlers.is_empty();
        let mut bus = EventBus::new(handlers, failures, GuestLogs::new(logs.clone()), threaded)
            .map_err(|e| format!("starting the event-handler thread: {e}"))?;
        // Hot reload: file watch, SIGHUP and `sandpiper ctl reload` all rescan the directory.
        let hup = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))
            .map_err(|e| format!("signal setup: {e}"))?;
        match Reloader::spawn(rt.clone(), dir, set.loaded.clone(), hup) {
            Ok(r) => bus.reloader = Some(r),
            Err(e) => eprintln!("sandpiper: warning: hot reload is off: {e}"),
        }
        reload_requests = bus.reloader.as_ref().map(|r| r.requests.clone());
        let mut analyzers = Analyzers::new(rt.clone(), &set.loaded, local_nets_for_wasm);
        analyzers.memory_limit = args.reassembly_memory << 20;
        engine.set_observer(Box::new(Monitor::new(bus, analyzers)));
    }

    let _ctl = match CtlServer::start(&ctl_path, reload_requests, status, logs.rotate_request()) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("sandpiper: warning: no control socket: {e}");
            None
        }
    };

    let started = Instant::now();
    let show_bar = !args.quiet && std::io::stderr().is_terminal() && live.is_none();
    let total: u64 = args
        .read
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = show_bar.then(|| {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let mut feed = Feed {
        engine: &mut engine,
        bar: bar.as_ref(),
        offset: 0,
        since_tick: 0,
        pace: args.pace.filter(|p| *p > 0.0),
        pace_origin: None,
    };

    let mut warnings = Vec::new();
    for (cap, path) in files.iter_mut().zip(&args.read) {
        match capture::read_file(cap, &mut feed, &stop) {
            EndReason::Exhausted => {}
            EndReason::Stopped => break,
            EndReason::Truncated(e) => warnings.push(format!(
                "{}: {e}; analysed the packets before it",
                path.display()
            )),
        }
    }
    let mut live_stats = None;
    if let Some(cap) = live.as_mut() {
        live_stats = Some(capture::read_live(cap, &mut feed, &stop)?);
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let stats = engine.finish().map_err(|e| format!("writing logs: {e}"))?;
    for w in &warnings {
        eprintln!("sandpiper: warning: {w}");
    }
    if !args.quiet {
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        let mut line = format!(
            "sandpiper: {} packets, {} bytes, {} connections, {} weirds in {:.2}s ({:.0} Mbit/s, {:.1} kpkt/s); logs in {}",
            stats.packets,
            stats.bytes,
            stats.connections,
            stats.weirds,
            secs,
            stats.bytes as f64 * 8.0 / secs / 1e6,
            stats.packets as f64 / secs / 1e3,
            args.logdir.display()
        );
        if let Some(used) = writers.as_ref().map(|w| w.used()).filter(|u| !u.is_empty()) {
            line.push_str(&format!(" (log writers: {})", used.join(", ")));
        }
        if let Some(ls) = live_stats {
            line.push_str(&format!(
                "; capture: {} received, {} dropped, {} dropped by interface",
                ls.received, ls.dropped, ls.if_dropped
            ));
        }
        eprintln!("{line}");
    }
    Ok(())
}

fn main() -> ExitCode {
    // No transparent huge pages: mimalloc's segments and the guests' linear memories are
    // 2 MiB-aligned, and the kernel then zeroes a whole huge page on the first touch of each
    // (~50 of them on the bench trace, 7% of the packet thread's samples). The process
    // touches its memory sparsely, so 4 KiB pages cost far less. Failure changes nothing.
    // SAFETY: prctl with PR_SET_THP_DISABLE reads no memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sandpiper: error: {e}");
            ExitCode::FAILURE
        }
    }
}
