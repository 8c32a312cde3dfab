#!/usr/bin/env bash
# Builds a C guest into a Sandpiper component.
#
#   sdk/c/componentize.sh SRC_DIR OUT.wasm WORLD
#
# Every .c file of SRC_DIR is compiled with clang for wasm32-wasi (wasi-libc: malloc, string.h;
# no WASI call may be made), against wit-bindgen's C bindings of WORLD (e.g.
# sandpiper:monitor/packed-event-handler@0.2.1: SRC_DIR's code includes
# "packed_event_handler.h", and the SDK's "sandpiper_packed.h"), and the core module is made
# a component. The two component-model steps are library calls in sdk/c/witc (wit-bindgen's C
# generator and wit-component), built with cargo on first use, so no wit-bindgen or wasm-tools
# command-line tool is needed.
# Environment: SANDPIPER_WIT (default: wit/ of this tree), SANDPIPER_TOOLCHAINS (where witc is
# built; default: target/toolchains of this tree), CC (default: clang-14, else clang; Debian's
# clang-14 + wasi-libc + libclang-rt-14-dev-wasm32, which scripts/setup.sh installs). Does
# nothing when OUT.wasm is newer than SRC_DIR, the SDK's C files and the WIT.
set -euo pipefail

sdk_c=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$sdk_c/../.." && pwd)
usage="usage: componentize.sh SRC_DIR OUT.wasm WORLD"
src=$(cd "${1:?$usage}" && pwd)
out=${2:?$usage}
world=${3:?$usage}
wit=${SANDPIPER_WIT:-$root/wit}
toolchains=${SANDPIPER_TOOLCHAINS:-$root/target/toolchains}
name=$(basename "$out" .wasm)

mkdir -p "$toolchains"
# Debug and release builds run this at the same time: one builds, the other waits and then
# finds the component up to date.
if command -v flock >/dev/null; then
    exec 9>"$toolchains/c.lock"
    flock 9
fi

if [[ -f "$out" ]] &&
    [[ -z "$(find "$src" "$wit" "$sdk_c/componentize.sh" "$sdk_c/sandpiper_packed.h" "$sdk_c/witc/src" "$sdk_c/witc/Cargo.toml" -newer "$out" -type f -print -quit)" ]]; then
    exit 0
fi

cc=${CC:-}
if [[ -z "$cc" ]]; then
    cc=$(command -v clang-14 || command -v clang || true)
fi
if [[ -z "$cc" ]]; then
    echo "$name: clang not found (scripts/setup.sh installs clang-14, wasi-libc and libclang-rt-14-dev-wasm32)" >&2
    exit 1
fi

# witc, built for the host. The outer build's settings (when runtime/build.rs runs this) are
# for other targets.
witc_target="$toolchains/witc"
witc="$witc_target/release/sandpiper-witc"
if [[ ! -x "$witc" ]] || [[ -n "$(find "$sdk_c/witc/src" "$sdk_c/witc/Cargo.toml" -newer "$witc" -type f -print -quit)" ]]; then
    echo "$name: building sdk/c/witc" >&2
    env -u CARGO_ENCODED_RUSTFLAGS -u RUSTFLAGS -u CARGO_TARGET_DIR -u CARGO_BUILD_TARGET \
        -u RUSTC_WORKSPACE_WRAPPER -u RUSTC_WRAPPER -u CARGO_PRIMARY_PACKAGE \
        -u CARGO_PROFILE_RELEASE_DEBUG \
        cargo build --quiet --release --locked --manifest-path "$sdk_c/witc/Cargo.toml" \
        --target-dir "$witc_target"
fi

out_dir="$(dirname "$out")"
mkdir -p "$out_dir"
work="$(mktemp -d "$out_dir/$name.XXXXXX")"
trap 'rm -rf "$work"' EXIT
"$witc" bindings "$wit" "$world" "$work/bindings"

# -mexec-model=reactor: a library with exports and no main; wasi-libc then imports nothing
# unless the guest calls WASI (printf, clock_gettime, ...), which the component would not be
# allowed anyway (witc's `component` fails on a WASI import).
# The guest's own files with every warning an error; the generated bindings as they come.
cflags=(--target=wasm32-wasi -O2 -std=c11 -I "$sdk_c" -I "$work/bindings")
objs=()
for c in "$src"/*.c; do
    o="$work/$(basename "$c" .c).o"
    "$cc" "${cflags[@]}" -Wall -Wextra -Werror -c "$c" -o "$o"
    objs+=("$o")
done
for c in "$work/bindings"/*.c; do
    o="$work/bindings/$(basename "$c" .c).o"
    "$cc" "${cflags[@]}" -c "$c" -o "$o"
    objs+=("$o")
done
"$cc" "${cflags[@]}" -mexec-model=reactor "${objs[@]}" "$work/bindings"/*_component_type.o -Wl,--strip-debug \
    -o "$work/core.wasm"
"$witc" component "$work/core.wasm" "$work/out.wasm"
mv "$work/out.wasm" "$out"
