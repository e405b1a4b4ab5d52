package proxytest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Phone is a SIP phone on loopback: a sipgo user agent that registers
// through the server with digest, places calls through it, and answers the
// calls it gets as the test tells it to. Over UDP it sends and receives on
// one socket (its Contact); over TCP it keeps one connection to the server,
// as phones behind NAT do.
type Phone struct {
	User, Password, Realm string
	Transport             string // "UDP", "TCP" or "TLS"
	// Contact is the URI it registers.
	Contact sip.Uri

	host     string // loopback address of the server's family
	t        testing.TB
	srv      *Server
	ua       *sipgo.UserAgent
	client   *sipgo.Client
	calls    chan *IncomingCall
	acks     chan *sip.Request
	byes     chan *sip.Request
	closed   chan struct{}
	dialogs  *sipgo.DialogServerCache
	outgoing *sipgo.DialogClientCache
	stop     func()
	stopOnce sync.Once
}

// IncomingCall is an INVITE the phone received. Answer it with Dialog
// (Respond), then watch Dialog.Context() for its end (CANCEL or BYE).
type IncomingCall struct {
	Req    *sip.Request
	Dialog *sipgo.DialogServerSession
}

// PhoneOption changes how NewPhone builds a phone.
type PhoneOption func(*phoneOptions)

type phoneOptions struct {
	listenTCP bool
}

// WithTCPListener makes a UDP phone also accept TCP on its UDP port, as a
// phone reachable without NAT may (RFC 3261 §18.1.1's large requests).
func WithTCPListener() PhoneOption { return func(o *phoneOptions) { o.listenTCP = true } }

// NewPhone starts a phone for user@realm; it is closed when the test ends.
// Call Register before expecting calls. It lives on the loopback address
// of the server's family (127.0.0.1 or ::1).
func NewPhone(t testing.TB, srv *Server, transport, realm, user, password string, opts ...PhoneOption) *Phone {
	t.Helper()
	var o phoneOptions
	for _, opt := range opts {
		opt(&o)
	}
	p := &Phone{User: user, Password: password, Realm: realm, Transport: transport, t: t, srv: srv,
		calls: make(chan *IncomingCall, 4), acks: make(chan *sip.Request, 4), byes: make(chan *sip.Request, 4),
		closed: make(chan struct{})}
	host, fam := "127.0.0.1", "4"
	if srv.Addr(transport).Addr().Is6() {
		host, fam = "::1", "6"
	}
	p.host = host
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("phone-"+user), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgenTLSConfig(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatalf("proxytest: phone: %v", err)
	}
	p.ua = ua
	server, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatalf("proxytest: phone: %v", err)
	}
	var port int
	copts := []sipgo.ClientOption{sipgo.WithClientHostname(host)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	// The handlers are in place before the UDP reader starts: an INVITE may
	// arrive as soon as it does.
	var pc net.PacketConn
	var ln net.Listener
	if transport == "UDP" {
		pc, err = net.ListenPacket("udp"+fam, net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatalf("proxytest: phone: %v", err)
		}
		port = pc.LocalAddr().(*net.UDPAddr).Port
		copts = append(copts, sipgo.WithClientConnectionAddr(pc.LocalAddr().String()))
		if o.listenTCP {
			ln, err = net.Listen("tcp"+fam, net.JoinHostPort(host, strconv.Itoa(port)))
			if err != nil {
				_ = pc.Close()
				t.Fatalf("proxytest: phone: tcp on the udp port: %v", err)
			}
		}
	} else {
		// A TCP or TLS phone gets its calls over its own connection; the Contact
		// port is where it would listen, which nobody dials.
		port = 5999
	}
	p.client, err = sipgo.NewClient(ua, copts...)
	if err != nil {
		t.Fatalf("proxytest: phone: %v", err)
	}
	p.Contact = sip.Uri{Scheme: "sip", User: user, Host: host, Port: port}
	if transport != "UDP" {
		p.Contact.UriParams = sip.HeaderParams{{K: "transport", V: strings.ToLower(transport)}}
	}
	p.dialogs = sipgo.NewDialogServerCache(p.client, sip.ContactHeader{Address: p.Contact})
	p.outgoing = sipgo.NewDialogClientCache(p.client, sip.ContactHeader{Address: p.Contact})

	server.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		d, err := p.dialogs.ReadInvite(req, tx)
		if err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 500, err.Error(), nil))
			return
		}
		defer d.Close()
		select {
		case p.calls <- &IncomingCall{Req: req, Dialog: d}:
		case <-p.closed:
			return
		}
		// The transaction lives until the call ends (or the phone does).
		select {
		case <-d.Context().Done():
		case <-p.closed:
		}
	})
	server.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = p.dialogs.ReadAck(req, tx)
		select {
		case p.acks <- req:
		default:
		}
	})
	server.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		// A BYE ends a call this phone answered or one it placed.
		if p.dialogs.ReadBye(req, tx) != nil && p.outgoing.ReadBye(req, tx) != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		}
		select {
		case p.byes <- req:
		default:
		}
	})
	if pc != nil {
		tcpDone := make(chan struct{})
		if ln != nil {
			go func() {
				defer close(tcpDone)
				_ = server.ServeTCP(ln)
			}()
		} else {
			close(tcpDone)
		}
		go func() {
			defer close(done)
			_ = server.ServeUDP(pc)
			<-tcpDone
		}()
		go func() {
			<-ctx.Done()
			_ = pc.Close()
			if ln != nil {
				_ = ln.Close()
			}
		}()
		// Requests must leave from this socket, which sipgo only knows once
		// its reader has put it into the pool.
		deadline := time.Now().Add(5 * time.Second)
		for {
			if c, _ := ua.TransportLayer().GetConnection("udp", pc.LocalAddr().String()); c != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("proxytest: phone: UDP listener never served")
			}
			runtime.Gosched()
		}
	} else {
		close(done)
	}
	p.stop = func() {
		close(p.closed)
		cancel()
		<-done
		_ = ua.Close()
	}
	t.Cleanup(p.Close)
	return p
}

