// Package proxy owns the SIP server of sipedge on sipgo: its listeners
// (UDP and TCP now; TLS, WS and WSS later), the request chain
// (recover → limits → sanity → auth → handler), and, later, stateful
// forwarding, forking, CANCEL, in-dialog routing and upstream gateways.
//
// It may import registrar, location, devices and routing; never the HTTP stack.
package proxy
