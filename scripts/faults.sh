#!/usr/bin/env bash
# The long fault tests (test/faults/long): controller kill -9 at random points of a 20-host apply
# (20 seeded trials; KCTL_FAULT_SEED=N replays one run, KCTL_FAULT_TRIALS=N changes the count) and a
# 60 s network partition. Minutes, so not part of `npm test`; .ci/run runs this after it.
# The short fault tests (test/faults/*.test.ts) are part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
npx vitest run --config test/faults/long/vitest.faults.config.ts "$@"
echo "fault suite (long): $(($(date +%s) - started)) s"
