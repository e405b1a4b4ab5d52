#!/usr/bin/env bash
# Side by side: sipedge and Kamailio (bench/peers/kamailio.cfg.in: the same
# registrar, and a stateful record-routing proxy for calls) driven by the
# same load generators (bench/'s sipbench and SIPp), alternating, with the
# server pinned to one CPU and the generators to the other. Prints a
# Markdown table with absolute numbers and sipedge/Kamailio ratios.
#
# Parts: memory per binding (BENCH_BINDINGS users registered through the
# server, PSS and RSS over the idle baseline); memory per active call (SIPp
# calls held up, PSS mid-hold over the PSS before); then, per scenario
# (REGISTER, calls): step-up to the highest clean rate, latency and server
# CPU at a fixed rate and at 50% and 90% of Kamailio's highest clean rate
# (both servers at the same absolute rate), with sipbench and with SIPp.
# Calls are INVITE (407, ACK, INVITE with digest), 180, 200, ACK, BYE, 200
# from a caller to a registered callee: SIPp's bench/peers/uac_call.xml
# to interop/uas_call.xml, whose port the callees registered from, or
# sipbench -scenario call (skipped when this sipbench does not have it).
#
# Installs what is missing from Debian (kamailio, kamailio-sqlite-modules,
# sip-tester, sqlite3, jq, bc), runs everything on 127.0.0.1, stops
# everything it started, and is bounded in time: every run has a fixed
# duration or count.
#
# Knobs (environment):
#   BENCH_SCENARIOS ("register call"), BENCH_USERS (2000, even: for calls
#   the first half are callees, the second half callers), BENCH_ROUNDS (1;
#   medians are reported), BENCH_SERVER_CPU (0), BENCH_GEN_CPU (1),
#   BENCH_KAMAILIO_CHILDREN (8), BENCH_KAMAILIO_MEM (tlsf: Kamailio's
#   memory manager, -x; "qm" is what Debian's kamailio uses when none is
#   given, and under sipbench's REGISTERs its allocator took 56% of
#   Kamailio's CPU and each registration cost it 3-5 times more, so the
#   comparison is with Kamailio at its best), BENCH_KAMAILIO_SHM (1024:
#   shared memory in MiB, -m; with 256 it answered 500 from 2,000
#   calls/s, with 1024 it ran clean to 7,000), BENCH_OUT (a directory to keep
#   every raw result in), BENCH_SIPBENCH (a sipbench binary to use instead
#   of building ./cmd/sipbench), KEEP=1 (keep the work directory).
#   REGISTER: BENCH_RATE (5000/s), BENCH_SECONDS (10), BENCH_STEP_FROM/BY/TO
#   (4000/2000/70000), BENCH_STEP_SECONDS (5), BENCH_SIPP_RATES
#   ("4000 6000 … 20000").
#   Calls: BENCH_CALL_RATE (500/s), BENCH_CALL_STEP_FROM/BY/TO
#   (500/500/10000), BENCH_SIPP_CALL_RATES ("250 500 … 3000").
#   Memory: BENCH_BINDINGS (10000; 0 skips), BENCH_BIND_RATE (2000/s),
#   BENCH_MEM_SETTLE (35 s: bindings memory is read again after it, when
#   sipgo's finished transactions are gone), BENCH_HOLD_CALLS (3000; 0
#   skips), BENCH_HOLD_RATE (150/s).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

