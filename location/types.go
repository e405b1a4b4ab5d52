package location

import (
	"net/netip"
	"time"
)

// Transport is the transport a binding's flow uses.
type Transport uint8

// Transports, in the order metrics label them.
const (
	UDP Transport = iota
	TCP
	TLS
	WS
	WSS
)

// numTransports sizes the per-transport counters; Stats returns this many.
const numTransports = 5

var transportNames = [numTransports]string{"udp", "tcp", "tls", "ws", "wss"}

// String returns the lower-case name used in metric labels and logs.
func (tr Transport) String() string {
	if int(tr) < numTransports {
		return transportNames[tr]
	}
	return "unknown"
}

// Binding is one registered contact of an AOR.
type Binding struct {
	// Contact is the Contact URI as received, without angle brackets; header
	// params (";expires=", ";+sip.instance=") stay. OriginalContact is the whole
	// Contact header value as received.
	Contact         string
	OriginalContact string
	// Source is where the REGISTER came from (the flow: UDP source address or
	// the TCP/TLS/WS connection's remote address); Local is the listener
	// address that received it.
	Source    netip.AddrPort
	Local     netip.AddrPort
	Transport Transport
	// NAT is true when the Contact address differs from Source (RFC 3581).
	NAT bool

	Expires    time.Time // absolute expiry
	Registered time.Time // first REGISTER of this binding
	Updated    time.Time // latest refresh
	CallID     string
	CSeq       uint32
	UserAgent  string
	Q          float32

	// Who registered: filled by the registrar for the registrations API.
	AccountID string
	DeviceID  string
	Username  string // From user of the REGISTER
	Realm     string
	// PreviousContact is the contact this binding replaced, if any.
	PreviousContact string
}
