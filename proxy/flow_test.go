package proxy_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/proxy"
	"github.com/sipedge/sipedge/proxy/proxytest"
)

// notifyFor builds the kind of request the registrar's notifier sends.
func notifyFor(t *testing.T, contact string) *sip.Request {
	t.Helper()
	var u sip.Uri
	if err := sip.ParseUri(contact, &u); err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.NOTIFY, u)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "example.com"}}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "example.com"}})
	req.AppendHeader(sip.NewHeader("Event", "check-sync"))
	return req
}

// answer builds a response to the raw request text msg.
func answer(t *testing.T, msg []byte, code int) []byte {
	t.Helper()
	m, err := sip.ParseMessage(msg)
	if err != nil {
		t.Fatalf("phone got unparseable %q: %v", msg, err)
	}
	req, ok := m.(*sip.Request)
	if !ok {
		t.Fatalf("phone got a response: %q", msg)
	}
	return []byte(sip.NewResponseFromRequest(req, code, "X", nil).String())
}

func TestSendToBindingUDP(t *testing.T) {
	cases := []struct {
		name  string
		codes []int // what the phone answers, in order
		want  int
	}{
		{name: "final 200", codes: []int{200}, want: 200},
		{name: "provisional drained", codes: []int{100, 180, 202}, want: 202},
		{name: "error final", codes: []int{489}, want: 489},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := proxytest.NewServer(t, nil)
			phone, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer phone.Close()
			src := phone.LocalAddr().(*net.UDPAddr).AddrPort()
			b := location.Binding{Contact: "sip:alice@192.0.2.1:5060", Source: src, Transport: location.UDP}
			waitServing(t, srv)

			type result struct {
				res *sip.Response
				err error
			}
			done := make(chan result, 1)
			go func() {
				res, err := srv.SendToBinding(ctxT(t), notifyFor(t, b.Contact), b)
				done <- result{res, err}
			}()

			buf := make([]byte, 65535)
			_ = phone.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := phone.ReadFromUDPAddrPort(buf)
			if err != nil {
				select {
				case r := <-done:
					t.Fatalf("phone heard nothing: %v; SendToBinding: %v", err, r.err)
				default:
				}
				t.Fatalf("phone heard nothing: %v", err)
			}
			if from.Port() != srv.UDP.Port() {
				t.Errorf("NOTIFY came from port %d, want the listener's %d", from.Port(), srv.UDP.Port())
			}
			msg := append([]byte(nil), buf[:n]...)
			text := string(msg)
			if !strings.HasPrefix(text, "NOTIFY sip:alice@192.0.2.1:5060 SIP/2.0\r\n") {
				t.Errorf("request line: %q", strings.SplitN(text, "\r\n", 2)[0])
			}
			for _, want := range []string{"Via: SIP/2.0/UDP 127.0.0.1:", ";rport", "Event: check-sync", "Max-Forwards: 70", "Content-Length: 0"} {
				if !strings.Contains(text, want) {
					t.Errorf("NOTIFY lacks %q:\n%s", want, text)
				}
			}
			for _, c := range tc.codes {
				if _, err := phone.WriteToUDPAddrPort(answer(t, msg, c), from); err != nil {
					t.Fatal(err)
				}
			}
			r := <-done
			if r.err != nil {
				t.Fatalf("SendToBinding: %v", r.err)
			}
			if r.res.StatusCode != tc.want {
				t.Errorf("code %d, want %d", r.res.StatusCode, tc.want)
			}
		})
	}
}

