# shellcheck shell=bash disable=SC2034  # sets variables for the sourcing script
# Shared by the benchmark scripts (bench/peers/run.sh, bench/soak.sh): the
# work directory and the exit trap, starting a sipedge built for the run and
# provisioning it through the admin API. Source it after defining log().

# bench_workdir: a temporary directory in $work, removed at exit (kept
# with KEEP=1), and an exit trap that stops every pid put in started=().
bench_workdir() {
  work=$(mktemp -d)
  started=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  local p
  for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${started[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then log "kept $work"; else rm -rf "$work"; fi
}

# start_sipedge BINARY WORKDIR CPU TOKEN: sipedge on 127.0.0.1 with
# ephemeral ports, pinned to CPU, MD5 offered first (SIPp answers only MD5
# and takes the first challenge; sipbench answers the first one too, so
# every server hashes alike), no API rate limit (bulk provisioning). Sets
# se_pid, api (host:port) and se_addr (the SIP UDP address).
start_sipedge() {
  local bin=$1 work=$2 cpu=$3 token=$4 line
  SIPEDGE_API_RATE_LIMIT=0 SIPEDGE_REGISTRAR_ALGORITHMS=MD5,SHA-256 SIPEDGE_ADMIN_TOKEN=$token taskset -c "$cpu" \
    "$bin" -data "$work/data" -sip 127.0.0.1:0 -api 127.0.0.1:0 -log-format json -log-level info \
    >"$work/sipedge.log" 2>&1 &
  se_pid=$!
  started+=("$se_pid")
  for _ in $(seq 100); do grep -q '"sipedge started"' "$work/sipedge.log" 2>/dev/null && break; sleep 0.1; done
  line=$(grep '"sipedge started"' "$work/sipedge.log") || { log "sipedge did not start"; cat "$work/sipedge.log"; exit 1; }
  api=$(sed -E 's/.*"api":"([^"]+)".*/\1/' <<<"$line")
  se_addr=$(sed -E 's/.*"sip_udp":"([^"]+)".*/\1/' <<<"$line")
}

# provision_devices TOKEN REALM DEVICES_JSONL WORKDIR: one account for
# REALM, then one device per line of DEVICES_JSONL (Kazoo device documents),
# four requests at a time; any answer other than 201 stops the script.
# Sets acct_id.
provision_devices() {
  local token=$1 realm=$2 jsonl=$3 work=$4 acct bad
  acct=$(curl -sS --max-time 10 -X PUT -H "X-Auth-Token: $token" -H 'Content-Type: application/json' \
    -d "{\"data\":{\"name\":\"bench\",\"realm\":\"$realm\"}}" "http://$api/v2/accounts")
  acct_id=$(sed -E 's/.*"id":"([0-9a-f]{32})".*/\1/' <<<"$acct")
  [ ${#acct_id} -eq 32 ] || { log "account not created: $acct"; exit 1; }
  xargs -P 4 -d '\n' -I{} curl -sS -o /dev/null -w '%{http_code}\n' --max-time 10 -X PUT \
    -H "X-Auth-Token: $token" -H 'Content-Type: application/json' -d '{}' \
    "http://$api/v2/accounts/$acct_id/devices" <"$jsonl" >"$work/codes"
  bad=$(grep -vc '^201$' "$work/codes" || true)
  [ "$bad" -eq 0 ] || { log "$bad device creations failed"; sort "$work/codes" | uniq -c; exit 1; }
}
