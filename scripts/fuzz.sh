#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (default 30) from its committed seed corpus.
# New inputs go to a scratch directory, never into the repository. Exits non-zero on a crash.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
shift || true
bash scripts/setup-debian.sh
cmake -S . -B build-fuzz -DTD_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do n=$(basename "$f" .c); targets+=("${n#fuzz_}"); done
fi
cmake --build build-fuzz -j2 --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t" "build-fuzz/crashes/$t"
  echo "== fuzz $t for ${secs}s"
  ./build-fuzz/tests/fuzz_$t -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="build-fuzz/crashes/$t/" "$scratch/$t" "tests/fuzz/corpus/$t" 2>&1 | tail -n 4
done
echo "fuzzing: ${#targets[@]} targets ran ${secs}s each without a crash"
