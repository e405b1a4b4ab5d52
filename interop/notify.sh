#!/usr/bin/env bash
# Interop: a SIPp phone registers through sipedge with digest auth over UDP,
# then waits as a UAS on the same port; the sync API must make it receive a
# check-sync NOTIFY, which it answers 200, and the API's detail answer must
# say "answered" 200. Everything runs on loopback and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
. interop/lib.sh

TOKEN=interop-token
REALM=notify.sipedge.test
USER=phone1
PASS=secret-phone1

command -v sipp >/dev/null || { echo "notify: sipp not installed (apt-get install sip-tester)"; exit 1; }
command -v curl >/dev/null || { echo "notify: curl not installed"; exit 1; }

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
# SIPp answers only MD5 challenges and takes the first one offered.
SIPEDGE_REGISTRAR_ALGORITHMS=MD5,SHA-256 SIPEDGE_ADMIN_TOKEN=$TOKEN "$work/sipedge" -data "$work/data" -sip 127.0.0.1:0 -api 127.0.0.1:0 \
  -log-format json -log-level info >"$work/log" 2>&1 &
pid=$!
CALL_TIMEOUT=15
wait_started "notify"

acct=$(call -X PUT -d "{\"data\":{\"name\":\"notify\",\"realm\":\"$REALM\"}}" "http://$api/v2/accounts")
acct_id=$(sed -E 's/.*"id":"([0-9a-f]{32})".*/\1/' <<<"$acct")
[ ${#acct_id} -eq 32 ] || { echo "notify: account not created: $acct"; exit 1; }
dev=$(call -X PUT -d "{\"data\":{\"name\":\"$USER\",\"sip\":{\"username\":\"$USER\",\"password\":\"$PASS\"}}}" \
  "http://$api/v2/accounts/$acct_id/devices")
dev_id=$(sed -E 's/.*"id":"([0-9a-f]{32})".*/\1/' <<<"$dev")
[ ${#dev_id} -eq 32 ] || { echo "notify: device not created: $dev"; exit 1; }

# 1. Register from port P with the digest scenario, then free the port.
port=$(free_port)
printf 'SEQUENTIAL\n%s;[authentication username=%s password=%s];%s\n' "$USER" "$USER" "$PASS" "$REALM" >"$work/users.csv"
sipp -sf interop/register.xml -inf "$work/users.csv" -m 1 -i 127.0.0.1 -p "$port" -t u1 \
  -timeout 15s -timeout_error -nostdin -nd -trace_err -error_file "$work/reg_errors.log" "$sipaddr" >"$work/reg.out" 2>&1 || {
  echo "notify: registration failed"; tail -20 "$work/reg.out"; cat "$work/reg_errors.log" 2>/dev/null; exit 1; }
count=$(call "http://$api/v2/accounts/$acct_id/registrations/count")
grep -q '"count":1[,}]' <<<"$count" || { echo "notify: not registered: $count"; exit 1; }
echo "notify: $USER registered from 127.0.0.1:$port"

# 2. The same port becomes the phone's UAS: one NOTIFY, answered 200.
sipp -sf interop/uas_notify.xml -m 1 -i 127.0.0.1 -p "$port" -t u1 -timeout 20s -timeout_error -nostdin -nd \
  -trace_msg -message_file "$work/uas_msgs.log" -trace_logs -log_file "$work/uas.log" \
  -trace_err -error_file "$work/uas_errors.log" >"$work/uas.out" 2>&1 &
uas=$!
for _ in $(seq 50); do ss -Hlun "sport = :$port" 2>/dev/null | grep -q . && break; sleep 0.1; done

# 3. Sync with per-contact outcomes. UDP retransmissions cover a UAS that
#    is a moment late; the answer waits for the phone (notify.timeout).
res=$(call -X POST "http://$api/v2/accounts/$acct_id/devices/$dev_id/sync?detail=true")
echo "notify: sync -> $res"
grep -q '"result":"answered"' <<<"$res" && grep -q '"code":200' <<<"$res" || {
  echo "notify: the phone did not answer 200"; cat "$work/uas.out" "$work/uas_errors.log" 2>/dev/null; exit 1; }
rc=0
wait "$uas" || rc=$?
uas=""
[ "$rc" -eq 0 ] || { echo "notify: sipp UAS failed ($rc)"; tail -20 "$work/uas.out"; cat "$work/uas_errors.log" 2>/dev/null; exit 1; }
grep -q '^Event: check-sync' "$work/uas_msgs.log" || { echo "notify: no Event: check-sync on the wire"; exit 1; }

# 4. The Kazoo form answers at once.
kazoo=$(call -X POST "http://$api/v2/accounts/$acct_id/devices/$dev_id/sync")
grep -q '"data":"sync request sent"' <<<"$kazoo" || { echo "notify: kazoo form: $kazoo"; exit 1; }
echo "notify: 1 passed, 0 failed"