func TestSendToBindingUDPNoAnswerIsBoundByCtx(t *testing.T) {
	srv := proxytest.NewServer(t, nil)
	phone, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	b := location.Binding{Contact: "sip:alice@127.0.0.1", Source: phone.LocalAddr().(*net.UDPAddr).AddrPort(), Transport: location.UDP}
	waitServing(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := srv.SendToBinding(ctx, notifyFor(t, b.Contact), b)
		done <- err
	}()
	// The NOTIFY is on the wire; the phone stays silent and the caller gives up.
	buf := make([]byte, 65535)
	_ = phone.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := phone.ReadFromUDP(buf); err != nil {
		t.Fatalf("phone heard nothing: %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestSendToBindingTCP(t *testing.T) {
	srv := proxytest.NewServer(t, nil)
	// Two phones on TCP: the NOTIFY for each must use its own connection.
	type phone struct {
		conn net.Conn
		rd   *bufio.Reader
		src  netip.AddrPort
	}
	var phones []phone
	for range 2 {
		c, err := net.Dial("tcp4", srv.TCP.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		src := c.LocalAddr().(*net.TCPAddr).AddrPort()
		// A request makes sure the server has accepted the connection.
		_, _ = c.Write([]byte(request("OPTIONS sip:"+srv.TCP.String()+" SIP/2.0",
			"Via: SIP/2.0/TCP "+src.String()+";branch="+branch(),
			"From: <sip:a@127.0.0.1>;tag=1", "To: <sip:a@127.0.0.1>", "Call-ID: tcp-"+src.String(),
			"CSeq: 1 OPTIONS", "Max-Forwards: 70")))
		rd := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := readSIP(rd); err != nil {
			t.Fatalf("OPTIONS answer: %v", err)
		}
		phones = append(phones, phone{c, rd, src})
	}
	for i, p := range phones {
		b := location.Binding{Contact: "sip:alice@192.0.2.1:5060;transport=tcp", Source: p.src, Transport: location.TCP}
		done := make(chan error, 1)
		var res *sip.Response
		go func() {
			var err error
			res, err = srv.SendToBinding(ctxT(t), notifyFor(t, b.Contact), b)
			done <- err
		}()
		_ = p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		msg, err := readSIP(p.rd)
		if err != nil {
			t.Fatalf("phone %d heard nothing: %v", i, err)
		}
		if !strings.HasPrefix(string(msg), "NOTIFY ") || !strings.Contains(string(msg), "Via: SIP/2.0/TCP ") {
			t.Fatalf("phone %d got %q", i, msg)
		}
		if _, err := p.conn.Write(answer(t, msg, 200)); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("phone %d: %v", i, err)
		}
		if res.StatusCode != 200 {
			t.Errorf("phone %d: code %d", i, res.StatusCode)
		}
	}
}

func TestSendToBindingTCPFlowGoneNeverDials(t *testing.T) {
	srv := proxytest.NewServer(t, nil)
	// A listener the phone "had": if sipgo dialled, it would be accepted.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	b := location.Binding{Contact: "sip:alice@127.0.0.1;transport=tcp", Source: ln.Addr().(*net.TCPAddr).AddrPort(), Transport: location.TCP}
	_, err = srv.SendToBinding(ctxT(t), notifyFor(t, b.Contact), b)
	if !errors.Is(err, proxy.ErrFlowGone) {
		t.Fatalf("err = %v, want ErrFlowGone", err)
	}
	select {
	case <-accepted:
		t.Fatal("SendToBinding dialled the phone")
	default:
	}
}

func TestSendToBindingRefusesInvite(t *testing.T) {
	srv := proxytest.NewServer(t, nil)
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", Host: "127.0.0.1"})
	b := location.Binding{Source: netip.MustParseAddrPort("127.0.0.1:9"), Transport: location.UDP}
	if _, err := srv.SendToBinding(ctxT(t), req, b); err == nil {
		t.Fatal("INVITE accepted")
	}
}

// readSIP reads one message framed by Content-Length from a stream.
func readSIP(rd *bufio.Reader) ([]byte, error) {
	var head strings.Builder
	clen := 0
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return nil, err
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			for _, ch := range strings.TrimSpace(v) {
				clen = clen*10 + int(ch-'0')
			}
		}
	}
	body := make([]byte, clen)
	if _, err := io.ReadFull(rd, body); err != nil {
		return nil, err
	}
	return append([]byte(head.String()), body...), nil
}

// waitServing returns once the server's UDP reader answers (an OPTIONS from
// another socket), so the listener socket is in use by the transport layer.
func waitServing(t *testing.T, srv *proxytest.Server) {
	t.Helper()
	req := sip.NewRequest(sip.OPTIONS, srv.URI(""))
	if _, err := srv.Do(ctxT(t), "UDP", req); err != nil {
		t.Fatalf("server not serving: %v", err)
	}
}
