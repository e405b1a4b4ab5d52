package routing

// This file builds the branches: device legs (per invite_format), the
// forward leg of call_forward, and the gateway leg of an off-net call.

import "time"

const (
	headerAlertInfo = "Alert-Info"
	headerPAI       = "P-Asserted-Identity"
	headerPrivacy   = "Privacy"
	headerDiversion = "Diversion"
	stripInternal   = InternalPrefix + "*"
)

// identityHeaders are what a device may not assert itself: removed from
// every INVITE a device sends (the edge sets P-Asserted-Identity itself).
var identityHeaders = [...]string{"P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID"}

// deviceLegs adds the callee's device legs and returns how many.
func (c *call) deviceLegs(callee *Profile) int {
	switch {
	case callee.InviteFormat == FormatRoute && callee.Route != "":
		b := c.deviceLeg(callee)
		b.RequestURI = callee.Route
		b.To = callee.routeTo
		b.Proxy = callee.Proxy
		c.finishDeviceLeg(callee, b, false)
		return 1
	case callee.IP.IsValid():
		b := c.deviceLeg(callee)
		user := c.ipUser(callee)
		b.Target = callee.IP
		b.Proxy = callee.Proxy
		b.To = Party{User: user, Host: callee.ipHost}
		c.finishDeviceLeg(callee, b, true)
		return 1
	}
	n := 0
	for i := range c.in.Bindings {
		bnd := &c.in.Bindings[i]
		var uri string
		if callee.InviteFormat == FormatContact || callee.InviteFormat == FormatRoute {
			if uri = ContactURI(bnd); uri == "" {
				continue // nothing usable to send to
			}
		}
		b := c.deviceLeg(callee)
		b.Binding = bnd
		switch callee.InviteFormat {
		case FormatContact, FormatRoute:
			b.RequestURI = uri
			user := callee.Username
			if user == "" {
				user = c.dialed
			}
			b.To = Party{User: user, Host: callee.Realm}
		case FormatUsername:
			user := callee.inviteUser
			if user == "" {
				user = c.dialed
			}
			b.To = Party{User: user, Host: callee.Realm}
		default: // number formats
			user := callee.numberUser
			if user == "" {
				user = Convert(callee.InviteFormat, c.dialed)
			}
			b.To = Party{User: user, Host: callee.Realm}
		}
		c.finishDeviceLeg(callee, b, b.RequestURI == "")
		n++
	}
	return n
}

// ipUser is the user part for a sip.ip device (ecallmgr's guess_username):
// username format → static_invite|username; number formats → sip.number or
// the dialled number, converted; otherwise sip.number or the dialled number.
func (c *call) ipUser(callee *Profile) string {
	switch {
	case callee.InviteFormat == FormatUsername && callee.inviteUser != "":
		return callee.inviteUser
	case callee.numberUser != "":
		return callee.numberUser
	case callee.Number != "":
		return callee.Number
	}
	return Convert(callee.InviteFormat, c.dialed)
}

func (c *call) deviceLeg(callee *Profile) *Branch {
	b := c.p.add(KindDevice)
	b.RingTimeout = c.ringTimeout()
	b.ProgressTimeout = callee.ProgressTimeout
	if c.in.Config.FilterCodecs {
		b.Codecs = callee.Codecs
	}
	return b
}

func (c *call) ringTimeout() (d time.Duration) {
	if d = c.in.Config.RingTimeout; d <= 0 {
		d = DefaultRingTimeout
	}
	return d
}

