#!/usr/bin/env bash
# Sets up a Debian 12 machine, builds Tandem and runs the whole test suite with CTest: unit tests,
# corpus replays, and the real clients (jupyter_client, jupyter_kernel_test, nbclient,
# jupyter-console, and the Node clients where present).
#   scripts/test.sh           the normal build (build/)
#   scripts/test.sh --asan    the same suite built with ASan + UBSan (build-asan/); any sanitizer
#                             report from any process, kernels included, fails the run
set -euo pipefail
cd "$(dirname "$0")/.."
mode=normal
for a in "$@"; do
  case "$a" in
    --asan) mode=asan ;;
    *) echo "usage: scripts/test.sh [--asan]" >&2; exit 2 ;;
  esac
done
bash scripts/setup-debian.sh
for pkg in $(find tests -name package-lock.json -not -path '*/node_modules/*' -printf '%h\n'); do
  (cd "$pkg" && npm ci --no-audit --no-fund --loglevel=error)
done

if [ "$mode" = asan ]; then
  dir=build-asan
  cmake -S . -B "$dir" -DTD_ASAN=ON -DTD_UBSAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
  rm -rf "$dir/sanitizer-logs" && mkdir -p "$dir/sanitizer-logs"
  logs=$(cd "$dir/sanitizer-logs" && pwd)
  # Child processes (kernels started by the Python clients) inherit these and write reports to
  # files; after the run, any report is a failure.
  export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:abort_on_error=0:halt_on_error=1"
  export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
else
  dir=build
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$dir" -j2
status=0
ctest --test-dir "$dir" -j2 --output-on-failure || status=$?
if [ "$mode" = asan ]; then
  if compgen -G "$logs/*" >/dev/null; then
    echo "sanitizer reports:" >&2
    head -n 60 "$logs"/* >&2
    status=1
  else
    echo "sanitizers: no reports from any process"
  fi
fi
exit $status
