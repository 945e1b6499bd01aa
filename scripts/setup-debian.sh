#!/usr/bin/env bash
# Installs everything Tandem needs on a fresh Debian 12 machine: the build toolchain, the libraries
# we link, and the real clients the test suite drives. Idempotent; safe to run twice.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libzmq3-dev libczmq-dev libjansson-dev liblua5.4-dev lua5.4 libsqlite3-dev uuid-dev libssl-dev
  libuv1-dev libwebsockets-dev libwebsockets-evlib-uv nodejs
  python3-jupyter-client python3-jupyter-kernel-test python3-nbclient python3-nbformat chromium
  jupyter-console python3-ipykernel python3-jupyter-server jupyter-notebook python3-zmq
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm: the node tests need it. Debian's npm package conflicts with NodeSource's nodejs (which bundles
# npm), so it is only added when no npm is present.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
