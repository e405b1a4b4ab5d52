#!/usr/bin/env bash
# Attack interop: Debian's sipvicious (svwar, svcrack, svmap) and sipsak
# against a running sipedge, on loopback only, bounded in time.
#   svwar   (REGISTER and INVITE) enumerates no extension;
#   svcrack against a real user gets the (user, IP) pair banned, listed by
#           GET /v2/bans, and after the ban not even the right password works;
#   svmap   sees a Server header without a version;
#   sipsak  floods OPTIONS from 127.0.0.3 while SIPp registers from 127.0.0.2
#           without a failure.
# Prints "attack: N passed, M failed" and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
. interop/lib.sh

TOKEN=attack-token
REALM=attack.sipedge.test
USERS=20
LIMIT=5 # failed authentications before a ban

for tool in svwar svcrack svmap sipsak sipp curl; do
  command -v "$tool" >/dev/null || { echo "attack: $tool not installed (apt-get install sipvicious sipsak sip-tester curl)"; exit 1; }
done

work=$(mktemp -d)
pid=""
flood_pid=""
cleanup() {
  [ -n "$flood_pid" ] && kill "$flood_pid" 2>/dev/null && wait "$flood_pid" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "attack: PASS $*"; }
fail() { failed=$((failed + 1)); echo "attack: FAIL $*"; }

go build -o "$work/sipedge" ./cmd/sipedge || exit 1
# MD5 first: svcrack and SIPp answer the first challenge and speak only MD5.
# Loopback is on the flood allow-list by default; keep only ::1 there so the
# flood from 127.0.0.3 meets the limiter.
SIPEDGE_API_RATE_LIMIT=0 SIPEDGE_REGISTRAR_ALGORITHMS=MD5,SHA-256 SIPEDGE_REGISTRAR_FAILED_AUTH_LIMIT=$LIMIT \
  SIPEDGE_SIP_FLOOD_ALLOW=::1/128 SIPEDGE_ADMIN_TOKEN=$TOKEN \
  "$work/sipedge" -data "$work/data" -sip 127.0.0.1:0 -api 127.0.0.1:0 -log-format json >"$work/log" 2>&1 &
