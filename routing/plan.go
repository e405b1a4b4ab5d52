package routing

import (
	"net/netip"
	"strings"
	"time"

	"github.com/sipedge/sipedge/location"
)

// Kind says where a branch goes.
type Kind uint8

// Branch kinds.
const (
	// KindDevice: an INVITE to a device: to Binding's flow, or, for route
	// and sip.ip legs (Binding nil), to RequestURI's host, Target or Proxy.
	KindDevice Kind = iota
	// KindGateway: an INVITE to the upstream gateways for Number; the proxy
	// picks the pool and builds the Request-URI (sip:<Number>@<gateway>).
	KindGateway
)

func (k Kind) String() string {
	if k == KindGateway {
		return "gateway"
	}
	return "device"
}

// ForkMode is how the branches of a plan ring.
type ForkMode uint8

// Fork modes. Only parallel forking exists today: every branch rings at
// once and the first 2xx wins.
const (
	ForkParallel ForkMode = iota
)

// Party is the user, host and display name of a From or To header. An empty
// Host on a gateway leg's To means "the gateway's host".
type Party struct {
	Display string // unquoted; "" for none
	User    string
	Host    string
}

// Refusal is the final answer when a call is not forwarded anywhere.
type Refusal struct {
	Code   int    // SIP status
	Phrase string // reason phrase
	Reason string // Reason header value (RFC 3326), e.g. `Q.850;cause=20;text="Subscriber Absent"`; "" for none
}

// Branch is one INVITE the proxy sends.
type Branch struct {
	Kind Kind
	// Binding is the registration a device leg is sent to (its flow: source
	// address, transport, connection). Nil for route, sip.ip and gateway
	// legs. It points into Input.Bindings.
	Binding *location.Binding
	// Target is where a sip.ip leg is sent (port 5060); zero otherwise.
	Target netip.AddrPort
	// Proxy is sip.proxy for route and sip.ip legs: send there instead of
	// the Request-URI host when set.
	Proxy string
	// RequestURI is the whole Request-URI; "" on gateway legs.
	RequestURI string
	To, From   Party
	// Number is what a gateway leg routes on: the dialled (or forward)
	// number after dial plans, in e164 when it converts; "" on device legs.
	Number string
	// Class is the classification of Number on gateway legs.
	Class Class
	// Headers are added to the INVITE after StripHeaders are removed.
	Headers []Header
	// StripHeaders are removed from the incoming request before Headers
	// are added: exact names, case-insensitive, and InternalPrefix+"*" for
	// the whole internal namespace. Use Strips.
	StripHeaders []string
	// Forward marks a leg that exists because of call_forward; Diversion is
	// its Diversion header value (also in Headers).
	Forward   bool
	Diversion string
	// RingTimeout: CANCEL the branch when it has not answered by then.
	// ProgressTimeout (media.progress_timeout): CANCEL it when no
	// provisional response above 100 came by then; 0 for none.
	RingTimeout     time.Duration
	ProgressTimeout time.Duration
	// Codecs: when set, offer the device only these codecs (Config.FilterCodecs).
	Codecs []string
}

// Strips says whether the proxy must remove an incoming header named name
// from this branch's INVITE.
func (b *Branch) Strips(name string) bool {
	for _, s := range b.StripHeaders {
		if n := len(s); n > 0 && s[n-1] == '*' {
			if len(name) >= n-1 && strings.EqualFold(name[:n-1], s[:n-1]) {
				return true
			}
			continue
		}
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// Header returns the value of the first added header named name.
func (b *Branch) Header(name string) (string, bool) {
	for _, h := range b.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// Plan is the decision for one INVITE: a Refusal, or branches to fork to.
type Plan struct {
	// Refusal.Code is 0 when the call goes ahead.
	Refusal  Refusal
	Branches []Branch
	Fork     ForkMode
	// Callee is the device the call was for (nil for calls to gateways).
	Callee *Profile
}

// Refused says whether the plan is a refusal.
func (p *Plan) Refused() bool { return p.Refusal.Code != 0 }

func (p *Plan) reset() {
	for i := range p.Branches {
		// keep the header buffers; drop everything that points elsewhere
		b := &p.Branches[i]
		*b = Branch{Headers: b.Headers[:0], StripHeaders: b.StripHeaders[:0]}
	}
	p.Branches = p.Branches[:0]
	p.Refusal = Refusal{}
	p.Fork = ForkParallel
	p.Callee = nil
}

// add appends a branch, reusing the header buffers of an earlier plan.
func (p *Plan) add(k Kind) *Branch {
	n := len(p.Branches)
	if n < cap(p.Branches) {
		p.Branches = p.Branches[:n+1]
	} else {
		p.Branches = append(p.Branches, Branch{})
	}
	b := &p.Branches[n]
	*b = Branch{Kind: k, Headers: b.Headers[:0], StripHeaders: b.StripHeaders[:0]}
	return b
}

// drop removes the last branch (keeping its buffers for reuse).
func (p *Plan) drop() {
	n := len(p.Branches) - 1
	b := &p.Branches[n]
	*b = Branch{Headers: b.Headers[:0], StripHeaders: b.StripHeaders[:0]}
	p.Branches = p.Branches[:n]
}

func (p *Plan) refuse(r Refusal) {
	for len(p.Branches) > 0 {
		p.drop()
	}
	p.Refusal = r
}

// setHeader adds a header to the branch, replacing an earlier one of the
// same name, and strips the incoming one.
func (b *Branch) setHeader(name, value string) {
	for i := range b.Headers {
		if strings.EqualFold(b.Headers[i].Name, name) {
			b.Headers[i].Value = value
			return
		}
	}
	b.Headers = append(b.Headers, Header{Name: name, Value: value})
	b.StripHeaders = append(b.StripHeaders, name)
}

// The refusals routing answers with.
var (
	refuseNotFound = Refusal{Code: 404, Phrase: "Not Found",
		Reason: `Q.850;cause=1;text="Unallocated Number"`}
	refuseBadNumber = Refusal{Code: 484, Phrase: "Address Incomplete",
		Reason: `Q.850;cause=28;text="Invalid Number Format"`}
	refuseUnregistered = Refusal{Code: 480, Phrase: "Temporarily Unavailable",
		Reason: `Q.850;cause=20;text="Subscriber Absent"`}
	refuseDisabled = Refusal{Code: 480, Phrase: "Temporarily Unavailable",
		Reason: `Q.850;cause=21;text="Call Rejected"`}
	refuseDND = Refusal{Code: 486, Phrase: "Busy Here",
		Reason: `Q.850;cause=17;text="User Busy"`}
	refuseCallerDisabled = Refusal{Code: 403, Phrase: "Forbidden",
		Reason: `Q.850;cause=21;text="Call Rejected"`}
)

// restrictedRefusal: 403 with the class in the Reason text (pre-built, one
// per class, so a refusal does not allocate).
var restrictedRefusal = func() (r [numClasses]Refusal) {
	for c := range r {
		r[c] = Refusal{Code: 403, Phrase: "Forbidden",
			Reason: `Q.850;cause=21;text="Call Restricted (` + Class(c).String() + `)"`}
	}
	return r
}()

// RestrictedRefusal is the refusal for a call denied by call_restriction.
func RestrictedRefusal(c Class) Refusal {
	if c >= numClasses {
		c = ClassUnknown
	}
	return restrictedRefusal[c]
}
