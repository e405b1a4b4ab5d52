#!/usr/bin/env bash
# Interop: two baresip user agents (Debian's baresip-core) register through
# sipedge with digest auth and call each other; the callee answers, both
# send audio (a sine tone) straight to each other for a few seconds, and the
# call ends with BYE. Everything on loopback, bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
. interop/lib.sh

TOKEN=interop-token
REALM=baresip.sipedge.test
command -v baresip >/dev/null || { echo "baresip: not installed (apt-get install baresip-core)"; exit 1; }
command -v python3 >/dev/null || { echo "baresip: python3 is needed to write the tone file"; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/sipedge" ./cmd/sipedge
# baresip 1.0's libre refuses a 401 if any of its challenges is not MD5
# (ENOSYS) instead of answering the MD5 one, so this run offers MD5 only.
SIPEDGE_REGISTRAR_ALGORITHMS=MD5 SIPEDGE_ADMIN_TOKEN=$TOKEN "$work/sipedge" -data "$work/data" -sip 127.0.0.1:0 -api 127.0.0.1:0 \
  -log-format json -log-level info >"$work/log" 2>&1 &
pids+=($!)
wait_started "baresip"

acct=$(call -X PUT -d "{\"data\":{\"name\":\"baresip\",\"realm\":\"$REALM\"}}" "http://$api/v2/accounts")
acct_id=$(sed -E 's/.*"id":"([0-9a-f]{32})".*/\1/' <<<"$acct")
for u in alice bob; do
  # invite_format contact: the callee gets its registered Contact as Request-URI.
  call -X PUT -d "{\"data\":{\"name\":\"$u\",\"sip\":{\"username\":\"$u\",\"password\":\"pw-$u-secret\",\"invite_format\":\"contact\"}}}" \
    "http://$api/v2/accounts/$acct_id/devices" >/dev/null
done

# No sound card: each agent sends a 440 Hz tone from a file (8 kHz, what
# G.711 carries without resampling); nothing is played.
python3 - "$work/tone.wav" <<'PY'
import math, struct, sys, wave
w = wave.open(sys.argv[1], "wb")
w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(8000 * 20)))
w.close()
PY

# One config dir per agent, G.711.
agent() { # name port extra-account-params
  local dir="$work/$1"
  mkdir -p "$dir"
  cat >"$dir/config" <<CFG
poll_method epoll
module_path /usr/lib/baresip/modules
sip_listen 127.0.0.1:$2
audio_source aufile,$work/tone.wav
rtp_stats yes
module g711.so
module aufile.so
module_tmp account.so
module_app menu.so
CFG
  echo "<sip:$1@$REALM;transport=udp>;auth_pass=pw-$1-secret;outbound=\"sip:$sipaddr;transport=udp\";regint=300;$3" >"$dir/accounts"
  : >"$dir/contacts"
}
bob_port=$(free_port)
alice_port=$(free_port)
while [ "$alice_port" = "$bob_port" ]; do alice_port=$(free_port); done
agent bob "$bob_port" "answermode=auto"
agent alice "$alice_port" "answermode=manual"

baresip -f "$work/bob" -t 25 >"$work/bob.log" 2>&1 </dev/null &
pids+=($!)
# Bob must be registered before Alice dials: wait for the registrations API.
for _ in $(seq 100); do
  call "http://$api/v2/accounts/$acct_id/registrations/count" | grep -q '"count":1[,}]' && break
  sleep 0.1
done
baresip -f "$work/alice" -t 15 -e "/dial sip:bob@$REALM" >"$work/alice.log" 2>&1 </dev/null &
alice=$!
pids+=($alice)
wait "$alice" || true
# Alice's BYE ends Bob's call; his end-of-call report follows (bounded wait).
for _ in $(seq 50); do grep -q "^packets:" "$work/bob.log" && break; sleep 0.1; done

fail=0
grep -q "Call established" "$work/alice.log" || { echo "baresip: alice's call was not established"; fail=1; }
grep -q "Call established" "$work/bob.log" || { echo "baresip: bob never answered"; fail=1; }
for u in alice bob; do
  grep -q "^$u@$REALM: .*200 OK" "$work/$u.log" || { echo "baresip: $u did not register"; fail=1; }
done
# Media goes straight between the phones (sipedge only carries SIP): each
# side's end-of-call RTP report must show packets received, none lost.
for u in alice bob; do
  rx=$(awk '/^packets:/ {print $3; exit}' "$work/$u.log")
  lost=$(awk '/^lost:/ {print $3; exit}' "$work/$u.log")
  if [ "${rx:-0}" -lt 100 ] || [ "${lost:-1}" -ne 0 ]; then
    echo "baresip: $u received ${rx:-no} RTP packets, lost ${lost:-?}"; fail=1
  fi
done
# Both ends saw the call end: Alice hung up, the BYE went through sipedge.
grep -q "terminated" "$work/bob.log" || { echo "baresip: bob never saw the BYE"; fail=1; }
if [ $fail -ne 0 ]; then
  echo "--- alice"; tail -30 "$work/alice.log"; echo "--- bob"; tail -30 "$work/bob.log"
  echo "baresip: 0 passed, 1 failed"; exit 1
fi
echo "baresip: call established both ways, $(awk '/^packets:/ {print $3; exit}' "$work/bob.log") RTP packets received by bob, none lost"
echo "baresip: 1 passed, 0 failed"
