#!/usr/bin/env bash
# Builds the known-services handler (Python) into a WebAssembly component with componentize-py.
#
# Run by runtime/build.rs with OUT_WASM (the component to write), SANDPIPER_WIT (the WIT package)
# and SANDPIPER_TOOLCHAINS (where toolchains live, installed on first use). Nothing is written
# into this directory: componentize-py works on a copy of src/ beside OUT_WASM, so no
# __pycache__ or bindings appear here (cargo watches this directory and would rebuild).
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
WORLD="sandpiper:monitor/event-handler@0.1.0"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${SANDPIPER_ROOT:=$(cd "$here/../.." && pwd)}"
: "${SANDPIPER_WIT:=$SANDPIPER_ROOT/wit}"
: "${SANDPIPER_TOOLCHAINS:=$SANDPIPER_ROOT/target/toolchains}"
: "${OUT_WASM:=$SANDPIPER_ROOT/target/wasm/foreign/known-services.wasm}"

venv="$SANDPIPER_TOOLCHAINS/py"
mkdir -p "$SANDPIPER_TOOLCHAINS"
# Debug and release builds run this at the same time: one installs and builds, the other
# waits and then finds the component up to date.
if command -v flock >/dev/null; then
    exec 9>"$SANDPIPER_TOOLCHAINS/py.lock"
    flock 9
fi

# Up to date: the component is newer than every source, the WIT package and this script.
if [[ -f "$OUT_WASM" ]] &&
    [[ -z "$(find "$here/src" "$SANDPIPER_WIT" "$here/build.sh" -newer "$OUT_WASM" -type f -print -quit)" ]]; then
    exit 0
fi

componentize="$venv/bin/componentize-py"
if [[ ! -x "$componentize" ]] || [[ "$("$componentize" --version)" != "componentize-py $COMPONENTIZE_PY_VERSION" ]]; then
    echo "known-services: installing componentize-py $COMPONENTIZE_PY_VERSION into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
fi

out_dir="$(dirname "$OUT_WASM")"
mkdir -p "$out_dir"
work="$(mktemp -d "$out_dir/known-services.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -r "$here/src" "$work/src"

# --stub-wasi: the handler uses no WASI (no printing, clock or randomness), so every WASI
# import becomes a trapping stub and the component imports only Sandpiper interfaces.
# VIRTUAL_ENV is cleared so componentize-py does not bundle the venv's site-packages.
(
    cd "$work"
    env -u VIRTUAL_ENV "$componentize" -d "$SANDPIPER_WIT" -w "$WORLD" \
        componentize known_services -p src --stub-wasi -o "$work/out.wasm" >&2
)
mv "$work/out.wasm" "$OUT_WASM"
