// Package routing owns the call-routing decisions of sipedge: given who is
// calling, what they dialled, the callee's device and its bindings, it says
// where the INVITE goes (one branch per target: a registered contact, a
// device dialled at its address or route, or the upstream gateways), with
// which Request-URI, To, From and headers, or which SIP status refuses it.
//
// It is pure: no I/O, no clocks, no logging, no SIP or HTTP stack. It reads
// devices.Device and devices.Account documents and location.Binding values,
// types only. Everything a call needs from a device document is compiled once
// per document change (Compile, CompileAccount) into an immutable Profile, so
// that Decide on a typical device-to-device call allocates nothing when the
// caller reuses its Plan (DecideInto).
//
// Semantics are Kazoo's (kazoo-semantics.md §1–§3) with the decisions of
// DESIGN.md: a missing sip.invite_format is "contact"; "username" is Kazoo
// 4's sip:<static_invite|username>@realm; number formats send
// sip:<converted>@realm to the binding's flow; "route" is sip.route verbatim
// and needs no registration; a sip.ip device is dialled at its address.
//
// Numbers follow Kazoo's default NANP converters and classifiers, which are
// fixed here; other numbering plans are expressed with dial plans.
//
// How the proxy uses it, per INVITE:
//
//	dialed := routing.Dialed(caller, ruriUser)          // caller nil for gateways
//	callee, _ := routing.Resolve(realm, dialed, index)  // index: a NumberIndex
//	bindings := <location lookup of callee's AOR>
//	routing.DecideInto(&plan, &routing.Input{...})
//	if plan.Refused() { answer plan.Refusal } else { fork plan.Branches }
//
// For each branch the proxy removes the incoming headers Branch.Strips
// names (always the X-Sipedge- namespace), adds Branch.Headers, sets
// Request-URI, To and From, and sends to the binding's flow, the sip.ip
// target, sip.proxy, or the gateway pool for Branch.Number. FilterSDP
// restricts an offer to Branch.Codecs.
//
// Values that reach the wire (header names and values, caller-ID names and
// numbers, URIs) are checked when a profile is compiled: one carrying CR, LF,
// NUL or another control character is dropped and reported in
// Profile.Warnings, never put on the wire. Per-call inputs from the network
// are checked the same way in Decide.
package routing
