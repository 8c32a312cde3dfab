#!/usr/bin/env bash
# Builds a JavaScript event handler into a Sandpiper component with componentize-js.
#
#   sdk/js/componentize.sh SRC.js OUT.wasm [WORLD]
#
# WORLD defaults to sandpiper:monitor/event-handler@0.2.1. Environment: SANDPIPER_WIT (the WIT
# package; default: wit/ of this tree), SANDPIPER_TOOLCHAINS (where the npm toolchain is
# installed on first use; default: target/toolchains of this tree). Does nothing when OUT.wasm
# is newer than SRC's directory, this script, the toolchain lock and the WIT. The guest build
# scripts (build.sh beside a module.toml, run by `cargo build`) call this.
set -euo pipefail

sdk_js=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$sdk_js/../.." && pwd)
src=${1:?usage: componentize.sh SRC.js OUT.wasm [WORLD]}
out=${2:?usage: componentize.sh SRC.js OUT.wasm [WORLD]}
world=${3:-sandpiper:monitor/event-handler@0.2.1}
wit=${SANDPIPER_WIT:-$root/wit}
toolchains=${SANDPIPER_TOOLCHAINS:-$root/target/toolchains}
name=$(basename "$out" .wasm)
# 0.23.0 is the release measured with wasmtime 48-50 (../../../shared/design/WASM-NOTES.md).
componentize_version=0.23.0
toolchain=$toolchains/js/componentize-js-$componentize_version

if [ -f "$out" ] && [ -z "$(find "$(dirname "$src")" "$sdk_js/toolchain" "$sdk_js/componentize.sh" \
    "$wit" -newer "$out" -print -quit)" ]; then
    exit 0
fi

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$name: $tool not found: install Node.js >= 18 (scripts/setup.sh does)" >&2
        exit 1
    fi
done

# Installs the package tree of the lock file, once: the marker holds the lock's hash, so a
# changed lock reinstalls. flock keeps concurrent builds from installing over each other.
# `npm install` rather than `npm ci`: npm 11 leaves other platforms' optional binaries out of
# the lock file and `npm ci` then refuses it; with the lock in sync `npm install` installs the
# locked versions all the same.
install_toolchain() {
    local lock_hash
    lock_hash=$(sha256sum "$sdk_js/toolchain/package-lock.json" | cut -d' ' -f1)
    if [ "$(cat "$toolchain/.installed" 2>/dev/null)" = "$lock_hash" ]; then
        return
    fi
    echo "$name: installing componentize-js $componentize_version into $toolchain" >&2
    mkdir -p "$toolchain"
    cp "$sdk_js/toolchain/package.json" "$sdk_js/toolchain/package-lock.json" "$toolchain/"
    (cd "$toolchain" && npm install --no-audit --no-fund --loglevel=error >&2)
    echo "$lock_hash" >"$toolchain/.installed"
}
mkdir -p "$toolchains/js"
(
    flock 9
    install_toolchain
) 9>"$toolchains/js/.install.lock"

bin=$toolchain/node_modules/.bin
tmp=$out.tmp
mkdir -p "$(dirname "$out")"
# No WASI features: the component then imports only the world's Sandpiper interfaces (without
# disabling http and fetch-event it would import wasi:http, which the host does not provide).
# The cost: an uncaught exception traps without a message, since stdio is gone too.
"$bin/componentize-js" "$src" \
    --wit "$wit" --world-name "$world" \
    --disable stdio random clocks http fetch-event \
    -o "$tmp"

# Refuse a component that imports anything beyond the Sandpiper package.
imports=$("$bin/jco" wit "$tmp" | sed -n 's/^ *import \([^;]*\);.*/\1/p')
if grep -v '^sandpiper:monitor/' <<<"$imports"; then
    echo "$name: the component imports the interfaces above, which the host does not provide" >&2
    rm -f "$tmp"
    exit 1
fi
mv "$tmp" "$out"
