#!/usr/bin/env bash
# Installs what building and testing Sandpiper needs. Idempotent: installs only
# what is missing, and runs `apt-get update` only when something is.
set -euo pipefail

packages=(libpcap-dev bro-aux tcpreplay tcpdump iproute2 python3-pip python3-venv nmap curl)
# C guests (guest-scripts/known-services) are built with clang for wasm32-wasi against
# wasi-libc (sdk/c/componentize.sh): the compiler, its wasm linker and builtins.
packages+=(clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32)
# JavaScript guests are built with componentize-js (npm); any Node.js >= 18 will do.
if ! command -v npm >/dev/null 2>&1; then
    packages+=(nodejs npm)
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

python=python3
if ! "$python" -c 'import zat' 2>/dev/null; then
    echo "setup: installing the Python package zat"
    if ! "$python" -m pip install --quiet zat; then
        # Debian's system Python is "externally managed" (PEP 668).
        "$python" -m pip install --quiet --break-system-packages zat
    fi
    "$python" -c 'import zat'
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found; install Rust with rustup (https://rustup.rs)" >&2
    exit 1
fi

# The toolchain pinned in rust-toolchain.toml (wasmtime 50 needs Rust 1.97), with the
# wasm32-wasip2 target the Wasm components (guest-*/ and tests/guests/) are built for.
# Installed explicitly: rustup does not install it on its own where RUSTUP_AUTO_INSTALL=0.
toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
# A no-op (no download) once the toolchain and its parts are there.
rustup toolchain install "$toolchain" --profile minimal -c rustfmt,clippy -t wasm32-wasip2 2>&1 |
    grep -v -e '^info: ' -e 'unchanged' -e '^$' || true
rustup run "$toolchain" rustc --print target-libdir --target wasm32-wasip2 >/dev/null
