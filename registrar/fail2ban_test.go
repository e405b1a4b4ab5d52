package registrar

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
)

// failRegexes reads contrib/fail2ban's filter and turns each failregex into
// a Go regexp, <HOST> becoming a named group for an IPv4 or IPv6 address
// (fail2ban's own <HOST> also takes host names; the registrar logs IPs).
func failRegexes(t *testing.T) []*regexp.Regexp {
	t.Helper()
	raw, err := os.ReadFile("../contrib/fail2ban/filter.d/sipedge.conf")
	if err != nil {
		t.Fatal(err)
	}
	var out []*regexp.Regexp
	in := false
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "failregex"):
			in = true
			_, line, _ = strings.Cut(line, "=")
		case in && (line == "" || !(line[0] == ' ' || line[0] == '\t')):
			in = false
		}
		if !in || strings.TrimSpace(line) == "" {
			continue
		}
		expr := strings.ReplaceAll(strings.TrimSpace(line), "<HOST>", `(?P<host>[0-9A-Fa-f:.]+)`)
		re, err := regexp.Compile(expr)
		if err != nil {
			t.Fatalf("failregex %q: %v", line, err)
		}
		out = append(out, re)
	}
	if len(out) == 0 {
		t.Fatal("no failregex in the filter")
	}
	return out
}

// hostOf returns the <HOST> the first matching regex captures.
func hostOf(res []*regexp.Regexp, line string) (string, bool) {
	for _, re := range res {
		if m := re.FindStringSubmatch(line); m != nil {
			return m[re.SubexpIndex("host")], true
		}
	}
	return "", false
}

// The shipped fail2ban filter matches the registrar's real "auth failed"
// lines, in text and in JSON, and takes the source IP from them; it ignores
// every other line, and a crafted user name cannot forge the IP.
func TestFail2banFilter(t *testing.T) {
	res := failRegexes(t)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			e := newCore(t, func(c *Config) { c.FailedAuth.Limit = 3 })
			buf := &syncBuffer{}
			newLog := func(w *syncBuffer) *slog.Logger {
				if format == "json" {
					return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
				}
				return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			e.svc.log = newLog(buf)
			e.serve()
			p := e.phone("alice", alicePass, "UDP")
			for range 3 {
				r := p.do(p.request(p.contact()))
				p.do(p.request(p.authorization(r, "wrong-password"), p.contact()))
			}
			if r := p.register(p.contact()); r.StatusCode != 403 {
				t.Fatalf("after the ban: %s", r.Short())
			}

			matched := 0
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				host, ok := hostOf(res, line)
				isFail := strings.Contains(line, "auth failed")
				switch {
				case isFail && !ok:
					t.Errorf("filter misses %s", line)
				case !isFail && ok:
					t.Errorf("filter matches a line that is no failure: %s", line)
				case ok:
					matched++
					if a, err := netip.ParseAddr(host); err != nil || a.String() != "127.0.0.1" {
						t.Errorf("host %q from %s, want 127.0.0.1", host, line)
					}
				}
			}
			if matched != 3 {
				t.Errorf("%d lines matched, want the 3 failures:\n%s", matched, buf.String())
			}

			// The same line for an IPv6 source, and one whose user name
			// carries a fake src: slog quotes it, the filter keeps the real IP.
			buf = &syncBuffer{}
			log := newLog(buf)
			log.Warn("auth failed", "src", "2001:db8::7", "user", "alice", "realm", testRealm, "reason", "bad_password", "failures", 1)
			log.Warn("auth failed", "src", "192.0.2.1", "user", `x" src=6.6.6.6 "src":"6.6.6.6"`, "realm", testRealm, "reason", "bad_password", "failures", 1)
			log.Log(context.Background(), slog.LevelInfo, "register ok", "src", "192.0.2.2", "user", `msg="auth failed" src=6.6.6.6`)
			var hosts []string
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if h, ok := hostOf(res, line); ok {
					hosts = append(hosts, h)
				}
			}
			if strings.Join(hosts, " ") != "2001:db8::7 192.0.2.1" {
				t.Errorf("hosts = %v, want [2001:db8::7 192.0.2.1]:\n%s", hosts, buf.String())
			}
		})
	}
}
