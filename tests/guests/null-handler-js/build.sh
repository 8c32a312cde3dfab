#!/usr/bin/env bash
# Builds the JavaScript no-op handler (bench guest) with the SDK's componentize-js script.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${OUT_WASM:?OUT_WASM must name the component to write}"
exec "${SANDPIPER_ROOT:-$here/../../..}/sdk/js/componentize.sh" "$here/src/handler.js" "$OUT_WASM"
