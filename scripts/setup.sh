#!/usr/bin/env bash
# Installs what building and testing Sandpiper needs. Idempotent: installs only
# what is missing, and runs `apt-get update` only when something is.
set -euo pipefail

packages=(libpcap-dev bro-aux tcpreplay tcpdump iproute2 python3-pip python3-venv nmap curl)
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

# The Wasm components (guest-*/ and tests/guests/) are built for wasm32-wasip2 by `cargo build`.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "setup: adding the Rust target wasm32-wasip2"
    rustup target add wasm32-wasip2
fi
