package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// branchPrefix marks the branches this proxy mints: magic cookie, our tag,
// then the loop hash (RFC 3261 §16.6 step 8) and a per-branch random part.
const branchPrefix = sip.RFC3261BranchMagicCookie + "-se"

const loopHashLen = 16

// loopHash identifies a request as we send it: Request-URI, Call-ID, From
// tag, To tag and CSeq number. Unlike §16.6's suggestion it is taken over
// the forwarded request, after the Request-URI is rewritten to the contact,
// and without the top Via: a request that comes back to us unchanged is
// then recognised whatever the hop that returned it did to the Via stack,
// while a spiral (a new Request-URI) is not taken for a loop.
func loopHash(req *sip.Request) string {
	h := sha256.New()
	h.Write([]byte(req.Recipient.String()))
	h.Write([]byte{0})
	h.Write([]byte(callID(req)))
	h.Write([]byte{0})
	if f := req.From(); f != nil {
		t, _ := f.Params.Get("tag")
		h.Write([]byte(t))
	}
	h.Write([]byte{0})
	if t := req.To(); t != nil {
		tag, _ := t.Params.Get("tag")
		h.Write([]byte(tag))
	}
	h.Write([]byte{0})
	if c := req.CSeq(); c != nil {
		h.Write([]byte(strconv.FormatUint(uint64(c.SeqNo), 10)))
	}
	var sum [32]byte
	return hex.EncodeToString(h.Sum(sum[:0]))[:loopHashLen]
}

// newBranch mints the branch for a request about to be forwarded.
func newBranch(req *sip.Request) string {
	return branchPrefix + loopHash(req) + "." + sip.GenerateTagN(8)
}

// looped reports whether req carries a Via we put on this very request
// (RFC 3261 §16.3 step 4): one of our sent-by addresses with a branch whose
// loop hash matches the request as it arrives now.
func (f *forwarder) looped(req *sip.Request) bool {
	var h string
	for _, hdr := range req.GetHeaders("Via") {
		v, ok := hdr.(*sip.ViaHeader)
		if !ok {
			continue
		}
		b, _ := v.Params.Get("branch")
		rest, ok := strings.CutPrefix(b, branchPrefix)
		if !ok || len(rest) < loopHashLen || !f.isSelf(v.Host, v.Port) {
			continue
		}
		if h == "" {
			h = loopHash(req)
		}
		if rest[:loopHashLen] == h {
			return true
		}
	}
	return false
}