// Close shuts the phone down (its TCP connection too) before the test ends.
func (p *Phone) Close() { p.stopOnce.Do(p.stop) }

// target points req at the server over the phone's transport.
func (p *Phone) target(req *sip.Request) {
	req.SetTransport(p.Transport)
	req.SetDestination(p.srv.Addr(p.Transport).String())
}

// Register registers the phone's Contact (expires 600) with digest.
func (p *Phone) Register(ctx context.Context) error {
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: p.Realm})
	aor := sip.Uri{Scheme: "sip", User: p.User, Host: p.Realm}
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: sip.HeaderParams{{K: "tag", V: sip.GenerateTagN(8)}}})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&sip.ContactHeader{Address: p.Contact})
	req.AppendHeader(sip.NewHeader("Expires", "600"))
	p.target(req)
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("proxytest: register %s: %w", p.User, err)
	}
	if res.StatusCode == 401 {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.User, Password: p.Password})
		if err != nil {
			return fmt.Errorf("proxytest: register %s: %w", p.User, err)
		}
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("proxytest: register %s: %d %s", p.User, res.StatusCode, res.Reason)
	}
	return nil
}

// Invite starts a call to user@realm through the server. Wait for the
// answer with Answer (which also answers a 407 challenge).
func (p *Phone) Invite(ctx context.Context, user string, hdrs ...sip.Header) (*sipgo.DialogClientSession, error) {
	return p.InviteBody(ctx, user, testSDP, hdrs...)
}

// InviteBody is Invite with its own SDP body.
func (p *Phone) InviteBody(ctx context.Context, user, sdp string, hdrs ...sip.Header) (*sipgo.DialogClientSession, error) {
	to := sip.Uri{Scheme: "sip", User: user, Host: p.Realm}
	req := sip.NewRequest(sip.INVITE, to)
	from := sip.Uri{Scheme: "sip", User: p.User, Host: p.Realm}
	req.AppendHeader(&sip.FromHeader{Address: from, Params: sip.HeaderParams{{K: "tag", V: sip.GenerateTagN(8)}}})
	req.AppendHeader(&sip.ToHeader{Address: to})
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	req.SetBody([]byte(sdp))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	p.target(req)
	return p.outgoing.WriteInvite(ctx, req)
}

// Answer waits for the final answer of an Invite, with digest credentials
// for a 407; res gets every response on the way.
func (p *Phone) Answer(ctx context.Context, s *sipgo.DialogClientSession, res func(*sip.Response)) error {
	return s.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.User, Password: p.Password, OnResponse: func(r *sip.Response) error {
		if res != nil {
			res(r)
		}
		return nil
	}})
}

// Calls delivers the INVITEs the phone receives.
func (p *Phone) Calls() <-chan *IncomingCall { return p.calls }

// Acks delivers the ACKs for 2xx it receives.
func (p *Phone) Acks() <-chan *sip.Request { return p.acks }

// Byes delivers the BYEs it receives.
func (p *Phone) Byes() <-chan *sip.Request { return p.byes }

// Client is the phone's sipgo client.
func (p *Phone) Client() *sipgo.Client { return p.client }

// Addr is the phone's UDP address (zero for TCP phones).
func (p *Phone) Addr() netip.AddrPort {
	if p.Transport != "UDP" {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(netip.MustParseAddr(p.host), uint16(p.Contact.Port))
}

// String names the phone in test output.
func (p *Phone) String() string {
	return p.User + "/" + p.Transport + ":" + strconv.Itoa(p.Contact.Port)
}

// ErrNoCall is returned by WaitCall when no INVITE came in time.
var ErrNoCall = errors.New("proxytest: no incoming call")

// WaitCall returns the next incoming call, or ErrNoCall when ctx ends.
func (p *Phone) WaitCall(ctx context.Context) (*IncomingCall, error) {
	select {
	case c := <-p.calls:
		return c, nil
	case <-ctx.Done():
		return nil, ErrNoCall
	}
}

func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, 10*time.Second)
}

const testSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
