package bench_test

import (
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sipedge/sipedge/bench"
)

// fakeProxy is a scripted proxy on a raw socket: the test reads what the
// generator sends and answers by hand, byte by byte.
type fakeProxy struct {
	t    *testing.T
	conn *net.UDPConn
	peer *net.UDPAddr
}

func (p *fakeProxy) addr() string { return p.conn.LocalAddr().String() }

// next returns the first message for which want is true, skipping others.
func (p *fakeProxy) next(what string, want func(string) bool) string {
	p.t.Helper()
	buf := make([]byte, 65536)
	_ = p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			p.t.Fatalf("waiting for %s: %v", what, err)
		}
		p.peer = from
		if m := string(buf[:n]); want(m) {
			return m
		}
	}
}

func (p *fakeProxy) send(msg string) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(strings.ReplaceAll(msg, "\n", "\r\n")), p.peer); err != nil {
		p.t.Fatal(err)
	}
}

func starts(prefix string) func(string) bool {
	return func(m string) bool { return strings.HasPrefix(m, prefix) }
}

func header(m, name string) string {
	for _, l := range strings.Split(m, "\r\n") {
		if v, ok := strings.CutPrefix(l, name+": "); ok {
			return v
		}
	}
	return ""
}

// echo copies the headers a response takes from its request.
func echo(req, status, extra string) string {
	var b strings.Builder
	b.WriteString("SIP/2.0 " + status + "\n")
	for _, l := range strings.Split(req, "\r\n")[1:] {
		if strings.HasPrefix(l, "Via:") || strings.HasPrefix(l, "From:") || strings.HasPrefix(l, "Call-ID:") || strings.HasPrefix(l, "CSeq:") {
			b.WriteString(l + "\n")
		}
		if strings.HasPrefix(l, "To:") {
			b.WriteString(l + ";tag=px\n")
		}
	}
	return b.String() + extra + "Content-Length: 0\n\n"
}

var branchRE = regexp.MustCompile(`;branch=([^;\r\n]+)`)

