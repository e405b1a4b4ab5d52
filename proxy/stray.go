package proxy

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// strayResponse relays a response that matched no client transaction: a
// callee's 2xx to INVITE retransmitted after our transaction ended (sipgo
// keeps an answered INVITE client transaction 64·T1, RFC 6026 Timer M).
// RFC 3261 §16.7 step 10 / RFC 6026 §7: a proxy forwards such a 2xx
// statelessly, by the Via below its own. Anything else, or a 2xx whose top
// Via is not ours or whose next Via is no address we can send to, is
// dropped, as is a 2xx for a Call-ID that is no call we saw answered. It
// reports whether it took the response.
func (f *forwarder) strayResponse(res *sip.Response) bool {
	if f.relayStatelessAnswer(res, f.s.m.stray[strayRelayed]) {
		return true
	}
	cseq := res.CSeq()
	if !res.IsSuccess() || cseq == nil || cseq.MethodName != sip.INVITE {
		f.s.m.stray[strayDropped].Inc()
		return false
	}
	vias := res.GetHeaders("Via")
	if len(vias) < 2 {
		f.s.m.stray[strayDropped].Inc()
		return false
	}
	top, ok := vias[0].(*sip.ViaHeader)
	if !ok || !f.isSelf(top.Host, top.Port) {
		f.s.m.stray[strayDropped].Inc()
		return false
	}
	if br, _ := top.Params.Get("branch"); !strings.HasPrefix(br, sip.RFC3261BranchMagicCookie) {
		f.s.m.stray[strayDropped].Inc()
		return false
	}
	// Only for a call we forwarded and saw answered: a forged Via of ours
	// must not turn the proxy into a reflector toward any address.
	if !f.dialogKnown(resCallID(res)) {
		f.s.m.stray[strayDropped].Inc()
		return false
	}
	next, ok := vias[1].(*sip.ViaHeader)
	if !ok {
		f.s.m.stray[strayDropped].Inc()
		return false
	}
	dest, tr, ok := viaDestination(next)
	if !ok || f.isSelf(dest.Addr().String(), int(dest.Port())) {
		f.s.log.Debug("stray 2xx dropped: no upstream in its Via", "call_id", resCallID(res), "via", next.Value())
		f.s.m.stray[strayDropped].Inc()
		return true
	}
	up := f.upstreamCopy(res)
	up.SetTransport(tr)
	up.SetDestination(dest.String())
	// Counted before the write: once it is on the wire, the caller may
	// look at the counter.
	f.s.m.stray[strayRelayed].Inc()
	if err := f.s.srv.WriteResponse(up); err != nil {
		f.s.log.Info("stray 2xx not relayed", "call_id", resCallID(res), "dst", dest.String(), "err", err)
	}
	return true
}

// viaDestination is where a response to v goes (RFC 3261 §18.2.2, RFC
// 3581): received and rport over the sent-by. Only IP addresses: a sent-by
// host name would need a DNS lookup in sipgo's response path.
func viaDestination(v *sip.ViaHeader) (netip.AddrPort, string, bool) {
	host := v.Host
	if r, ok := v.Params.Get("received"); ok && r != "" {
		host = r
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if err != nil || a.IsUnspecified() || a.IsMulticast() {
		return netip.AddrPort{}, "", false
	}
	port := v.Port
	if rp, ok := v.Params.Get("rport"); ok && rp != "" {
		n, err := strconv.ParseUint(rp, 10, 16)
		if err != nil {
			return netip.AddrPort{}, "", false
		}
		port = int(n)
	}
	tr := strings.ToUpper(v.Transport)
	if port == 0 {
		port = 5060
		if tr == "TLS" {
			port = 5061
		}
	}
	if port < 1 || port > 65535 || transportIndex(tr) == len(transportNames)-1 {
		return netip.AddrPort{}, "", false
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), tr, true
}

func resCallID(res *sip.Response) string {
	if c := res.CallID(); c != nil {
		return c.Value()
	}
	return ""
}
