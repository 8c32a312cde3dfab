#!/usr/bin/env bash
# Builds the Python known-services handler (src/known_services.py), the twin of the shipped C
# one (guest-scripts/known-services), with the SDK's componentize-py script. tests/known_services.rs
# checks that the two write the same known_services.log; sdk/README.md shows it as the Python
# example.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${OUT_WASM:?OUT_WASM must name the component to write}"
exec "${SANDPIPER_ROOT:-$here/../../..}/sdk/python/componentize.sh" "$here/src" known_services "$OUT_WASM" \
    sandpiper:monitor/packed-event-handler@0.2.1
