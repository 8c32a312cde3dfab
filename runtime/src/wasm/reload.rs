//! Hot reload: the modules directory is watched (notify), and also rescanned on SIGHUP and on
//! `sandpiper ctl reload`. A rescan runs on its own low-priority thread: changed modules are
//! compiled (or loaded from the artifact cache) and checked there, off the packet path, and the
//! packet thread picks the new set up between two event batches (`ModuleSet` updates through a
//! channel), so no packet waits for a compiler. A module that fails to load keeps its running
//! version, and the reason is reported.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use super::modules::component_files;
use super::runtime::{LoadedModule, WasmRuntime};

/// Quiet time after the last file event before rescanning (copies arrive in several events).
const SETTLE: Duration = Duration::from_millis(200);

pub enum Request {
    /// Rescan now; the summary goes back on the channel if one is given.
    Rescan(Option<Sender<String>>),
    FileEvent,
    Stop,
}

/// The module set after a reload.
pub struct ModuleUpdate {
    pub modules: Vec<Arc<LoadedModule>>,
    /// How long the rescan took: reading, compiling or loading cached artifacts, checking.
    pub prepared: Duration,
}

/// Handle to the reload thread.
pub struct Reloader {
    pub updates: Receiver<ModuleUpdate>,
    pub requests: Sender<Request>,
    thread: Option<JoinHandle<()>>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Reloader {
    /// Starts watching `dir`. `hup` is set by the SIGHUP handler.
    pub fn spawn(
        rt: Arc<WasmRuntime>,
        dir: PathBuf,
        current: Vec<Arc<LoadedModule>>,
        hup: Arc<AtomicBool>,
    ) -> Result<Reloader, String> {
        let (req_tx, req_rx) = mpsc::channel::<Request>();
        let (upd_tx, upd_rx) = mpsc::channel::<ModuleUpdate>();
        let watcher = {
            let tx = req_tx.clone();
            let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                if res.is_ok() {
                    let _ = tx.send(Request::FileEvent);
                }
            })
            .map_err(|e| format!("watching {}: {e}", dir.display()))?;
            w.watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|e| format!("watching {}: {e}", dir.display()))?;
            w
        };
        let thread = std::thread::Builder::new()
            .name("module-reload".into())
            .spawn(move || {
                lower_priority();
                run(&rt, &dir, current, &req_rx, &upd_tx, &hup)
            })
            .map_err(|e| format!("reload thread: {e}"))?;
        Ok(Reloader {
            updates: upd_rx,
            requests: req_tx,
            thread: Some(thread),
            _watcher: Some(watcher),
        })
    }
}

impl Drop for Reloader {
    fn drop(&mut self) {
        let _ = self.requests.send(Request::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Compiling competes with packet processing for the cores: let the scheduler prefer the latter.
fn lower_priority() {
    // SAFETY: setpriority on this thread's own id (Linux: per-thread nice values).
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

fn run(
    rt: &WasmRuntime,
    dir: &Path,
    mut current: Vec<Arc<LoadedModule>>,
    requests: &Receiver<Request>,
    updates: &Sender<ModuleUpdate>,
    hup: &AtomicBool,
) {
    let mut dirty_since: Option<Instant> = None;
    loop {
        let mut rescan: Option<Option<Sender<String>>> = None;
        match requests.recv_timeout(Duration::from_millis(50)) {
            Ok(Request::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(Request::FileEvent) => dirty_since = Some(Instant::now()),
            Ok(Request::Rescan(reply)) => rescan = Some(reply),
            Err(RecvTimeoutError::Timeout) => {}
        }
        if hup.swap(false, Ordering::Relaxed) {
            rescan.get_or_insert(None);
        }
        if dirty_since.is_some_and(|t| t.elapsed() >= SETTLE) {
            rescan.get_or_insert(None);
        }
        let Some(reply) = rescan else { continue };
        dirty_since = None;
        let started = Instant::now();
        let (next, summary) = rescan_dir(rt, dir, &current);
        let changed = next.len() != current.len()
            || next.iter().zip(&current).any(|(a, b)| !Arc::ptr_eq(a, b));
        if !summary.is_empty() {
            eprintln!("sandpiper: reload: {}", summary.join("; "));
        }
        if changed {
            current = next.clone();
            if updates
                .send(ModuleUpdate {
                    modules: next,
                    prepared: started.elapsed(),
                })
                .is_err()
            {
                return;
            }
        }
        if let Some(r) = reply {
            let text = if summary.is_empty() {
                "reload: no changes".to_string()
            } else {
                format!("reload: {}", summary.join("; "))
            };
            let _ = r.send(text);
        }
    }
}

/// The new module set: unchanged modules are kept as they are (same `Arc`), changed ones are
/// reloaded, a module whose new version fails keeps its old version. Returns what changed.
pub fn rescan_dir(
    rt: &WasmRuntime,
    dir: &Path,
    current: &[Arc<LoadedModule>],
) -> (Vec<Arc<LoadedModule>>, Vec<String>) {
    let mut next: Vec<Arc<LoadedModule>> = Vec::new();
    let mut summary = Vec::new();
    let files = match component_files(dir) {
        Ok(f) => f,
        Err(e) => {
            summary.push(format!(
                "cannot read the modules directory: {e}; nothing changed"
            ));
            return (current.to_vec(), summary);
        }
    };
    for path in files {
        let old = current.iter().find(|m| m.path == path);
        let fingerprint = rt.source_fingerprint(&path).unwrap_or_default();
        if let Some(old) = old.filter(|m| m.fingerprint == fingerprint) {
            next.push(old.clone());
            continue;
        }
        match rt.load(&path) {
            Ok(m) if next.iter().any(|o| o.manifest.name == m.manifest.name) => {
                summary.push(format!(
                    "{}: a module named {} is already loaded",
                    path.display(),
                    m.manifest.name
                ))
            }
            Ok(m) => {
                summary.push(match old {
                    Some(o) => format!(
                        "{} {} replaced by {}",
                        o.manifest.name, o.manifest.version, m.manifest.version
                    ),
                    None => format!("{} {} added", m.manifest.name, m.manifest.version),
                });
                next.push(m);
            }
            Err(e) => match old {
                Some(o) => {
                    summary.push(format!(
                        "{}: {e}; keeping {} {}",
                        path.display(),
                        o.manifest.name,
                        o.manifest.version
                    ));
                    next.push(o.clone());
                }
                None => summary.push(format!("{}: {e}", path.display())),
            },
        }
    }
    for o in current {
        if !next.iter().any(|m| Arc::ptr_eq(m, o)) && !o.path.exists() {
            summary.push(format!(
                "{} {} removed",
                o.manifest.name, o.manifest.version
            ));
        }
    }
    (next, summary)
}
