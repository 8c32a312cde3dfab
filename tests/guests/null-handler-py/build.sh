#!/usr/bin/env bash
# Builds the Python no-op handler (bench guest) with the SDK's componentize-py script.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${OUT_WASM:?OUT_WASM must name the component to write}"
exec "${SANDPIPER_ROOT:-$here/../../..}/sdk/python/componentize.sh" "$here/src" null_handler "$OUT_WASM"
