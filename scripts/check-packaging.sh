#!/usr/bin/env bash
# Checks the packaging without a container runtime (CI has none):
#   - the Dockerfile: its stages, non-root user and default command, then its
#     build line (the RUN line with "go build") run here as it stands, which
#     must give a static binary whose 'version' runs;
#   - docker-compose.yml: the services and settings it must keep;
#   - packaging/callvault.service: systemd-analyze verify, when available
#     (skipped with a message otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "check-packaging: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== Dockerfile"
[ "$(grep -c '^FROM .* AS build$' Dockerfile)" = 1 ] || fail "Dockerfile: want one build stage 'FROM … AS build'"
last_from=$(grep '^FROM ' Dockerfile | tail -1)
case "$last_from" in
  "FROM gcr.io/distroless/static"*|"FROM scratch"*) ;;
  *) fail "Dockerfile: the final stage must be distroless/static or scratch, not: $last_from" ;;
esac
final=$(awk '/^FROM /{n++} n==2' Dockerfile)
user=$(printf '%s\n' "$final" | grep '^USER ' | tail -1 | awk '{print $2}')
case "$user" in
  ""|root|0|0:*|root:*) fail "Dockerfile: the final stage must set a non-root USER (has: '${user}')" ;;
esac
printf '%s\n' "$final" | grep -q '^COPY --from=build ' || fail "Dockerfile: the final stage copies nothing from the build stage"
printf '%s\n' "$final" | grep -qx 'CMD \["serve", "--addr", "0.0.0.0:8080"\]' || fail "Dockerfile: the default command must be serve --addr 0.0.0.0:8080"
printf '%s\n' "$final" | grep -qx 'ENTRYPOINT \["/usr/local/bin/callvault"\]' || fail "Dockerfile: the entrypoint must be the binary"
if command -v hadolint >/dev/null; then
  hadolint Dockerfile
else
  echo "hadolint not installed: lint skipped (the checks above ran)"
fi

build=$(grep '^RUN .*go build ' Dockerfile)
[ "$(printf '%s\n' "$build" | wc -l)" = 1 ] || fail "Dockerfile: want exactly one RUN line with go build"
cmd=${build#RUN }
case "$cmd" in *CGO_ENABLED=0*) ;; *) fail "Dockerfile: the build must set CGO_ENABLED=0 (a static binary for distroless/static)" ;; esac
case "$cmd" in *"-o /out/callvault "*) ;; *) fail "Dockerfile: the build must write /out/callvault" ;; esac
# The same command, from the repository's root as the Dockerfile's
# WORKDIR /src is, writing into a temporary directory.
cmd=${cmd//\/out\/callvault/$tmp/callvault}
echo "+ $cmd"
sh -c "$cmd"
if go version -m "$tmp/callvault" | grep -q 'CGO_ENABLED=1'; then
  fail "the binary was built with cgo"
fi
if command -v ldd >/dev/null && ldd "$tmp/callvault" >/dev/null 2>&1; then
  fail "the binary is dynamically linked: $(ldd "$tmp/callvault" 2>&1 | head -3)"
fi
"$tmp/callvault" version || fail "the binary's version does not run"

echo "== docker-compose.yml"
for want in '^  postgres:' '^  callvault:' 'build: \.' 'condition: service_healthy' 'CALLVAULT_DB: postgres://' 'stop_grace_period:' 'pg_isready'; do
  grep -q "$want" docker-compose.yml || fail "docker-compose.yml lacks $want"
done
if command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
  POSTGRES_PASSWORD=check docker compose -f docker-compose.yml config --quiet
else
  echo "docker compose not available: 'docker compose config' skipped (the checks above ran)"
fi

echo "== packaging/callvault.service"
unit=packaging/callvault.service
for want in '^ExecStart=/usr/local/bin/callvault serve ' '^DynamicUser=yes' '^ProtectSystem=strict' '^NoNewPrivileges=yes' '^TimeoutStopSec='; do
  grep -q "$want" "$unit" || fail "$unit lacks $want"
done
if command -v systemd-analyze >/dev/null; then
  # verify insists that ExecStart's binary exists: the one just built.
  sed "s|/usr/local/bin/callvault|$tmp/callvault|" "$unit" > "$tmp/callvault.service"
  out=$(systemd-analyze verify "$tmp/callvault.service" 2>&1) || { echo "$out"; fail "systemd-analyze verify failed"; }
  # It also reports problems it does not fail on: any line about the unit is one.
  if printf '%s\n' "$out" | grep -q 'callvault.service'; then
    echo "$out"; fail "systemd-analyze verify reported problems in $unit"
  fi
  echo "systemd-analyze verify: ok"
else
  echo "systemd-analyze not available: the unit's verification skipped (the checks above ran)"
fi
echo "packaging: ok"
