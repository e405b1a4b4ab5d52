package routing

import (
	"time"

	"github.com/sipedge/sipedge/location"
)

// DefaultRingTimeout is Config.RingTimeout when unset.
const DefaultRingTimeout = 60 * time.Second

// Config is the deployment-wide part of a decision.
type Config struct {
	// RingTimeout is how long a branch may ring (DefaultRingTimeout when 0).
	RingTimeout time.Duration
	// FilterCodecs: offer a device only its media.audio.codecs.
	FilterCodecs bool
}

// Input is one INVITE to decide on. The proxy fills it; strings from the
// network are checked here again (a value with CR, LF or NUL is not used).
type Input struct {
	// Caller is the calling device's profile; nil when the call came from an
	// upstream gateway (off-net). A device caller makes the call on-net.
	Caller *Profile
	// Account is the account the call belongs to: the caller's for a call
	// from a device, the callee's for a call from a gateway. May be nil.
	Account *AccountProfile
	// DialedUser is the Request-URI user; for a call from a device,
	// Dialed(caller, user): what Resolve was given.
	DialedUser string
	// Callee is the device DialedUser reaches (Resolve); nil when none.
	Callee *Profile
	// Bindings are the callee's live registrations.
	Bindings []location.Binding
	// FromDisplay and FromUser are the From of the INVITE: the caller ID
	// of an off-net call, the last fallback of an on-net one. (The incoming
	// To is not used: every branch gets a To built for its target.)
	FromDisplay, FromUser string
	// Indirect marks a call that did not dial the callee directly (a hunt
	// or ring group): call_forward.direct_calls_only does not forward it.
	// The edge has no groups today, so the proxy leaves it false.
	Indirect bool
	Config   Config
}

// OnNet says whether the call came from one of our devices.
func (in *Input) OnNet() bool { return in.Caller != nil }

// Decide decides on an INVITE. See DecideInto for the allocation-free form.
func Decide(in Input) Plan {
	var p Plan
	DecideInto(&p, &in)
	return p
}

// DecideInto decides on an INVITE into p, reusing p's buffers: with a Plan
// kept per worker (or pooled), a device-to-device call on compiled profiles
// allocates nothing. The previous contents of p are overwritten.
//
// In order:
//   - unusable dialled user → 484; a disabled calling device → 403;
//   - the caller's inbound formatters rewrite the From (Dialed already
//     rewrote the dialled user);
//   - no callee: from a gateway → 404; from a device → one gateway leg,
//     after dial plans (device, then account), call_restriction (403 when
//     denied), caller-ID, privacy and P-Asserted-Identity;
//   - a device caller's call_restriction also applies to calls to devices;
//   - callee disabled → 480; DND → its forward leg when forwarding is
//     active, else 486;
//   - active forwarding (enabled, a number, and not an indirect call with
//     direct_calls_only): substitute → the forward leg alone, else the
//     device's legs and the forward leg in parallel;
//   - device legs: route format → sip.route; sip.ip → that address; else
//     one leg per binding, Request-URI per invite_format;
//   - no device leg: failover → the forward leg; else 480 (cause 20);
//   - a forward leg whose number the callee may not call is dropped; no
//     branch left → 403.
func DecideInto(p *Plan, in *Input) {
	p.reset()
	c := call{in: in, p: p}
	c.decide()
}

// Dialed is the dialled user a call from caller is routed on: the
// Request-URI user after the caller's inbound "request" formatters. The
// proxy resolves the callee with it and passes it as Input.DialedUser.
// A nil caller (a gateway) returns user.
func Dialed(caller *Profile, user string) string {
	if caller == nil || caller.Formatters == nil {
		return user
	}
	return formatUser(caller.Formatters.request, dirInbound, user, caller.InviteFormat)
}

// call is the working state of one decision.
type call struct {
	in          *Input
	p           *Plan
	dialed      string
	fromUser    string
	fromDisplay string
}

