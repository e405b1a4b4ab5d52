package bench

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	cases := []struct {
		name    string
		msg     string
		wantErr bool
		method  string
		uri     string
		vias    []string
		rrs     []string
		toTag   string
		callID  string
		cseq    uint32
		cseqM   string
		body    string
	}{
		{
			name: "INVITE through a record-routing proxy",
			msg: "INVITE sip:user000001@127.0.0.1:40000 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKp1\n" +
				"Via: SIP/2.0/UDP 127.0.0.1:40001;branch=z9hG4bKsb1;rport=40001\nRecord-Route: <sip:127.0.0.1:5060;lr>\n" +
				"From: <sip:user000011@r>;tag=a\nTo: <sip:user000001@r>\nCall-ID: c1\nCSeq: 2 INVITE\n" +
				"Content-Type: application/sdp\nContent-Length: 11\n\nv=0\no=x y z\n",
			method: "INVITE", uri: "sip:user000001@127.0.0.1:40000",
			vias: []string{"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKp1", "SIP/2.0/UDP 127.0.0.1:40001;branch=z9hG4bKsb1;rport=40001"},
			rrs:  []string{"<sip:127.0.0.1:5060;lr>"}, callID: "c1", cseq: 2, cseqM: "INVITE", body: "v=0\r\no=x y z\r\n",
		},
		{
			name:   "in-dialog BYE, compact forms, tag in the To URI is not the header's",
			msg:    "BYE sip:u@h SIP/2.0\nv: SIP/2.0/UDP p;branch=b1, SIP/2.0/UDP q;branch=b2\nf: <sip:a@r>;tag=x\nt: <sip:b@r;tag=uri>;tag=ua1.0\ni: c2\nCSeq: 3 BYE\n\n",
			method: "BYE", uri: "sip:u@h", vias: []string{"SIP/2.0/UDP p;branch=b1, SIP/2.0/UDP q;branch=b2"}, toTag: "ua1.0", callID: "c2", cseq: 3, cseqM: "BYE",
		},
		{name: "response, not a request", msg: "SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=b\n\n", wantErr: true},
		{name: "wrong version", msg: "BYE sip:u@h SIP/3.0\nVia: x\nFrom: a\nTo: b\nCall-ID: c\nCSeq: 1 BYE\n\n", wantErr: true},
		{name: "no Via", msg: "BYE sip:u@h SIP/2.0\nFrom: a\nTo: b\nCall-ID: c\nCSeq: 1 BYE\n\n", wantErr: true},
		{name: "no From", msg: "BYE sip:u@h SIP/2.0\nVia: x\nTo: b\nCall-ID: c\nCSeq: 1 BYE\n\n", wantErr: true},
		{name: "headers not terminated", msg: "BYE sip:u@h SIP/2.0\nVia: x\nFrom: a\nTo: b\nCall-ID: c\nCSeq: 1 BYE\n", wantErr: true},
		{name: "too many Vias", msg: "BYE sip:u@h SIP/2.0\n" + strings.Repeat("Via: x\n", 9) + "From: a\nTo: b\nCall-ID: c\nCSeq: 1 BYE\n\n", wantErr: true},
		{name: "bad method", msg: "BY E sip:u@h SIP/2.0\nVia: x\nFrom: a\nTo: b\nCall-ID: c\nCSeq: 1 BYE\n\n", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var q Request
			err := ParseRequest(crlf(tc.msg), &q)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", q)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := func(v [maxRouteLines][]byte, n int) []string {
				var s []string
				for _, b := range v[:n] {
					s = append(s, string(b))
				}
				return s
			}
			if string(q.Method) != tc.method || string(q.URI) != tc.uri || strings.Join(got(q.Via, q.NVia), "|") != strings.Join(tc.vias, "|") ||
				strings.Join(got(q.RecordRoute, q.NRecordRoute), "|") != strings.Join(tc.rrs, "|") || string(q.ToTag) != tc.toTag ||
				string(q.CallID) != tc.callID || q.CSeq != tc.cseq || string(q.CSeqMethod) != tc.cseqM || string(q.Body) != tc.body {
				t.Fatalf("got %s %s vias %q rr %q to-tag %q call-id %q cseq %d %s body %q", q.Method, q.URI, got(q.Via, q.NVia),
					got(q.RecordRoute, q.NRecordRoute), q.ToTag, q.CallID, q.CSeq, q.CSeqMethod, q.Body)
			}
		})
	}
}

// A 200 to an INVITE carries what the ACK and BYE are built from.
func TestParseResponseDialog(t *testing.T) {
	msg := crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:4;branch=z9hG4bKsbab.1.2\nRecord-Route: <sip:p2;lr>, <sip:p1;lr>\n" +
		"Record-Route: <sip:p0;lr;x=\"a,b\">\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@x>;tag=ua7.1\nCall-ID: c1\nCSeq: 2 INVITE\n" +
		"m: <sip:user000001@127.0.0.1:40000;transport=udp>;expires=60\nContent-Type: application/sdp\n\nv=0\nc=IN IP4 127.0.0.1\nm=audio 4000 RTP/AVP 0\n")
	var r Response
	if err := ParseResponse(msg, &r); err != nil {
		t.Fatal(err)
	}
	if r.NRecordRoute != 2 || string(r.ToTag) != "ua7.1" || string(contactURI(r.Contact)) != "sip:user000001@127.0.0.1:40000;transport=udp" {
		t.Fatalf("record-route %d, to-tag %q, contact %q", r.NRecordRoute, r.ToTag, r.Contact)
	}
	if got := string(appendRouteSet(nil, r.RecordRoute[:r.NRecordRoute])); got != "Route: <sip:p0;lr;x=\"a,b\">, <sip:p1;lr>, <sip:p2;lr>\r\n" {
		t.Fatalf("route set %q", got)
	}
	if a, ok := sdpAudio(r.Body); !ok || a != netip.MustParseAddrPort("127.0.0.1:4000") {
		t.Fatalf("sdp audio %v %v", a, ok)
	}
}

