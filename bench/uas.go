package bench

import (
	"bytes"
	"net/netip"
	"strconv"
	"time"
)

// uasConfig is what a calls scenario asks of the UAS side.
type uasConfig struct {
	// media streams RTP back to the caller between ACK and BYE.
	media bool
	// hold is the callers' hold time: it bounds a callee's stream when no
	// BYE comes, and lengthens the drain.
	hold time.Duration
	// report puts the call counters in the Result (not for the warm-up).
	report bool
}

// uas is the called side of one worker's socket. It lives under the
// worker's lock, is driven by the worker's reader and timers, and keeps
// per call only what it needs to answer retransmissions: no goroutine, no
// parsed message, the response bytes in a pooled buffer.
type uas struct {
	w     *worker
	cfg   uasConfig
	calls map[uint64]*uasCall
	pool  []*uasCall
	next  uint64
	out   []byte
	body  []byte
	// Counters, under the worker's lock.
	invites, inviteRetrans, acks, byes, cancels, retrans200, ackTimeouts, other int64
}

// uasCall is one call answered here.
type uasCall struct {
	key      uint64
	gen      uint32
	state    uint8
	cseq     uint32
	callID   []byte
	tag      []byte
	resp     []byte // the 200 to the INVITE, then the 200 to the BYE
	first    int64
	interval time.Duration
	peer     netip.AddrPort
	ssrc     uint32
	stream   streamRef
}

const (
	uasAnswered  uint8 = iota + 1 // 200 sent, no ACK yet
	uasConfirmed                  // ACKed
	uasEnded                      // BYE answered; kept to answer retransmissions
)

func newUAS(w *worker, cfg uasConfig) *uas {
	return &uas{w: w, cfg: cfg, calls: make(map[uint64]*uasCall, 1024), out: make([]byte, 0, 2048)}
}

