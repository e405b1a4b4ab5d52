package proxy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/proxy/proxytest"
	"github.com/sipedge/sipedge/registrar"
)

// The RFC 4475 messages live in testdata/rfc4475 under the RFC's own names,
// transcribed from the RFC text with its <hex> and <repeat> notations
// expanded and CRLF line ends (see the README there).

// outcome is what the RFC (§3) asks of an element for one message.
type outcome int

const (
	// handled: a well-formed request; any final answer but 400 (and never a
	// 500, which would mean a crash caught by the recoverer). Requests to
	// foreign domains get what an edge gives them (404, 403, 501, …).
	handled outcome = iota
	// rejected: a malformed request; 400 with a reason phrase saying what is
	// wrong, or dropped without answer (both are what §3.1.2 allows).
	rejected
	// silent: never answered (responses, which a server cannot answer, and
	// requests dropped before parsing).
	silent
	// codes: exactly one of the listed final codes (§3.2, §3.3).
	codes
	// sipgo400: sipgo's transaction layer answers a stateless "400 Bad
	// Request" before our chain sees the request: it cannot key a
	// transaction for an INVITE without an RFC 3261 branch (magic cookie),
	// so RFC 2543-style INVITEs are refused there. Observed, not wished for.
	sipgo400
)

type tortureCase struct {
	name string
	want outcome
	// codes for want == codes; for rejected, extra codes allowed besides 400.
	codes []int
	// streamWaits: over a stream the message announces more body than it
	// carries, so the server rightly waits for the rest (§3.1.2.2): no
	// answer, and nothing more can be sent on that connection.
	streamWaits bool
	// udp, when set, is the outcome over UDP where it differs (see why at
	// the case).
	udp *outcome
}

func over(o outcome) *outcome { return &o }

var tortureCases = []tortureCase{
	// §3.1.1 valid messages: accepted and handled.
	{name: "wsinv", want: sipgo400},  // branch=390skdjuw has no magic cookie
	{name: "intmeth", want: handled}, // the method starts with "!", a token character
	{name: "esc01", want: handled},
	{name: "escnull", want: handled},
	{name: "esc02", want: handled},
	{name: "lwsdisp", want: handled},
	// Over UDP the answer (echoing 33 Vias and the long To/From) is beyond
	// sipgo's UDP MTU, which refuses to send it; RFC 3261 §18.2.2 would
	// move it to TCP, which sipgo does not do. Over TCP it is answered.
	{name: "longreq", want: handled, udp: over(silent)},
	// Over UDP the INVITE after the REGISTER is trailing junk to ignore;
	// over TCP it is a second request. Either way the REGISTER is answered.
	{name: "dblreq", want: handled},
	{name: "semiuri", want: handled},
	{name: "transports", want: handled},
	{name: "mpart01", want: handled},
	{name: "unreason", want: silent}, // a response: matched to nothing, dropped
	{name: "noreason", want: silent}, // likewise

	// §3.1.2 invalid messages: 400 or dropped.
	{name: "badinv01", want: rejected},
	{name: "clerr", want: rejected, streamWaits: true},
	{name: "ncl", want: rejected},
	{name: "scalar02", want: rejected},
	{name: "scalarlg", want: silent}, // a malformed response is dropped
	{name: "quotbal", want: rejected},
	{name: "ltgtruri", want: rejected},
	{name: "lwsruri", want: rejected},
	{name: "lwsstart", want: rejected},
	{name: "trws", want: rejected},
	{name: "escruri", want: rejected},
	{name: "baddate", want: rejected},
	// sipgo reads the unbracketed Contact's "?Route=" as URI headers, which
	// leaves it indistinguishable from regescrt's bracketed one; the
	// registrar then challenges it, and nothing is bound unauthenticated.
	{name: "regbadct", want: rejected, codes: []int{401}},
	{name: "badaspec", want: rejected},
	// sipgo accepts the unquoted "Bell, Alexander" as a display name and
	// does not keep the raw form; the OPTIONS to a foreign domain is then
	// refused like any other (501).
	{name: "baddn", want: rejected, codes: []int{501}},
	{name: "badvers", want: rejected, codes: []int{505}},
	{name: "mismatch01", want: rejected},
	{name: "mismatch02", want: rejected, codes: []int{501}},
	{name: "bigcode", want: silent},

	// §3.2 transaction layer: a bare magic cookie is still a branch.
	{name: "badbranch", want: handled},

	// §3.3 application layer.
	{name: "insuf", want: rejected},
	{name: "unkscm", want: codes, codes: []int{416}},
	// sipgo's parser refuses the soap.beep URI ("invalid uri scheme")
	// before our chain: dropped on UDP, the connection closed on TCP.
	{name: "novelsc", want: silent},
	// A registrar cannot bind an AOR that is no SIP URI: rejected, though
	// the RFC leaves the code to the element.
	{name: "unksm2", want: rejected, codes: []int{404, 416, 403}},
	{name: "bext01", want: codes, codes: []int{420}},
	{name: "invut", want: handled},                     // a proxy does not look at the body type
	{name: "regaut01", want: codes, codes: []int{401}}, // unknown scheme: challenged
	{name: "multi01", want: rejected},
	{name: "mcl01", want: rejected},
	{name: "bcast", want: silent},
	// A proxy answers 483 (RFC 3261 §16.3 step 3); we answer OPTIONS
	// ourselves as a UAS would, which RFC 4475 §3.3.11 also allows.
	{name: "zeromf", want: codes, codes: []int{483, 200}},
	{name: "cparam01", want: handled},
	{name: "cparam02", want: handled},
	{name: "regescrt", want: handled},
	{name: "sdp01", want: handled},

	// §3.4 backward compatibility: RFC 2543 syntax (no branch, no From tag).
	{name: "inv2543", want: sipgo400}, // no branch at all
}

