package registrar

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
)

// dateLayout is RFC 1123 in GMT, as RFC 3261 §20.17 wants for Date.
const dateLayout = "Mon, 02 Jan 2006 15:04:05 GMT"

// maxContactsPerRequest bounds the work one REGISTER can ask for.
const maxContactsPerRequest = 32

// HandleRegister answers one REGISTER. A nil response means drop silently:
// a banned source when the ban action is "drop", or a request whose Via,
// From, To, Call-ID or CSeq carries CR, LF or NUL (any answer would echo it).
func (s *Service) HandleRegister(req *sip.Request, src Source) *sip.Response {
	if req == nil {
		return nil
	}
	start := time.Now()
	var (
		res *sip.Response
		r   result
	)
	if echoSafe(req) {
		res, r = s.handleRegister(req, src)
	} else {
		r = resBadRequest // no answer can be built without echoing the injection
	}
	s.m.results[r].Inc()
	s.m.duration.Observe(time.Since(start).Seconds())
	return res
}

// pending is one Contact of the request.
type pending struct {
	hdr     *sip.ContactHeader
	orig    string // whole header value
	uri     string // URI as sipgo serialises it, the identity of a binding; lazily set
	expires int
}

// uriString is computed only when a binding's original contact differs,
// which a steady refresh never needs.
func (p *pending) uriString() string {
	if p.uri == "" {
		p.uri = p.hdr.Address.String()
	}
	return p.uri
}

// contact is the Contact without angle brackets, header params kept (Kazoo's "contact").
func (p *pending) contact() string {
	c := p.uriString()
	if p.hdr.Params.Length() > 0 {
		c += ";" + p.hdr.Params.ToString(';')
	}
	return c
}

// regOutcome tells what the location update did.
type regOutcome uint8

const (
	regApplied regOutcome = iota
	regRetransmission
	regOutOfOrder
)

func (s *Service) handleRegister(req *sip.Request, src Source) (*sip.Response, result) {
	to, from, callID, cseq := req.To(), req.From(), req.CallID(), req.CSeq()
	if to == nil || from == nil || callID == nil || cseq == nil || req.Method != sip.REGISTER {
		return s.respond(req, src, 400, "Bad Request"), resBadRequest
	}
	// Third-party registration is refused, as Kamailio's default config does:
	// the authenticated identity must be the AOR being bound.
	if !strings.EqualFold(from.Address.User, to.Address.User) || !strings.EqualFold(from.Address.Host, to.Address.Host) {
		return s.respond(req, src, 403, "Forbidden"), resFailed
	}
	dev, res, r := s.authenticate(req, src, false)
	if dev == nil {
		return res, r
	}
	realm := strings.ToLower(to.Address.Host)
	aor := strings.ToLower(to.Address.User) + "@" + realm
	now := s.now()

	hdrExpires := -1
	if h := req.GetHeader("Expires"); h != nil {
		n, ok := parseExpires(h.Value())
		if !ok {
			return s.respond(req, src, 400, "Bad Request"), resBadRequest
		}
		hdrExpires = n
	}
	hdrs := req.GetHeaders("Contact")
	if len(hdrs) == 0 {
		// A query: list the current bindings.
		return s.ok(req, src, s.loc.Lookup(aor, nil), nil, now), resOK
	}
	if len(hdrs) > maxContactsPerRequest {
		return s.respond(req, src, 400, "Bad Request"), resBadRequest
	}

	pend := make([]pending, 0, len(hdrs))
	for _, h := range hdrs {
		ch, ok := h.(*sip.ContactHeader)
		if !ok {
			return s.respond(req, src, 400, "Bad Request"), resBadRequest
		}
		if ch.Address.Wildcard {
			// RFC 3261 §10.3 step 6: "*" only alone and with Expires: 0.
			if len(hdrs) != 1 || hdrExpires != 0 {
				return s.respond(req, src, 400, "Bad Request"), resBadRequest
			}
			s.loc.Remove(aor)
			return s.ok(req, src, nil, nil, now), resRemoved
		}
		p, code := s.contactPending(ch, hdrExpires, dev)
		switch code {
		case 400:
			return s.respond(req, src, 400, "Bad Request"), resBadRequest
		case 423:
			res := s.respond(req, src, 423, "Interval Too Brief")
			res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(s.cfg.MinExpires)))
			return res, resTooBrief
		}
		pend = append(pend, p)
	}

	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = h.Value()
	}
	outcome, final := s.bind(&bindRequest{
		dev: dev, aor: aor, realm: realm, user: to.Address.User,
		callID: callID.Value(), cseq: cseq.SeqNo, userAgent: ua, pend: pend,
	}, src, now)
	switch outcome {
	case regOutOfOrder:
		// RFC 3261 §10.3 step 7: an older CSeq on the same Call-ID fails.
		return s.respond(req, src, 500, "Server Internal Error"), resBadRequest
	case regRetransmission:
		return s.ok(req, src, final, pend, now), resOK
	}
	allZero := true
	for i := range pend {
		if pend[i].expires != 0 {
			allZero = false
		}
	}
	if allZero {
		return s.ok(req, src, final, pend, now), resRemoved
	}
	return s.ok(req, src, final, pend, now), resOK
}

