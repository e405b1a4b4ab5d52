package proxy

import (
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

const ackVia = "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport"

// ackTo is the To-tag the stateless challenge gives the INVITE of statelessAckMsg().
var ackTo = strconv.FormatUint(stableTag("c1@host", 7, "f1", "z9hG4bK-1"), 36)

func statelessAckMsg(lines ...string) string {
	base := []string{"Via: " + ackVia, "Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-0",
		"From: \"A\" <sip:alice@example.com>;tag=f1", "To: <sip:bob@example.com>;tag=" + ackTo,
		"Call-ID: c1@host", "CSeq: 7 ACK", "Max-Forwards: 70", "Content-Length: 0"}
	return "ACK sip:bob@example.com SIP/2.0\r\n" + strings.Join(append(base, lines...), "\r\n") + "\r\n\r\n"
}

func TestStatelessAck(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		want bool
	}{
		{"ours", statelessAckMsg(), true},
		{"compact forms", strings.NewReplacer("Via:", "v:", "From:", "f:", "To:", "t:", "Call-ID:", "i:").Replace(statelessAckMsg()), true},
		{"another tag", strings.Replace(statelessAckMsg(), "tag="+ackTo, "tag=9"+ackTo, 1), false},
		{"another branch", strings.Replace(statelessAckMsg(), "branch=z9hG4bK-1", "branch=z9hG4bK-2", 1), false},
		{"another CSeq", strings.Replace(statelessAckMsg(), "CSeq: 7 ACK", "CSeq: 8 ACK", 1), false},
		{"CSeq of another method", strings.Replace(statelessAckMsg(), "CSeq: 7 ACK", "CSeq: 7 INVITE", 1), false},
		{"no To-tag", strings.Replace(statelessAckMsg(), ";tag="+ackTo, "", 1), false},
		{"no headers end", strings.TrimSuffix(statelessAckMsg(), "\r\n"), false},
		{"bad From", strings.Replace(statelessAckMsg(), "<sip:alice@example.com>", "<sip:alice@exa mple.com>", 1), false},
	} {
		if got := statelessAck(tc.msg); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMayChallenge(t *testing.T) {
	inv := "INVITE sip:bob@example.com SIP/2.0\r\nVia: " + ackVia + "\r\nFrom: <sip:alice@example.com>;tag=f1\r\n" +
		"To: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
	for _, tc := range []struct {
		name, extra string
		want        bool
	}{
		{"plain", "", true},
		{"credentials", "PROXY-AUTHORIZATION : Digest x\r\n", false},
		{"to-tag", "To: <sip:bob@example.com>;Tag=x\r\n", false},
		{"compact to-tag", "t: <sip:bob@example.com>;tag=x\r\n", false},
		{"line without colon", "garbage\r\n", false},
	} {
		msg := inv + tc.extra + "\r\nv=0\r\n"
		if got := mayChallenge(msg); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if mayChallenge("INVITE sip:x SIP/2.0\r\nTo: <sip:x@y>\r\n") {
		t.Error("INVITE without the end of its headers taken")
	}
}

// FuzzStatelessAck: what the reader drops as the ACK of a stateless answer
// is one for sipgo too, with the same To-tag from the same fields; and an
// INVITE the byte scan lets through has, for sipgo, neither credentials
// nor a To-tag.
func FuzzStatelessAck(f *testing.F) {
	f.Add([]byte(statelessAckMsg()))
	f.Add([]byte(statelessAckMsg("Route: <sip:x.example.com;lr>")))
	f.Add([]byte(strings.Replace(statelessAckMsg(), "ACK sip:bob@example.com", "INVITE sip:bob@example.com", 1)))
	f.Add([]byte("INVITE sip:bob@example.com SIP/2.0\r\nv: " + ackVia + "\r\nf: <sip:a@b>;tag=1\r\nt: <sip:b@c>\r\ni: x\r\nCSeq: 1 INVITE\r\n\r\n"))
	parser := sip.NewParser()
	f.Fuzz(func(t *testing.T, data []byte) {
		msg := string(data)
		if strings.HasPrefix(msg, "ACK ") && statelessAck(msg) {
			m, err := parser.ParseSIP(data)
			if err != nil {
				return // sipgo drops it too
			}
			req, ok := m.(*sip.Request)
			if !ok || req.Method != sip.ACK {
				t.Fatalf("dropped as an ACK: %T %v", m, m)
			}
			res := sip.NewResponseFromRequest(req, 407, "Proxy Authentication Required", nil)
			to, _ := req.To().Params.Get("tag")
			res.To().Params.Remove("tag")
			stableToTag(res)
			if got, _ := res.To().Params.Get("tag"); got != to {
				t.Fatalf("reader matched tag %q, sipgo's fields give %q", to, got)
			}
		}
		if strings.HasPrefix(msg, "INVITE ") && mayChallenge(msg) {
			m, err := parser.ParseSIP(data)
			if err != nil {
				return
			}
			if req, ok := m.(*sip.Request); ok && (req.GetHeader("Proxy-Authorization") != nil || hasToTag(req)) {
				t.Fatalf("byte scan missed credentials or a To-tag in %q", data)
			}
		}
	})
}
