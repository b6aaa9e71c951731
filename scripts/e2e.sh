#!/usr/bin/env bash
# The end-to-end suite (test/e2e): a real controller on the lab bridge and 5 booted Debian hosts
# (systemd-nspawn) enrolled through `kctl cloud-init`, then kctl plan/apply from the offline bundle.
# Root only; several minutes (the first run also builds the lab's base root filesystem).
# Not part of `npm test`. Also runs the lab tests (test/lab) with --with-lab.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "e2e needs root (network namespaces, mounts, containers): run it as root" >&2
  exit 1
fi
with_lab=0
if [ "${1:-}" = "--with-lab" ]; then
  with_lab=1
  shift
fi
start=$(date +%s)
if [ "$with_lab" = 1 ]; then
  npx vitest run --config test/lab/vitest.lab.config.ts
fi
npx vitest run --config test/e2e/vitest.e2e.config.ts "$@"
echo "e2e wall time: $(($(date +%s) - start))s"