// contactPending checks one (non-wildcard) Contact and works out its
// lifetime from its expires parameter, the Expires header (hdrExpires, -1
// when absent), the device's expire_seconds and the defaults. code is 0
// when the contact is fine, else the answer: 400 or 423.
func (s *Service) contactPending(ch *sip.ContactHeader, hdrExpires int, dev *devices.Device) (p pending, code int) {
	if ch.Address.Scheme != "sip" && ch.Address.Scheme != "sips" || ch.Address.Host == "" {
		return p, 400
	}
	exp := hdrExpires
	if v, ok := ch.Params.Get("expires"); ok {
		n, ok := parseExpires(v)
		if !ok {
			return p, 400
		}
		exp = n
	}
	if exp < 0 {
		exp = s.cfg.DefaultExpires
		if dev.ExpireSeconds > 0 {
			exp = dev.ExpireSeconds
		}
	}
	if exp != 0 && exp < s.cfg.MinExpires {
		return p, 423
	}
	p = pending{hdr: ch, orig: contactValue(ch), expires: min(exp, s.cfg.MaxExpires)}
	if hasCtl(p.orig) {
		return p, 400
	}
	return p, 0
}

// bindRequest is an authenticated REGISTER's part in the binding step.
type bindRequest struct {
	dev               *devices.Device
	aor, realm, user  string
	callID, userAgent string
	cseq              uint32
	pend              []pending
	// final is where bind copies the bindings after it, so a caller can
	// offer room on its stack.
	final []location.Binding
}

// bind applies the request's contacts to the AOR's bindings and returns
// what it did and the bindings after it. The strings of r are copied into
// one allocation before they are stored, so a caller may pass views into a
// datagram it reuses.
func (s *Service) bind(r *bindRequest, src Source, now time.Time) (regOutcome, []location.Binding) {
	// One allocation for the four, copied: the caller's may be views.
	var sb strings.Builder
	sb.Grow(len(r.callID) + len(r.user) + len(r.realm) + len(r.userAgent))
	sb.WriteString(r.callID)
	sb.WriteString(r.user)
	sb.WriteString(r.realm)
	sb.WriteString(r.userAgent)
	own := sb.String()
	callID, own := own[:len(r.callID)], own[len(r.callID):]
	user, own := own[:len(r.user)], own[len(r.user):]
	realm, ua := own[:len(r.realm)], own[len(r.realm):]
	base := location.Binding{
		Source:    src.Addr,
		Local:     src.Local,
		Transport: src.Transport,
		Updated:   now,
		CallID:    callID,
		CSeq:      r.cseq,
		AccountID: r.dev.AccountID,
		DeviceID:  r.dev.ID,
		Username:  user,
		Realm:     realm,
		UserAgent: ua,
	}
	var (
		outcome regOutcome
		final   []location.Binding
		before  []location.Binding // for register_overwrite_notify (notify.go)
	)
	s.loc.Update(r.aor, func(cur []location.Binding) []location.Binding {
		if r.dev.RegisterOverwriteNotify && s.onOverwrite.Load() != nil {
			before = append(before[:0], cur...)
		}
		outcome, cur = s.apply(cur, r.pend, &base)
		final = append(r.final[:0], cur...)
		return cur
	})
	if outcome == regApplied {
		s.overwritten(before, final, r.pend, r.dev)
	}
	return outcome, final
}

// apply merges the request's contacts into an AOR's bindings. It runs under
// the table's shard lock, so it touches nothing but its arguments.
func (s *Service) apply(cur []location.Binding, pend []pending, base *location.Binding) (regOutcome, []location.Binding) {
	for i := range cur {
		if cur[i].CallID == base.CallID {
			switch {
			case base.CSeq < cur[i].CSeq:
				return regOutOfOrder, cur
			case base.CSeq == cur[i].CSeq:
				return regRetransmission, cur
			}
		}
	}
	now := base.Updated
	for pi := range pend {
		p := &pend[pi]
		idx := -1
		for i := range cur {
			if sameContact(&cur[i], p) {
				idx = i
				break
			}
		}
		if p.expires == 0 {
			if idx >= 0 {
				cur = append(cur[:idx], cur[idx+1:]...)
			}
			continue
		}
		b := *base
		if idx >= 0 && cur[idx].OriginalContact == p.orig {
			b.Contact, b.OriginalContact = cur[idx].Contact, cur[idx].OriginalContact
		} else {
			b.Contact, b.OriginalContact = p.contact(), p.orig
		}
		b.Expires = now.Add(time.Duration(p.expires) * time.Second)
		b.NAT = natted(&p.hdr.Address, base.Source)
		if q, ok := p.hdr.Params.Get("q"); ok {
			if f, err := strconv.ParseFloat(q, 32); err == nil && f >= 0 && f <= 1 {
				b.Q = float32(f)
			}
		}
		if idx >= 0 {
			old := &cur[idx]
			b.Registered = old.Registered
			b.PreviousContact = old.PreviousContact
			if old.Contact != b.Contact {
				b.PreviousContact = old.Contact
			}
			*old = b
			continue
		}
		b.Registered = now
		cur = append(cur, b)
		for len(cur) > s.cfg.MaxContacts {
			// Evict the least recently refreshed binding; with MaxContacts 1
			// this is Kazoo's "a new contact replaces the old".
			oldest := 0
			for i := range cur {
				if cur[i].Updated.Before(cur[oldest].Updated) {
					oldest = i
				}
			}
			evicted := cur[oldest].Contact
			cur = append(cur[:oldest], cur[oldest+1:]...)
			cur[len(cur)-1].PreviousContact = evicted
		}
	}
	return regApplied, cur
}

