#!/usr/bin/env bash
# Interop: a SIPp UAC calls a SIPp UAS through sipedge, N calls of
# INVITE/180/200/ACK/BYE, and every one must succeed. The UAS registers
# with digest (interop/register.xml, from the port it then answers on);
# the UAC is an IP-authenticated device on 127.0.0.2. Everything runs on
# loopback and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
. interop/lib.sh

N=${INTEROP_CALLS:-100}
RATE=${INTEROP_CALL_RATE:-20}
TOKEN=interop-token
REALM=interop.sipedge.test
UAC_IP=${INTEROP_UAC_IP:-127.0.0.2}

command -v sipp >/dev/null || { echo "call interop: sipp not installed (apt-get install sip-tester)"; exit 1; }
command -v curl >/dev/null || { echo "call interop: curl not installed"; exit 1; }

work=$(mktemp -d)
pid=""
uas=""
cleanup() {
  [ -n "$uas" ] && kill "$uas" 2>/dev/null && wait "$uas" 2>/dev/null || true
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/sipedge" ./cmd/sipedge
SIPEDGE_REGISTRAR_ALGORITHMS=MD5,SHA-256 SIPEDGE_ADMIN_TOKEN=$TOKEN "$work/sipedge" -data "$work/data" -sip 127.0.0.1:0 -api 127.0.0.1:0 \
  -log-format json -log-level info >"$work/log" 2>&1 &
pid=$!
wait_started "call interop"

acct=$(call -X PUT -d "{\"data\":{\"name\":\"call interop\",\"realm\":\"$REALM\"}}" "http://$api/v2/accounts")
acct_id=$(sed -E 's/.*"id":"([0-9a-f]{32})".*/\1/' <<<"$acct")
[ ${#acct_id} -eq 32 ] || { echo "call interop: account not created: $acct"; exit 1; }
device() {
  local out
  out=$(call -o /dev/null -w '%{http_code}' -X PUT -d "$1" "http://$api/v2/accounts/$acct_id/devices")
  [ "$out" = 201 ] || { echo "call interop: device not created ($out): $1"; exit 1; }
}
device '{"data":{"name":"uas","sip":{"username":"uas","password":"uas-secret"}}}'
device "{\"data\":{\"name\":\"uac\",\"sip\":{\"method\":\"ip\",\"ip\":\"$UAC_IP\",\"username\":\"uac\"}}}"

# The UAS registers from the port it will answer on: its binding's flow.
port=$(free_port)
printf 'SEQUENTIAL\nuas;[authentication username=uas password=uas-secret];%s\n' "$REALM" >"$work/uas.csv"
sipp -sf interop/register.xml -inf "$work/uas.csv" -m 1 -i 127.0.0.1 -p "$port" -t u1 -timeout 10s -timeout_error \
  -nostdin -nd "$sipaddr" >"$work/register.out" 2>&1 || { echo "call interop: UAS registration failed"; tail -20 "$work/register.out"; exit 1; }

sipp -sf interop/uas_call.xml -m "$N" -i 127.0.0.1 -p "$port" -t u1 -timeout 120s -timeout_error -nostdin -nd \
  -trace_err -error_file "$work/uas_errors.log" >"$work/uas.out" 2>&1 &
uas=$!

rc=0
sipp -sf interop/uac_call.xml -s uas -key realm "$REALM" -m "$N" -r "$RATE" -l 50 -i "$UAC_IP" -p $(free_port) \
  -t u1 -timeout 120s -timeout_error -nostdin -nd -trace_err -error_file "$work/uac_errors.log" ${SIPP_ARGS:-} \
  "$sipaddr" >"$work/uac.out" 2>&1 || rc=$?
if ! wait "$uas"; then rc=1; fi
uas=""
grep -E 'Successful call|Failed call' "$work/uac.out" | tail -2 || true
if [ "$rc" -ne 0 ]; then
  echo "call interop: sipp failed"; tail -20 "$work/uac.out"; head -40 "$work/uac_errors.log" "$work/uas_errors.log" 2>/dev/null
  exit 1
fi
ok=$(grep -E 'Successful call' "$work/uac.out" | tail -1 | awk '{print $(NF)}')
failed=$(grep -E 'Failed call' "$work/uac.out" | tail -1 | awk '{print $(NF)}')
[ "${ok:-0}" -eq "$N" ] && [ "${failed:-1}" -eq 0 ] || { echo "call interop: $ok successful, $failed failed, want $N and 0"; exit 1; }
echo "call interop: $N calls, 0 failed"
