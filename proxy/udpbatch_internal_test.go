package proxy

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The batch reader yields once after each datagram the read filter hands
// on to sipgo, and only then: what a fast path answered in the reader
// spawned nothing to wait for, and a stream's messages have readers of
// their own.
func TestBatchReaderYieldsAfterHandOff(t *testing.T) {
	s, c := fastServer(t, true)
	uc, ok := s.udp.(*net.UDPConn)
	if !ok {
		t.Fatalf("listener is %T", s.udp)
	}
	bc := newBatchConn(uc, 4, slog.New(slog.DiscardHandler), nil)
	s.batch.Store(bc)
	options := []byte("OPTIONS sip:" + fastRealm + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK776asdhdsopt\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:u1@" + fastRealm + ">;tag=1\r\nTo: <sip:" + fastRealm + ">\r\n" +
		"Call-ID: yield-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")

	other := s.props("UDP", c)
	other.LocalAddr = c.LocalAddr() // some other socket's datagram
	for _, tc := range []struct {
		name  string
		props sip.TransportReadProps
		data  []byte
		want  bool
	}{
		{"to sipgo", s.props("UDP", c), options, true},
		{"answered in the reader", s.props("UDP", c), fastRegisterBytes("u1", 1, ""), false},
		{"over a stream", s.props("TCP", c), options, false},
		{"another socket", other, options, false},
	} {
		bc.handedOff = false
		out, err := s.fastReadFilter(tc.props, tc.data)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if bc.handedOff != tc.want {
			t.Errorf("%s (%d bytes on): handed off %v, want %v", tc.name, len(out), bc.handedOff, tc.want)
		}
	}

	// The next read clears it.
	bc.handedOff = true
	if _, err := c.WriteTo(options, uc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if err := uc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	if n, _, err := bc.ReadFrom(buf); err != nil || n != len(options) {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	if bc.handedOff {
		t.Error("still marked after the next read")
	}
}

// Answers the reader queued before a hand-off leave before it yields, not
// after the goroutines it yields to and the rest of its batch.
func TestBatchReaderFlushesBeforeYield(t *testing.T) {
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	bc := newBatchConn(uc, 4, slog.New(slog.DiscardHandler), nil)
	phone, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	// A batch of two already read off the socket, as recvmmsg leaves it.
	for i, m := range []string{"one", "two"} {
		bc.in[i].N = copy(bc.in[i].Buffers[0], m)
		bc.in[i].Addr = phone.LocalAddr()
	}
	bc.n, bc.next = 2, 0
	buf := make([]byte, 65535)
	if n, _, err := bc.ReadFrom(buf); err != nil || string(buf[:n]) != "one" {
		t.Fatalf("first read %q, %v", buf[:n], err)
	}
	bc.queue([]byte("answer"), phone.LocalAddr())
	bc.handOff(uc.LocalAddr())
	if n, _, err := bc.ReadFrom(buf); err != nil || string(buf[:n]) != "two" {
		t.Fatalf("second read %q, %v", buf[:n], err)
	}
	// The second came out of the batch already read: only the flush
	// before the yield can have sent the answer.
	if err := phone.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := phone.Read(buf); err != nil || string(buf[:n]) != "answer" {
		t.Fatalf("queued answer: %q, %v", buf[:n], err)
	}
}