SCENARIOS=${BENCH_SCENARIOS:-"register call"}
N=${BENCH_USERS:-2000}
RATE=${BENCH_RATE:-5000}
SECS=${BENCH_SECONDS:-10}
STEP_FROM=${BENCH_STEP_FROM:-4000}
STEP_BY=${BENCH_STEP_BY:-2000}
STEP_TO=${BENCH_STEP_TO:-70000}
STEP_SECS=${BENCH_STEP_SECONDS:-5}
SIPP_RATES=${BENCH_SIPP_RATES:-"4000 6000 8000 10000 12000 14000 16000 18000 20000"}
CALL_RATE=${BENCH_CALL_RATE:-500}
CALL_STEP_FROM=${BENCH_CALL_STEP_FROM:-500}
CALL_STEP_BY=${BENCH_CALL_STEP_BY:-500}
CALL_STEP_TO=${BENCH_CALL_STEP_TO:-10000}
SIPP_CALL_RATES=${BENCH_SIPP_CALL_RATES:-"250 500 750 1000 1250 1500 1750 2000 2500 3000"}
BINDINGS=${BENCH_BINDINGS:-10000}
BIND_RATE=${BENCH_BIND_RATE:-2000}
MEM_SETTLE=${BENCH_MEM_SETTLE:-35}
HOLD_CALLS=${BENCH_HOLD_CALLS:-3000}
HOLD_RATE=${BENCH_HOLD_RATE:-150}
ROUNDS=${BENCH_ROUNDS:-1}
SRV_CPU=${BENCH_SERVER_CPU:-0}
GEN_CPU=${BENCH_GEN_CPU:-1}
KAM_CHILDREN=${BENCH_KAMAILIO_CHILDREN:-8}
KAM_MEM=${BENCH_KAMAILIO_MEM:-tlsf}
KAM_SHM=${BENCH_KAMAILIO_SHM:-1024}
REALM=bench.sipedge.test
TOKEN=bench-token-$$

log() { echo "bench: $*" >&2; }
has() { [[ " $SCENARIOS " == *" $1 "* ]]; }

if [ $((N % 2)) -ne 0 ] || [ "$N" -lt 2 ]; then log "BENCH_USERS must be even and at least 2"; exit 1; fi
NU=$((BINDINGS > N ? BINDINGS : N)) # users provisioned on both servers
HALF=$((N / 2))

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
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_workdir
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
nap() { sleep "$1" & wait $!; } # a signal interrupts the wait, not only the sleep

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
log "building sipedge and sipbench"
go build -o "$work/sipedge" ./cmd/sipedge
if [ -n "${BENCH_SIPBENCH:-}" ]; then cp "$BENCH_SIPBENCH" "$work/sipbench"; else go build -o "$work/sipbench" ./cmd/sipbench; fi
# sipbench grows a call scenario; until this one has it, its runs are skipped.
sb_call=""
sb_help=$("$work/sipbench" -h 2>&1 || true) # -h exits 2
if grep -A1 -- '-scenario' <<<"$sb_help" | grep -qw call; then sb_call=1; fi
has call && [ -z "$sb_call" ] && log "this sipbench has no -scenario call: its call runs are skipped"

# --- users: one list, several shapes --------------------------------------------
# users.csv: everyone, for SIPp's REGISTER; callees.csv / callers.csv: the
# first and second half of the first N, a caller calling callee i - N/2.
echo SEQUENTIAL >"$work/users.csv"
echo SEQUENTIAL >"$work/callees.csv"
echo SEQUENTIAL >"$work/callers.csv"
{
  cat /usr/share/kamailio/db_sqlite/standard-create.sql /usr/share/kamailio/db_sqlite/htable-create.sql
  echo "BEGIN;"
  for i in $(seq 1 "$NU"); do
    u=$(printf 'user%06d' "$i"); p=$(printf 'secret%06d' "$i")
    echo "INSERT INTO htable (key_name, key_type, value_type, key_value) VALUES ('$u', 0, 0, '$p');"
    line="$u;[authentication username=$u password=$p];$REALM"
    [ "$i" -le "$N" ] && echo "$line" >>"$work/users.csv"
    [ "$i" -le "$HALF" ] && echo "$line" >>"$work/callees.csv"
    [ "$i" -gt "$HALF" ] && [ "$i" -le "$N" ] && echo "$line;$(printf 'user%06d' $((i - HALF)))" >>"$work/callers.csv"
    printf '{"data":{"name":"%s","sip":{"username":"%s","password":"%s"}}}\n' "$u" "$u" "$p" >>"$work/devices.jsonl"
  done
  echo "COMMIT;"
} | sqlite3 "$work/kamailio.db"

