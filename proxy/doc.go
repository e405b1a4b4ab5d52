// Package proxy owns the SIP server of sipedge on sipgo: its listeners
// (UDP and TCP now; TLS, WS and WSS later), the request chain
// (recover → limits → sanity → NAT → route by method; auth and forwarding
// slot in before the route), and, later, stateful forwarding, forking,
// CANCEL, in-dialog routing and upstream gateways.
//
// Every request, whatever its method, enters one chain of Handler stages
// (chain.go) through a single adapter that owns the request's context, the
// metrics, and the rule that a request is answered at most once. Responses
// always go to the request's real source address.
//
// It may import registrar, location, devices and routing; never the HTTP stack.
package proxy
