//! `sandpiper new`: every template makes a crate that builds for wasm32-wasip2 as it is and
//! passes `sandpiper module check`; the handler's module also runs on a trace and logs rows.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `sandpiper new` kinds and the manifest kinds they make.
const KINDS: [(&str, &str); 6] = [
    ("analyzer", "protocol-analyzer"),
    ("file-analyzer", "file-analyzer"),
    ("handler", "event-handler"),
    ("writer", "log-writer"),
    ("netcontrol-plugin", "netcontrol-plugin"),
    ("input-reader", "input-reader"),
];

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// Runs the real binary, with its artifact cache (which `module check` takes from
/// $XDG_CACHE_HOME) under the target directory.
fn sandpiper(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sandpiper"))
        .args(args)
        .env("XDG_CACHE_HOME", tmp().join("scaffold-cache"))
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Builds a generated crate into the shared target directory and returns its component.
fn build(crate_dir: &Path, target_dir: &Path, name: &str) -> PathBuf {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(crate_dir)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .env("CARGO_TARGET_DIR", target_dir);
    // This test's build settings are for the host, not for the guest.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "building {name}: {}", text(&out));
    let wasm = target_dir.join(format!(
        "wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    ));
    assert!(wasm.is_file(), "{} was not built", wasm.display());
    wasm
}

/// A path as an argument (temporary directories have UTF-8 paths).
fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Data rows of a TSV log.
fn rows(log: &Path) -> usize {
    let text = fs::read_to_string(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    text.lines().filter(|l| !l.starts_with('#')).count()
}

/// All kinds in one test, built one after the other: they share one target directory, so the
/// dependencies compile once and the builds do not wait on each other's lock.
#[test]
fn every_kind_builds_passes_module_check_and_the_handler_logs() {
    let work = tempfile::tempdir().unwrap();
    let target_dir = tmp().join("scaffold-target");
    let modules = work.path().join("modules");
    fs::create_dir(&modules).unwrap();
    for (kind, manifest_kind) in KINDS {
        let name = format!("demo-{kind}");
        let out = sandpiper(&["new", kind, &name, "--dir", s(work.path())]);
        assert!(out.status.success(), "sandpiper new {kind}: {}", text(&out));
        let crate_dir = work.path().join(&name);
        for f in [
            "Cargo.toml",
            "module.toml",
            "README.md",
            ".gitignore",
            "src/lib.rs",
        ] {
            assert!(crate_dir.join(f).is_file(), "{kind}: no {f}");
        }
        assert!(String::from_utf8_lossy(&out.stdout)
            .contains("cargo build --release --target wasm32-wasip2"));

        let wasm = build(&crate_dir, &target_dir, &name);
        fs::copy(&wasm, modules.join(format!("{name}.wasm"))).unwrap();
        fs::copy(
            crate_dir.join("module.toml"),
            modules.join(format!("{name}.toml")),
        )
        .unwrap();

        let out = sandpiper(&["module", "check", s(&modules.join(format!("{name}.wasm")))]);
        let report = text(&out);
        assert!(out.status.success(), "module check {name}: {report}");
        assert!(
            report.contains(&format!("{name} 0.1.0 ({manifest_kind})")),
            "{report}"
        );
    }

    // The handler logs a row per connection; the other five load beside it.
    let logs = work.path().join("logs");
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/http-get.pcap");
    let out = sandpiper(&[
        "-r",
        s(&trace),
        "--modules",
        s(&modules),
        "--logdir",
        s(&logs),
        "--local-nets",
        "0.0.0.0/0",
        "-q",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));
    assert!(rows(&logs.join("demo_handler.log")) >= 1);
    assert!(!logs.join("analyzer_failed.log").exists());
}

#[test]
fn a_bad_name_is_refused_with_the_rule() {
    let work = tempfile::tempdir().unwrap();
    let out = sandpiper(&["new", "handler", "Bad_Name", "--dir", s(work.path())]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid module name \"Bad_Name\""),
        "{stderr}"
    );
    assert!(stderr.contains("a-z, 0-9 and '-'"), "{stderr}");
    assert_eq!(fs::read_dir(work.path()).unwrap().count(), 0);
}

#[test]
fn an_existing_directory_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let taken = work.path().join("taken");
    fs::create_dir(&taken).unwrap();
    fs::write(taken.join("keep.txt"), "mine").unwrap();
    let out = sandpiper(&["new", "handler", "taken", "--dir", s(work.path())]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(fs::read_dir(&taken).unwrap().count(), 1);
    assert_eq!(fs::read_to_string(taken.join("keep.txt")).unwrap(), "mine");
}