# SIPp's digest REGISTER (interop/register.xml) with response-time marks
# around the whole registration, for latency percentiles.
sed -e '0,/<send retrans="500">/s//<send retrans="500" start_rtd="1">/' \
  -e 's|<recv response="200" />|<recv response="200" rtd="1" />|' interop/register.xml >"$work/register.xml"

# --- sipedge ------------------------------------------------------------------------
start_sipedge "$work/sipedge" "$work" "$SRV_CPU" "$TOKEN"
provision_devices "$TOKEN" "$REALM" "$work/devices.jsonl" "$work"
log "sipedge on $se_addr (pid $se_pid), $NU devices provisioned"
se_count() {
  curl -sS --max-time 10 -H "X-Auth-Token: $TOKEN" "http://$api/v2/accounts/$acct_id/registrations/count" |
    sed -E 's/.*"count":([0-9]+).*/\1/'
}

# --- Kamailio -----------------------------------------------------------------------
kam_port=$((30000 + RANDOM % 20000))
sed -e "s|@CHILDREN@|$KAM_CHILDREN|; s|@PORT@|$kam_port|; s|@MPATH@|$MPATH|; s|@DB@|$work/kamailio.db|" \
  -e "s|@SECRET@|$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')|" bench/peers/kamailio.cfg.in >"$work/kamailio.cfg"
kamailio -c -f "$work/kamailio.cfg" >"$work/kamailio-check.log" 2>&1 || { log "kamailio config invalid"; cat "$work/kamailio-check.log"; exit 1; }
taskset -c "$SRV_CPU" kamailio -f "$work/kamailio.cfg" -DD -E -m "$KAM_SHM" -M 16 -x "$KAM_MEM" -Y "$work" >"$work/kamailio.log" 2>&1 &
kam_pid=$!
started+=("$kam_pid")
for _ in $(seq 100); do [ "$(pgrep -c -P "$kam_pid" || true)" -ge "$KAM_CHILDREN" ] && break; sleep 0.1; done
sleep 0.5
kam_addr=127.0.0.1:$kam_port
kam_pids() { echo "$kam_pid,$(pgrep -d, -P "$kam_pid")"; }
log "kamailio on $kam_addr (pids $(kam_pids)), memory manager $KAM_MEM, shared memory $KAM_SHM MiB"

# --- measuring helpers -----------------------------------------------------------
results=$work/results.tsv
: >"$results"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$results"; } # server generator metric value