func (c *call) decide() {
	in, p := c.in, c.p
	if !userSafe(in.DialedUser) {
		p.refuse(refuseBadNumber)
		return
	}
	c.dialed = in.DialedUser
	c.fromUser = in.FromUser
	if !userSafe(c.fromUser) {
		c.fromUser = "anonymous"
	}
	c.fromDisplay = in.FromDisplay
	if !displaySafe(c.fromDisplay) {
		c.fromDisplay = ""
	}
	caller := in.Caller
	if caller != nil {
		if !caller.Enabled {
			p.refuse(refuseCallerDisabled)
			return
		}
		if fs := caller.Formatters; fs != nil {
			c.fromUser = formatUser(fs.cidNumber, dirInbound, c.fromUser, caller.InviteFormat)
			c.fromUser = formatUser(fs.from, dirInbound, c.fromUser, caller.InviteFormat)
			c.fromDisplay = formatDisplay(fs.cidName, dirInbound, c.fromDisplay, caller.InviteFormat)
		}
	}

	callee := in.Callee
	p.Callee = callee
	if callee == nil {
		if caller == nil {
			p.refuse(refuseNotFound)
			return
		}
		c.outbound()
		return
	}
	if caller != nil && c.hasRestrictions(caller) {
		if cl := ClassifyDialed(c.dialed, caller.DialPlan, c.accountPlan()); c.denied(caller, cl) {
			p.refuse(RestrictedRefusal(cl))
			return
		}
	}
	c.toDevice(callee)
}

func (c *call) accountPlan() *DialPlan {
	if c.in.Account == nil {
		return nil
	}
	return c.in.Account.DialPlan
}

func (c *call) hasRestrictions(dev *Profile) bool {
	return dev.Restrictions.any() || (c.in.Account != nil && c.in.Account.Restrictions.any())
}

// denied: the account's deny always wins, then the device's (Kazoo's
// account → device precedence; sipedge has no users).
func (c *call) denied(dev *Profile, cl Class) bool {
	if a := c.in.Account; a != nil && a.Restrictions.Of(cl) == ActionDeny {
		return true
	}
	return dev.Restrictions.Of(cl) == ActionDeny
}

// forwardReason is the Diversion reason (RFC 5806) of a forward leg.
type forwardReason uint8

const (
	fwdUnconditional forwardReason = iota
	fwdUnavailable
	fwdDND
)

var diversionReasons = [...]string{"unconditional", "unavailable", "do-not-disturb"}

func (c *call) toDevice(callee *Profile) {
	in, p := c.in, c.p
	if !callee.Enabled {
		p.refuse(refuseDisabled)
		return
	}
	cf := &callee.CallForward
	active := cf.Enabled && cf.Number != "" && !(cf.DirectCallsOnly && in.Indirect)
	if callee.DND || (in.Account != nil && in.Account.DND) {
		if active {
			c.forwardOnly(callee, fwdDND)
			return
		}
		p.refuse(refuseDND)
		return
	}
	if active && cf.Substitute {
		c.forwardOnly(callee, fwdUnconditional)
		return
	}
	legs := c.deviceLegs(callee)
	if active {
		c.forwardLeg(callee, fwdUnconditional)
		if len(p.Branches) == 0 {
			p.refuse(RestrictedRefusal(c.forwardClass(callee)))
		}
		return
	}
	if legs > 0 {
		return
	}
	if cf.Failover && cf.Number != "" {
		c.forwardOnly(callee, fwdUnavailable)
		return
	}
	p.refuse(refuseUnregistered)
}

// forwardOnly plans the forward leg alone; a restricted forward number is
// refused with 403.
func (c *call) forwardOnly(callee *Profile, why forwardReason) {
	if !c.forwardLeg(callee, why) {
		c.p.refuse(RestrictedRefusal(c.forwardClass(callee)))
	}
}
