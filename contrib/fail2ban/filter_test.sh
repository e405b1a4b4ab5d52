#!/bin/sh
# Checks the filter against sample sipedge log lines with fail2ban-regex,
# when fail2ban is installed. (registrar/fail2ban_test.go checks the same
# regexes against lines the registrar really writes, without fail2ban.)
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
if ! command -v fail2ban-regex >/dev/null 2>&1; then
	echo "fail2ban-regex not installed; skipped" >&2
	exit 0
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cat >"$log" <<'LINES'
time=2026-01-02T03:04:05.678Z level=WARN msg="auth failed" src=203.0.113.7 user=alice realm=pbx.example.com reason=bad_password failures=1
time=2026-01-02T03:04:06.678Z level=WARN msg="auth failed" src=2001:db8::7 user=alice realm=pbx.example.com reason=unknown_user failures=2
{"time":"2026-01-02T03:04:07.678Z","level":"WARN","msg":"auth failed","src":"198.51.100.9","user":"bob","realm":"pbx.example.com","reason":"bad_password","failures":1}
time=2026-01-02T03:04:08.678Z level=WARN msg="auth banned" src=203.0.113.7 user=alice realm=pbx.example.com failures=10
time=2026-01-02T03:04:09.678Z level=INFO msg="sip listening" udp=0.0.0.0:5060
time=2026-01-02T03:04:10.678Z level=WARN msg="auth failed" src=192.0.2.1 user="x\" src=6.6.6.6" realm=r reason=bad_password failures=1
LINES
out=$(fail2ban-regex "$log" "$dir/filter.d/sipedge.conf")
echo "$out"
echo "$out" | grep -q "Failregex: 4 total" || { echo "want 4 matches" >&2; exit 1; }
