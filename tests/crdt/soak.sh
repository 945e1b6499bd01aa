#!/bin/sh
# soak.sh: the differential test at soak size. Runs SEEDS seeded yjs sessions (default 100000)
# from START (default 1) through the C driver of BUILD_DIR (default build), keeping failing seeds'
# inputs under BUILD_DIR/crdt-failures for replay with `node run.mjs --driver ... --seed N`.
# Usage: tests/crdt/soak.sh [BUILD_DIR] [SEEDS] [START]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
seeds=${2:-100000}
start=${3:-1}
[ -x "$build/tests/crdt_driver" ] || { echo "no $build/tests/crdt_driver: build first" >&2; exit 2; }
exec env TD_CRDT_SEEDS="$seeds" TD_CRDT_START="$start" node "$here/run.mjs" \
    --driver "$build/tests/crdt_driver" --batch 500 --keep "$build/crdt-failures"
