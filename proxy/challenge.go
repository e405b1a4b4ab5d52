package proxy

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"unsafe"

	"github.com/emiago/sipgo/sip"
)

// The stateless challenge. Every call from a phone starts with an INVITE
// without credentials that can only be answered 407 (or 403 or 400): a
// server transaction for it, with its goroutine, timers and the wait for
// the ACK, was a fifth of what a call cost. Kamailio answers it
// statelessly (proxy_challenge over sl), and so does this: in the socket
// reader, through the same chain and the same identify as the full path,
// with a fastTx whose To-tag is derived from the request. The ACK for the
// 407 carries that tag and none of our Record-Route tokens, and the ACK
// route drops it, as a stateless element does (RFC 3261 §16.11); a
// retransmitted INVITE simply gets the same answer again.
//
// What is not certain to end in a challenge goes the full way, decided on
// the bytes before anything is parsed: a source that is a gateway or an
// IP-authenticated device, a Proxy-Authorization header, a To-tag.

var invitePrefix = []byte("INVITE ")

// challengePath is what the stateless challenge needs of the forwarder.
type challengePath struct {
	f       *forwarder
	handler Handler
}

// enableChallenge turns the stateless challenge on for f.
func (s *Server) enableChallenge(f *forwarder) {
	if s.fast == nil || !s.cfg.ChallengeFastPath {
		return
	}
	s.fast.challenge.Store(&challengePath{f: f, handler: buildChain(HandlerFunc(f.challengeStateless), s.chain())})
}

// fastChallenge answers data if it is an INVITE the full path could only
// challenge or refuse, and reports whether it took it.
func (s *Server) fastChallenge(p sip.TransportReadProps, data []byte) (taken bool) {
	fp := s.fast
	if fp == nil || !bytes.HasPrefix(data, invitePrefix) {
		return false
	}
	cp := fp.challenge.Load()
	if cp == nil {
		return false
	}
	fc, raddr := fp.ours(p)
	if fc == nil {
		return false
	}
	ip := raddr.AddrPort().Addr().Unmap()
	// A view of the datagram, not a copy: nothing of it is kept.
	if cp.f.gw.bySource(ip) != nil || cp.f.dir.ByIP(ip) != nil || !mayChallenge(unsafe.String(unsafe.SliceData(data), len(data))) {
		return false
	}
	defer s.fastRecover("challenge", raddr, &taken)
	req := fp.request(data)
	if req == nil || req.Method != sip.INVITE || hasToTag(req) || req.GetHeader("Proxy-Authorization") != nil {
		// Odd spellings the byte scan missed: parsed twice, rarely.
		return false
	}
	s.m.stateless[statelessAnswered].Inc()
	s.serveFast(cp.handler, fc, raddr, req)
	return true
}

// fastAck drops the ACK for an answer of the stateless challenge, which
// no transaction waits for, before sipgo parses it.
func (s *Server) fastAck(data []byte) bool {
	if s.fast == nil || s.fast.challenge.Load() == nil || !bytes.HasPrefix(data, ackPrefix) {
		return false
	}
	// A view, not a copy: nothing of it is kept.
	if !statelessAck(unsafe.String(unsafe.SliceData(data), len(data))) {
		return false
	}
	s.m.stateless[statelessAckDropped].Inc()
	return true
}

var ackPrefix = []byte("ACK ")

// statelessAck reports whether msg is the ACK for a final response of the
// stateless challenge: its To-tag is the one stableTag derives from the
// ACK's own Call-ID, CSeq number, From tag and top Via branch, all the
// INVITE's (RFC 3261 §17.1.1.3), as Kamailio's sl module recognises the
// ACKs to its replies. Anything it cannot read is not.
func statelessAck(msg string) bool {
	var callID, fromTag, toTag, branch string
	var seq int
	var haveVia, haveSeq bool
	sc := newRawScan(msg)
	for name, v, ok := sc.next(); ok; name, v, ok = sc.next() {
		switch classify(name) {
		case rhVia:
			if haveVia {
				continue
			}
			haveVia = true
			// One Via per line, as a phone writes its own (the raw
			// REGISTER reader asks the same).
			top := v
			if strings.IndexByte(top, ',') >= 0 || !rawLowerVia(top) {
				return false
			}
			if semi := strings.IndexByte(top, ';'); semi >= 0 {
				branch, ok = rawParam(top[semi:], "branch")
			}
		case rhFrom:
			_, _, params, parsed := rawNameAddr(v)
			fromTag, ok = rawParam(params, "tag")
			ok = ok && parsed
		case rhTo:
			_, _, params, parsed := rawNameAddr(v)
			toTag, ok = rawParam(params, "tag")
			ok = ok && parsed
		case rhCallID:
			callID = v
		case rhCSeq:
			num, method, _ := strings.Cut(v, " ")
			seq, ok = rawDigits(num, 10)
			ok = ok && strings.Trim(method, " \t") == "ACK" && seq < 1<<31
			haveSeq = true
		}
		if !ok {
			return false
		}
	}
	if sc.bad || toTag == "" || callID == "" || branch == "" || !haveSeq {
		return false
	}
	var b [16]byte
	return toTag == string(strconv.AppendUint(b[:0], stableTag(callID, uint32(seq), fromTag, branch), 36))
}

// challengeStateless is the start of serveInitial for an INVITE known to
// carry no credentials: loop check, then identify, which answers.
func (f *forwarder) challengeStateless(_ context.Context, tx sip.ServerTransaction, req *sip.Request) error {
	if f.looped(req) {
		return Status(482, "Loop Detected")
	}
	c, err := f.identify(tx, req)
	if err != nil || c == nil {
		return err
	}
	// Authenticated without credentials: the source became a gateway or
	// an IP-auth device since the reader looked. There is no transaction
	// to forward on; the caller's retransmission takes the full path.
	return Status(503, "Service Unavailable")
}

// mayChallenge scans the header lines of an INVITE for what makes it one
// the full path must see: Proxy-Authorization, or a To header with a tag.
// A line it cannot read sends the INVITE the full way too.
func mayChallenge(msg string) bool {
	sc := newRawScan(msg)
	for name, v, ok := sc.next(); ok; name, v, ok = sc.next() {
		if strings.EqualFold(name, "Proxy-Authorization") {
			return false
		}
		if classify(name) == rhTo {
			_, _, params, ok := rawNameAddr(v)
			if !ok {
				return false
			}
			if tag, ok := rawParam(params, "tag"); !ok || tag != "" {
				return false
			}
		}
	}
	return !sc.bad
}

// rawScan walks the header lines of a message after its start line, as
// rawHeaderLine reads them.
type rawScan struct {
	rest string
	bad  bool // a line the raw readers leave to sipgo, or no end of headers
}

func newRawScan(msg string) rawScan {
	_, rest, ok := strings.Cut(msg, "\r\n")
	return rawScan{rest: rest, bad: !ok}
}

// next returns the next header line; false at the end of the headers, or
// at a bad line (bad is then set).
func (s *rawScan) next() (name, value string, ok bool) {
	if s.bad {
		return "", "", false
	}
	line, rest, found := strings.Cut(s.rest, "\r\n")
	s.rest = rest
	switch {
	case !found:
		s.bad = true
	case line != "":
		name, value, ok = rawHeaderLine(line)
		s.bad = !ok
	}
	return name, value, ok
}
