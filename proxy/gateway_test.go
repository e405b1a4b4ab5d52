package proxy_test

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/proxy"
)

// gateway is an upstream on its own loopback address (127.0.0.2, …), so
// that trusting its address does not trust the phones on 127.0.0.1.
type gateway struct {
	addr    netip.AddrPort
	client  *sipgo.Client
	invites chan *sip.Request
	acks    chan *sip.Request
	byes    chan *sip.Request
	options atomic.Int32 // answer to OPTIONS
	invite  atomic.Int32 // answer to INVITE
}

func newGateway(t *testing.T, ip string, inviteCode, optionsCode int) *gateway {
	t.Helper()
	g := &gateway{invites: make(chan *sip.Request, 8), acks: make(chan *sip.Request, 8), byes: make(chan *sip.Request, 8)}
	g.options.Store(int32(optionsCode))
	g.invite.Store(int32(inviteCode))
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("gw"), sipgo.WithUserAgentHostname(ip))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp4", ip+":0")
	if err != nil {
		t.Skipf("no loopback address %s: %v", ip, err)
	}
	g.addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	g.client, err = sipgo.NewClient(ua, sipgo.WithClientHostname(ip), sipgo.WithClientConnectionAddr(g.addr.String()))
	if err != nil {
		t.Fatal(err)
	}
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, int(g.options.Load()), "", nil))
	})
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		g.invites <- req
		res := sip.NewResponseFromRequest(req, int(g.invite.Load()), "", nil)
		if res.StatusCode == 200 {
			res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: ip, Port: int(g.addr.Port())}})
		}
		_ = tx.Respond(res)
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { g.acks <- req })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		g.byes <- req
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeUDP(pc)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, _ := ua.TransportLayer().GetConnection("udp", g.addr.String()); c != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gateway listener never served")
		}
		runtime.Gosched()
	}
	t.Cleanup(func() {
		_ = pc.Close()
		<-done
		_ = ua.Close()
	})
	return g
}

func pools(gws []*gateway, interval time.Duration, health chan<- string) []proxy.GatewayPool {
	p := proxy.GatewayPool{Name: "carriers", Default: true, Realm: realm, CheckInterval: interval, DownAfter: 1}
	for i, g := range gws {
		p.Targets = append(p.Targets, proxy.GatewayTarget{Addr: g.addr.String(), Priority: i + 1})
	}
	if health != nil {
		p.OnHealth = func(pool, target string, up bool) {
			if !up {
				health <- target
			}
		}
	}
	return []proxy.GatewayPool{p}
}

// A call to a number that is no device goes to the first gateway; to the
// second when the first answers 503; never to one marked down.
func TestCallToGateway(t *testing.T) {
	tests := []struct {
		name       string
		gw1Invite  int
		gw1Options int
		checks     bool
		want       int // index of the gateway that answers
		failovers  float64
	}{
		{name: "first gateway answers", gw1Invite: 200, gw1Options: 200, want: 0},
		{name: "503 fails over", gw1Invite: 503, gw1Options: 200, want: 1, failovers: 1},
		{name: "down gateway skipped", gw1Invite: 200, gw1Options: 503, checks: true, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gws := []*gateway{newGateway(t, "127.0.0.2", tc.gw1Invite, tc.gw1Options), newGateway(t, "127.0.0.3", 200, 200)}
			var interval time.Duration
			down := make(chan string, 4)
			if tc.checks {
				interval = 50 * time.Millisecond
			}
			env := newCallEnv(t, envOpts{cfg: func(c *proxy.Config) { c.Gateways = pools(gws, interval, down) }})
			if tc.checks {
				if got := wait(t, down, "gateway 1 marked down"); got != gws[0].addr.String() {
					t.Fatalf("%s marked down, want %s", got, gws[0].addr)
				}
				if got := env.gauge(t, "sipedge_proxy_gateway_up", map[string]string{"pool": "carriers", "target": gws[0].addr.String()}); got != 0 {
					t.Errorf("gateway_up{gw1} = %v, want 0", got)
				}
			}
			alice := env.phone(t, "UDP", "alice")
			ctx := ctxT(t)
			c := env.dial(t, ctx, alice, "15551234567")
			if err := wait(t, c.done, "the gateway's answer"); err != nil {
				t.Fatal(err)
			}
			if res := c.final(); res.StatusCode != 200 {
				t.Fatalf("caller got %d, want 200", res.StatusCode)
			}
			answering := gws[tc.want]
			inv := wait(t, answering.invites, "the INVITE at the answering gateway")
			if inv.Recipient.User != "15551234567" || inv.Recipient.Host != answering.addr.Addr().String() {
				t.Errorf("gateway Request-URI %s", inv.Recipient.String())
			}
			if tc.want == 1 && tc.failovers == 0 && len(gws[0].invites) != 0 {
				t.Error("the down gateway got the INVITE")
			}
			if err := c.sess.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			wait(t, answering.acks, "the ACK at the gateway")
			if err := c.sess.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			wait(t, answering.byes, "the BYE at the gateway")
			if got := env.gauge(t, "sipedge_proxy_branch_failovers_total", nil); got != tc.failovers {
				t.Errorf("failovers = %v, want %v", got, tc.failovers)
			}
			waitIdle(t, env)
		})
	}
}

