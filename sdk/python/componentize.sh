#!/usr/bin/env bash
# Builds a Python event handler into a Sandpiper component with componentize-py.
#
#   sdk/python/componentize.sh SRC_DIR MODULE OUT.wasm [WORLD]
#
# SRC_DIR holds MODULE.py (the app module, whose `Handler` class implements the world's
# export, `PackedHandler` for packed-event-handler) and anything it imports, plus the SDK's
# sandpiper_packed.py. WORLD defaults to sandpiper:monitor/event-handler@0.2.1.
# Environment: SANDPIPER_WIT (default: wit/ of this tree), SANDPIPER_TOOLCHAINS (where a venv
# with componentize-py is made on first use; default: target/toolchains of this tree). Does
# nothing when OUT.wasm is newer than SRC_DIR, this script and the WIT. Nothing is written
# into SRC_DIR: componentize-py works on a copy beside OUT.wasm (no __pycache__ or bindings
# appear in the source tree, which cargo watches).
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
sdk_py=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$sdk_py/../.." && pwd)
usage="usage: componentize.sh SRC_DIR MODULE OUT.wasm [WORLD]"
src=$(cd "${1:?$usage}" && pwd)
module=${2:?$usage}
out=${3:?$usage}
world=${4:-sandpiper:monitor/event-handler@0.2.1}
wit=${SANDPIPER_WIT:-$root/wit}
toolchains=${SANDPIPER_TOOLCHAINS:-$root/target/toolchains}
name=$(basename "$out" .wasm)

venv="$toolchains/py"
mkdir -p "$toolchains"
# Debug and release builds run this at the same time: one installs and builds, the other
# waits and then finds the component up to date.
if command -v flock >/dev/null; then
    exec 9>"$toolchains/py.lock"
    flock 9
fi

if [[ -f "$out" ]] &&
    [[ -z "$(find "$src" "$wit" "$sdk_py/componentize.sh" "$sdk_py/sandpiper_packed.py" -newer "$out" -type f -print -quit)" ]]; then
    exit 0
fi

componentize="$venv/bin/componentize-py"
if [[ ! -x "$componentize" ]] || [[ "$("$componentize" --version)" != "componentize-py $COMPONENTIZE_PY_VERSION" ]]; then
    echo "$name: installing componentize-py $COMPONENTIZE_PY_VERSION into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
fi

out_dir="$(dirname "$out")"
mkdir -p "$out_dir"
work="$(mktemp -d "$out_dir/$name.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -r "$src" "$work/src"
# The SDK's reader and writer of the packed encodings, importable as `sandpiper_packed` (a
# handler's own module of that name wins).
[[ -e "$work/src/sandpiper_packed.py" ]] || cp "$sdk_py/sandpiper_packed.py" "$work/src/"

# --stub-wasi: every WASI import becomes a trapping stub, so the component imports only
# Sandpiper interfaces (a handler that prints, reads the clock or asks for randomness traps).
# VIRTUAL_ENV is cleared so componentize-py does not bundle the venv's site-packages.
(
    cd "$work"
    env -u VIRTUAL_ENV "$componentize" -d "$wit" -w "$world" \
        componentize "$module" -p src --stub-wasi -o "$work/out.wasm" >&2
)
mv "$work/out.wasm" "$out"
