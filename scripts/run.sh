#!/usr/bin/env bash
# Sets up a Debian 12 machine, builds and installs Tandem into build/install, and opens
# jupyter console on the tandem-lua kernel. (Once tandem-relay lands, this starts the relay.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2
cmake --install build --prefix "$PWD/build/install" >/dev/null
export JUPYTER_PATH="$PWD/build/install/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
echo "tandem-lua kernelspec: $PWD/build/install/share/jupyter/kernels/tandem-lua"
exec jupyter-console --kernel tandem-lua "$@"
