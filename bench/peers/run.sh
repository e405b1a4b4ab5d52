#!/usr/bin/env bash
# Side by side: sipedge and Kamailio answering digest REGISTER, driven by the
# same load generators (bench/'s sipbench and SIPp), alternating, with the
# server pinned to one CPU and the generator to the other. Prints a Markdown
# table with absolute numbers and sipedge/Kamailio ratios.
#
# Installs what is missing from Debian (kamailio, kamailio-sqlite-modules,
# sip-tester, sqlite3, jq), runs everything on 127.0.0.1, stops everything it
# started, and is bounded in time: every run has a fixed duration or count.
#
# Knobs (environment): BENCH_USERS (2000), BENCH_RATE (5000/s, the fixed-rate
# runs), BENCH_SECONDS (10), BENCH_STEP_FROM/BY/TO (4000/2000/40000),
# BENCH_STEP_SECONDS (5), BENCH_SIPP_RATES ("4000 6000 … 16000"),
# BENCH_ROUNDS (1; medians are reported), BENCH_SERVER_CPU (0),
# BENCH_GEN_CPU (1), BENCH_KAMAILIO_CHILDREN (8), BENCH_OUT (a directory
# to keep every raw result in), KEEP=1 (keep the work directory).
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${BENCH_USERS:-2000}
RATE=${BENCH_RATE:-5000}
SECS=${BENCH_SECONDS:-10}
STEP_FROM=${BENCH_STEP_FROM:-4000}
STEP_BY=${BENCH_STEP_BY:-2000}
STEP_TO=${BENCH_STEP_TO:-40000}
STEP_SECS=${BENCH_STEP_SECONDS:-5}
SIPP_RATES=${BENCH_SIPP_RATES:-"4000 6000 8000 10000 12000 14000 16000"}
ROUNDS=${BENCH_ROUNDS:-1}
SRV_CPU=${BENCH_SERVER_CPU:-0}
GEN_CPU=${BENCH_GEN_CPU:-1}
KAM_CHILDREN=${BENCH_KAMAILIO_CHILDREN:-8}
REALM=bench.sipedge.test
TOKEN=bench-token-$$

log() { echo "bench: $*" >&2; }

# --- packages -----------------------------------------------------------------
missing=()
for p in kamailio kamailio-sqlite-modules sip-tester sqlite3 jq curl bc; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { log "need root to apt-get install ${missing[*]}"; exit 1; }
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v taskset >/dev/null || { log "taskset missing (util-linux)"; exit 1; }
[ "$(nproc)" -ge 2 ] || { log "needs 2 CPUs to pin server and generator apart"; exit 1; }
MPATH=$(dirname "$(dpkg -L kamailio | grep -m1 '/modules/sl.so$')")/

