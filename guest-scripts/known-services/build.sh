#!/usr/bin/env bash
# Builds the known-services handler (src/known_services.c) with the SDK's C script. Run by
# runtime/build.rs with OUT_WASM (the component to write), SANDPIPER_ROOT, SANDPIPER_WIT and
# SANDPIPER_TOOLCHAINS.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${SANDPIPER_ROOT:=$(cd "$here/../.." && pwd)}"
: "${OUT_WASM:=$SANDPIPER_ROOT/target/wasm/foreign/known-services.wasm}"
exec "$SANDPIPER_ROOT/sdk/c/componentize.sh" "$here/src" "$OUT_WASM" \
    sandpiper:monitor/packed-event-handler@0.2.1
