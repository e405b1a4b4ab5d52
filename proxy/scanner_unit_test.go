package proxy

import "testing"

func TestIsScanner(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		want bool
	}{
		{"friendly-scanner", "OPTIONS sip:100@x SIP/2.0\r\nUser-Agent: friendly-scanner\r\n\r\n", true},
		{"upper case", "REGISTER sip:x SIP/2.0\r\nUSER-AGENT: SIPVICIOUS\r\n\r\n", true},
		{"space before colon", "INVITE sip:x SIP/2.0\r\nUser-Agent  : VaxSIPUserAgent/3.1\r\n\r\n", true},
		{"bare LF", "OPTIONS sip:x SIP/2.0\nUser-Agent: sundayddr\n\n", true},
		{"phone", "REGISTER sip:x SIP/2.0\r\nUser-Agent: Grandstream GXP2170\r\n\r\n", false},
		{"no user agent", "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", false},
		{"in the body only", "MESSAGE sip:x SIP/2.0\r\nContent-Length: 30\r\n\r\nUser-Agent: friendly-scanner\r\n", false},
		{"other header containing the name", "OPTIONS sip:x SIP/2.0\r\nX-Note: friendly-scanner\r\n\r\n", false},
		{"header named like it", "OPTIONS sip:x SIP/2.0\r\nUser-Agentish: sipvicious\r\n\r\n", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isScanner([]byte(tc.msg)); got != tc.want {
				t.Fatalf("isScanner = %v, want %v", got, tc.want)
			}
		})
	}
}

func BenchmarkIsScanner(b *testing.B) {
	msg := []byte("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\nUser-Agent: Yealink SIP-T46S 66.86.0.15\r\nContent-Length: 0\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		isScanner(msg)
	}
}