# --- work dir and cleanup -----------------------------------------------------
work=$(mktemp -d)
started=()
cleanup() {
  for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${started[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
log "building sipedge and sipbench"
go build -o "$work/sipedge" ./cmd/sipedge
go build -o "$work/sipbench" ./cmd/sipbench

# --- users: one list, three shapes ------------------------------------------------
echo SEQUENTIAL >"$work/users.csv"
{
  cat /usr/share/kamailio/db_sqlite/standard-create.sql /usr/share/kamailio/db_sqlite/htable-create.sql
  echo "BEGIN;"
  for i in $(seq 1 "$N"); do
    u=$(printf 'user%06d' "$i"); p=$(printf 'secret%06d' "$i")
    echo "INSERT INTO htable (key_name, key_type, value_type, key_value) VALUES ('$u', 0, 0, '$p');"
    echo "$u;[authentication username=$u password=$p];$REALM" >>"$work/users.csv"
    printf '{"data":{"name":"%s","sip":{"username":"%s","password":"%s"}}}\n' "$u" "$u" "$p" >>"$work/devices.jsonl"
  done
  echo "COMMIT;"
} | sqlite3 "$work/kamailio.db"

# SIPp's digest REGISTER (interop/register.xml) with response-time marks
# around the whole registration, for latency percentiles.
sed -e '0,/<send retrans="500">/s//<send retrans="500" start_rtd="1">/' \
  -e 's|<recv response="200" />|<recv response="200" rtd="1" />|' interop/register.xml >"$work/register.xml"

# --- sipedge ------------------------------------------------------------------------
# SIPp answers only MD5 and takes the first challenge, so MD5 goes first;
# sipbench answers the first one offered too, so both servers hash alike.
SIPEDGE_API_RATE_LIMIT=0 SIPEDGE_REGISTRAR_ALGORITHMS=MD5,SHA-256 SIPEDGE_ADMIN_TOKEN=$TOKEN taskset -c "$SRV_CPU" \
  "$work/sipedge" -data "$work/data" -sip 127.0.0.1:0 -api 127.0.0.1:0 -log-format json -log-level info \
  >"$work/sipedge.log" 2>&1 &
se_pid=$!
started+=("$se_pid")
for _ in $(seq 100); do grep -q '"sipedge started"' "$work/sipedge.log" 2>/dev/null && break; sleep 0.1; done
line=$(grep '"sipedge started"' "$work/sipedge.log") || { log "sipedge did not start"; cat "$work/sipedge.log"; exit 1; }
api=$(sed -E 's/.*"api":"([^"]+)".*/\1/' <<<"$line")
se_addr=$(sed -E 's/.*"sip_udp":"([^"]+)".*/\1/' <<<"$line")

acct=$(curl -sS --max-time 10 -X PUT -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"data\":{\"name\":\"bench\",\"realm\":\"$REALM\"}}" "http://$api/v2/accounts")
acct_id=$(sed -E 's/.*"id":"([0-9a-f]{32})".*/\1/' <<<"$acct")
[ ${#acct_id} -eq 32 ] || { log "account not created: $acct"; exit 1; }
xargs -P 4 -d '\n' -I{} curl -sS -o /dev/null -w '%{http_code}\n' --max-time 10 -X PUT \
  -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' -d '{}' \
  "http://$api/v2/accounts/$acct_id/devices" <"$work/devices.jsonl" >"$work/codes"
bad=$(grep -vc '^201$' "$work/codes" || true)
[ "$bad" -eq 0 ] || { log "$bad device creations failed"; sort "$work/codes" | uniq -c; exit 1; }
log "sipedge on $se_addr (pid $se_pid), $N devices provisioned"

# --- Kamailio -----------------------------------------------------------------------
kam_port=$((30000 + RANDOM % 20000))
sed -e "s|@CHILDREN@|$KAM_CHILDREN|; s|@PORT@|$kam_port|; s|@MPATH@|$MPATH|; s|@DB@|$work/kamailio.db|" \
  -e "s|@SECRET@|$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')|" bench/peers/kamailio.cfg.in >"$work/kamailio.cfg"
kamailio -c -f "$work/kamailio.cfg" >"$work/kamailio-check.log" 2>&1 || { log "kamailio config invalid"; cat "$work/kamailio-check.log"; exit 1; }
taskset -c "$SRV_CPU" kamailio -f "$work/kamailio.cfg" -DD -E -m 256 -M 16 -Y "$work" >"$work/kamailio.log" 2>&1 &
kam_pid=$!
started+=("$kam_pid")
for _ in $(seq 100); do [ "$(pgrep -c -P "$kam_pid" || true)" -ge "$KAM_CHILDREN" ] && break; sleep 0.1; done
sleep 0.5
kam_addr=127.0.0.1:$kam_port
kam_pids() { echo "$kam_pid,$(pgrep -d, -P "$kam_pid")"; }
log "kamailio on $kam_addr (pids $(kam_pids))"

# --- measuring helpers -----------------------------------------------------------
results=$work/results.tsv
: >"$results"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$results"; } # server generator metric value

cpu_ticks() { # utime+stime of the comma-separated pids
  local t=0 p
  for p in ${1//,/ }; do t=$((t + $(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat"))); done
  echo "$t"
}
pss_kib() {
  local t=0 p
  for p in ${1//,/ }; do t=$((t + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup"))); done
  echo "$t"
}
pids_of() { if [ "$1" = sipedge ]; then echo "$se_pid"; else kam_pids; fi; }
addr_of() { if [ "$1" = sipedge ]; then echo "$se_addr"; else echo "$kam_addr"; fi; }

sipbench() {
  taskset -c "$GEN_CPU" "$work/sipbench" -target "$1" -realm "$REALM" -users 'user%06d' -password 'secret%06d' -n "$N" \
    -quiet -json "${@:2}"
}

bench_fixed() { # server round
  local out=$work/sipbench-fixed-$1-$2.json
  sipbench "$(addr_of "$1")" -rate "$RATE" -duration "${SECS}s" -pid "$(pids_of "$1")" >"$out"
  record "$1" sipbench p50_ms "$(jq '.latency.p50_us/1000' "$out")"
  record "$1" sipbench p99_ms "$(jq '.latency.p99_us/1000' "$out")"
  record "$1" sipbench cpu_us "$(jq '.server.cpu_us_per_success' "$out")"
  record "$1" sipbench failed "$(jq '.failed' "$out")"
  record "$1" sipbench retrans "$(jq '.retransmissions' "$out")"
  record "$1" any pss_mib "$(jq '.server.pss_bytes/1048576' "$out")"
  log "$1 sipbench @$RATE/s: $(jq -c '{achieved_per_s,failed,retransmissions,latency,cpu:.server.cpu_us_per_success}' "$out")"
}

bench_step() {
  local out=$work/sipbench-step-$1-$2.json
  sipbench "$(addr_of "$1")" -rate "$STEP_FROM" -step "$STEP_BY" -step-to "$STEP_TO" -step-duration "${STEP_SECS}s" \
    -drain 3s -pid "$(pids_of "$1")" >"$out" || true
  record "$1" sipbench max_rate "$(jq '.max_clean_per_s' "$out")"
  log "$1 sipbench step-up: max clean $(jq '.max_clean_per_s' "$out")/s; steps $(jq -c '[.steps[] | [.offered_per_s, (.achieved_per_s|floor), .failed, .retransmissions]]' "$out")"
}

sipp_once() { # server rate calls dir -> "ok failed retrans wall_s cpu_ticks"
  local srv=$1 rate=$2 calls=$3 dir=$4 pids t0 t1 c0 c1
  mkdir -p "$dir"
  pids=$(pids_of "$srv")
  c0=$(cpu_ticks "$pids"); t0=$(date +%s.%N)
  (cd "$dir" && taskset -c "$GEN_CPU" sipp -sf "$work/register.xml" -inf "$work/users.csv" -m "$calls" -r "$rate" -l 30000 \
    -i 127.0.0.1 -p $((20000 + RANDOM % 10000)) -t u1 -timeout $((calls / rate + 30))s -nostdin -nd \
    -trace_stat -stf stat.csv -trace_rtt "$(addr_of "$srv")" >sipp.out 2>&1) || true
  t1=$(date +%s.%N); c1=$(cpu_ticks "$pids")
  # SuccessfulCall(C), FailedCall(C), Retransmissions(C) from the last stat line.
  tail -1 "$dir/stat.csv" | awk -F';' -v w="$(echo "$t1 - $t0" | bc)" -v c=$((c1 - c0)) '{print $16, $18, $58, w, c}'
}

sipp_fixed() {
  local dir=$work/sipp-fixed-$1-$2 ok failed retrans wall ticks rtt
  read -r ok failed retrans wall ticks < <(sipp_once "$1" "$RATE" $((RATE * SECS)) "$dir")
  rtt=$(ls "$dir"/*_rtt.csv 2>/dev/null | head -1)
  if [ -n "$rtt" ]; then
    tail -n +2 "$rtt" | cut -d';' -f2 | sort -n >"$dir/rtt.sorted"
    local n; n=$(wc -l <"$dir/rtt.sorted")
    record "$1" sipp p50_ms "$(sed -n "$(( (n + 1) / 2 ))p" "$dir/rtt.sorted")"
    record "$1" sipp p99_ms "$(sed -n "$(( (n * 99 + 99) / 100 ))p" "$dir/rtt.sorted")"
  fi
  [ "${ok:-0}" -gt 0 ] && record "$1" sipp cpu_us "$(echo "scale=1; $ticks * 10000 / $ok" | bc)"
  record "$1" sipp failed "${failed:-0}"
  record "$1" sipp retrans "${retrans:-0}"
  log "$1 sipp @$RATE/s: ok $ok failed $failed retrans $retrans in ${wall}s, server $ticks ticks"
}

sipp_step() {
  local best=0 r ok failed retrans wall ticks
  for r in $SIPP_RATES; do
    read -r ok failed retrans wall ticks < <(sipp_once "$1" "$r" $((r * STEP_SECS)) "$work/sipp-step-$1-$2-$r")
    local achieved; achieved=$(echo "${ok:-0} / $wall" | bc)
    log "$1 sipp step $r/s: ok $ok failed $failed retrans $retrans achieved $achieved/s"
    if [ "${failed:-1}" -eq 0 ] && [ "$(echo "$achieved >= 0.97 * $r" | bc)" -eq 1 ]; then best=$r; else break; fi
  done
  record "$1" sipp max_rate "$best"
}

# --- the runs, alternating servers test by test ---------------------------------
for round in $(seq 1 "$ROUNDS"); do
  for t in bench_fixed bench_step sipp_fixed sipp_step; do
    for srv in sipedge kamailio; do
      "$t" "$srv" "$round"
    done
  done
done
bound=$(curl -sS --max-time 10 -H "X-Auth-Token: $TOKEN" "http://$api/v2/accounts/$acct_id/registrations/count" | sed -E 's/.*"count":([0-9]+).*/\1/')
log "sipedge holds $bound registrations; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- the table --------------------------------------------------------------------------
median() { # server generator metric
  awk -F'\t' -v s="$1" -v g="$2" -v m="$3" '$1==s && $2==g && $3==m {print $4}' "$results" | sort -g |
    awk '{v[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}
row() { # label generator metric
  local a b
  a=$(median sipedge "$2" "$3"); b=$(median kamailio "$2" "$3")
  awk -v l="$1" -v a="$a" -v b="$b" '
    function f(v) { return (v == "-" || v == int(v)) ? v : sprintf("%.2f", v) }
    BEGIN {
      r = (a == "-" || b == "-" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b)
      printf "| %s | %s | %s | %s |\n", l, f(a), f(b), r
    }'
}
{
  echo
  echo "REGISTER with digest (MD5, qop=auth), $N users, server on CPU $SRV_CPU, generator on CPU $GEN_CPU, $ROUNDS round(s), medians."
  echo
  echo "| metric | sipedge | Kamailio | sipedge/Kamailio |"
  echo "|---|---:|---:|---:|"
  row "max clean REGISTER/s, sipbench step-up (<0.1% failed, ≥97% achieved)" sipbench max_rate
  row "max clean REGISTER/s, SIPp step-up" sipp max_rate
  row "p50 ms at $RATE/s, sipbench" sipbench p50_ms
  row "p99 ms at $RATE/s, sipbench" sipbench p99_ms
  row "p50 ms at $RATE/s, SIPp (1 ms resolution)" sipp p50_ms
  row "p99 ms at $RATE/s, SIPp (1 ms resolution)" sipp p99_ms
  row "server CPU µs per registration at $RATE/s, sipbench" sipbench cpu_us
  row "server CPU µs per registration at $RATE/s, SIPp" sipp cpu_us
  row "failed registrations at $RATE/s, sipbench" sipbench failed
  row "retransmissions at $RATE/s, sipbench" sipbench retrans
  row "failed registrations at $RATE/s, SIPp" sipp failed
  row "server memory after the fixed-rate run (PSS MiB), $N users registered" any pss_mib
} | tee "$work/table.md"

if [ -n "${BENCH_OUT:-}" ]; then
  mkdir -p "$BENCH_OUT"
  cp "$results" "$work/table.md" "$work"/sipbench-*.json "$work/kamailio.cfg" "$BENCH_OUT/"
  log "results in $BENCH_OUT"
fi
