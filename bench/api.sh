#!/usr/bin/env bash
# Admin API throughput: wrk fetching one device document (token check, store
# read, Kazoo envelope) side by side with /livez (the HTTP stack alone) on the
# same running sipedge, as a ratio. Server pinned to one CPU, wrk to the
# other; loopback only; bounded by BENCH_API_SECONDS per run.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${BENCH_API_SECONDS:-10}
CONNS=${BENCH_API_CONNECTIONS:-32}
ROUNDS=${BENCH_API_ROUNDS:-2}
SRV_CPU=${BENCH_SERVER_CPU:-0}
GEN_CPU=${BENCH_GEN_CPU:-1}
TOKEN=api-bench-$$

log() { echo "api: $*" >&2; }
if ! command -v wrk >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { log "wrk missing (apt-get install wrk)"; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$work/sipedge" ./cmd/sipedge
# Reads are logged at debug, so info costs the measured path nothing and
# gives the start line with the bound addresses.
# The per-token rate limit would measure itself, not the API.
SIPEDGE_API_RATE_LIMIT=0 SIPEDGE_ADMIN_TOKEN=$TOKEN taskset -c "$SRV_CPU" "$work/sipedge" -data "$work/data" -sip 127.0.0.1:0 -api 127.0.0.1:0 \
  -log-format json -log-level info >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '"sipedge started"' "$work/log" 2>/dev/null && break; sleep 0.1; done
api=$(grep '"sipedge started"' "$work/log" | sed -E 's/.*"api":"([^"]+)".*/\1/') || true
[ -n "$api" ] || { log "sipedge did not start"; cat "$work/log"; exit 1; }

call() { curl -sS --max-time 10 -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' "$@"; }
acct=$(call -X PUT -d '{"data":{"name":"api bench","realm":"api.bench.test"}}' "http://$api/v2/accounts")
acct_id=$(sed -E 's/.*"id":"([0-9a-f]{32})".*/\1/' <<<"$acct")
dev=$(call -X PUT -d '{"data":{"name":"desk phone","sip":{"username":"desk","password":"desk-secret-1"}}}' "http://$api/v2/accounts/$acct_id/devices")
dev_id=$(sed -E 's/.*"id":"([0-9a-f]{32})".*/\1/' <<<"$dev")
[ ${#dev_id} -eq 32 ] || { log "device not created: $dev"; exit 1; }
device_url="http://$api/v2/accounts/$acct_id/devices/$dev_id"
[ "$(call -o /dev/null -w '%{http_code}' "$device_url")" = 200 ] || { log "device fetch is not 200"; exit 1; }

rps() { # url -> requests/s (non-2xx responses make the run fail)
  local out
  out=$(taskset -c "$GEN_CPU" wrk -t1 -c"$CONNS" -d"${SECS}s" -H "X-Auth-Token: $TOKEN" "$1")
  if grep -q 'Non-2xx' <<<"$out"; then log "non-2xx answers from $1"; echo "$out" >&2; exit 1; fi
  awk '/^Requests\/sec:/ {print $2}' <<<"$out"
}

log "sipedge API on $api; wrk -c$CONNS -d${SECS}s, $ROUNDS round(s), alternating"
echo "| round | /livez req/s | GET device req/s | device/livez |"
echo "|---:|---:|---:|---:|"
for r in $(seq 1 "$ROUNDS"); do
  live=$(rps "http://$api/livez")
  device=$(rps "$device_url")
  awk -v r="$r" -v l="$live" -v d="$device" 'BEGIN { printf "| %d | %.0f | %.0f | %.2f |\n", r, l, d, d / l }'
done
