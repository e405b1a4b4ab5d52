#!/usr/bin/env bash
# Registration storm after a restart, at 100,000+ phones (issue 7): every
# phone re-registers within a minute of sipedge coming back, and nothing
# fails beyond the configured admission control (503 + Retry-After past
# sip.max_inflight).
#
# 1. Builds sipedge and sipbench (no -race), writes STORM_DEVICES device
#    documents user%07d/secret%07d and loads them with `sipedge import`
#    (timed): the admin API's one fsync per device would take hours.
# 2. Starts sipedge pinned to one CPU and registers every phone once with
#    sipbench at STORM_REGISTER_RATE; checks the registrations count.
# 3. Stops sipedge with SIGTERM (it writes the location snapshot) and starts
#    it again: time from exec to "sipedge started", bindings restored.
# 4. The storm: every phone registers again (fresh Call-ID, digest
#    challenge, as after a reboot) within STORM_WINDOW seconds, then once
#    more at twice that rate.
# Prints a Markdown table: import time, start time with N bindings, achieved
# rate, failures by cause, p50/p99, server RSS/PSS, load average.
#
# Knobs: STORM_DEVICES (100000), STORM_WINDOW (60), STORM_REGISTER_RATE
# (2000, the first registration), BENCH_SERVER_CPU (0), BENCH_GEN_CPU (1),
# KEEP=1 keeps the work directory. Extra SIPEDGE_* variables in the
# environment reach sipedge (e.g. SIPEDGE_SIP_MAX_INFLIGHT).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${STORM_DEVICES:-100000}
WINDOW=${STORM_WINDOW:-60}
REG_RATE=${STORM_REGISTER_RATE:-2000}
SRV_CPU=${BENCH_SERVER_CPU:-0}
GEN_CPU=${BENCH_GEN_CPU:-1}
REALM=storm.sipedge.test
TOKEN=storm-token-$$

log() { echo "storm: $(date +%T) $*" >&2; }
for c in jq curl taskset bc awk; do command -v "$c" >/dev/null || { log "needs $c"; exit 1; }; done
[ "$N" -ge 4 ] || { log "STORM_DEVICES must be at least 4 (sipbench's sockets)"; exit 1; }

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_workdir
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(loadavg)

go build -o "$work/sipedge" ./cmd/sipedge
go build -o "$work/sipbench" ./cmd/sipbench

# ---- import ----------------------------------------------------------------
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++)
  printf "{\"name\":\"user%07d\",\"sip\":{\"username\":\"user%07d\",\"password\":\"secret%07d\"}}\n", i, i, i }' \
  >"$work/devices.jsonl"
t0=$EPOCHREALTIME
"$work/sipedge" import -data "$work/data" -realm "$REALM" "$work/devices.jsonl" >"$work/import.out" 2>"$work/import.err" ||
  { log "import failed"; cat "$work/import.err" >&2; exit 1; }
