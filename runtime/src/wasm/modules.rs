//! The modules of a directory: every `<name>.wasm` with its `<name>.toml`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::runtime::{LoadedModule, WasmRuntime};

/// The directory of the modules built from this repository (target/modules), if it exists.
pub fn builtin_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("SANDPIPER_MODULES_DIR"));
    dir.is_dir().then_some(dir)
}

/// The directory of the test guests built from tests/guests (target/test-modules).
pub fn test_modules_dir() -> PathBuf {
    PathBuf::from(env!("SANDPIPER_TEST_MODULES_DIR"))
}

/// Result of loading a directory: the good modules, and why each bad one was refused.
pub struct ModuleSet {
    pub loaded: Vec<Arc<LoadedModule>>,
    pub refused: Vec<(PathBuf, String)>,
}

/// The `.wasm` files of a directory, sorted by name (load order is deterministic).
pub fn component_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    files.sort();
    Ok(files)
}

/// Loads every module in `dir`. Two modules with one name: the first (by file name) wins.
pub fn load_dir(rt: &WasmRuntime, dir: &Path) -> Result<ModuleSet, String> {
    let mut set = ModuleSet {
        loaded: Vec::new(),
        refused: Vec::new(),
    };
    for path in component_files(dir)? {
        match rt.load(&path) {
            Ok(m) => {
                if set
                    .loaded
                    .iter()
                    .any(|o| o.manifest.name == m.manifest.name)
                {
                    let why = format!("a module named {} is already loaded", m.manifest.name);
                    set.refused.push((path, why));
                } else {
                    set.loaded.push(m);
                }
            }
            Err(e) => set.refused.push((path, e)),
        }
    }
    Ok(set)
}

/// One line per module, like `zeek -N`: name, version, kind, description and origin.
pub fn describe(m: &LoadedModule) -> String {
    let d = &m.manifest;
    let mut s = format!("{} {} ({})", d.name, d.version, d.kind);
    if !d.description.is_empty() {
        s.push_str(" - ");
        s.push_str(&d.description);
    }
    s.push_str(&format!(" [{}]", m.path.display()));
    s
}

/// The details `sandpiper module check` prints for a good module.
pub fn details(m: &LoadedModule) -> String {
    let d = &m.manifest;
    let l = &d.limits;
    let mut s = format!(
        "{}\n  sha256: {}\n  limits: fuel {} per call, memory {} MiB, wall clock {} ms, isolation {:?}\n  capabilities: {}\n  compiled: {}\n",
        describe(m),
        m.hash,
        if l.fuel == 0 { "unlimited".to_string() } else { l.fuel.to_string() },
        l.memory_mb,
        l.wall_clock_ms,
        l.isolation,
        if d.capabilities.is_empty() {
            "none".to_string()
        } else {
            format!("{:?}", d.capabilities)
        },
        if m.from_cache { "from the artifact cache" } else { "now" },
    );
    if let Some(a) = &d.analyzer {
        s.push_str(&format!(
            "  analyzer: {}, ports {:?}, {} signature(s)\n",
            a.transport,
            a.ports,
            a.signatures.len()
        ));
    }
    if let Some(h) = &d.handler {
        s.push_str(&format!("  events: {}\n", h.events.join(", ")));
    }
    if !d.options.is_empty() {
        let opts: Vec<_> = super::options::environment(&d.options)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        s.push_str(&format!("  options: {}\n", opts.join(", ")));
    }
    s
}
