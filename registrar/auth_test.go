package registrar

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/sipedge/sipedge/location"
)

const testInvite = "INVITE sip:+14158867900@acme.example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bKinv1;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:%USER%@acme.example.com>;tag=1\r\n" +
	"To: <sip:+14158867900@acme.example.com>\r\n" +
	"Call-ID: inv-1@192.168.1.20\r\n" +
	"CSeq: %CSEQ% INVITE\r\n" +
	"Contact: <sip:alice@192.168.1.20:5062>\r\n" +
	"%AUTH%" +
	"Content-Length: 0\r\n\r\n"

func invite(tb testing.TB, user, cseq, auth string) *sip.Request {
	s := strings.NewReplacer("%USER%", user, "%CSEQ%", cseq, "%AUTH%", auth).Replace(testInvite)
	return parseRequest(tb, s)
}

// Authenticate in proxy mode (INVITE): From identity, 407 Proxy-Authenticate.
func TestAuthenticateProxy(t *testing.T) {
	e := newCore(t, nil)
	src := Source{Addr: netip.MustParseAddrPort("203.0.113.7:40112"), Local: netip.MustParseAddrPort("127.0.0.1:5060"), Transport: location.UDP}

	dev, res := e.svc.Authenticate(invite(t, "alice", "1", ""), src, true)
	if dev != nil || res == nil || res.StatusCode != 407 || len(res.GetHeaders("Proxy-Authenticate")) != 2 ||
		res.GetHeader("WWW-Authenticate") != nil || res.Destination() != "203.0.113.7:40112" {
		t.Fatalf("challenge: %v %v", dev, res)
	}
	chal, err := digest.ParseChallenge(res.GetHeader("Proxy-Authenticate").Value())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		password string
		wantDev  bool
		wantCode int
	}{
		{"right password", alicePass, true, 0},
		{"wrong password", "wrong-password", false, 407},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: "sip:+14158867900@acme.example.com",
				Username: "alice", Password: tt.password, Count: i + 1, Cnonce: "abc"})
			if err != nil {
				t.Fatal(err)
			}
			dev, res := e.svc.Authenticate(invite(t, "alice", "2", "Proxy-Authorization: "+cred.String()+"\r\n"), src, true)
			if (dev != nil) != tt.wantDev {
				t.Fatalf("device %v, want %v", dev, tt.wantDev)
			}
			if dev != nil && dev.ID != e.alice.ID {
				t.Fatalf("device %s", dev.ID)
			}
			if tt.wantCode == 0 && res != nil || tt.wantCode != 0 && (res == nil || res.StatusCode != tt.wantCode) {
				t.Fatalf("response %v, want %d", res, tt.wantCode)
			}
		})
	}

	// A trusted IP is authenticated whatever its From says.
	trunkSrc := src
	trunkSrc.Addr = netip.MustParseAddrPort(trunkIP + ":5060")
	if dev, res := e.svc.Authenticate(invite(t, "4155550100", "1", ""), trunkSrc, true); dev == nil || dev.ID != e.trunk.ID || res != nil {
		t.Fatalf("IP auth: %v %v", dev, res)
	}
}

// A bare LF that sipgo's parser lets into a header we must echo gets no answer at all.
func TestHeaderInjectionDropped(t *testing.T) {
	e := newCore(t, nil)
	src := Source{Addr: netip.MustParseAddrPort("203.0.113.7:40112"), Transport: location.UDP}
	tests := []struct {
		name string
		msg  string
		drop bool
	}{
		{"LF in From", "REGISTER sip:acme.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <a:000\n0>;tag=1\r\nTo: <sip:alice@acme.example.com>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\n\r\n", true},
		{"clean", "REGISTER sip:acme.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:alice@acme.example.com>;tag=1\r\nTo: <sip:alice@acme.example.com>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\n\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := parseRequest(t, tt.msg)
			res := e.svc.HandleRegister(req, src)
			if (res == nil) != tt.drop {
				t.Fatalf("response %v, want drop %v", res, tt.drop)
			}
			if dev, res := e.svc.Authenticate(req, src, false); dev != nil || (res == nil) != tt.drop {
				t.Fatalf("Authenticate = %v, %v", dev, res)
			}
		})
	}
}

// viaSafe reads a Via field by field; it must refuse what its rendering
// would show a CR, LF or NUL in, and pass the rest.
func TestViaSafe(t *testing.T) {
	base := func() *sip.ViaHeader {
		return &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "192.0.2.1", Port: 5060,
			Params: sip.HeaderParams{{K: "branch", V: "z9hG4bK1"}, {K: "rport", V: ""}}}
	}
	edits := map[string]func(v *sip.ViaHeader){
		"clean":         func(*sip.ViaHeader) {},
		"name":          func(v *sip.ViaHeader) { v.ProtocolName = "SIP\n" },
		"version":       func(v *sip.ViaHeader) { v.ProtocolVersion = "2.0\r" },
		"transport":     func(v *sip.ViaHeader) { v.Transport = "U\x00DP" },
		"host":          func(v *sip.ViaHeader) { v.Host = "h\nX-Injected: 1" },
		"param name":    func(v *sip.ViaHeader) { v.Params = append(v.Params, sip.HeaderKV{K: "a\nb", V: ""}) },
		"param value":   func(v *sip.ViaHeader) { v.Params[0].V = "z9hG4bK\r\nX: y" },
		"no params":     func(v *sip.ViaHeader) { v.Params = nil },
		"ipv6 no ports": func(v *sip.ViaHeader) { v.Host, v.Port = "2001:db8::1", 0 },
	}
	for name, edit := range edits {
		v := base()
		edit(v)
		want := !strings.ContainsAny(v.Value(), "\r\n\x00")
		if got := viaSafe(v); got != want {
			t.Errorf("%s: viaSafe %v, the rendering says %v", name, got, want)
		}
	}
}