// sameContact compares binding identity by URI (RFC 3261 §10.3 step 7 uses
// URI equality; string equality of the serialised URI is the common practice).
func sameContact(b *location.Binding, p *pending) bool {
	if b.OriginalContact == p.orig {
		return true
	}
	var (
		u      sip.Uri
		params sip.HeaderParams
	)
	if _, err := sip.ParseAddressValue(b.OriginalContact, &u, &params); err != nil {
		return false
	}
	return u.String() == p.uriString()
}

// natted is true unless the Contact names exactly the packet source.
func natted(u *sip.Uri, src netip.AddrPort) bool {
	ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil {
		return true
	}
	return ip.Unmap() != src.Addr().Unmap() || uint16(contactPort(u)) != src.Port()
}

// contactPort is the URI port, defaulting to 5061 for sips or TLS and 5060 otherwise.
func contactPort(u *sip.Uri) int {
	if u.Port > 0 {
		return u.Port
	}
	if u.Scheme == "sips" {
		return 5061
	}
	if t, ok := u.UriParams.Get("transport"); ok && strings.EqualFold(t, "tls") {
		return 5061
	}
	return 5060
}

// parseExpires reads a delta-seconds; values past 2^32-1 saturate (RFC 3261 §20.19).
func parseExpires(v string) (int, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < math.MaxUint32 {
			n = n*10 + int(c-'0')
		}
	}
	return min(n, math.MaxUint32), true
}

// ok builds the 200 listing every current binding with its remaining
// lifetime, plus a Date header (RFC 3261 §10.3 step 8).
func (s *Service) ok(req *sip.Request, src Source, bindings []location.Binding, pend []pending, now time.Time) *sip.Response {
	res := s.respond(req, src, 200, "OK")
	for i := range bindings {
		b := &bindings[i]
		remaining := remainingSeconds(b, now)
		if remaining <= 0 {
			continue
		}
		ch := contactHeader(b, pend, remaining)
		if ch == nil {
			continue
		}
		res.AppendHeader(ch)
	}
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format(dateLayout)))
	return res
}

// contactHeader is a binding as the 200 lists it: the request's own
// Contact when it made the binding, else the stored one, with
// expires=remaining. nil when the stored contact no longer parses.
func contactHeader(b *location.Binding, pend []pending, remaining int) *sip.ContactHeader {
	var ch *sip.ContactHeader
	for pi := range pend {
		if pend[pi].orig == b.OriginalContact {
			ch = pend[pi].hdr.Clone()
			break
		}
	}
	if ch == nil {
		ch = &sip.ContactHeader{}
		if _, err := sip.ParseAddressValue(b.OriginalContact, &ch.Address, &ch.Params); err != nil {
			return nil
		}
	}
	if ch.Params == nil {
		ch.Params = sip.NewParams()
	}
	ch.Params.Add("expires", strconv.Itoa(remaining))
	return ch
}

// remainingSeconds is a binding's lifetime left, rounded to the second.
func remainingSeconds(b *location.Binding, now time.Time) int {
	return int((b.Expires.Sub(now) + time.Second/2) / time.Second)
}

// contactValue is ch.Value() in one allocation (sipgo's grows a builder
// several times for a contact with parameters).
func contactValue(ch *sip.ContactHeader) string {
	// Pooled: a buffer handed to sipgo's writer through an interface
	// escapes, and a fresh one per REGISTER was the raw path's largest
	// allocation.
	w := appenderPool.Get().(*appender)
	w.b = w.b[:0]
	ch.StringWrite(w) // "Contact: " and the value
	v := string(w.b[len("Contact: "):])
	appenderPool.Put(w)
	return v
}

var appenderPool = sync.Pool{New: func() any { return &appender{b: make([]byte, 0, 256)} }}
