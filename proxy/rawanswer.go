package proxy

import (
	"net"
	"strings"
	"sync"
	"unsafe"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// The raw answer relay. An answer to a BYE forwarded statelessly is passed
// on as a stateless proxy passes answers on (RFC 3261 §16.7, §16.11): our
// Via taken off the top, the rest sent unchanged to the Via below it. Over
// UDP that needs three headers read, not a sipgo message built and written
// back out, so the reader does it on the datagram's bytes, after the same
// checks as relayStatelessAnswer (ours at the top, the branch's HMAC over
// the Call-ID and the next hop). What it does not fully read (a Via line
// holding several values, a Contact, which the parsed path may rewrite for
// NAT, odd parameter spellings, a stream next hop) is left to the parsed
// path, which decides the same way.

// rawAnswer is an answer read in place: every string views the datagram.
type rawAnswer struct {
	status           int
	top, next        string // the first two Via values
	topFrom, topTo   int    // the top Via's header line in the message, CRLF included
	callID           string
	vias, callIDs    int
	length, lengths  int // Content-Length and how many there were
	contact, refused bool
}

// readRawAnswer reads msg, a whole UDP datagram starting "SIP/2.0 ", and
// reports false for anything the raw relay leaves to the parsed path.
func readRawAnswer(msg string) (a rawAnswer, ok bool) {
	line, _, found := strings.Cut(msg, "\r\n")
	code, reason, _ := strings.Cut(strings.TrimPrefix(line, "SIP/2.0 "), " ")
	if !found || !strings.HasPrefix(line, "SIP/2.0 ") || len(code) != 3 || reason == "" {
		return a, false
	}
	if a.status, ok = rawDigits(code, 3); !ok || a.status < 100 {
		return a, false
	}
	// The start line goes on as it came: nothing in it but text.
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return a, false
		}
	}
	if strings.IndexByte(msg, 0) >= 0 {
		return a, false
	}
	sc := newRawScan(msg)
	for {
		from := len(msg) - len(sc.rest)
		name, v, ok := sc.next()
		if !ok {
			break
		}
		switch classify(name) {
		case rhVia:
			a.vias++
			// One value per line for the two the relay reads (sipgo, for
			// one, reads a port after an IPv6 host only when alone).
			if a.vias <= 2 && strings.IndexByte(v, ',') >= 0 {
				return a, false
			}
			switch a.vias {
			case 1:
				a.top, a.topFrom, a.topTo = v, from, len(msg)-len(sc.rest)
			case 2:
				a.next = v
			}
		case rhCallID:
			a.callID = v
			a.callIDs++
		case rhContact:
			a.contact = true
		case rhContentLength:
			n, ok := rawDigits(v, 10)
			a.lengths++
			a.length = n
			a.refused = a.refused || !ok
		case rhRefuse:
			a.refused = true
		}
	}
	// The body goes on as it came, so its length must be the one declared.
	return a, !sc.bad && a.vias >= 2 && a.callIDs == 1 && a.callID != "" && !a.contact && !a.refused &&
		a.lengths == 1 && a.length == len(sc.rest)
}

// rawVia reads a Via value ("SIP/2.0/<transport> host[:port]*(;param)") into
// the fields viaDestination and isSelf read, parameters by their exact
// names as sipgo keeps them; false for what rawLowerVia refuses and for a
// parameter named twice or in an odd case.
func rawVia(v string) (*sip.ViaHeader, bool) {
	if !rawLowerVia(v) {
		return nil, false
	}
	proto, rest, _ := strings.Cut(v, " ")
	sentBy, params, _ := strings.Cut(strings.TrimLeft(rest, " \t"), ";")
	host, port, _ := rawHostPort(strings.TrimRight(sentBy, " \t"))
	h := &sip.ViaHeader{
		ProtocolName:    "SIP",
		ProtocolVersion: "2.0",
		Transport:       proto[len("SIP/2.0/"):],
		Host:            host,
		Port:            port,
		Params:          sip.NewParams(),
	}
	if params != "" {
		params = ";" + params
	}
	for _, name := range [...]string{"branch", "received", "rport"} {
		val, found, ok := rawParamFound(params, name)
		if !ok {
			return nil, false
		}
		if found {
			h.Params.Add(name, val)
		}
	}
	return h, true
}

var answerBufs = sync.Pool{New: func() any { return new([]byte) }}

// relayRawAnswer relays data, an answer that arrived on fc, if the raw
// relay can; false leaves it to the parsed path.
func (f *forwarder) relayRawAnswer(fc *fastConn, data []byte, relayed prometheus.Counter) bool {
	// A view of the datagram: nothing of it outlives this call.
	msg := unsafe.String(unsafe.SliceData(data), len(data))
	a, ok := readRawAnswer(msg)
	if !ok {
		return false
	}
	top, ok := rawVia(a.top)
	if !ok {
		return false
	}
	next, ok := rawVia(a.next)
	if !ok {
		return false
	}
	dest, tr, ok := f.statelessAnswerDest(top, next, a.callID)
	if !ok || tr != "UDP" {
		return false
	}
	if a.status == 100 {
		return true // hop by hop
	}
	bp := answerBufs.Get().(*[]byte)
	out := append(append((*bp)[:0], data[:a.topFrom]...), data[a.topTo:]...)
	relayed.Inc()
	if _, err := fc.pc.WriteTo(out, net.UDPAddrFromAddrPort(dest)); err != nil {
		f.s.log.Info("answer not relayed", "call_id", a.callID, "dst", dest.String(), "err", err)
	}
	*bp = out
	answerBufs.Put(bp)
	return true
}
