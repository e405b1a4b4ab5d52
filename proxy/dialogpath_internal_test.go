package proxy

import (
	"strings"
	"testing"
)

func TestStatelessBranchIn(t *testing.T) {
	hash := strings.Repeat("a", loopHashLen)
	for _, tc := range []struct {
		name, msg string
		want      bool
	}{
		{"stateless", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=" + branchPrefix + hash + ".sl0123456789ab\r\n", true},
		{"stateful", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=" + branchPrefix + hash + ".Xy12ab34\r\n", false},
		{"not ours", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK.sl\r\n", false},
		{"cut after the hash", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=" + branchPrefix + hash, false},
		{"cut after the dot", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=" + branchPrefix + hash + ".s", false},
		{"mark without token: the HMAC decides", "x" + branchPrefix + hash + ".sl", true},
		{"short hash", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=" + branchPrefix + "abc.sl0123\r\n", false},
		{"empty", "", false},
	} {
		if got := statelessBranchIn([]byte(tc.msg)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
