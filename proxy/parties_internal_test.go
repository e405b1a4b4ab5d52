package proxy

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// restorePartiesCopy is restoreParties as it was before it kept unchanged
// parties: always a fresh copy of the request's From and To.
func restorePartiesCopy(res *sip.Response, req *sip.Request) {
	if from := req.From(); from != nil {
		res.ReplaceHeader(&sip.FromHeader{DisplayName: from.DisplayName, Address: *from.Address.Clone(), Params: from.Params.Clone()})
	}
	to, rto := req.To(), res.To()
	if to == nil || rto == nil {
		return
	}
	nt := &sip.ToHeader{DisplayName: to.DisplayName, Address: *to.Address.Clone(), Params: to.Params.Clone()}
	if tag, ok := rto.Params.Get("tag"); ok {
		nt.Params.Add("tag", tag)
	}
	res.ReplaceHeader(nt)
}

// partiesMsg parses a message of start line first with that From and To.
func partiesMsg(t *testing.T, first, from, to string) sip.Message {
	t.Helper()
	m, err := sip.ParseMessage([]byte(first + "\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" +
		"From: " + from + "\r\nTo: " + to + "\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRestoreParties: whatever the branch did to From and To, the caller
// gets its own back with the callee's tag, and a party the branch left
// alone is not copied.
func TestRestoreParties(t *testing.T) {
	const (
		from = `"Alice" <sip:alice@example.com;user=phone>;tag=a1`
		to   = `<sip:bob@example.com>`
	)
	for _, tc := range []struct {
		name             string
		reqFrom, reqTo   string
		resFrom, resTo   string
		keepFrom, keepTo bool
	}{
		{"untouched", from, to, from, to + ";tag=b2", true, true},
		{"untouched, no tag yet", from, to, from, to, true, true},
		{"caller id rewritten", from, to, `"Front Desk" <sip:1000@example.com;user=phone>;tag=a1`, to + ";tag=b2", false, true},
		{"invite format rewrote To", from, to, from, `<sip:+15551234567@gw.example.net>;tag=b2`, true, false},
		{"To parameter added by the callee", from, to, from, to + ";x=1;tag=b2", true, false},
		{"port differs", from, to, `"Alice" <sip:alice@example.com:5070;user=phone>;tag=a1`, to + ";tag=b2", false, true},
		{"uri parameter differs", from, to, `"Alice" <sip:alice@example.com;user=ip>;tag=a1`, to + ";tag=b2", false, true},
		{"request To with a tag", from, to + ";tag=b2", from, to + ";tag=b2", true, true},
		{"request To with another tag", from, to + ";tag=zz", from, to + ";tag=b2", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := partiesMsg(t, "INVITE sip:bob@example.com SIP/2.0", tc.reqFrom, tc.reqTo).(*sip.Request)
			const ringing = "SIP/2.0 180 Ringing"
			res := partiesMsg(t, ringing, tc.resFrom, tc.resTo).(*sip.Response)
			want := partiesMsg(t, ringing, tc.resFrom, tc.resTo).(*sip.Response)
			oldFrom, oldTo := res.From(), res.To()
			restoreParties(res, req)
			restorePartiesCopy(want, req)
			if got, w := res.String(), want.String(); got != w {
				t.Errorf("response\n%s\nwant\n%s", got, w)
			}
			if kept := res.From() == oldFrom; kept != tc.keepFrom {
				t.Errorf("From kept: %v, want %v", kept, tc.keepFrom)
			}
			if kept := res.To() == oldTo; kept != tc.keepTo {
				t.Errorf("To kept: %v, want %v", kept, tc.keepTo)
			}
		})
	}
}
