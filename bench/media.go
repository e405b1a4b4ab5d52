package bench

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// RTP as a G.711 phone sends it: 160 bytes of PCMU every 20 ms, 8 kHz clock.
const (
	rtpPtime   = 20 // ms
	rtpPayload = 160
	rtpClock   = 8000
)

// media is one worker's RTP endpoint: an unconnected socket that callers
// and callees of the worker stream from and receive on. Streams sit on a
// 20-slot wheel of milliseconds, so each is visited once per packet time
// and sends are spread over the 20 ms instead of bursting; one sender
// goroutine and one reader goroutine serve every stream of the worker.
type media struct {
	r    *runner
	conn *net.UDPConn
	addr netip.AddrPort

	mu     sync.Mutex
	wheel  [rtpPtime][]*stream
	pool   []*stream
	lastMS int64
	sent   int64

	// Reader-owned until the reader returns.
	recv    map[uint32]recvStat
	garbage int64
}

// stream is one direction of one call's audio.
type stream struct {
	ssrc  uint32
	seq   uint16
	ts    uint32
	to    netip.AddrPort
	until int64
	gen   uint32
	stop  bool
	first bool
}

// streamRef names a stream across pooling.
type streamRef struct {
	s   *stream
	gen uint32
}

// recvStat is what a receiver knows of one stream (RFC 3550 §6.4.1, A.8).
type recvStat struct {
	packets     int64
	lastTransit int64
	jitter      float64 // in timestamp units
}

// ssrcFor makes SSRCs unique within a run: the direction (0 caller, 1
// callee), the worker and a per-worker counter.
func ssrcFor(dir uint32, worker int, n uint64) uint32 {
	return dir<<31 | uint32(worker&0xff)<<23 | uint32(n&0x7fffff)
}

func newMedia(r *runner, ip netip.Addr) (*media, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(r.cfg.SocketBuffer)
	_ = conn.SetWriteBuffer(r.cfg.SocketBuffer)
	return &media{r: r, conn: conn, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort(), recv: make(map[uint32]recvStat, 1024)}, nil
}

// start streams to `to` until the run clock reaches until or stop is called.
func (m *media) start(ssrc uint32, to netip.AddrPort, until int64) streamRef {
	m.mu.Lock()
	defer m.mu.Unlock()
	var s *stream
	if n := len(m.pool); n > 0 {
		s, m.pool = m.pool[n-1], m.pool[:n-1]
	} else {
		s = &stream{}
	}
	gen := s.gen + 1
	*s = stream{ssrc: ssrc, seq: uint16(ssrc), ts: ssrc * 7, to: to, until: until, gen: gen, first: true}
	// The next slot, so the first packet leaves within a millisecond.
	slot := (m.lastMS + 1) % rtpPtime
	m.wheel[slot] = append(m.wheel[slot], s)
	return streamRef{s: s, gen: gen}
}

func (m *media) stop(ref streamRef) {
	if ref.s == nil {
		return
	}
	m.mu.Lock()
	if ref.s.gen == ref.gen {
		ref.s.stop = true
	}
	m.mu.Unlock()
}

type rtpOut struct {
	to  netip.AddrPort
	hdr rtp.Header
}

// send runs the wheel until done is closed.
func (m *media) send(done <-chan struct{}) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var due []rtpOut
	pkt := make([]byte, 12+rtpPayload)
	for i := 12; i < len(pkt); i++ {
		pkt[i] = 0xff // PCMU silence
	}
	m.mu.Lock()
	m.lastMS = m.r.now() / int64(time.Millisecond)
	m.mu.Unlock()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		now := m.r.now()
		ms := now / int64(time.Millisecond)
		due = due[:0]
		m.mu.Lock()
		// Catch up on late ticks, but not by more than a few packet times.
		if ms-m.lastMS > 10*rtpPtime {
			m.lastMS = ms - 10*rtpPtime
		}
		for t := m.lastMS + 1; t <= ms; t++ {
			slot := &m.wheel[t%rtpPtime]
			list := *slot
			for i := 0; i < len(list); {
				s := list[i]
				if s.stop || now >= s.until {
					s.gen++
					m.pool = append(m.pool, s)
					list[i] = list[len(list)-1]
					list = list[:len(list)-1]
					continue
				}
				due = append(due, rtpOut{to: s.to, hdr: rtp.Header{
					Version: 2, Marker: s.first, PayloadType: 0, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: s.ssrc,
				}})
				s.first = false
				s.seq++
				s.ts += rtpPayload
				i++
			}
			*slot = list
		}
		m.lastMS = ms
		m.sent += int64(len(due))
		m.mu.Unlock()
		for i := range due {
			if _, err := due[i].hdr.MarshalTo(pkt); err != nil {
				continue
			}
			// A failed send is a lost packet, which the report shows.
			_, _ = m.conn.WriteToUDPAddrPort(pkt, due[i].to)
		}
	}
}

