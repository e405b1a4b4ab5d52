package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/location"
)

// ErrFlowGone is returned by SendToBinding when a connection-oriented
// binding's connection is no longer open. The phone must register again; we
// never dial its ephemeral port.
var ErrFlowGone = errors.New("proxy: binding's connection is gone")

// ErrNotListening is returned by SendToBinding before Serve has started.
var ErrNotListening = errors.New("proxy: not listening")

// flowSendLimit bounds a SendToBinding whose ctx has no deadline: Timer F.
const flowSendLimit = 32 * time.Second

// flowState holds the client SendToBinding sends through. It is built on
// first use on the server's user agent, so it shares the listener sockets and
// the accepted TCP connections.
type flowState struct {
	once   sync.Once
	client *sipgo.Client
	err    error
	// stray takes the responses no client transaction matched (set by
	// EnableForwarding: only a proxy has anywhere to relay them).
	stray atomic.Pointer[func(*sip.Response) bool]
	// pongs are the CRLF keepalive pings waiting for their pong.
	pongs pongWaiters
}

func (s *Server) flowClient() (*sipgo.Client, error) {
	s.flow.once.Do(func() {
		// No WithClientConnectionAddr: the default build would copy it into
		// Laddr for TCP too, which picks the wrong connection. Laddr is set
		// per request, for UDP only.
		s.flow.client, s.flow.err = sipgo.NewClient(s.ua, sipgo.WithClientLogger(LibraryLogger(s.log)))
	})
	return s.flow.client, s.flow.err
}

// SendToBinding sends a non-INVITE request outside any dialog as a client
// transaction over b's flow and returns its final response (provisional ones
// are skipped). UDP leaves from the listener socket towards b.Source and is
// retransmitted per RFC 3261 §17.1.2; TCP is written on the connection the
// binding registered over and fails with ErrFlowGone when it has closed.
//
// ctx bounds the wait; without a deadline the transaction's own Timer F
// (32 s) does. The request is owned by the transaction afterwards: the caller
// sets Recipient and the end-to-end headers (From with a tag, To, Call-ID,
// CSeq, body); what is missing is filled in, and Via is always ours.
func (s *Server) SendToBinding(ctx context.Context, req *sip.Request, b location.Binding) (*sip.Response, error) {
	if req == nil {
		return nil, errors.New("proxy: send to binding: nil request")
	}
	if req.IsInvite() || req.IsAck() || req.Method == sip.CANCEL {
		return nil, fmt.Errorf("proxy: send to binding: %s is not supported", req.Method)
	}
	if !b.Source.IsValid() {
		return nil, errors.New("proxy: send to binding: binding has no source address")
	}
	client, err := s.flowClient()
	if err != nil {
		return nil, fmt.Errorf("proxy: send to binding: client: %w", err)
	}
	s.mu.Lock()
	udp, local := s.udp, s.local
	s.mu.Unlock()
	if udp == nil {
		return nil, ErrNotListening
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flowSendLimit)
		defer cancel()
	}

	dst := b.Source.String()
	network := strings.ToUpper(b.Transport.String())
	req.SetTransport(network)
	req.SetDestination(dst)
	// Our Via replaces whatever the caller put there: the answer must come
	// back to this socket.
	for req.Via() != nil {
		req.RemoveHeader("Via")
	}
	req.PrependHeader(flowVia(network, local, b.Transport))

	if b.Transport == location.UDP {
		// Pin the listener socket; without Laddr a peer we never heard from
		// gets a fresh ephemeral port. The pool is keyed by the exact
		// LocalAddr string, so take it from the socket.
		ua, ok := udp.LocalAddr().(*net.UDPAddr)
		if !ok {
			return nil, fmt.Errorf("proxy: send to binding: udp listener address %v", udp.LocalAddr())
		}
		// Before Serve hands the socket to the transport layer, a pinned
		// Laddr would make sipgo try to bind it again.
		conn, err := s.ua.TransportLayer().GetConnection("udp", ua.String())
		if err != nil || conn == nil {
			return nil, ErrNotListening
		}
		_, _ = conn.TryClose()
		req.Laddr = sip.Addr{IP: ua.IP, Port: ua.Port}
	} else {
		// Never Laddr here: the lookup would go by local address and pick
		// whichever connection was accepted last.
		conn, err := s.ua.TransportLayer().GetConnection(network, dst)
		if err != nil || conn == nil {
			return nil, fmt.Errorf("%w (%s %s)", ErrFlowGone, b.Transport, dst)
		}
		_, _ = conn.TryClose() // Get took a reference; the flow is not ours to keep
	}

	res, err := client.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("proxy: %s to %s %s: %w", req.Method, b.Transport, dst, err)
	}
	return res, nil
}

// flowVia is our Via for a request leaving on tr: the advertised or bound
// address, the UDP fallback on a wildcard bind; for connection transports on
// a wildcard bind host and port stay empty and the transport layer fills in
// the connection's own concrete local address.
func flowVia(network string, l localAddrs, tr location.Transport) *sip.ViaHeader {
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: network}
	var host netip.Addr
	switch {
	case l.advertiseSet:
		host = l.advertise
	case !l.wildcard:
		host = l.bound
	case tr == location.UDP:
		host = l.fallback
	}
	if host.IsValid() {
		via.Host = host.String()
		via.Port = int(l.portOr(l.port))
	}
	via.Params.Add("branch", sip.GenerateBranchN(16))
	via.Params.Add("rport", "")
	return via
}