func TestRouteSet(t *testing.T) {
	cases := []struct {
		name string
		rr   []string
		want string
	}{
		{name: "none", want: ""},
		{name: "one", rr: []string{"<sip:127.0.0.1:5060;lr>"}, want: "Route: <sip:127.0.0.1:5060;lr>\r\n"},
		{name: "two lines reversed", rr: []string{"<sip:b;lr>", "<sip:a;lr>"}, want: "Route: <sip:a;lr>, <sip:b;lr>\r\n"},
		{name: "quoted comma and display name", rr: []string{`"P, one" <sip:b;lr>,<sip:a;lr> `}, want: "Route: <sip:a;lr>, \"P, one\" <sip:b;lr>\r\n"},
		{name: "empty entries skipped", rr: []string{" , <sip:a;lr>,"}, want: "Route: <sip:a;lr>\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rr [][]byte
			for _, v := range tc.rr {
				rr = append(rr, []byte(v))
			}
			if got := string(appendRouteSet(nil, rr)); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestContactURI(t *testing.T) {
	cases := []struct{ v, want string }{
		{v: "<sip:u@127.0.0.1:5062>;expires=60", want: "sip:u@127.0.0.1:5062"},
		{v: `"Bob" <sip:u@h;transport=udp>`, want: "sip:u@h;transport=udp"},
		{v: "sip:u@h;expires=60", want: "sip:u@h"},
		{v: "sip:u@h , sip:v@h", want: "sip:u@h"},
		{v: "<sip:unterminated", want: ""},
	}
	for _, tc := range cases {
		if got := string(contactURI([]byte(tc.v))); got != tc.want {
			t.Errorf("contactURI(%q) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestSDPAudio(t *testing.T) {
	cases := []struct {
		name, body string
		want       string
	}{
		{name: "ours", body: string(appendSDP(nil, 7, netip.MustParseAddrPort("127.0.0.1:40002"))), want: "127.0.0.1:40002"},
		{name: "media-level c= and IPv6", body: "v=0\r\nm=audio 5004 RTP/AVP 0 8\r\nc=IN IP6 ::1\r\n", want: "[::1]:5004"},
		{name: "first audio stream wins", body: "c=IN IP4 10.0.0.1/127\nm=audio 1000 RTP/AVP 0\nm=audio 2000 RTP/AVP 0\n", want: "10.0.0.1:1000"},
		{name: "declined", body: "c=IN IP4 10.0.0.1\nm=audio 0 RTP/AVP 0\n"},
		{name: "no address", body: "m=audio 1000 RTP/AVP 0\n"},
		{name: "bad address", body: "c=IN IP4 10.0.0.300\nm=audio 1000 RTP/AVP 0\n"},
		{name: "port too big", body: "c=IN IP4 10.0.0.1\nm=audio 70000 RTP/AVP 0\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, ok := sdpAudio([]byte(tc.body))
			if tc.want == "" {
				if ok {
					t.Fatalf("got %v, want none", a)
				}
				return
			}
			if !ok || a != netip.MustParseAddrPort(tc.want) {
				t.Fatalf("got %v %v, want %s", a, ok, tc.want)
			}
		})
	}
}

func TestParseRequestAllocs(t *testing.T) {
	msg := crlf("INVITE sip:user000001@127.0.0.1:40000 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKp1\nVia: SIP/2.0/UDP 127.0.0.1:40001;branch=b\n" +
		"Record-Route: <sip:127.0.0.1:5060;lr>\nFrom: <sip:a@r>;tag=a\nTo: <sip:b@r>\nCall-ID: c1\nCSeq: 2 INVITE\nContent-Length: 0\n\n" +
		"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n")
	var q Request
	n := testing.AllocsPerRun(100, func() {
		if ParseRequest(msg, &q) != nil {
			t.Fatal("parse failed")
		}
		if _, ok := sdpAudio(q.Body); !ok {
			t.Fatal("no audio")
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add(crlf("INVITE sip:u@h SIP/2.0\nVia: SIP/2.0/UDP h;branch=b\nRecord-Route: <sip:p;lr>, <sip:q;lr>\nFrom: <sip:a@r>;tag=a\nTo: <sip:u@r>\nCall-ID: c\nCSeq: 1 INVITE\n\nv=0\nc=IN IP4 127.0.0.1\nm=audio 9 RTP/AVP 0\n"))
	f.Add([]byte("ACK * SIP/2.0\r\nv:x\r\nf:\r\nt:;tag=\r\ni:c\r\nCSeq: 99999999999 ACK\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var q Request
		if ParseRequest(b, &q) != nil {
			return
		}
		if q.NVia < 1 || q.NVia > maxRouteLines || q.NRecordRoute > maxRouteLines || len(q.CallID) == 0 || !isToken(q.Method) {
			t.Fatalf("impossible result %+v", q)
		}
		set := appendRouteSet(nil, q.RecordRoute[:q.NRecordRoute])
		if q.NRecordRoute == 0 && len(set) != 0 {
			t.Fatalf("route set %q from no Record-Route", set)
		}
		for _, v := range q.RecordRoute[:q.NRecordRoute] {
			_ = contactURI(v)
		}
		_, _ = sdpAudio(q.Body)
	})
}