// One call against a scripted proxy, every message checked: the 407 is
// ACKed on the INVITE's branch, the credentials verify, the 2xx ACK and
// the BYE follow the route set to the Contact, a retransmitted 2xx is
// ACKed again; and the UAS side retransmits its 200 until the ACK,
// answers retransmitted INVITE and BYE with the same bytes, and refuses
// a CANCEL for an unknown call.
func TestCallScripted(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p := &fakeProxy{t: t, conn: conn}
	scen := &bench.Call{Realm: testRealm, Users: users(t, 2, "secret%06d")}
	type out struct {
		res *bench.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := bench.Run(ctxT(t), bench.Config{
			Target: conn.LocalAddr().(*net.UDPAddr).AddrPort(), Scenario: scen, Rate: 10, Duration: time.Second, Max: 1, Sockets: 1,
			T1: 50 * time.Millisecond, T2: 400 * time.Millisecond,
		})
		done <- out{res, err}
	}()

	inv1 := p.next("INVITE", starts("INVITE sip:user000001@"+testRealm+" SIP/2.0"))
	if header(inv1, "Proxy-Authorization") != "" || header(inv1, "CSeq") != "1 INVITE" || header(inv1, "Content-Type") != "application/sdp" {
		t.Fatalf("first INVITE:\n%s", inv1)
	}
	if !strings.HasPrefix(header(inv1, "From"), "<sip:user000002@"+testRealm+">;tag=") {
		t.Fatalf("From of the caller: %q", header(inv1, "From"))
	}
	p.send(echo(inv1, "407 Proxy Authentication Required", `Proxy-Authenticate: Digest realm="`+testRealm+`", nonce="n1", algorithm=MD5, qop="auth"`+"\n"))
	ack1 := p.next("ACK of the 407", starts("ACK "))
	if branchRE.FindStringSubmatch(ack1)[1] != branchRE.FindStringSubmatch(inv1)[1] || header(ack1, "CSeq") != "1 ACK" ||
		!strings.HasSuffix(header(ack1, "To"), ";tag=px") || !strings.HasPrefix(ack1, "ACK sip:user000001@"+testRealm+" ") {
		t.Fatalf("ACK of the 407 (INVITE branch %s):\n%s", branchRE.FindStringSubmatch(inv1)[1], ack1)
	}
	inv2 := p.next("INVITE with credentials", starts("INVITE "))
	auth := header(inv2, "Proxy-Authorization")
	cnonce := regexp.MustCompile(`cnonce="([^"]+)"`).FindStringSubmatch(auth)
	if cnonce == nil || header(inv2, "CSeq") != "2 INVITE" {
		t.Fatalf("second INVITE:\n%s", inv2)
	}
	want := bench.DigestResponse(bench.MD5, "user000002", testRealm, "secret000002", "INVITE", "sip:user000001@"+testRealm, "n1", "00000001", cnonce[1], "auth")
	if !strings.Contains(auth, `response="`+want+`"`) || !strings.Contains(auth, `uri="sip:user000001@`+testRealm+`"`) {
		t.Fatalf("credentials %q, want response %s", auth, want)
	}
	p.send(echo(inv2, "100 Trying", ""))

	// The UAS side, on the same socket.
	uasInvite := "INVITE sip:user000001@" + p.peer.String() + " SIP/2.0\nVia: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bKfp1\n" +
		"Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKorig\nRecord-Route: <sip:" + p.addr() + ";lr>\nFrom: <sip:x@r>;tag=fx\n" +
		"To: <sip:user000001@r>\nCall-ID: uas-1\nCSeq: 7 INVITE\nContent-Type: application/sdp\nContent-Length: 52\n\n" +
		"v=0\nc=IN IP4 127.0.0.1\nm=audio 4000 RTP/AVP 0\n"
	p.send(uasInvite)
	isUAS := func(status string) func(string) bool {
		return func(m string) bool { return strings.HasPrefix(m, "SIP/2.0 "+status) && header(m, "Call-ID") == "uas-1" }
	}
	ringing := p.next("180", isUAS("180"))
	ok := p.next("200", isUAS("200"))
	tag := regexp.MustCompile(`;tag=(ua[^;\r\n]+)`).FindStringSubmatch(header(ok, "To"))
	if tag == nil || !strings.Contains(header(ringing, "To"), tag[1]) || header(ok, "Record-Route") != "<sip:"+p.addr()+";lr>" ||
		header(ok, "Contact") == "" || !strings.Contains(ok, "m=audio ") || !strings.Contains(ok, "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKorig\r\n") {
		t.Fatalf("UAS answers:\n%s\n%s", ringing, ok)
	}
	if again := p.next("200 retransmitted", isUAS("200")); again != ok {
		t.Fatalf("retransmitted 200 differs:\n%s", again)
	}
	p.send(uasInvite)
	if again := p.next("200 to the INVITE again", isUAS("200")); again != ok {
		t.Fatalf("200 to the retransmitted INVITE differs:\n%s", again)
	}
	inDialog := "sip:user000001@" + p.peer.String() + " SIP/2.0\nVia: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bKfp%s\n" +
		"From: <sip:x@r>;tag=fx\nTo: <sip:user000001@r>;tag=" + tag[1] + "\nCall-ID: uas-1\nCSeq: %s\nContent-Length: 0\n\n"
	p.send("ACK " + strings.Replace(strings.Replace(inDialog, "%s", "2", 1), "%s", "7 ACK", 1))
	p.send("BYE " + strings.Replace(strings.Replace(inDialog, "%s", "3", 1), "%s", "8 BYE", 1))
	byeOK := p.next("200 to the BYE", func(m string) bool { return isUAS("200")(m) && header(m, "CSeq") == "8 BYE" })
	p.send("BYE " + strings.Replace(strings.Replace(inDialog, "%s", "3", 1), "%s", "8 BYE", 1))
	if again := p.next("200 to the BYE again", func(m string) bool { return isUAS("200")(m) && header(m, "CSeq") == "8 BYE" }); again != byeOK {
		t.Fatalf("200 to the retransmitted BYE differs:\n%s", again)
	}
	p.send("CANCEL sip:user000001@h SIP/2.0\nVia: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bKfp9\nFrom: <sip:x@r>;tag=fx\nTo: <sip:user000001@r>\nCall-ID: nobody\nCSeq: 1 CANCEL\nContent-Length: 0\n\n")
	p.next("481 to the CANCEL", starts("SIP/2.0 481"))

	// Back to the caller: answer, record-routed, from another contact.
	ok2 := echo(inv2, "200 OK", "Record-Route: <sip:"+p.addr()+";lr;r=2>\nRecord-Route: <sip:"+p.addr()+";lr;r=1>\nContact: <sip:user000001@127.0.0.1:9>\n")
	p.send(ok2)
	ack2 := p.next("ACK of the 200", starts("ACK "))
	if !strings.HasPrefix(ack2, "ACK sip:user000001@127.0.0.1:9 SIP/2.0") || header(ack2, "Route") != "<sip:"+p.addr()+";lr;r=1>, <sip:"+p.addr()+";lr;r=2>" ||
		header(ack2, "CSeq") != "2 ACK" || branchRE.FindStringSubmatch(ack2)[1] == branchRE.FindStringSubmatch(inv2)[1] {
		t.Fatalf("ACK of the 200:\n%s", ack2)
	}
	bye := p.next("BYE", starts("BYE "))
	if !strings.HasPrefix(bye, "BYE sip:user000001@127.0.0.1:9 SIP/2.0") || header(bye, "Route") != header(ack2, "Route") ||
		header(bye, "CSeq") != "3 BYE" || !strings.HasSuffix(header(bye, "To"), ";tag=px") {
		t.Fatalf("BYE:\n%s", bye)
	}
	p.send(ok2)
	if again := p.next("ACK of the retransmitted 200", starts("ACK ")); again != ack2 {
		t.Fatalf("second ACK differs:\n%s", again)
	}
	p.send(echo(bye, "200 OK", ""))

	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	res, c := o.res, o.res.Calls
	if res.Succeeded != 1 || res.Failed != 0 || c == nil {
		t.Fatalf("ok %d failed %d %v", res.Succeeded, res.Failed, res.Failures)
	}
	if c.Challenged != 1 || c.Reacked != 1 || c.UASInvites != 1 || c.UASInviteRetrans != 1 || c.UASAcks != 1 || c.UASByes != 1 || c.UAS200Retrans < 1 {
		t.Fatalf("call counters %+v", *c)
	}
}