cpu_ticks() { # utime+stime of the comma-separated pids
  local t=0 p
  for p in ${1//,/ }; do t=$((t + $(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat"))); done
  echo "$t"
}
mem_kib() { # Pss or Rss, summed over the comma-separated pids
  local t=0 p
  for p in ${2//,/ }; do t=$((t + $(awk -v k="$1:" '$1 == k {print $2}' "/proc/$p/smaps_rollup"))); done
  echo "$t"
}
pids_of() { if [ "$1" = sipedge ]; then echo "$se_pid"; else kam_pids; fi; }
addr_of() { if [ "$1" = sipedge ]; then echo "$se_addr"; else echo "$kam_addr"; fi; }
last() { # server generator metric -> the value recorded last, or "-"
  awk -F'\t' -v s="$1" -v g="$2" -v m="$3" '$1==s && $2==g && $3==m {v=$4} END {print (v == "" ? "-" : v)}' "$results"
}
median() { # server generator metric
  awk -F'\t' -v s="$1" -v g="$2" -v m="$3" '$1==s && $2==g && $3==m {print $4}' "$results" | sort -g |
    awk '{v[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}

sipbench() { # addr args…
  taskset -c "$GEN_CPU" "$work/sipbench" -target "$1" -realm "$REALM" -users 'user%06d' -password 'secret%06d' \
    -quiet -json "${@:2}"
}
sipp_port() { echo $((20000 + RANDOM % 10000)); }
# SIPp reads everything on one UDP socket in one thread: with the kernel's
# default 208 KiB buffer it loses answers that arrive in a burst (counted
# in /proc/net/snmp RcvbufErrors) and retransmits; 4 MiB for every SIPp, for
# both servers (net.core.rmem_max caps it).
SIPP_BUF=(-buff_size 4194304)
sipp_stats() { # stat.csv -> "ok failed retrans current", from the last line, by column name
  [ -s "$1" ] || { echo 0 0 0 0; return; }
  awk -F';' 'NR == 1 {for (i = 1; i <= NF; i++) c[$i] = i; next} {split($0, l, ";")}
    END {print l[c["SuccessfulCall(C)"]] + 0, l[c["FailedCall(C)"]] + 0, l[c["Retransmissions(C)"]] + 0, l[c["CurrentCall"]] + 0}' "$1"
}
rtt_pcts() { # dir -> "p50 p99" in ms of SIPp's response time 1, or "- -"
  local f n
  f=$(find "$1" -maxdepth 1 -name '*_rtt.csv' | head -1)
  if [ -z "$f" ]; then echo "- -"; return; fi
  tail -n +2 "$f" | cut -d';' -f2 | sort -g >"$1/rtt.sorted"
  n=$(wc -l <"$1/rtt.sorted")
  if [ "$n" -eq 0 ]; then echo "- -"; return; fi
  echo "$(sed -n "$(((n + 1) / 2))p" "$1/rtt.sorted") $(sed -n "$(((n * 99 + 99) / 100))p" "$1/rtt.sorted")"
}
rate_of() { # "fixed" | "50" | "90", generator-scenario -> the absolute rate of that run this round
  case $1 in
    fixed) if [ "${2#*-}" = call ]; then echo "$CALL_RATE"; else echo "$RATE"; fi ;;
    *) awk -F'\t' -v g="$2" -v p="$1" '$1=="kamailio" && $2==g && $3=="max_rate" {v=$4} END {printf "%d\n", v * p / 100}' "$results" ;;
  esac
}

# --- sipbench runs (g = sipbench-register | sipbench-call) ------------------------
sb_args() { if [ "${1#*-}" = call ]; then echo "-scenario call -hold 0s"; else echo "-scenario register"; fi; }

sb_fixed() { # server round g tag
  local rate out; rate=$(rate_of "$4" "$3")
  [ "$rate" -gt 0 ] || { log "$1 $3 @$4: no rate (Kamailio's max is 0), skipped"; return; }
  out=$work/$3-$4-$1-$2.json
  # shellcheck disable=SC2046 # sb_args is a list of words
  sipbench "$(addr_of "$1")" $(sb_args "$3") -n "$N" -rate "$rate" -duration "${SECS}s" -pid "$(pids_of "$1")" >"$out" || true
  jq -e . "$out" >/dev/null 2>&1 || { log "$1 $3 @$rate/s: no result"; return; }
  record "$1" "$3" "p50_ms@$4" "$(jq '.latency.p50_us/1000' "$out")"
  record "$1" "$3" "p99_ms@$4" "$(jq '.latency.p99_us/1000' "$out")"
  record "$1" "$3" "cpu_us@$4" "$(jq '.server.cpu_us_per_success' "$out")"
  record "$1" "$3" "failed@$4" "$(jq '.failed' "$out")"
  record "$1" "$3" "retrans@$4" "$(jq '.retransmissions' "$out")"
  record "$1" "$3" "pss_mib@$4" "$(jq '.server.pss_bytes/1048576' "$out")"
  record "$1" "mem-${3#*-}" pss_mib "$(jq '.server.pss_bytes/1048576' "$out")"
  record any "$3" "rate@$4" "$rate"
  log "$1 $3 @$rate/s: $(jq -c '{achieved_per_s,failed,retransmissions,latency,cpu:.server.cpu_us_per_success}' "$out")"
}

sb_step() { # server round g
  local out=$work/$3-step-$1-$2.json from by to
  if [ "${3#*-}" = call ]; then from=$CALL_STEP_FROM by=$CALL_STEP_BY to=$CALL_STEP_TO; else from=$STEP_FROM by=$STEP_BY to=$STEP_TO; fi
  # shellcheck disable=SC2046
  sipbench "$(addr_of "$1")" $(sb_args "$3") -n "$N" -rate "$from" -step "$by" -step-to "$to" -step-duration "${STEP_SECS}s" \
    -drain 3s -pid "$(pids_of "$1")" >"$out" || true
  jq -e . "$out" >/dev/null 2>&1 || { log "$1 $3 step-up: no result"; record "$1" "$3" max_rate 0; return; }
  record "$1" "$3" max_rate "$(jq '.max_clean_per_s' "$out")"
  log "$1 $3 step-up: max clean $(jq '.max_clean_per_s' "$out")/s; steps $(jq -c '[.steps[] | [.offered_per_s, (.achieved_per_s|floor), .failed, .retransmissions]]' "$out")"
}

# --- SIPp runs (g = sipp-register | sipp-call) ------------------------------------
register_callees() { # server port -> the callees bind to the UAS's port (sipbench re-registers them elsewhere)
  local dir=$work/reg-callees
  mkdir -p "$dir"
  rm -f "$dir/stat.csv"
  (cd "$dir" && taskset -c "$GEN_CPU" sipp -sf "$work/register.xml" -inf "$work/callees.csv" -m "$HALF" -r 2000 -l 30000 \
    -i 127.0.0.1 -p "$2" -t u1 "${SIPP_BUF[@]}" -timeout $((HALF / 2000 + 20))s -nostdin -nd -trace_stat -stf stat.csv \
    "$(addr_of "$1")" >sipp.out 2>&1) || true
  local ok; read -r ok _ < <(sipp_stats "$dir/stat.csv")
  [ "${ok:-0}" -eq "$HALF" ] || log "$1: only $ok of $HALF callees registered from port $2"
}

# sipp_once server g rate calls dir [hold_ms [probe]] writes "ok failed
# retrans wall_s cpu_ticks" to dir/summary. It runs in this shell, not in a
# $(…), so that the trap knows the SIPp processes it starts.
# A call run registers the callees from the UAS's port, starts the UAS there
# and the UAC with -d hold_ms; probe, if given, runs while the UAC does.
sipp_once() {
  local srv=$1 g=$2 rate=$3 calls=$4 dir=$5 hold=${6:-0} probe=${7:-} pids t0 t1 c0 c1 uas="" uac sf inf port
  mkdir -p "$dir"
  pids=$(pids_of "$srv")
  if [ "${g#*-}" = call ]; then
    port=$(sipp_port)
    register_callees "$srv" "$port"
    (cd "$dir" && exec taskset -c "$GEN_CPU" sipp -sf "$root/interop/uas_call.xml" -i 127.0.0.1 -p "$port" -t u1 "${SIPP_BUF[@]}" \
      -l 1000000 -nostdin -nd -timeout $((calls / rate + hold / 1000 + 60))s >uas.out 2>&1) &
    uas=$!
    started+=("$uas")
    sf=$root/bench/peers/uac_call.xml inf=$work/callers.csv
  else
    sf=$work/register.xml inf=$work/users.csv
  fi
  c0=$(cpu_ticks "$pids"); t0=$(date +%s.%N)
  (cd "$dir" && exec taskset -c "$GEN_CPU" sipp -sf "$sf" -inf "$inf" -m "$calls" -r "$rate" -l 1000000 -d "$hold" \
    -i 127.0.0.1 -p "$(sipp_port)" -t u1 "${SIPP_BUF[@]}" -timeout $((calls / rate + hold / 1000 + 30))s -nostdin -nd \
    -trace_stat -stf stat.csv -fd 1 -trace_rtt -trace_err -error_file err.log "$(addr_of "$srv")" >sipp.out 2>&1) &
  uac=$!
  started+=("$uac")
  [ -n "$probe" ] && "$probe" "$srv" "$dir"
  wait "$uac" || true
  t1=$(date +%s.%N); c1=$(cpu_ticks "$pids")
  [ -n "$uas" ] && stop "$uas"
  local ok failed retrans
  read -r ok failed retrans _ < <(sipp_stats "$dir/stat.csv")
  echo "$ok $failed $retrans $(echo "$t1 - $t0" | bc) $((c1 - c0))" >"$dir/summary"
}

sipp_fixed() { # server round g tag
  local rate dir ok failed retrans wall ticks p50 p99 n
  rate=$(rate_of "$4" "$3")
  [ "$rate" -gt 0 ] || { log "$1 $3 @$4: no rate (Kamailio's max is 0), skipped"; return; }
  dir=$work/$3-$4-$1-$2
  sipp_once "$1" "$3" "$rate" $((rate * SECS)) "$dir"
  read -r ok failed retrans wall ticks <"$dir/summary"
  read -r p50 p99 < <(rtt_pcts "$dir")
  [ "$p50" != - ] && record "$1" "$3" "p50_ms@$4" "$p50" && record "$1" "$3" "p99_ms@$4" "$p99"
  [ "${ok:-0}" -gt 0 ] && record "$1" "$3" "cpu_us@$4" "$(echo "scale=1; $ticks * 10000 / $ok" | bc)"
  record "$1" "$3" "failed@$4" "${failed:-0}"
  record "$1" "$3" "retrans@$4" "${retrans:-0}"
  n=$(echo "scale=1; $(mem_kib Pss "$(pids_of "$1")") / 1024" | bc)
  record "$1" "$3" "pss_mib@$4" "$n"
  record "$1" "mem-${3#*-}" pss_mib "$n"
  record any "$3" "rate@$4" "$rate"
  log "$1 $3 @$rate/s: ok $ok failed $failed retrans $retrans in ${wall}s, server $ticks ticks, p50 $p50 p99 $p99 ms"
}

sipp_step() { # server round g
  local best=0 r ok failed retrans wall ticks rates achieved
  if [ "${3#*-}" = call ]; then rates=$SIPP_CALL_RATES; else rates=$SIPP_RATES; fi
  for r in $rates; do
    sipp_once "$1" "$3" "$r" $((r * STEP_SECS)) "$work/$3-step-$1-$2-$r"
    read -r ok failed retrans wall ticks <"$work/$3-step-$1-$2-$r/summary"
    achieved=$(echo "${ok:-0} / $wall" | bc)
    log "$1 $3 step $r/s: ok $ok failed $failed retrans $retrans achieved $achieved/s"
    if [ "${failed:-1}" -eq 0 ] && [ "$(echo "$achieved >= 0.97 * $r" | bc)" -eq 1 ]; then best=$r; else break; fi
  done
  record "$1" "$3" max_rate "$best"
}

# --- memory ---------------------------------------------------------------------------
mem_idle() { local p; p=$(pids_of "$1"); record "$1" mem idle_pss_kib "$(mem_kib Pss "$p")"; record "$1" mem idle_rss_kib "$(mem_kib Rss "$p")"; }

mem_bindings() { # server: BINDINGS users registered once each through the server
  local out=$work/bindings-$1.json p
  sipbench "$(addr_of "$1")" -scenario register -n "$BINDINGS" -rate "$BIND_RATE" -max "$BINDINGS" \
    -duration "$((BINDINGS / BIND_RATE + 5))s" -pid "$(pids_of "$1")" >"$out" || true
  p=$(pids_of "$1")
  record "$1" mem bound_pss_kib "$(mem_kib Pss "$p")"; record "$1" mem bound_rss_kib "$(mem_kib Rss "$p")"
  log "$1: $BINDINGS registrations, $(jq -c '{achieved_per_s,failed}' "$out" 2>/dev/null); PSS $(mem_kib Pss "$p") KiB"
}
mem_settled() {
  local p; p=$(pids_of "$1")
  record "$1" mem settled_pss_kib "$(mem_kib Pss "$p")"; record "$1" mem settled_rss_kib "$(mem_kib Rss "$p")"
}
per_binding() { # server which(bound|settled) kind(pss|rss) -> bytes per binding
  local a b; a=$(median "$1" mem "${2}_${3}_kib"); b=$(median "$1" mem "idle_${3}_kib")
  [ "$a" = - ] || [ "$b" = - ] && { echo -; return; }
  echo "($a - $b) * 1024 / $BINDINGS" | bc
}

# Memory per active call: HOLD_CALLS calls sent over S seconds, each held
# S + 15 s, so from S to 2S + 15 all of them are up; PSS is read at S + 10,
# when the 407 and INVITE transactions of the last calls are over too.
hold_probe() { # server dir
  local s=$((HOLD_CALLS / HOLD_RATE)) p cur
  nap $((s + 10))
  p=$(pids_of "$1")
  read -r _ _ _ cur < <(sipp_stats "$2/stat.csv")
  record "$1" mem hold_pss_kib "$(mem_kib Pss "$p")"
  record "$1" mem hold_calls "$cur"
  log "$1: $cur calls up, PSS $(mem_kib Pss "$p") KiB (before: $(median "$1" mem hold_before_pss_kib) KiB)"
}
mem_calls() { # server round
  local s=$((HOLD_CALLS / HOLD_RATE)) ok failed
  record "$1" mem hold_before_pss_kib "$(mem_kib Pss "$(pids_of "$1")")"
  sipp_once "$1" sipp-call "$HOLD_RATE" "$HOLD_CALLS" "$work/hold-$1-$2" $(((s + 15) * 1000)) hold_probe
  read -r ok failed _ <"$work/hold-$1-$2/summary"
  log "$1: held calls ended: ok $ok failed $failed"
}
per_call() {
  local a b c; a=$(median "$1" mem hold_pss_kib); b=$(median "$1" mem hold_before_pss_kib); c=$(median "$1" mem hold_calls)
  [ "$a" = - ] || [ "$c" = - ] || [ "$c" = 0 ] && { echo -; return; }
  echo "($a - $b) * 1024 / $c" | bc
}

# --- the runs, alternating servers test by test ---------------------------------
servers="sipedge kamailio"
for srv in $servers; do mem_idle "$srv"; done
if [ "$BINDINGS" -gt 0 ]; then
  for srv in $servers; do mem_bindings "$srv"; done
  log "sipedge holds $(se_count) registrations; waiting ${MEM_SETTLE}s for finished transactions to go"
  nap "$MEM_SETTLE"
  for srv in $servers; do mem_settled "$srv"; done
fi
if has call && [ "$HOLD_CALLS" -gt 0 ]; then
  for srv in $servers; do mem_calls "$srv" 1; done
fi

gens=()
has register && gens+=(register)
has call && gens+=(call)
for round in $(seq 1 "$ROUNDS"); do
  for sc in "${gens[@]}"; do
    for gen in sipbench sipp; do
      g=$gen-$sc
      if [ "$g" = sipbench-call ] && [ -z "$sb_call" ]; then continue; fi
      for srv in $servers; do "${gen/sipbench/sb}_step" "$srv" "$round" "$g"; done
      for tag in fixed 50 90; do
        for srv in $servers; do "${gen/sipbench/sb}_fixed" "$srv" "$round" "$g" "$tag"; done
      done
    done
  done
done
log "sipedge holds $(se_count) registrations; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- the table --------------------------------------------------------------------------
row() { # label generator metric, or label with the two values given as -v a= b=
  local a b
  a=$(median sipedge "$2" "$3"); b=$(median kamailio "$2" "$3")
  vals "$1" "$a" "$b"
}
vals() {
  awk -v l="$1" -v a="$2" -v b="$3" '
    function f(v) { return (v == "-" || v == int(v)) ? v : sprintf("%.2f", v) }
    BEGIN {
      r = (a == "-" || b == "-" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b)
      printf "| %s | %s | %s | %s |\n", l, f(a), f(b), r
    }'
}
rate_label() { local r; r=$(median any "$1" "rate@$2"); if [ "$2" = fixed ]; then echo "$r/s"; else echo "$r/s ($2% of Kamailio's max)"; fi; }
scenario_rows() { # scenario unit
  local g tag what
  for g in sipbench-$1 sipp-$1; do
    [ "$g" = sipbench-call ] && [ -z "$sb_call" ] && { echo "| $2: sipbench call scenario not available | - | - | - |"; continue; }
    what=${g%%-*}; [ "$what" = sipp ] && what=SIPp
    row "max clean $2/s, $what step-up (no failure, ≥97% achieved)" "$g" max_rate
  done
  for g in sipbench-$1 sipp-$1; do
    [ "$g" = sipbench-call ] && [ -z "$sb_call" ] && continue
    what=${g%%-*}; [ "$what" = sipp ] && what="SIPp (1 ms resolution)"
    for tag in fixed 50 90; do
      [ "$(median any "$g" "rate@$tag")" = - ] && continue
      row "p50 ms at $(rate_label "$g" "$tag"), $what" "$g" "p50_ms@$tag"
      row "p99 ms at $(rate_label "$g" "$tag"), $what" "$g" "p99_ms@$tag"
      row "server CPU µs per $2 at $(rate_label "$g" "$tag"), $what" "$g" "cpu_us@$tag"
      row "failed at $(rate_label "$g" "$tag"), $what" "$g" "failed@$tag"
      row "retransmissions at $(rate_label "$g" "$tag"), $what" "$g" "retrans@$tag"
    done
  done
}
{
  echo
  echo "sipedge and Kamailio, digest MD5 (qop=auth), $N users, server on CPU $SRV_CPU, generators on CPU $GEN_CPU, $ROUNDS round(s), medians."
  echo
  echo "| metric | sipedge | Kamailio | sipedge/Kamailio |"
  echo "|---|---:|---:|---:|"
  vals "idle memory at start (PSS MiB)" "$(echo "scale=1; $(median sipedge mem idle_pss_kib) / 1024" | bc)" \
    "$(echo "scale=1; $(median kamailio mem idle_pss_kib) / 1024" | bc)"
  if [ "$BINDINGS" -gt 0 ]; then
    vals "bytes per binding, $BINDINGS registered, PSS over idle, right after" "$(per_binding sipedge bound pss)" "$(per_binding kamailio bound pss)"
    vals "bytes per binding, $BINDINGS registered, RSS over idle, right after (Kamailio: -, RSS counts its shared memory once per process)" "$(per_binding sipedge bound rss)" -
    vals "bytes per binding, $BINDINGS registered, PSS over idle, ${MEM_SETTLE}s later" "$(per_binding sipedge settled pss)" "$(per_binding kamailio settled pss)"
    vals "bytes per binding, $BINDINGS registered, RSS over idle, ${MEM_SETTLE}s later" "$(per_binding sipedge settled rss)" -
  fi
  if has call && [ "$HOLD_CALLS" -gt 0 ]; then
    vals "bytes per active call (PSS mid-hold over before, SIPp, ~$HOLD_CALLS calls up)" "$(per_call sipedge)" "$(per_call kamailio)"
  fi
  if has register; then
    scenario_rows register registration
    vals "server memory after the last REGISTER run (PSS MiB)" "$(last sipedge mem-register pss_mib)" "$(last kamailio mem-register pss_mib)"
  fi
  if has call; then
    scenario_rows call call
    vals "server memory after the last call run (PSS MiB)" "$(last sipedge mem-call pss_mib)" "$(last kamailio mem-call pss_mib)"
  fi
} | tee "$work/table.md"

if [ -n "${BENCH_OUT:-}" ]; then
  mkdir -p "$BENCH_OUT"
  cp "$results" "$work/table.md" "$work/kamailio.cfg" "$BENCH_OUT/"
  cp "$work"/*.json "$BENCH_OUT/" 2>/dev/null || true
  for d in "$work"/sipp-* "$work"/hold-*; do
    [ -d "$d" ] || continue
    mkdir -p "$BENCH_OUT/$(basename "$d")"
    cp "$d"/stat.csv "$d"/*_rtt.csv "$d"/sipp.out "$BENCH_OUT/$(basename "$d")/" 2>/dev/null || true
  done
  log "results in $BENCH_OUT"
fi