// TestRFC4475 sends every torture message as raw bytes over UDP and TCP to a
// running server (with the real registrar behind it) and checks the answer
// against the RFC, then that the server still answers an OPTIONS.
func TestRFC4475(t *testing.T) {
	reg := tortureRegistrar(t)

	files, err := filepath.Glob("testdata/rfc4475/*.dat")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tortureCases) {
		t.Errorf("%d message files, %d cases: every message needs its expected outcome", len(files), len(tortureCases))
	}
	for _, tc := range tortureCases {
		msg, err := os.ReadFile(filepath.Join("testdata", "rfc4475", tc.name+".dat"))
		if err != nil {
			t.Fatal(err)
		}
		for _, transport := range []string{"UDP", "TCP"} {
			t.Run(tc.name+"/"+transport, func(t *testing.T) {
				// A server each: several messages share a branch and sent-by,
				// and sipgo would take one for a retransmission of another.
				srv := proxytest.NewServer(t, reg)
				want := tc
				if transport == "UDP" && tc.udp != nil {
					want.want = *tc.udp
				}
				var got *sip.Response
				msg := matchTopVia(msg, transport)
				if transport == "UDP" {
					got = tortureUDP(t, srv, want, msg)
				} else {
					got = tortureTCP(t, srv, want, msg)
				}
				checkTorture(t, want, got)
			})
		}
	}
}

// viaTransport is the transport of a Via value, folded or not.
var viaTransport = regexp.MustCompile(`(?i)(SIP\s*/\s*2\.0\s*/\s*)(UDP|TCP|TLS|SCTP)\b`)

// matchTopVia makes the top Via name the transport the test sends on. The
// messages name UDP, TCP, TLS or SCTP at random; sipgo sends a response by
// the Via's transport, so an answer to a "UDP" Via that came over TCP would
// go out as a datagram to the connection's address, where nobody listens.
// Only that token is touched; a message whose Via is broken stays broken.
func matchTopVia(msg []byte, transport string) []byte {
	loc := viaTransport.FindSubmatchIndex(msg)
	if loc == nil {
		return msg
	}
	out := append([]byte{}, msg[:loc[4]]...)
	out = append(out, transport...)
	return append(out, msg[loc[5]:]...)
}

