package proxy

import (
	"log/slog"
	"net"
	"runtime"
	"time"

	"golang.org/x/net/ipv4"
)

// batchConn is the UDP listener as sipgo's reader sees it: reads come out of
// recvmmsg batches, and the answers the raw REGISTER path builds while a
// batch is read go out together with sendmmsg before the reader blocks
// again. Under load a syscall then carries many datagrams instead of one;
// with one datagram waiting it costs what ReadFrom and WriteTo did.
//
// ReadFrom and queue are only ever called from sipgo's one reader
// goroutine for this socket (the raw path runs inside its read filter);
// everything else (WriteTo from transactions, keepalives, NOTIFY) goes
// straight to the socket, which is safe for concurrent use.
type batchConn struct {
	*net.UDPConn
	pc  *ipv4.PacketConn // works on IPv6 sockets too: recvmmsg is family-blind
	log *slog.Logger

	in      []ipv4.Message
	n, next int

	out  []ipv4.Message
	nout int

	// handedOff is set when the datagram last read went on to sipgo,
	// which parses it here and handles it in a goroutine of its own.
	handedOff bool

	// over, when the kernel stamps arrivals, learns how long the head of
	// each batch waited (overload.go).
	over *overload
	now  func() time.Time
}

// udpBatchBuf is one datagram's buffer: sipgo reads UDP datagrams up to
// 64 KiB, and a shorter buffer would truncate the large ones.
const udpBatchBuf = 1 << 16

// newBatchConn batches reads and raw answers size at a time.
func newBatchConn(c *net.UDPConn, size int, log *slog.Logger, over *overload) *batchConn {
	b := &batchConn{UDPConn: c, pc: ipv4.NewPacketConn(c), log: log,
		in: make([]ipv4.Message, size), out: make([]ipv4.Message, size), now: time.Now}
	for i := range b.in {
		b.in[i].Buffers = [][]byte{make([]byte, udpBatchBuf)}
		b.out[i].Buffers = [][]byte{make([]byte, 0, 1500)}
	}
	if over != nil && over.limit > 0 && enableRxStamps(c) {
		// The head of every batch is in[0]: only it needs room for the stamp.
		b.over = over
		b.in[0].OOB = make([]byte, rxStampSpace)
	}
	return b
}

// ReadFrom implements net.PacketConn for sipgo's reader.
func (b *batchConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if b.handedOff {
		// Let that goroutine run before the next datagram: the reader
		// would otherwise go through the rest of its batch first, and each
		// new goroutine pushes the one before it back in the run queue.
		// With one processor that was a quarter to a whole millisecond of
		// waiting for half of the INVITEs and answers sipgo handles
		// (BENCHMARKS.md, "Where a call waits"). Answers queued so far
		// leave first: they are not to wait on it.
		b.handedOff = false
		b.flush()
		runtime.Gosched()
	}
	for {
		for b.next < b.n {
			m := &b.in[b.next]
			b.next++
			if m.N == len(m.Buffers[0]) {
				// Filled to the brim: the kernel may have cut it.
				continue
			}
			return copy(p, m.Buffers[0][:m.N]), m.Addr, nil
		}
		b.flush()
		n, err := b.pc.ReadBatch(b.in, 0)
		if err != nil {
			return 0, nil, err
		}
		b.n, b.next = n, 0
		if b.over != nil && n > 0 {
			if at, ok := rxStamp(b.in[0].OOB[:b.in[0].NN]); ok {
				now := b.now()
				b.over.observe(now, now.Sub(at))
			}
		}
	}
}

// queue sends p to addr with the batch's other answers (p is copied).
func (b *batchConn) queue(p []byte, addr net.Addr) {
	m := &b.out[b.nout]
	m.Buffers[0] = append(m.Buffers[0][:0], p...)
	m.Addr = addr
	b.nout++
	if b.nout == len(b.out) {
		b.flush()
	}
}

// flush sends every queued answer.
func (b *batchConn) flush() {
	for sent := 0; sent < b.nout; {
		n, err := b.pc.WriteBatch(b.out[sent:b.nout], 0)
		if err != nil {
			// One bad destination fails the call at its message: skip it
			// and send the rest, as one WriteTo each would have.
			b.log.Debug("sip answer not sent", "dst", b.out[sent+n].Addr, "err", err)
			n++
		}
		sent += n
	}
	for i := range b.nout {
		b.out[i].Addr = nil
	}
	b.nout = 0
}

// handOff notes that the datagram last read from the socket at local goes
// on to sipgo. Called by the read filter, in the reader goroutine.
func (b *batchConn) handOff(local net.Addr) {
	if b.owns(local) {
		b.handedOff = true
	}
}

// owns reports whether a datagram that arrived at local was read by b's
// reader (its socket's own address object): only then does the read
// filter handling it run in that reader, the one user of b's queue.
func (b *batchConn) owns(local net.Addr) bool {
	return b != nil && local == b.LocalAddr()
}
