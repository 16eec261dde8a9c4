#!/usr/bin/env bash
# Runs every fuzz target of the main module for a bounded time each, so
# that the fuzzers keep finding what they were written for, in CI too.
#   scripts/fuzz.sh            FUZZTIME each (default 10s)
#   FUZZTIME=5m scripts/fuzz.sh
# A failure leaves its input in the package's testdata/fuzz/NAME/: commit
# it with the fix, and it runs as a plain test from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10s}"

# Package directories with fuzz targets, and their targets.
grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u | while read -r dir; do
  for target in $(grep -h -o '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort -u); do
    echo "== fuzz $dir $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$dir"
  done
done
