#!/usr/bin/env bash
# Loopback demo: a controller with embedded state and three agents with fixture host roots.
# Usage: scripts/demo.sh [up|down]
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=.demo
KCTL=(node --import tsx controller/cli/kctl.ts)

down() {
  for pidfile in "$DEMO"/*.pid; do
    [ -e "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  echo "demo stopped (state kept in $DEMO; rm -rf $DEMO to forget it)"
}

up() {
  mkdir -p "$DEMO"
  down >/dev/null
  "${KCTL[@]}" controller init --data-dir "$DEMO/controller" --listen 127.0.0.1:7443 | tee "$DEMO/init.txt"
  pin=$(awk '/^CA pin:/ {print $3}' "$DEMO/init.txt")
  export KCTL_CONFIG="$DEMO/controller/kctl.yaml"
  nohup "${KCTL[@]}" controller run --data-dir "$DEMO/controller" >"$DEMO/controller.log" 2>&1 &
  echo $! >"$DEMO/controller.pid"
  for _ in $(seq 50); do "${KCTL[@]}" hosts >/dev/null 2>&1 && break; sleep 0.2; done
  token=""
  for name in demo-1 demo-2 demo-3; do
    root="$DEMO/hosts/$name"
    if [ ! -e "$DEMO/agents/$name/state/identity.json" ]; then
      [ -n "$token" ] || token=$("${KCTL[@]}" token create --ttl 10m --uses 3 --labels env=demo)
      mkdir -p "$root/proc/sys/kernel" "$root/etc" "$root/sys/class/dmi/id" "$DEMO/agents/$name"
      echo "$name" >"$root/proc/sys/kernel/hostname"
      uname -r >"$root/proc/sys/kernel/osrelease"
      cp /etc/os-release "$root/etc/os-release"
      cp /proc/meminfo /proc/cpuinfo /proc/mounts "$root/proc/" 2>/dev/null || true
      od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$root/etc/machine-id"
      cat /proc/sys/kernel/random/uuid >"$root/sys/class/dmi/id/product_uuid"
      cat >"$DEMO/agents/$name/agent.yaml" <<YAML
controller: https://127.0.0.1:7443
caPin: $pin
token: $token
stateDir: $PWD/$DEMO/agents/$name/state
hostRoot: $PWD/$root
heartbeatIntervalMs: 2000
YAML
    fi
    nohup node --import tsx agent/main.ts --config "$DEMO/agents/$name/agent.yaml" >"$DEMO/$name.log" 2>&1 &
    echo $! >"$DEMO/$name.pid"
  done
  for _ in $(seq 100); do
    [ "$("${KCTL[@]}" hosts -o json | grep -c '"online": true')" = 3 ] && break
    sleep 0.2
  done
  "${KCTL[@]}" hosts
  echo
  echo "controller: https://127.0.0.1:7443  logs: $DEMO/*.log"
  echo "try:  KCTL_CONFIG=$KCTL_CONFIG ${KCTL[*]} preflight"
  echo "stop: npm run demo:down"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 [up|down]" >&2; exit 2 ;;
esac
