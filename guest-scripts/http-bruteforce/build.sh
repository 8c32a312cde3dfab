#!/usr/bin/env bash
# Builds the http-bruteforce event handler (src/handler.js) with the SDK's componentize-js
# script. Run by runtime/build.rs with OUT_WASM (the component to write), SANDPIPER_ROOT,
# SANDPIPER_WIT and SANDPIPER_TOOLCHAINS.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${OUT_WASM:?OUT_WASM must name the component to write}"
exec "${SANDPIPER_ROOT:-$here/../..}/sdk/js/componentize.sh" "$here/src/handler.js" "$OUT_WASM"