// read receives until the socket's deadline or close.
func (m *media) read() {
	buf := make([]byte, 2048)
	var h rtp.Header
	for {
		n, _, err := m.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if isClosed(err) || errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			continue
		}
		now := m.r.now()
		if _, err := h.Unmarshal(buf[:n]); err != nil || h.Version != 2 {
			m.garbage++
			continue
		}
		// Transit in timestamp units; the jitter estimator of RFC 3550 A.8.
		transit := now*rtpClock/int64(time.Second) - int64(h.Timestamp)
		st, seen := m.recv[h.SSRC]
		if seen {
			d := transit - st.lastTransit
			if d < 0 {
				d = -d
			}
			st.jitter += (float64(d) - st.jitter) / 16
		}
		st.lastTransit = transit
		st.packets++
		m.recv[h.SSRC] = st
	}
}

// RTPStats sums a run's media over both directions of every call.
type RTPStats struct {
	// Streams counts the streams received (two per call that got through).
	Streams  int64 `json:"streams"`
	Sent     int64 `json:"sent"`
	Received int64 `json:"received"`
	// Lost is Sent − Received: both ends are ours, so nothing is guessed
	// from sequence numbers.
	Lost int64 `json:"lost"`
	// JitterMeanMs is the mean over streams of RFC 3550's interarrival
	// jitter at the stream's end; JitterMaxMs the largest.
	JitterMeanMs float64 `json:"jitter_mean_ms"`
	JitterMaxMs  float64 `json:"jitter_max_ms"`
	Garbage      int64   `json:"garbage,omitempty"`
	// FromCallers and FromCallees split Received by direction.
	FromCallers int64 `json:"received_from_callers"`
	FromCallees int64 `json:"received_from_callees"`
}

// runMedia starts the media goroutines of the workers that have any and
// returns the function that stops them: senders at once, readers after a
// grace period for packets still in flight.
func runMedia(workers []*worker) (stop func()) {
	done := make(chan struct{})
	var senders, readers sync.WaitGroup
	for _, w := range workers {
		if w.media == nil {
			continue
		}
		m := w.media
		senders.Add(1)
		go func() { defer senders.Done(); m.send(done) }()
		readers.Add(1)
		go func() { defer readers.Done(); m.read() }()
	}
	return func() {
		close(done)
		senders.Wait()
		for _, w := range workers {
			if w.media != nil {
				_ = w.media.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			}
		}
		readers.Wait()
		for _, w := range workers {
			if w.media != nil {
				_ = w.media.conn.Close()
			}
		}
	}
}

// mediaStats adds up the workers' media after runMedia's stop.
func mediaStats(workers []*worker) *RTPStats {
	st := &RTPStats{}
	var jitterSum float64
	some := false
	for _, w := range workers {
		m := w.media
		if m == nil {
			continue
		}
		some = true
		st.Sent += m.sent
		st.Garbage += m.garbage
		for ssrc, r := range m.recv {
			st.Streams++
			st.Received += r.packets
			if ssrc>>31 == 0 {
				st.FromCallers += r.packets
			} else {
				st.FromCallees += r.packets
			}
			j := r.jitter / rtpClock * 1000
			jitterSum += j
			st.JitterMaxMs = max(st.JitterMaxMs, j)
		}
	}
	if !some {
		return nil
	}
	st.Lost = max(st.Sent-st.Received, 0)
	if st.Streams > 0 {
		st.JitterMeanMs = jitterSum / float64(st.Streams)
	}
	return st
}

// closeMedia releases a media socket that never started (a failed setup).
func (w *worker) closeMedia() {
	if w.media != nil {
		_ = w.media.conn.Close()
	}
}
