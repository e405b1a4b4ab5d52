package routing

// Gateway legs: a device's call to a number that is not one of ours, and
// the forward leg of call_forward (a new off-net call made on behalf of the
// forwarding device, so its dial plan, restrictions and caller ID apply).

const (
	anonymousUser    = "anonymous"
	anonymousHost    = "anonymous.invalid"
	anonymousDisplay = "Anonymous"
)

// gatewayNumber runs dial plans (device, then account; every matching rule,
// chained) and converts to e164.
func (c *call) gatewayNumber(dev *Profile, n string) string {
	n = dev.DialPlan.Apply(n)
	n = c.accountPlan().Apply(n)
	return ToE164(n)
}

// outbound plans the gateway leg of an on-net caller's call to a number
// that is no device of ours.
func (c *call) outbound() {
	caller := c.in.Caller
	num := c.gatewayNumber(caller, c.dialed)
	cl := Classify(num)
	if c.denied(caller, cl) {
		c.p.refuse(RestrictedRefusal(cl))
		return
	}
	b := c.gatewayLeg(num, cl)
	b.From.User, b.From.Display = c.externalCallerID(caller, cl == ClassEmergency)
	b.From.Host = caller.Realm
	c.identity(caller, b, cl)
	for _, h := range caller.HeadersOut {
		b.setHeader(h.Name, h.Value)
	}
}

func (c *call) gatewayLeg(num string, cl Class) *Branch {
	b := c.p.add(KindGateway)
	b.Number = num
	b.Class = cl
	b.To = Party{User: num}
	b.RingTimeout = c.ringTimeout()
	b.StripHeaders = append(b.StripHeaders, stripInternal)
	if c.in.Caller != nil {
		b.StripHeaders = append(b.StripHeaders, identityHeaders[:]...)
	}
	return b
}

// identity adds P-Asserted-Identity and outbound privacy for dev's off-net
// call. Emergency calls are never anonymised.
func (c *call) identity(dev *Profile, b *Branch, cl Class) {
	pai := dev.paiValue
	if cl == ClassEmergency {
		pai = dev.paiEmergency
	}
	if pai != "" {
		b.setHeader(headerPAI, pai)
	}
	if cl == ClassEmergency || dev.OutboundPrivacy == PrivacyNone {
		return
	}
	switch dev.OutboundPrivacy {
	case PrivacyName:
		b.From.Display = anonymousDisplay
	case PrivacyNumber:
		b.From.User, b.From.Host = anonymousUser, anonymousHost
	case PrivacyFull:
		b.From = Party{Display: anonymousDisplay, User: anonymousUser, Host: anonymousHost}
	}
	// RFC 3323/3325: the gateway must withhold the identity beyond the
	// trust domain; P-Asserted-Identity still tells it who called.
	b.setHeader(headerPrivacy, "id")
}

// forwardClass classifies the callee's forward number.
func (c *call) forwardClass(callee *Profile) Class {
	return Classify(c.gatewayNumber(callee, callee.CallForward.Number))
}

// forwardLeg adds the callee's forward leg; false when the callee's (or the
// account's) call_restriction denies the forward number.
func (c *call) forwardLeg(callee *Profile, why forwardReason) bool {
	cf := &callee.CallForward
	num := c.gatewayNumber(callee, cf.Number)
	cl := Classify(num)
	if c.denied(callee, cl) {
		return false
	}
	b := c.gatewayLeg(num, cl)
	b.Forward = true
	// keep_caller_id keeps an off-net caller's ID; an on-net call is
	// presented with the forwarding device's external ID (Kazoo).
	keep := cf.KeepCallerID && c.in.Caller == nil
	if keep {
		b.From = Party{User: c.fromUser, Display: c.fromDisplay, Host: callee.Realm}
	} else {
		b.From.User, b.From.Display = c.forwardCallerID(callee, cl == ClassEmergency)
		b.From.Host = callee.Realm
	}
	if keep {
		if pai := callee.paiValue; pai != "" && cl != ClassEmergency {
			b.setHeader(headerPAI, pai)
		}
	} else {
		c.identity(callee, b, cl)
	}
	host := ""
	if callee.Realm != "" {
		host = "@" + callee.Realm
	}
	b.Diversion = "<sip:" + c.dialed + host + ">;reason=" + diversionReasons[why]
	b.setHeader(headerDiversion, b.Diversion)
	b.setHeader(HeaderForwardedBy, callee.DeviceID)
	if cf.RequireKeypress {
		b.setHeader(HeaderRequireKeypress, "true")
	}
	if cf.RequireKeypress || !cf.Substitute || cf.IgnoreEarlyMedia {
		b.setHeader(HeaderIgnoreEarlyMedia, "true")
	}
	for _, h := range callee.HeadersOut {
		b.setHeader(h.Name, h.Value)
	}
	return true
}

// forwardCallerID is the forwarding device's external (or emergency)
// caller ID, falling back to its username: the caller's own ID would be
// wrong here, the forwarding device is who places this call.
func (c *call) forwardCallerID(dev *Profile, emergency bool) (user, display string) {
	var acct CallerIDs
	if c.in.Account != nil {
		acct = c.in.Account.CallerID
	}
	if emergency {
		user = first(dev.CallerID.Emergency.Number, acct.Emergency.Number)
		display = first(dev.CallerID.Emergency.Name, acct.Emergency.Name)
	}
	user = first(user, dev.CallerID.External.Number, acct.External.Number, dev.presenceUser, c.fromUser)
	display = first(display, dev.CallerID.External.Name, acct.External.Name)
	return user, display
}
