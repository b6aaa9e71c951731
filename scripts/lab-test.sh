#!/usr/bin/env bash
# The fleet lab tests (test/lab/*.lab.test.ts): boot real Debian hosts with systemd-nspawn.
# Root only; slow (minutes, the first run also builds the base root filesystem). Not part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "lab tests need root (network namespaces, mounts, containers): run it as root" >&2
  exit 1
fi
exec npx vitest run --config test/lab/vitest.lab.config.ts "$@"
