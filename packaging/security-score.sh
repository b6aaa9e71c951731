#!/bin/sh
# Prints the `systemd-analyze security` exposure score (0 = locked down, 10 = unprotected) of each
# kctl unit, one "UNIT SCORE" line each. Lower is better; test/packaging/systemd-units.test.ts
# fails when a score rises above packaging/systemd/security-baseline.json.
#   sh packaging/security-score.sh [UNIT_FILE...]
set -eu
dir=$(cd "$(dirname "$0")/systemd" && pwd)
[ $# -gt 0 ] || set -- "$dir/kctl-agent.service" "$dir/kctl-controller.service"
for unit in "$@"; do
	# --offline reads the unit file itself, so no running systemd is needed
	score=$(systemd-analyze security --offline=true --no-pager -- "$unit" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	[ -n "$score" ] || {
		echo "security-score.sh: no score for $unit" >&2
		exit 1
	}
	printf '%s %s\n' "$(basename "$unit")" "$score"
done
