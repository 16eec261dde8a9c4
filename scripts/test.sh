#!/usr/bin/env bash
# Runs the whole test suite: formatting, vet and staticcheck, the main
# module's tests, then the official Graph SDK's tests in conformance/ (their
# own module: the SDK takes minutes and gigabytes to compile).
#   scripts/test.sh          everything
#   scripts/test.sh -short   the main module only
set -euo pipefail
cd "$(dirname "$0")/.."

staticcheck="go run honnef.co/go/tools/cmd/staticcheck@v0.8.2"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet, staticcheck (main module)"
go vet ./...
$staticcheck ./...

echo "== go test (main module)"
go test -race -count=1 -timeout 20m ./...

echo "== benchmarks, each run once so that they keep working (timings here mean nothing)"
go test -run '^$' -bench . -benchtime 1x ./bench/...

if [ "${1:-}" = "-short" ]; then
  exit 0
fi

echo "== packaging: Dockerfile build line, compose file, systemd unit (no container runtime needed)"
scripts/check-packaging.sh

echo "== PostgreSQL read replica and failover: a primary and a streaming replica on loopback ports"
scripts/pg-replica.sh

echo "== fuzz targets, 10 s each (FUZZTIME to change)"
scripts/fuzz.sh

echo "== conformance: msgraph-sdk-go against the real binary (the first build takes minutes)"
(
  cd conformance
  go vet ./...
  $staticcheck ./...
  go test -count=1 -timeout 30m ./...
)
