#!/usr/bin/env bash
# Interop: SIPp (Debian's sip-tester) registers N devices, provisioned through
# the admin API, with digest auth over UDP; the registrations API must then
# count all of them. Everything runs on loopback and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
. interop/lib.sh

N=${INTEROP_USERS:-1000}
RATE=${INTEROP_RATE:-200}
TOKEN=interop-token
REALM=interop.sipedge.test

command -v sipp >/dev/null || { echo "interop: sipp not installed (apt-get install sip-tester)"; exit 1; }
command -v curl >/dev/null || { echo "interop: curl not installed"; exit 1; }

work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/sipedge" ./cmd/sipedge
# SIPp answers only MD5 challenges and takes the first one offered; provisioning
# 1,000 devices in a few seconds is beyond the default per-token API rate limit.
SIPEDGE_API_RATE_LIMIT=0 SIPEDGE_REGISTRAR_ALGORITHMS=MD5,SHA-256 SIPEDGE_ADMIN_TOKEN=$TOKEN "$work/sipedge" -data "$work/data" -sip 127.0.0.1:0 -api 127.0.0.1:0 \
  -log-format json -log-level info >"$work/log" 2>&1 &
pid=$!
# Wait for the start line, which names the bound ports (bounded: 10 s).
wait_started "interop"

acct=$(call -X PUT -d "{\"data\":{\"name\":\"interop\",\"realm\":\"$REALM\"}}" "http://$api/v2/accounts")
acct_id=$(sed -E 's/.*"id":"([0-9a-f]{32})".*/\1/' <<<"$acct")
[ ${#acct_id} -eq 32 ] || { echo "interop: account not created: $acct"; exit 1; }

echo "SEQUENTIAL" >"$work/users.csv"
for i in $(seq -w 1 "$N"); do
  u="user$i"; p="secret$i"
  echo "$u;[authentication username=$u password=$p];$REALM" >>"$work/users.csv"
  printf '{"data":{"name":"%s","sip":{"username":"%s","password":"%s"}}}' "$u" "$u" "$p"
  printf '\n'
done >"$work/devices.jsonl"
# Provision in parallel: 4 curl workers.
xargs -P 4 -d '\n' -I{} curl -sS -o /dev/null -w '%{http_code}\n' --max-time 10 -X PUT \
  -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' -d '{}' \
  "http://$api/v2/accounts/$acct_id/devices" <"$work/devices.jsonl" >"$work/codes"
bad=$(grep -vc '^201$' "$work/codes" || true)
[ "$bad" -eq 0 ] || { echo "interop: $bad device creations failed"; sort "$work/codes" | uniq -c; exit 1; }
echo "interop: provisioned $N devices"

sipp -sf interop/register.xml -inf "$work/users.csv" -m "$N" -r "$RATE" -l 200 \
  -i 127.0.0.1 -p $(free_port) -t u1 -timeout 60s -timeout_error -nostdin -trace_err -nd \
  -error_file "$work/sipp_errors.log" ${SIPP_ARGS:-} "$sipaddr" >"$work/sipp.out" 2>&1 || {
  echo "interop: sipp failed"; tail -20 "$work/sipp.out"; head -50 "$work/sipp_errors.log" 2>/dev/null; exit 1; }
grep -E 'Successful call|Failed call' "$work/sipp.out" | tail -2 || true

count=$(call "http://$api/v2/accounts/$acct_id/registrations/count")
echo "interop: registrations/count -> $count"
grep -q "\"count\":$((10#$N))[,}]" <<<"$count" || { echo "interop: expected $N registrations"; exit 1; }
# SIPp's REGISTERs are the common shape: the raw path answers the 401 and
# the 200 of every registration itself.
raw=$(curl -sS --max-time 10 "http://$api/metrics" | awk '$1 == "sipedge_proxy_register_raw_total{outcome=\"answered\"}" {print $2}')
echo "interop: raw path answered ${raw:-0} REGISTERs"
[ "${raw:-0}" -ge $((2 * 10#$N)) ] || { echo "interop: expected the raw path to answer at least $((2 * 10#$N))"; exit 1; }
echo "interop: 1 passed, 0 failed"