pid=$!
wait_started "attack"
port=${sipaddr##*:}

acct=$(call -X PUT -d "{\"data\":{\"name\":\"attack\",\"realm\":\"$REALM\"}}" "http://$api/v2/accounts")
acct_id=$(sed -E 's/.*"id":"([0-9a-f]{32})".*/\1/' <<<"$acct")
[ ${#acct_id} -eq 32 ] || { echo "attack: account not created: $acct"; exit 1; }
# Extensions 100..119, password secret<ext>.
echo "SEQUENTIAL" >"$work/users.csv"
for i in $(seq 100 $((100 + USERS - 1))); do
  code=$(call -o /dev/null -w '%{http_code}' -X PUT \
    -d "{\"data\":{\"name\":\"ext$i\",\"sip\":{\"username\":\"$i\",\"password\":\"secret$i\"}}}" \
    "http://$api/v2/accounts/$acct_id/devices")
  [ "$code" = 201 ] || { echo "attack: device $i not created: $code"; exit 1; }
  echo "$i;[authentication username=$i password=secret$i];$REALM" >>"$work/users.csv"
done
echo "attack: provisioned $USERS extensions (100-$((100 + USERS - 1)))"

sv() { timeout 120 "$@" --domain "$REALM" -b 127.0.0.1 -p "$port" 127.0.0.1; }
# listed prints the provisioned extensions a sipvicious table names.
listed() { grep -oE '^\| *1[01][0-9] *\|' "$1" | tr -d '| ' | sort -u | tr '\n' ' '; }

# 1. Enumeration: known and unknown extensions get the same answer, so
# svwar finds none, by REGISTER or by INVITE.
for method in REGISTER INVITE; do
  sv svwar -e 90-130 -m "$method" >"$work/svwar-$method.out" 2>&1
  found=$(listed "$work/svwar-$method.out")
  if [ -z "$found" ] && grep -q 'found nothing' "$work/svwar-$method.out"; then
    pass "svwar $method finds no extension"
  else
    fail "svwar $method found: ${found:-?}"; tail -5 "$work/svwar-$method.out"
  fi
done

# 2. Password guessing. A control run first: svcrack does find a password
# when it is in the dictionary and the guessing stays under the limit.
printf 'wrong1\nsecret101\n' >"$work/dict-control"
sv svcrack -u 101 -d "$work/dict-control" >"$work/svcrack-control.out" 2>&1
if grep -qE '^\| *101 *\| *secret101 *\|' "$work/svcrack-control.out"; then
  pass "svcrack control run finds 101's password (one miss, under the limit)"
else
  fail "svcrack control run did not find 101's password"; tail -5 "$work/svcrack-control.out"
fi
seq 1 30 | sed 's/^/guess/' >"$work/dict-guess"
sv svcrack -u 100 -d "$work/dict-guess" >"$work/svcrack.out" 2>&1
bans=$(call "http://$api/v2/bans")
if grep -q '"user":"100"' <<<"$bans" && grep -q '"ip":"127.0.0.1"' <<<"$bans"; then
  pass "svcrack banned: /v2/bans lists 100 from 127.0.0.1"
else
  fail "svcrack not banned: $bans"
fi
printf 'guess31\nsecret100\n' >"$work/dict-right"
sv svcrack -u 100 -d "$work/dict-right" >"$work/svcrack-after.out" 2>&1
if ! grep -q 'secret100' "$work/svcrack-after.out"; then
  pass "after the ban svcrack does not get in even with the right password"
else
  fail "svcrack found 100's password after the ban"
fi

# 3. Fingerprinting: svmap reports the Server header, which has no version.
timeout 60 svmap -p "$port" 127.0.0.1 >"$work/svmap.out" 2>&1
ua=$(grep -E "^\| *127\.0\.0\.1:$port" "$work/svmap.out" | awk -F'|' '{gsub(/^ +| +$/, "", $3); print $3}')
if [ -n "$ua" ] && ! grep -qE '[0-9]' <<<"$ua"; then
  pass "svmap sees '$ua', no version"
else
  fail "svmap user agent '${ua:-none}'"; cat "$work/svmap.out"
fi

# 4. Flood: sipsak floods OPTIONS from 127.0.0.3 while SIPp registers every
# extension repeatedly from 127.0.0.2. The flood is bounded in time, not in
# rounds (a fast machine sent a fixed count before SIPp was done), and is
# stopped as soon as SIPp ends.
(
  end=$((SECONDS + 150))
  while [ "$SECONDS" -lt "$end" ]; do
    sipsak -F -e 50000 --local-ip 127.0.0.3 -s "sip:flood@127.0.0.1:$port" >/dev/null 2>&1 || true
  done
) &
flood_pid=$!
regs=200
if timeout 120 sipp -sf interop/register.xml -inf "$work/users.csv" -m "$regs" -r 50 -l 50 \
  -i 127.0.0.2 -p $(free_port) -t u1 -timeout 90s -timeout_error -nostdin -nd \
  "$sipaddr" >"$work/sipp.out" 2>&1; then
  pass "SIPp from 127.0.0.2: $regs registrations succeeded during the flood"
else
  fail "SIPp registrations failed during the flood"; grep -E 'Successful call|Failed call' "$work/sipp.out" | tail -2
fi
flood_alive=no
kill -0 "$flood_pid" 2>/dev/null && flood_alive=yes
kill "$flood_pid" 2>/dev/null; wait "$flood_pid" 2>/dev/null; flood_pid=""
dropped=$(curl -sS --max-time 10 "http://$api/metrics" | awk '/^sipedge_proxy_flood_dropped_total/ {printf "%d", $2}')
if [ "$flood_alive" = yes ] && [ "${dropped%.*}" -gt 0 ] 2>/dev/null; then
  pass "sipsak flood was on throughout and the limiter dropped ${dropped} datagrams"
else
  fail "flood not in effect (still flooding: $flood_alive, dropped: ${dropped:-none})"
fi
if curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://$api/readyz" | grep -q 200; then
  pass "sipedge still ready after the attacks"
else
  fail "sipedge not ready after the attacks"
fi

echo "attack: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
