// Package proxy owns the SIP server of sipedge on sipgo: its listeners
// (UDP and TCP), the request chain (recover → limits → sanity → NAT →
// route by method), and the proxy core: stateful forwarding (RFC 3261
// §16), forking, CANCEL, in-dialog routing, flows and upstream gateways.
//
// Every request, whatever its method, enters one chain of Handler stages
// (chain.go) through a single adapter that owns the request's context, the
// metrics, and the rule that a request is answered at most once. Responses
// always go to the request's real source address.
//
// With EnableForwarding, INVITE and the other dialog methods get routes
// (forward.go): initial requests are authenticated (gateways by address,
// devices by IP or 407 digest), planned by one seam (plan.go: the future
// routing package replaces it), and forked (fork.go: parallel to every
// binding, or serially over a gateway pool with failover); in-dialog
// requests follow our Record-Route (dialog.go). cancel.go sends our CANCELs
// and ends calls answered too late; loop.go detects loops by our branch;
// gateway.go keeps pool health; flowclose.go drops the bindings of a TCP
// connection when it closes.
//
// It may import registrar, location, devices and routing; never the HTTP stack.
package proxy