import_s=$(printf %.2f "$(echo "$EPOCHREALTIME - $t0" | bc)")
acct=$(sed -nE 's/^created account ([0-9a-f]{32}) .*/\1/p' "$work/import.out")
[ ${#acct} -eq 32 ] || { log "no account id in the import output"; cat "$work/import.out" >&2; exit 1; }
log "imported $N devices in ${import_s}s: $(tail -1 "$work/import.out")"

# ---- sipedge ---------------------------------------------------------------
# start_storm_sipedge LOG: start_sipedge's setup (lib.sh) with a longer
# bound, since loading N devices and N bindings takes a while, and timed
# from exec to the "sipedge started" line (to 20 ms). Sets se_pid, api,
# se_addr, start_s.
start_storm_sipedge() {
  local logf=$1 line t0
  t0=$EPOCHREALTIME
  SIPEDGE_API_RATE_LIMIT=0 SIPEDGE_REGISTRAR_ALGORITHMS=MD5,SHA-256 SIPEDGE_ADMIN_TOKEN=$TOKEN taskset -c "$SRV_CPU" \
    "$work/sipedge" -data "$work/data" -sip 127.0.0.1:0 -api 127.0.0.1:0 -log-format json -log-level info \
    >"$logf" 2>&1 &
  se_pid=$!
  started+=("$se_pid")
  for _ in $(seq 6000); do grep -q '"sipedge started"' "$logf" 2>/dev/null && break; sleep 0.02; done
  start_s=$(printf %.2f "$(echo "$EPOCHREALTIME - $t0" | bc)")
  line=$(grep '"sipedge started"' "$logf") || { log "sipedge did not start in 120 s"; cat "$logf" >&2; exit 1; }
  api=$(jq -r .api <<<"$line")
  se_addr=$(jq -r .sip_udp <<<"$line")
}

count() {
  curl -sS --max-time 30 -H "X-Auth-Token: $TOKEN" "http://$api/v2/accounts/$acct/registrations/count" | jq .data.count
}
# mem LABEL BINDINGS: one row of the memory table from /proc (kB).
mem_rows=$work/mem.tsv
: >"$mem_rows"
mem() {
  local rss pss
  rss=$(awk '/^Rss:/ {print $2}' "/proc/$se_pid/smaps_rollup")
  pss=$(awk '/^Pss:/ {print $2}' "/proc/$se_pid/smaps_rollup")
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$rss" "$pss" >>"$mem_rows"
}

sb() { # RUN_NAME RATE, then sipbench flags: every phone once at RATE
  local name=$1 rate=$2
  shift 2
  local secs
  secs=$(echo "$N / $rate * 1.5 + 10" | bc)
  timeout $((${secs%.*} + 60)) taskset -c "$GEN_CPU" "$work/sipbench" -target "$se_addr" -realm "$REALM" \
    -users 'user%07d' -password 'secret%07d' -first 1 -n "$N" -max "$N" -rate "$rate" -duration "${secs%.*}s" \
    -drain 10s -pid "$se_pid" -quiet -json "$@" >"$work/$name.json"
}

# The first pass only sets the stage (every phone bound before the
# restart), so nothing is shed there: at 20,000/s with a million devices,
# garbage collection on one core lets the socket queue stand past
# sip.max_queue_delay for moments, and 503s would leave phones unbound.
# The storms after the restart run with sipedge's defaults.
SIPEDGE_SIP_MAX_QUEUE_DELAY=0 start_storm_sipedge "$work/sipedge1.log"
first_start_s=$start_s
mem "started, devices only" 0
log "sipedge $se_addr (pid $se_pid) up in ${start_s}s; registering $N phones at $REG_RATE/s"
sb register "$REG_RATE"
n1=$(count)
log "registered: $n1 bindings ($(jq -c '{ok: .succeeded, failed, failures}' "$work/register.json"))"
[ "$n1" -eq "$N" ] || { log "registrations count $n1, want $N"; exit 1; }
mem "after registering" "$n1"

# ---- restart -----------------------------------------------------------------
t0=$EPOCHREALTIME
kill -TERM "$se_pid"
wait "$se_pid" || { log "sipedge exited badly on SIGTERM"; tail "$work/sipedge1.log" >&2; exit 1; }
stop_s=$(printf %.2f "$(echo "$EPOCHREALTIME - $t0" | bc)")
snap_mib=$(awk -v b="$(stat -c %s "$work/data/location.snap")" 'BEGIN {printf "%.1f", b / 1048576}')
start_storm_sipedge "$work/sipedge2.log"
restored=$(jq -r 'select(.msg == "location restored") | "\(.bindings) in \(.took)"' "$work/sipedge2.log")
n2=$(count)
log "stopped in ${stop_s}s (snapshot $snap_mib MiB); up again in ${start_s}s, restored $restored, API count $n2"
mem "after restart" "$n2"

# ---- the storm ---------------------------------------------------------------
storm_rate=$(echo "scale=1; $N / $WINDOW" | bc)
log "storm: $N phones within ${WINDOW}s ($storm_rate/s)"
sb storm "$storm_rate"
n3=$(count)
mem "after the storm" "$n3"
double_rate=$(echo "scale=1; 2 * $storm_rate" | bc)
log "storm at 2x: $double_rate/s"
sb storm2x "$double_rate"
n4=$(count)
mem "after the 2x storm" "$n4"
load_end=$(loadavg)

# ---- report ------------------------------------------------------------------
row() { # LABEL FILE
  jq -r --arg l "$1" '[$l, (.offered_per_s|floor), (.achieved_per_s|floor), .started, .succeeded, .failed,
      ((.failures // {}) | to_entries | map("\(.key)=\(.value)") | join(", ") | if . == "" then "-" else . end),
      .retransmissions, (.latency.p50_us/1000), (.latency.p99_us/1000)]
    | "| " + (map(tostring) | join(" | ")) + " |"' "$2"
}
{
  echo
  echo "Registration storm: $N phones, window ${WINDOW}s, sipedge on CPU $SRV_CPU, sipbench on CPU $GEN_CPU, $(nproc) CPUs."
  echo "Load average: $load_start at the start, $load_end at the end."
  echo
  echo "| step | result |"
  echo "|---|---|"
  echo "| import $N devices (\`sipedge import\`) | ${import_s} s |"
  echo "| first start, $N devices, no bindings | ${first_start_s} s |"
  echo "| SIGTERM to exit (snapshot written, $snap_mib MiB) | ${stop_s} s |"
  echo "| restart: exec to \"sipedge started\" | ${start_s} s |"
  echo "| bindings restored (log) / counted (API) | $restored / $n2 |"
  echo "| registrations count after first pass / storm / 2x storm | $n1 / $n3 / $n4 |"
  echo
  echo "| run | offered/s | achieved/s | started | ok | failed | failures by cause | retrans | p50 ms | p99 ms |"
  echo "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"
  row "first registration" "$work/register.json"
  row "storm (${WINDOW} s)" "$work/storm.json"
  row "storm at 2x" "$work/storm2x.json"
  echo
  echo "| server memory | bindings | RSS MiB | PSS MiB |"
  echo "|---|---:|---:|---:|"
  awk -F'\t' '{printf "| %s | %d | %.1f | %.1f |\n", $1, $2, $3/1024, $4/1024}' "$mem_rows"
  awk -F'\t' 'NR == 1 {r0 = $3; p0 = $4} NR == 2 && $2 > 0 {
    printf "\nPer binding (after registering minus devices only): RSS %.0f B, PSS %.0f B.\n", ($3-r0)*1024/$2, ($4-p0)*1024/$2 }' "$mem_rows"
  echo "Devices only: RSS $(awk -F'\t' -v n="$N" 'NR == 1 {printf "%.0f", $3*1024/n}' "$mem_rows") B per device (whole process RSS / $N)."
} | tee "$work/table.md"
