#!/usr/bin/env bash
# Sets up a Debian 12 machine, builds and installs Tandem into build/install, and starts
# tandem-relay on the example notebooks folder (state in examples/notebooks/.tandem, SQLite).
# It prints the URL with its token; connect JupyterLab, VS Code or jupyter console to it (see
# docs/relay.md). Extra arguments go to tandem-relay, e.g. `scripts/run.sh --port 9999`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2
cmake --install build --prefix "$PWD/build/install" >/dev/null
export JUPYTER_PATH="$PWD/build/install/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
exec "$PWD/build/install/bin/tandem-relay" --root "$PWD/examples/notebooks" "$@"