// A 6xx from a gateway is final: no failover.
func TestGatewayNoFailoverOn6xx(t *testing.T) {
	gws := []*gateway{newGateway(t, "127.0.0.2", 603, 200), newGateway(t, "127.0.0.3", 200, 200)}
	env := newCallEnv(t, envOpts{cfg: func(c *proxy.Config) { c.Gateways = pools(gws, 0, nil) }})
	alice := env.phone(t, "UDP", "alice")
	c := env.dial(t, ctxT(t), alice, "15551234567")
	wait(t, c.done, "the answer")
	if res := c.final(); res == nil || res.StatusCode != 603 {
		t.Fatalf("caller got %v, want 603", res)
	}
	if len(gws[1].invites) != 0 {
		t.Error("second gateway tried after a 6xx")
	}
	waitIdle(t, env)
}

// Requests from a gateway's address are trusted and reach the device the
// Request-URI names; strangers are refused.
func TestCallFromGateway(t *testing.T) {
	gw := newGateway(t, "127.0.0.2", 200, 200)
	env := newCallEnv(t, envOpts{cfg: func(c *proxy.Config) { c.Gateways = pools([]*gateway{gw}, 0, nil) }})
	bob := env.phone(t, "UDP", "bob")

	invite := func(c *sipgo.Client, from string) (*sip.Response, error) {
		to := sip.Uri{Scheme: "sip", User: "bob", Host: realm}
		req := sip.NewRequest(sip.INVITE, to)
		req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "15550001111", Host: from}, Params: sip.HeaderParams{{K: "tag", V: sip.GenerateTagN(8)}}})
		req.AppendHeader(&sip.ToHeader{Address: to})
		req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "15550001111", Host: "127.0.0.2", Port: int(gw.addr.Port())}})
		env.srv.Target("UDP", req)
		ctx, cancel := context.WithTimeout(ctxT(t), 5*time.Second)
		defer cancel()
		return c.Do(ctx, req)
	}
	done := make(chan *sip.Response, 1)
	go func() {
		res, err := invite(gw.client, "carrier.example.net")
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	in, err := bob.WaitCall(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if in.Req.GetHeader("Proxy-Authorization") != nil {
		t.Error("gateway call was challenged")
	}
	if err := in.Dialog.Respond(486, "Busy Here", nil); err != nil {
		t.Fatal(err)
	}
	if res := wait(t, done, "the gateway's answer"); res == nil || res.StatusCode != 486 {
		t.Fatalf("gateway got %v, want 486", res)
	}

	// The test client sits on 127.0.0.1, no gateway, and names no realm.
	res, err := invite(env.srv.Client(), "elsewhere.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 403 {
		t.Fatalf("stranger got %d, want 403", res.StatusCode)
	}
	waitIdle(t, env)
}
