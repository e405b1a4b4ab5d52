package proxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// FuzzSanity: raw bytes → a fresh sipgo parser → the sanity checks and the
// scanner check. Nothing may panic, and every refusal names its problem.
// The RFC 4475 messages are the seeds.
func FuzzSanity(f *testing.F) {
	files, _ := filepath.Glob("testdata/rfc4475/*.dat")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: c\r\nCall-ID: d\r\nCSeq: 1 OPTIONS\r\nProxy-Require: foo, bar\r\nUser-Agent: friendly-scanner\r\nl: 0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		isScanner(data)
		msg, err := sip.NewParser().ParseSIP(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		se := checkRequest(req)
		if se == nil {
			return
		}
		if se.Code < 400 || se.Code > 699 {
			t.Fatalf("refusal with code %d", se.Code)
		}
		if se.Code == 400 && (se.Reason == "" || se.Reason == "Bad Request") {
			t.Fatalf("400 without a reason saying what is wrong: %q", se.Reason)
		}
		for _, h := range se.Headers {
			if strings.ContainsAny(h.Value(), "\r\n\x00") {
				t.Fatalf("header %s carries CR/LF/NUL: %q", h.Name(), h.Value())
			}
		}
	})
}