// finishDeviceLeg applies the callee's outbound formatters to the To (and,
// when buildURI, builds the Request-URI sip:<To user>@<To host> from it),
// picks the From and adds the headers toward the device.
func (c *call) finishDeviceLeg(callee *Profile, b *Branch, buildURI bool) {
	fs := callee.Formatters
	if fs != nil {
		b.To.User = formatUser(fs.to, dirOutbound, b.To.User, callee.InviteFormat)
	}
	if buildURI {
		user := b.To.User
		if fs != nil {
			user = formatUser(fs.request, dirOutbound, user, callee.InviteFormat)
		}
		b.RequestURI = c.sipURI(callee, user, b.To.Host)
	}

	// From: the caller's internal caller ID on-net, the caller as it came
	// from off-net; host the callee's realm.
	b.From = Party{User: c.fromUser, Display: c.fromDisplay, Host: callee.Realm}
	if caller := c.in.Caller; caller != nil {
		b.From.User, b.From.Display = c.internalCallerID(caller)
	}
	if fs != nil {
		b.From.User = formatUser(fs.cidNumber, dirOutbound, b.From.User, callee.InviteFormat)
		b.From.User = formatUser(fs.from, dirOutbound, b.From.User, callee.InviteFormat)
		b.From.Display = formatDisplay(fs.cidName, dirOutbound, b.From.Display, callee.InviteFormat)
	}

	b.StripHeaders = append(b.StripHeaders, stripInternal)
	if c.in.Caller != nil {
		b.StripHeaders = append(b.StripHeaders, identityHeaders[:]...)
	}
	ring := callee.RingtoneExternal
	if c.in.Caller != nil {
		ring = callee.RingtoneInternal
	}
	if ring != "" {
		b.setHeader(headerAlertInfo, ring)
	}
	// Custom headers last, so they may override Alert-Info; the caller's
	// out beats the callee's in (Kazoo).
	for _, h := range callee.HeadersIn {
		b.setHeader(h.Name, h.Value)
	}
	if caller := c.in.Caller; caller != nil {
		for _, h := range caller.HeadersOut {
			b.setHeader(h.Name, h.Value)
		}
	}
	if fs != nil && fs.headers != nil {
		formatHeaders(fs, dirOutbound, b, callee.InviteFormat)
	}
}

// sipURI returns sip:user@host, pre-built for the common cases.
func (c *call) sipURI(callee *Profile, user, host string) string {
	if host == callee.Realm {
		switch user {
		case callee.inviteUser:
			if callee.usernameURI != "" {
				return callee.usernameURI
			}
		case callee.numberUser:
			if callee.numberURI != "" {
				return callee.numberURI
			}
		}
	}
	if host == "" {
		return "sip:" + user
	}
	return "sip:" + user + "@" + host
}

// internalCallerID is the caller's caller_id.internal (then the account's),
// falling back to the user part of its presence id, then to the From the
// call came with.
func (c *call) internalCallerID(caller *Profile) (user, display string) {
	cid := caller.CallerID.Internal
	var acct CallerID
	if c.in.Account != nil {
		acct = c.in.Account.CallerID.Internal
	}
	user = first(cid.Number, acct.Number, caller.presenceUser, c.fromUser)
	display = first(cid.Name, acct.Name, c.fromDisplay)
	return user, display
}

// externalCallerID is dev's caller_id.external (then the account's), or for
// emergency calls caller_id.emergency first; then the From of the call.
func (c *call) externalCallerID(dev *Profile, emergency bool) (user, display string) {
	var acct CallerIDs
	if c.in.Account != nil {
		acct = c.in.Account.CallerID
	}
	ext := dev.CallerID.External
	if emergency {
		user = first(dev.CallerID.Emergency.Number, acct.Emergency.Number)
		display = first(dev.CallerID.Emergency.Name, acct.Emergency.Name)
	}
	user = first(user, ext.Number, acct.External.Number, c.fromUser)
	display = first(display, ext.Name, acct.External.Name, c.fromDisplay)
	return user, display
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// formatHeaders applies header formatters (keys are header names with '-'
// as '_', any case) to the headers added so far; strip removes one.
func formatHeaders(fs *Formatters, d direction, b *Branch, f InviteFormat) {
	out := b.Headers[:0]
	for _, h := range b.Headers {
		if list, ok := fs.headers[formatterKey(h.Name)]; ok {
			v, strip := apply(list, d, h.Value, f)
			if strip {
				continue
			}
			if wireSafe(v) {
				h.Value = v
			}
		}
		out = append(out, h)
	}
	clear(b.Headers[len(out):])
	b.Headers = out
}
