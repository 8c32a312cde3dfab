//! Builds the Wasm components of this repository (guest-analyzers/, guest-scripts/ and the test
//! guests in tests/guests/) for wasm32-wasip2 as part of the normal build, so a user never builds
//! them by hand. Each guest workspace is built with its own cargo invocation into
//! target/wasm/; every member's `.wasm` and its `module.toml` are then copied as
//! `<name>.wasm` + `<name>.toml` into target/modules/ (the default `--modules` directory) or,
//! for test guests, target/test-modules/.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const GUEST_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let target = root.join("target");
    let wasm_target_dir = target.join("wasm");

    println!("cargo:rerun-if-env-changed=SANDPIPER_SKIP_GUESTS");
    for dir in [
        "wit",
        "sdk/src",
        "sdk/packed",
        "sdk/Cargo.toml",
        "sdk/js",
        "sdk/python",
        "sdk/c",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let workspaces = [
        ("guest-analyzers", "modules"),
        ("guest-scripts", "modules"),
        ("tests/guests", "test-modules"),
    ];
    for (_, dest) in workspaces {
        let dest = target.join(dest);
        println!(
            "cargo:rustc-env=SANDPIPER_{}_DIR={}",
            dest_env(&dest),
            dest.display()
        );
    }
    if env::var_os("SANDPIPER_SKIP_GUESTS").is_some() {
        return;
    }
    for (ws, dest) in workspaces {
        let ws_dir = root.join(ws);
        watch_sources(&ws_dir);
        let members = members(&ws_dir);
        let dest = target.join(dest);
        fs::create_dir_all(&dest).unwrap();
        for (name, guest_dir) in foreign_guests(&ws_dir, &members) {
            build_foreign(&root, &name, &guest_dir, &dest);
        }
        if members.is_empty() {
            continue;
        }
        build_workspace(&ws_dir, &wasm_target_dir);
        for (name, member_dir) in members {
            let wasm = wasm_target_dir
                .join(GUEST_TARGET)
                .join("release")
                .join(format!("{}.wasm", name.replace('-', "_")));
            copy(&wasm, &dest.join(format!("{name}.wasm")));
            copy(
                &member_dir.join("module.toml"),
                &dest.join(format!("{name}.toml")),
            );
        }
    }
}

fn dest_env(dest: &Path) -> &'static str {
    if dest.ends_with("test-modules") {
        "TEST_MODULES"
    } else {
        "MODULES"
    }
}

/// The modules of a guest workspace: members with a `module.toml` (package name, directory).
fn members(ws_dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(text) = fs::read_to_string(ws_dir.join("Cargo.toml")) else {
        return Vec::new();
    };
    let doc: toml::Table = text.parse().expect("guest workspace Cargo.toml");
    let list = doc
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default();
    // Members without a manifest are libraries the modules share (tsv-format).
    list.iter()
        .filter_map(|m| m.as_str())
        .filter(|m| ws_dir.join(m).join("module.toml").is_file())
        .map(|m| {
            let dir = ws_dir.join(m);
            let pkg: toml::Table = fs::read_to_string(dir.join("Cargo.toml"))
                .expect("guest Cargo.toml")
                .parse()
                .expect("guest Cargo.toml parses");
            let name = pkg["package"]["name"]
                .as_str()
                .expect("package.name")
                .to_string();
            (name, dir)
        })
        .collect()
}

/// Guests in other languages: a directory of the workspace that is not a cargo member and has a
/// `build.sh` and a `module.toml`. The module's name is the directory's name.
fn foreign_guests(ws_dir: &Path, members: &[(String, PathBuf)]) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(ws_dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("build.sh").is_file() && p.join("module.toml").is_file())
        .filter(|p| !members.iter().any(|(_, d)| d == p))
        .filter_map(|p| Some((p.file_name()?.to_str()?.to_string(), p)))
        .collect();
    found.sort();
    found
}

/// Runs a foreign guest's `build.sh`, which installs its language's toolchain under
/// `$SANDPIPER_TOOLCHAINS` if missing (from npm or PyPI) and writes the component to
/// `$OUT_WASM`; the component and its manifest are then copied into `dest`.
fn build_foreign(root: &Path, name: &str, guest_dir: &Path, dest: &Path) {
    let out_dir = root.join("target").join("wasm").join("foreign");
    fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join(format!("{name}.wasm"));
    let status = Command::new("bash")
        .arg("build.sh")
        .current_dir(guest_dir)
        .env("OUT_WASM", &out)
        .env("SANDPIPER_ROOT", root)
        .env("SANDPIPER_WIT", root.join("wit"))
        .env(
            "SANDPIPER_TOOLCHAINS",
            root.join("target").join("toolchains"),
        )
        .status()
        .unwrap_or_else(|e| panic!("running {}/build.sh: {e}", guest_dir.display()));
    if !status.success() {
        panic!(
            "building the guest {} failed ({}/build.sh); scripts/setup.sh installs what it needs",
            name,
            guest_dir.display()
        );
    }
    copy(&out, &dest.join(format!("{name}.wasm")));
    copy(
        &guest_dir.join("module.toml"),
        &dest.join(format!("{name}.toml")),
    );
}

fn watch_sources(ws_dir: &Path) {
    let Ok(entries) = fs::read_dir(ws_dir) else {
        return;
    };
    println!(
        "cargo:rerun-if-changed={}",
        ws_dir.join("Cargo.toml").display()
    );
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && p.file_name().is_some_and(|n| n != "target") {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
}

fn build_workspace(ws_dir: &Path, target_dir: &Path) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(ws_dir)
        .args([
            "build",
            "--release",
            "--workspace",
            "--target",
            GUEST_TARGET,
        ])
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's settings are for the host, not for the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo for the Wasm guests");
    if !status.success() {
        panic!(
            "building the Wasm guests in {} failed (is the target installed? `rustup target add {GUEST_TARGET}`)",
            ws_dir.display()
        );
    }
}

fn copy(from: &Path, to: &Path) {
    // Only replace when the content changed, so a running monitor's file watch sees real changes.
    let new = fs::read(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    if fs::read(to).ok().as_deref() != Some(&new[..]) {
        fs::write(to, &new).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    }
}
