# Shared by the interop scripts; source it after setting work and TOKEN.

# wait_started NAME waits (10 s at most) for sipedge's start line in
# $work/log, which names the ports the kernel chose, and sets api and
# sipaddr from it.
wait_started() {
  local line
  for _ in $(seq 100); do grep -q '"sipedge started"' "$work/log" 2>/dev/null && break; sleep 0.1; done
  line=$(grep '"sipedge started"' "$work/log") || { echo "$1: sipedge did not start"; cat "$work/log"; exit 1; }
  api=$(sed -E 's/.*"api":"([^"]+)".*/\1/' <<<"$line")
  sipaddr=$(sed -E 's/.*"sip_udp":"([^"]+)".*/\1/' <<<"$line")
  echo "$1: sipedge on sip=$sipaddr api=$api"
}

# call sends one admin API request with the run's token and a JSON body.
call() { curl -sS --max-time "${CALL_TIMEOUT:-10}" -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' "$@"; }

# free_port prints a port free on both UDP and TCP (SIPp and baresip bind
# both), below the kernel's ephemeral range, where sipedge's and every
# client's own ports are (a random pick there once collided with one).
free_port() {
  python3 - <<'PORT'
import random, socket
for _ in range(200):
    p = random.randint(20000, 32000)
    try:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind)
            s.bind(("127.0.0.1", p))
            s.close()
    except OSError:
        continue
    print(p)
    break
PORT
}
