#!/usr/bin/env bash
# Soak: mixed traffic at a fixed share of sipedge's measured capacity for a
# bounded time, sampling the server's heap, goroutines and RSS, to show
# memory stays flat under sustained load.
#
# 1. Builds sipedge and sipbench (no -race: the binaries operators run),
#    starts sipedge on 127.0.0.1 pinned to one CPU, provisions users.
# 2. Measures capacity with sipbench step-ups on the generator's CPU:
#    digest REGISTER, and calls (INVITE/407/200/ACK/BYE) when sipbench
#    has the call scenario.
# 3. Runs REGISTER and calls together, each at SOAK_LOAD × its share of its
#    own maximum (shares: half each, or all REGISTER without calls), for
#    SOAK_SECONDS, and prints a Markdown table of samples taken every
#    SOAK_SAMPLE seconds, plus one after the traffic stops.
#
# Knobs: SOAK_SECONDS (600), SOAK_SAMPLE (60), SOAK_LOAD (0.8), SOAK_USERS
# (4000: the first half register, the second half call), BENCH_SERVER_CPU (0),
# BENCH_GEN_CPU (1), KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${SOAK_SECONDS:-600}
SAMPLE=${SOAK_SAMPLE:-60}
LOAD=${SOAK_LOAD:-0.8}
N=${SOAK_USERS:-4000}
SRV_CPU=${BENCH_SERVER_CPU:-0}
GEN_CPU=${BENCH_GEN_CPU:-1}
REALM=soak.sipedge.test
TOKEN=soak-token-$$
HALF=$((N / 2))

log() { echo "soak: $*" >&2; }
for c in jq curl taskset bc; do command -v "$c" >/dev/null || { log "needs $c"; exit 1; }; done

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_workdir

go build -o "$work/sipedge" ./cmd/sipedge
go build -o "$work/sipbench" ./cmd/sipbench

start_sipedge "$work/sipedge" "$work" "$SRV_CPU" "$TOKEN"
pid=$se_pid addr=$se_addr
for i in $(seq 1 "$N"); do
  printf '{"data":{"name":"user%06d","sip":{"username":"user%06d","password":"secret%06d"}}}\n' "$i" "$i" "$i"
done >"$work/devices.jsonl"
provision_devices "$TOKEN" "$REALM" "$work/devices.jsonl" "$work"
log "sipedge $addr (pid $pid), $N devices"

sb() { taskset -c "$GEN_CPU" "$work/sipbench" -target "$addr" -realm "$REALM" -users 'user%06d' -password 'secret%06d' \
  -pid "$pid" -quiet -json "$@"; }

calls=no
sb_help=$("$work/sipbench" -h 2>&1 || true) # -h exits 2
if grep -q -- '-hold' <<<"$sb_help"; then calls=yes; fi

reg_max=$(sb -first 1 -n "$HALF" -rate 2000 -step 2000 -step-to 60000 -step-duration 4s -drain 2s | jq .max_clean_per_s)
log "REGISTER capacity: $reg_max/s"
share_reg=1
if [ "$calls" = yes ]; then
  call_max=$(sb -scenario call -first $((HALF + 1)) -n "$HALF" -rate 500 -step 500 -step-to 20000 -step-duration 4s \
    -drain 3s | jq .max_clean_per_s)
  log "call capacity: $call_max/s"
  share_reg=0.5
fi
reg_rate=$(echo "$reg_max * $LOAD * $share_reg" | bc)
[ "$calls" = yes ] && call_rate=$(echo "$call_max * $LOAD * 0.5" | bc)

metric() { curl -sS --max-time 5 "http://$api/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
samples=$work/samples.tsv
sample() { # label
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" \
    "$(metric go_memstats_heap_inuse_bytes)" "$(metric go_goroutines)" "$(metric process_resident_memory_bytes)" \
    "$(metric sipedge_location_aors_active | head -1)" >>"$samples"
}
: >"$samples"
sample 0s
log "${SECS}s at ${LOAD} of capacity: REGISTER ${reg_rate}/s${call_rate:+, calls ${call_rate}/s}"
sb -first 1 -n "$HALF" -rate "$reg_rate" -duration "${SECS}s" -drain 5s >"$work/reg.json" &
g1=$!
started+=("$g1")
if [ "$calls" = yes ]; then
  sb -scenario call -first $((HALF + 1)) -n "$HALF" -rate "$call_rate" -duration "${SECS}s" -drain 5s >"$work/call.json" &
  g2=$!
  started+=("$g2")
fi
for t in $(seq "$SAMPLE" "$SAMPLE" "$SECS"); do
  sleep "$SAMPLE"
  sample "${t}s"
done
wait "$g1"
[ "$calls" = yes ] && wait "$g2"
sleep 5
sample "${SECS}s + stopped"

{
  echo
  echo "Soak: ${SECS}s at $LOAD of measured capacity (REGISTER max $reg_max/s${call_max:+, calls max $call_max/s})."
  echo "REGISTER: $(jq -c '{offered: .offered_per_s, achieved: (.achieved_per_s|floor), ok: .succeeded, failed, retransmissions, p50_ms: (.latency.p50_us/1000), p99_ms: (.latency.p99_us/1000)}' "$work/reg.json")"
  [ "$calls" = yes ] && echo "calls: $(jq -c '{offered: .offered_per_s, achieved: (.achieved_per_s|floor), ok: .succeeded, failed, retransmissions, p50_ms: (.latency.p50_us/1000), p99_ms: (.latency.p99_us/1000)}' "$work/call.json")"
  echo
  echo "| t | heap in use (MiB) | goroutines | RSS (MiB) | AORs registered |"
  echo "|---|---:|---:|---:|---:|"
  awk -F'\t' '{printf "| %s | %.1f | %d | %.1f | %d |\n", $1, $2/1048576, $3, $4/1048576, $5}' "$samples"
} | tee "$work/table.md"
