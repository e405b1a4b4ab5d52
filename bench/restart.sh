#!/usr/bin/env bash
# Restart time, side by side: each sipedge binary given is started on the
# same data directory (a device store and a location snapshot, as
# bench/storm.sh leaves them with KEEP=1), pinned to one CPU, and timed from
# exec to its "sipedge started" log line; then killed with SIGKILL, so the
# snapshot is not rewritten and every start reads the same bytes. The
# binaries alternate, RESTART_ROUNDS (3) times; prints each start and the
# median per binary as a Markdown table.
#
#   bench/restart.sh DATA_DIR BINARY...
#
# Knobs: RESTART_ROUNDS (3), BENCH_SERVER_CPU (0), RESTART_TIMEOUT (120 s).
# Use a copy of the data: a binary newer than the data may upgrade it.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 DATA_DIR BINARY..." >&2; exit 2; }
data=$1; shift
[ -d "$data" ] || { echo "no directory $data" >&2; exit 1; }
ROUNDS=${RESTART_ROUNDS:-3}
CPU=${BENCH_SERVER_CPU:-0}
TIMEOUT=${RESTART_TIMEOUT:-120}
log=$(mktemp)
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -f "$log"' EXIT

start() { # binary -> "seconds restored-took"
  local t0 t1 took
  : >"$log"
  t0=$EPOCHREALTIME
  SIPEDGE_ADMIN_TOKEN=restart-bench-token-0123456789 taskset -c "$CPU" "$1" -data "$data" -sip 127.0.0.1:0 \
    -api 127.0.0.1:0 -log-format json >"$log" 2>&1 &
  pid=$!
  until grep -q '"sipedge started"' "$log"; do
    kill -0 "$pid" 2>/dev/null || { echo "$1 exited:" >&2; cat "$log" >&2; exit 1; }
    [ "$(echo "$EPOCHREALTIME - $t0 > $TIMEOUT" | bc)" -eq 0 ] || { echo "$1: not started in ${TIMEOUT}s" >&2; exit 1; }
    sleep 0.02
  done
  t1=$EPOCHREALTIME
  took=$(sed -nE 's/.*"msg":"location restored".*"took":"([^"]+)".*/\1/p' "$log")
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  printf '%.2f %s\n' "$(echo "$t1 - $t0" | bc)" "${took:--}"
}

declare -A runs
for r in $(seq "$ROUNDS"); do
  for b in "$@"; do
    out=$(start "$b")
    echo "round $r $b: started in ${out% *} s (restore ${out#* })" >&2
    runs[$b]+="${out% *} "
  done
done
echo "| binary | starts (s) | median (s) |"
echo "|---|---|---:|"
for b in "$@"; do
  med=$(tr ' ' '\n' <<<"${runs[$b]}" | grep . | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')
  echo "| $b | ${runs[$b]% } | $med |"
done
