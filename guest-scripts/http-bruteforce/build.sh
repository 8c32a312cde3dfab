#!/usr/bin/env bash
# Builds the http-bruteforce event handler (src/handler.js) into a WebAssembly component with
# componentize-js. Run by runtime/build.rs with OUT_WASM (where to write the component),
# SANDPIPER_WIT (the WIT package) and SANDPIPER_TOOLCHAINS (where toolchains live). Installs the
# pinned toolchain (toolchain/package-lock.json) with npm on first use; does nothing when the
# component is newer than its sources, this script, the lock file and the WIT.
set -euo pipefail

: "${OUT_WASM:?OUT_WASM must name the component to write}"
: "${SANDPIPER_WIT:?SANDPIPER_WIT must name the wit directory}"
: "${SANDPIPER_TOOLCHAINS:?SANDPIPER_TOOLCHAINS must name the toolchains directory}"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
world=sandpiper:monitor/event-handler@0.1.0
# 0.23.0 is the release measured with wasmtime 48-50 (../../../shared/design/WASM-NOTES.md).
componentize_version=0.23.0
toolchain=$SANDPIPER_TOOLCHAINS/js/componentize-js-$componentize_version

if [ -f "$OUT_WASM" ] && [ -z "$(find "$here/src" "$here/toolchain" "$here/build.sh" \
    "$SANDPIPER_WIT" -newer "$OUT_WASM" -print -quit)" ]; then
    exit 0
fi

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "http-bruteforce: $tool not found: install Node.js >= 18 (scripts/setup.sh does)" >&2
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
    lock_hash=$(sha256sum "$here/toolchain/package-lock.json" | cut -d' ' -f1)
    if [ "$(cat "$toolchain/.installed" 2>/dev/null)" = "$lock_hash" ]; then
        return
    fi
    echo "http-bruteforce: installing componentize-js $componentize_version into $toolchain" >&2
    mkdir -p "$toolchain"
    cp "$here/toolchain/package.json" "$here/toolchain/package-lock.json" "$toolchain/"
    (cd "$toolchain" && npm install --no-audit --no-fund --loglevel=error >&2)
    echo "$lock_hash" >"$toolchain/.installed"
}
mkdir -p "$SANDPIPER_TOOLCHAINS/js"
(
    flock 9
    install_toolchain
) 9>"$SANDPIPER_TOOLCHAINS/js/.install.lock"

bin=$toolchain/node_modules/.bin
tmp=$OUT_WASM.tmp
mkdir -p "$(dirname "$OUT_WASM")"
# No WASI features: the component then imports only the world's Sandpiper interfaces (without
# disabling http and fetch-event it would import wasi:http, which the host does not provide).
# The cost: an uncaught exception traps without a message, since stdio is gone too.
"$bin/componentize-js" "$here/src/handler.js" \
    --wit "$SANDPIPER_WIT" --world-name "$world" \
    --disable stdio random clocks http fetch-event \
    -o "$tmp"

# Refuse a component that imports anything beyond the Sandpiper package.
imports=$("$bin/jco" wit "$tmp" | sed -n 's/^ *import \([^;]*\);.*/\1/p')
if grep -v '^sandpiper:monitor/' <<<"$imports"; then
    echo "http-bruteforce: the component imports the interfaces above, which the host does not provide" >&2
    rm -f "$tmp"
    exit 1
fi
mv "$tmp" "$OUT_WASM"
