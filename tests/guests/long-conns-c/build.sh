#!/usr/bin/env bash
# Builds the C example handler of sdk/README.md ("C") with the SDK's C script.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${OUT_WASM:?OUT_WASM must name the component to write}"
exec "${SANDPIPER_ROOT:-$here/../../..}/sdk/c/componentize.sh" "$here/src" "$OUT_WASM" \
    sandpiper:monitor/packed-event-handler@0.2.1