// callKey hashes a Call-ID (FNV-1a) so the table needs no string per call;
// a collision is caught by comparing the Call-ID itself.
func callKey(id []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range id {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

func (u *uas) lookup(q *Request) *uasCall {
	c := u.calls[callKey(q.CallID)]
	if c == nil || !bytes.Equal(c.callID, q.CallID) {
		return nil
	}
	return c
}

// request answers one request; under the worker's lock.
func (u *uas) request(q *Request, now int64) {
	switch {
	case equalFoldASCII(q.Method, "INVITE"):
		u.invite(q, now)
	case equalFoldASCII(q.Method, "ACK"):
		c := u.lookup(q)
		if c == nil {
			u.other++
			return
		}
		u.acks++
		if c.state == uasAnswered {
			c.state = uasConfirmed
			c.gen++
			// A callee whose BYE never comes stops on its own.
			until := now + int64(u.cfg.hold) + u.w.r.timeout
			if u.w.media != nil && c.peer.IsValid() {
				c.stream = u.w.media.start(c.ssrc, c.peer, until)
			}
			u.w.timers.push(timerEntry{at: until, id: c.key, gen: c.gen, kind: timerUAS})
		}
	case equalFoldASCII(q.Method, "BYE"):
		c := u.lookup(q)
		if c == nil {
			u.reply(q, "481 Call/Transaction Does Not Exist")
			u.other++
			return
		}
		if c.state == uasEnded {
			if q.CSeq == c.cseq {
				u.send(c.resp)
			}
			return
		}
		u.byes++
		if u.w.media != nil {
			u.w.media.stop(c.stream)
		}
		c.state, c.cseq = uasEnded, q.CSeq
		c.gen++
		c.resp = u.appendResponse(c.resp[:0], q, "200 OK", nil, false)
		u.send(c.resp)
		// Kept long enough to answer a retransmitted BYE (Timer J is 64·T1;
		// a proxy retransmits within T2, so a fraction of that is plenty).
		u.w.timers.push(timerEntry{at: now + int64(8*u.w.r.cfg.T1), id: c.key, gen: c.gen, kind: timerUAS})
	case equalFoldASCII(q.Method, "CANCEL"):
		// Every INVITE is answered at once, so a CANCEL always finds the
		// INVITE completed: 200 to the CANCEL, nothing to the INVITE
		// (§9.2); an unknown one gets 481.
		u.cancels++
		if u.lookup(q) == nil {
			u.reply(q, "481 Call/Transaction Does Not Exist")
			return
		}
		u.reply(q, "200 OK")
	default:
		// OPTIONS and the like: a stateless 200.
		u.other++
		u.reply(q, "200 OK")
	}
}

func (u *uas) invite(q *Request, now int64) {
	if c := u.lookup(q); c != nil {
		// A retransmission (or a re-INVITE, which these calls never send):
		// the same final answer again (§17.2.1).
		u.inviteRetrans++
		if c.state != uasEnded && q.CSeq == c.cseq {
			u.send(c.resp)
		}
		return
	}
	if len(q.ToTag) > 0 {
		u.reply(q, "481 Call/Transaction Does Not Exist")
		u.other++
		return
	}
	var c *uasCall
	if n := len(u.pool); n > 0 {
		c, u.pool = u.pool[n-1], u.pool[:n-1]
	} else {
		c = &uasCall{}
	}
	u.next++
	c.key, c.state, c.cseq, c.first, c.interval = callKey(q.CallID), uasAnswered, q.CSeq, now, u.w.r.cfg.T1
	c.gen++
	c.callID = append(c.callID[:0], q.CallID...)
	c.tag = append(c.tag[:0], 'u', 'a')
	c.tag = strconv.AppendUint(c.tag, u.next, 36)
	c.tag = append(c.tag, '.')
	c.tag = strconv.AppendInt(c.tag, int64(u.w.id), 36)
	c.peer, _ = sdpAudio(q.Body)
	c.ssrc = ssrcFor(1, u.w.id, u.next)
	c.stream = streamRef{}
	u.calls[c.key] = c
	u.invites++

	u.out = u.appendResponse(u.out[:0], q, "180 Ringing", c.tag, false)
	u.send(u.out)
	c.resp = u.appendResponse(c.resp[:0], q, "200 OK", c.tag, true)
	u.send(c.resp)
	// The 200 is ours to retransmit until the ACK (§13.3.1.4).
	u.w.timers.push(timerEntry{at: now + int64(c.interval), id: c.key, gen: c.gen, kind: timerUAS})
}

// timer retransmits an unacknowledged 200 or forgets a call; under the lock.
func (u *uas) timer(e timerEntry, now int64) {
	c := u.calls[e.id]
	if c == nil || c.gen != e.gen {
		return
	}
	if c.state == uasAnswered && e.at-c.first < u.w.r.timeout {
		u.send(c.resp)
		u.retrans200++
		c.interval = min(2*c.interval, u.w.r.cfg.T2)
		u.w.timers.push(timerEntry{at: e.at + int64(c.interval), id: c.key, gen: c.gen, kind: timerUAS})
		return
	}
	if c.state == uasAnswered {
		u.ackTimeouts++
	}
	if u.w.media != nil {
		u.w.media.stop(c.stream)
	}
	delete(u.calls, c.key)
	c.gen++
	c.stream = streamRef{}
	u.pool = append(u.pool, c)
}

func (u *uas) send(b []byte) { u.w.write(b) }

// reply sends a response that needs no keeping.
func (u *uas) reply(q *Request, status string) {
	u.out = u.appendResponse(u.out[:0], q, status, nil, false)
	u.w.write(u.out)
}

// appendResponse builds a response to q. tag is added to a To without one;
// answer adds the Contact, Record-Route and SDP of a 2xx to an INVITE.
func (u *uas) appendResponse(b []byte, q *Request, status string, tag []byte, answer bool) []byte {
	b = append(b, "SIP/2.0 "...)
	b = append(b, status...)
	b = append(b, "\r\n"...)
	for _, v := range q.Via[:q.NVia] {
		b = append(b, "Via: "...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
	}
	if tag != nil {
		// Record-Route is copied into every response that makes a dialog (§12.1.1).
		for _, v := range q.RecordRoute[:q.NRecordRoute] {
			b = append(b, "Record-Route: "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "From: "...)
	b = append(b, q.From...)
	b = append(b, "\r\nTo: "...)
	b = append(b, q.To...)
	if len(q.ToTag) == 0 && tag != nil {
		b = append(b, ";tag="...)
		b = append(b, tag...)
	}
	b = append(b, "\r\nCall-ID: "...)
	b = append(b, q.CallID...)
	b = append(b, "\r\nCSeq: "...)
	b = strconv.AppendUint(b, uint64(q.CSeq), 10)
	b = append(b, ' ')
	b = append(b, q.CSeqMethod...)
	b = append(b, "\r\n"...)
	if !answer {
		return append(b, "Content-Length: 0\r\n\r\n"...)
	}
	b = append(b, "Contact: <sip:"...)
	b = append(b, u.w.local...)
	b = append(b, ">\r\n"...)
	u.body = appendSDP(u.body[:0], u.next, u.w.mediaAddr())
	b = append(b, "Content-Type: application/sdp\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(u.body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, u.body...)
}

// mediaAddr is where this worker receives RTP: its media socket, or the
// discard port when the scenario streams nothing.
func (w *worker) mediaAddr() netip.AddrPort {
	if w.media != nil {
		return w.media.addr
	}
	return netip.AddrPortFrom(w.localAP.Addr(), 9)
}

// appendSDP appends a one-stream PCMU offer or answer for addr.
func appendSDP(b []byte, id uint64, addr netip.AddrPort) []byte {
	ip := "IP4 "
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		ip = "IP6 "
	}
	b = append(b, "v=0\r\no=sipbench "...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, " 1 IN "...)
	b = append(b, ip...)
	b = addr.Addr().Unmap().AppendTo(b)
	b = append(b, "\r\ns=-\r\nc=IN "...)
	b = append(b, ip...)
	b = addr.Addr().Unmap().AppendTo(b)
	b = append(b, "\r\nt=0 0\r\nm=audio "...)
	b = strconv.AppendUint(b, uint64(addr.Port()), 10)
	return append(b, " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"...)
}