// tortureRegistrar is the real registrar with the failed-auth limiter
// lifted: the suite sends many bad REGISTERs from one address, and a ban
// would turn later answers into silence.
func tortureRegistrar(t *testing.T) *registrar.Service {
	t.Helper()
	store, err := devices.Open(devices.Options{Path: t.TempDir() + "/sipedge.db"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg := registrar.Default()
	cfg.FailedAuth.Limit = 1 << 20
	reg, err := registrar.New(cfg, store, location.New(location.Options{}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func checkTorture(t *testing.T, tc tortureCase, res *sip.Response) {
	t.Helper()
	describe := "no answer"
	if res != nil {
		describe = fmt.Sprintf("%d %q", res.StatusCode, res.Reason)
	}
	switch tc.want {
	case handled:
		if res == nil || res.StatusCode == 400 || res.StatusCode == 500 {
			t.Fatalf("got %s, want a final answer other than 400/500", describe)
		}
	case silent:
		if res != nil {
			t.Fatalf("got %s, want no answer", describe)
		}
	case rejected:
		if res == nil {
			return
		}
		if res.StatusCode != 400 && !slices.Contains(tc.codes, res.StatusCode) {
			t.Fatalf("got %s, want 400 (or %v) or no answer", describe, tc.codes)
		}
	case codes:
		if res == nil || !slices.Contains(tc.codes, res.StatusCode) {
			t.Fatalf("got %s, want one of %v", describe, tc.codes)
		}
	case sipgo400:
		if res == nil || res.StatusCode != 400 || res.Reason != "Bad Request" {
			t.Fatalf("got %s, want sipgo's stateless 400 \"Bad Request\"", describe)
		}
		return
	}
	if res != nil && res.StatusCode == 400 && (res.Reason == "" || res.Reason == "Bad Request") {
		t.Errorf("400 with reason %q: the reason must say what is wrong", res.Reason)
	}
}

// probe is an OPTIONS to the server itself, sent after a torture message:
// its 200 proves the server still serves, and as the server reads one
// socket in order, an answer to the torture message comes first or never.
func probe(srv *proxytest.Server, transport, callID string) []byte {
	return []byte(request(fmt.Sprintf("OPTIONS sip:%s SIP/2.0", srv.Addr(transport)),
		"Via: SIP/2.0/"+transport+" 127.0.0.1:9;rport;branch="+branch(),
		"From: <sip:probe@example.com>;tag=p1", "To: <sip:probe@example.com>",
		"Call-ID: "+callID, "CSeq: 1 OPTIONS", "Max-Forwards: 70"))
}

// tortureUDP sends msg then a probe from one socket and returns the final
// answer to msg, if any arrived before the probe's.
func tortureUDP(t *testing.T, srv *proxytest.Server, tc tortureCase, msg []byte) *sip.Response {
	t.Helper()
	c := rawUDP(t, srv.UDP, string(msg))
	probeID := "probe-" + sip.GenerateTagN(10)
	if _, err := c.Write(probe(srv, "UDP", probeID)); err != nil {
		t.Fatal(err)
	}
	return collect(t, c, probeID, expectsAnswer(tc))
}

// tortureTCP does the same on one connection; when the message leaves the
// stream waiting for body bytes, the probe goes on a fresh connection and
// the first connection must stay silent (or be closed) meanwhile.
func tortureTCP(t *testing.T, srv *proxytest.Server, tc tortureCase, msg []byte) *sip.Response {
	t.Helper()
	c, err := net.Dial("tcp", srv.TCP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	probeID := "probe-" + sip.GenerateTagN(10)
	if tc.streamWaits {
		p, err := net.Dial("tcp", srv.TCP.String())
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if _, err := p.Write(probe(srv, "TCP", probeID)); err != nil {
			t.Fatal(err)
		}
		if collect(t, p, probeID, false) != nil {
			t.Fatal("answer on the probe connection")
		}
		// The probe round trip is done; whatever the first connection was
		// going to answer at once, it has by now.
		if err := c.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		if n, err := c.Read(buf); err == nil {
			if res := parseResponse(t, buf[:n]); res != nil {
				return res
			}
		}
		return nil
	}
	if _, err := c.Write(probe(srv, "TCP", probeID)); err != nil {
		if isClosed(err) {
			return nil // the server closed the connection on the bad message
		}
		t.Fatal(err)
	}
	return collectStream(t, c, probeID, expectsAnswer(tc))
}

// expectsAnswer: the case must be answered, so the reader waits for that
// answer as well as the probe's.
func expectsAnswer(tc tortureCase) bool {
	switch tc.want {
	case handled, codes, sipgo400:
		return true
	}
	return false
}

// grace is how long a reader keeps listening, after the probe's answer, for
// an answer to a message that may rightly go unanswered. Requests are
// handled concurrently, so the probe may overtake; this only bounds how long
// a wrong answer could hide, it decides no outcome.
const grace = 150 * time.Millisecond

// answers gathers final responses from next until the probe's final answer
// has come and, if wantAnswer, another final answer too; without wantAnswer
// it listens a grace period after the probe's answer. It returns the first
// final answer that is not the probe's.
func answers(t *testing.T, c net.Conn, probeID string, wantAnswer bool, next func() ([]*sip.Response, error)) (*sip.Response, error) {
	t.Helper()
	var first *sip.Response
	probed := false
	deadline := time.Now().Add(5 * time.Second)
	for {
		if probed && (first != nil || !wantAnswer) {
			if first != nil {
				return first, nil
			}
			deadline = time.Now().Add(grace)
			wantAnswer = true // one grace read, then done
		}
		if err := c.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		ress, err := next()
		if err != nil {
			var ne net.Error
			if probed && errors.As(err, &ne) && ne.Timeout() {
				return first, nil
			}
			return first, err
		}
		for _, res := range ress {
			if res.IsProvisional() {
				continue
			}
			if cid := res.CallID(); cid != nil && cid.Value() == probeID {
				if res.StatusCode != 200 {
					t.Fatalf("probe OPTIONS: %d %s", res.StatusCode, res.Reason)
				}
				probed = true
				continue
			}
			if first == nil {
				first = res
			}
		}
	}
}

// collect reads datagrams (see answers).
func collect(t *testing.T, c net.Conn, probeID string, wantAnswer bool) *sip.Response {
	t.Helper()
	buf := make([]byte, 65535)
	res, err := answers(t, c, probeID, wantAnswer, func() ([]*sip.Response, error) {
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		if r := parseResponse(t, buf[:n]); r != nil {
			return []*sip.Response{r}, nil
		}
		return nil, nil
	})
	if err != nil {
		t.Fatalf("reading answers: %v (answer so far: %v)", err, res != nil)
	}
	return res
}

// collectStream is collect on a stream, split into messages by
// Content-Length. If the server closes the connection (it may, on garbage),
// the probe is retried on a fresh connection to show the server still serves.
func collectStream(t *testing.T, c net.Conn, probeID string, wantAnswer bool) *sip.Response {
	t.Helper()
	var pending []byte
	buf := make([]byte, 65535)
	res, err := answers(t, c, probeID, wantAnswer, func() ([]*sip.Response, error) {
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		pending = append(pending, buf[:n]...)
		var out []*sip.Response
		for {
			msg, rest, ok := splitStream(pending)
			if !ok {
				return out, nil
			}
			pending = rest
			if r := parseResponse(t, msg); r != nil {
				out = append(out, r)
			}
		}
	})
	if err == nil {
		return res
	}
	if !isClosed(err) {
		t.Fatalf("reading answers: %v", err)
	}
	p, derr := net.Dial("tcp", c.RemoteAddr().String())
	if derr != nil {
		t.Fatal(derr)
	}
	defer p.Close()
	id := "probe-" + sip.GenerateTagN(10)
	if _, err := p.Write(probeBytesFor(c.RemoteAddr(), id)); err != nil {
		t.Fatal(err)
	}
	if collectStream(t, p, id, false) != nil {
		t.Fatal("unexpected answer on the probe connection")
	}
	return res
}

func probeBytesFor(addr net.Addr, callID string) []byte {
	return []byte(request(fmt.Sprintf("OPTIONS sip:%s SIP/2.0", addr),
		"Via: SIP/2.0/TCP 127.0.0.1:9;rport;branch="+branch(),
		"From: <sip:probe@example.com>;tag=p1", "To: <sip:probe@example.com>",
		"Call-ID: "+callID, "CSeq: 1 OPTIONS", "Max-Forwards: 70"))
}

// splitStream cuts one message off b by its Content-Length.
func splitStream(b []byte) (msg, rest []byte, ok bool) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, b, false
	}
	head := b[:end+4]
	n := 0
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			continue
		}
		name = bytes.TrimSpace(name)
		if bytes.EqualFold(name, []byte("Content-Length")) || bytes.EqualFold(name, []byte("l")) {
			_, _ = fmt.Sscanf(string(bytes.TrimSpace(value)), "%d", &n)
		}
	}
	if len(b) < len(head)+n {
		return nil, b, false
	}
	return b[:len(head)+n], b[len(head)+n:], true
}

func parseResponse(t *testing.T, b []byte) *sip.Response {
	t.Helper()
	m, err := sip.ParseMessage(b)
	if err != nil {
		t.Fatalf("server sent something unparseable %q: %v", b, err)
	}
	res, ok := m.(*sip.Response)
	if !ok {
		return nil
	}
	return res
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
