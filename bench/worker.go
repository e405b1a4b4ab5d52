package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// worker owns one connected UDP socket, the sessions started on it, and
// their timers. Its pacer and reader goroutines share everything under mu;
// nothing is shared between workers but counters read for progress.
type worker struct {
	r       *runner
	id      int
	conn    *net.UDPConn
	local   string
	localAP netip.AddrPort
	prefix  []byte

	mu       sync.Mutex
	sessions map[uint64]*Session
	pool     []*Session
	timers   timerHeap
	hist     histogram
	// whole holds the durations of sessions that recorded a setup
	// latency (calls), so latency stays the setup figure.
	whole  histogram
	causes map[string]int64
	// uas answers the requests that reach this socket (calls); media
	// streams RTP from its own socket. Both nil unless the scenario
	// drives calls.
	uas   *uas
	media *media
	// challenged and reacked count UAC events of calls, under mu.
	challenged, reacked int64
	out                 []byte
	nextID              uint64
	attempts            int64
	sendEnd             int64
	// capInflight is this worker's share of Config.MaxInflight.
	capInflight int

	started, ok, failed, skipped, inflight atomic.Int64
	sent, retrans, stray, garbage          atomic.Int64
}

func newWorker(r *runner, id int) (*worker, error) {
	raddr := net.UDPAddrFromAddrPort(r.cfg.Target)
	cs, isCalls := r.scen.(calls)
	var laddr *net.UDPAddr
	if isCalls {
		laddr = cs.localAddr(id)
	}
	conn, err := net.DialUDP("udp", laddr, raddr)
	if err != nil {
		return nil, fmt.Errorf("bench: socket %d: %w", id, err)
	}
	// Best effort: the kernel caps these at rmem_max/wmem_max.
	_ = conn.SetReadBuffer(r.cfg.SocketBuffer)
	_ = conn.SetWriteBuffer(r.cfg.SocketBuffer)
	w := &worker{
		r: r, id: id, conn: conn, local: conn.LocalAddr().String(), localAP: conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		prefix:   []byte(fmt.Sprintf("z9hG4bKsb%s.%d.", r.runID, id)),
		sessions: make(map[uint64]*Session, 1024),
		causes:   map[string]int64{},
		out:      make([]byte, 0, 2048),
	}
	if r.cfg.MaxInflight > 0 {
		w.capInflight = max(1, r.cfg.MaxInflight/r.cfg.Sockets)
	}
	if isCalls {
		local := conn.LocalAddr().(*net.UDPAddr)
		cs.bound(id, local)
		cfg := cs.uasConfig()
		if cfg.media {
			if w.media, err = newMedia(r, local.AddrPort().Addr()); err != nil {
				_ = conn.Close()
				return nil, fmt.Errorf("bench: socket %d: %w", id, err)
			}
		}
		w.uas = newUAS(w, cfg)
	}
	return w, nil
}

// pace starts sessions on schedule and fires timers until sending is over
// and the sessions in flight are done or the drain ran out.
func (w *worker) pace(ctx context.Context, rate float64, quota int64) {
	cfg := &w.r.cfg
	stopAt := int64(cfg.Duration)
	var drainUntil int64 = -1
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		now := w.r.now()
		sending := now < stopAt && (quota < 0 || w.attempts < quota) && ctx.Err() == nil
		w.mu.Lock()
		if sending {
			// Due counts from t=0, so a late tick catches up instead of drifting.
			due := int64(float64(now)/float64(time.Second)*rate) + 1
			if quota >= 0 {
				due = min(due, quota)
			}
			for w.attempts < due && (w.capInflight == 0 || len(w.sessions) < w.capInflight) {
				w.attempts++
				w.startSession(now)
			}
		}
		w.expire(now)
		left := len(w.sessions)
		w.mu.Unlock()
		if !sending {
			if drainUntil < 0 {
				drainUntil = now + int64(cfg.Drain)
				w.mu.Lock()
				w.sendEnd = now
				w.mu.Unlock()
			}
			if left == 0 || now >= drainUntil || ctx.Err() != nil {
				return
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
}

func (w *worker) newSession() *Session {
	var s *Session
	if n := len(w.pool); n > 0 {
		s = w.pool[n-1]
		w.pool = w.pool[:n-1]
	} else {
		s = &Session{w: w}
	}
	w.nextID++
	s.ID, s.Worker, s.gen = w.nextID, w.id, 1
	s.setBranch()
	return s
}

func (w *worker) release(s *Session) {
	*s = Session{w: w, Buf: s.Buf[:0], branch: s.branch[:0], last: s.last[:0], dlg: s.dlg}
	w.pool = append(w.pool, s)
}

// startSession runs under mu.
func (w *worker) startSession(now int64) {
	s := w.newSession()
	req, ok := w.r.scen.Start(s, w.out[:0])
	w.keep(req)
	if !ok {
		w.skipped.Add(1)
		w.release(s)
		return
	}
	w.sessions[s.ID] = s
	w.started.Add(1)
	w.inflight.Add(1)
	s.start = now
	w.send(s, req, now)
}

// keep lets a scenario's grown buffer serve the next message.
func (w *worker) keep(b []byte) {
	if cap(b) > cap(w.out) {
		w.out = b[:0]
	}
}

// send starts a transaction: remember the request for retransmission,
// send it, arm Timer E.
func (w *worker) send(s *Session, req []byte, now int64) {
	s.last = append(s.last[:0], req...)
	s.txStart, s.interval, s.provisional, s.delayed = now, w.r.cfg.T1, false, false
	s.invite = bytes.HasPrefix(req, []byte("INVITE "))
	w.write(s.last)
	w.timers.push(timerEntry{at: now + int64(s.interval), id: s.ID, gen: s.gen, kind: timerRetransmit})
}

func (w *worker) write(b []byte) {
	w.sent.Add(1)
	// A failed send is left to the retransmission timer, as a lost datagram would be.
	_, _ = w.conn.Write(b)
}

// expire fires due timers; under mu.
func (w *worker) expire(now int64) {
	for {
		e, ok := w.timers.popDue(now)
		if !ok {
			return
		}
		if e.kind == timerUAS {
			w.uas.timer(e, now)
			continue
		}
		s := w.sessions[e.id]
		if s == nil || s.gen != e.gen {
			continue
		}
		if e.kind == timerSend {
			if s.delayed {
				w.send(s, s.last, now)
			}
			continue
		}
		// Timers count from when they were due, not from when the tick
		// noticed, so a busy generator does not stretch the schedule.
		if e.at-s.txStart >= w.r.timeout {
			cause := "timeout"
			if tc, ok := w.r.scen.(interface{ timeoutCause(*Session) string }); ok {
				cause = tc.timeoutCause(s)
			}
			w.fail(s, cause)
			continue
		}
		if s.invite {
			// Timer A doubles without a cap, and a provisional stops the
			// retransmissions (§17.1.1.2); the timer then only bounds the wait.
			if s.provisional {
				w.timers.push(timerEntry{at: s.txStart + w.r.timeout, id: s.ID, gen: s.gen, kind: timerRetransmit})
				continue
			}
			w.write(s.last)
			w.retrans.Add(1)
			s.interval *= 2
			w.timers.push(timerEntry{at: e.at + int64(s.interval), id: s.ID, gen: s.gen, kind: timerRetransmit})
			continue
		}
		w.write(s.last)
		w.retrans.Add(1)
		// Timer E doubles up to T2; after a provisional it stays at T2 (§17.1.2.2).
		if s.provisional {
			s.interval = w.r.cfg.T2
		} else {
			s.interval = min(2*s.interval, w.r.cfg.T2)
		}
		w.timers.push(timerEntry{at: e.at + int64(s.interval), id: s.ID, gen: s.gen, kind: timerRetransmit})
	}
}

func (w *worker) read() {
	buf := make([]byte, 65536)
	var r Response
	var q Request
	for {
		n, err := w.conn.Read(buf)
		if err != nil {
			if isClosed(err) {
				return
			}
			continue
		}
		now := w.r.now()
		if w.uas != nil && !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 ")) {
			if ParseRequest(buf[:n], &q) != nil {
				w.garbage.Add(1)
				continue
			}
			w.mu.Lock()
			w.uas.request(&q, now)
			w.mu.Unlock()
			continue
		}
		if ParseResponse(buf[:n], &r) != nil {
			w.garbage.Add(1)
			continue
		}
		id, gen, ok := parseBranch(w.prefix, r.Branch)
		if !ok {
			w.stray.Add(1)
			continue
		}
		w.mu.Lock()
		w.handle(id, gen, &r, now)
		w.mu.Unlock()
	}
}

// handle matches a response to its session; under mu.
func (w *worker) handle(id uint64, gen uint32, r *Response, now int64) {
	s := w.sessions[id]
	if s != nil && gen < s.gen && r.Code >= 200 {
		if l, ok := w.r.scen.(lateHandler); ok {
			if b := l.late(s, r, w.out[:0]); len(b) > 0 {
				w.write(b)
				return
			}
		}
	}
	if s == nil || s.gen != gen || s.delayed {
		w.stray.Add(1)
		return
	}
	if r.Code < 200 {
		s.provisional = true
		return
	}
	s.gen++
	s.setBranch()
	act := w.r.scen.Response(s, r, w.out[:0])
	w.keep(act.Next)
	w.keep(act.Oneway)
	if len(act.Oneway) > 0 {
		w.write(act.Oneway)
	}
	if act.Setup && !s.setup {
		s.setup = true
		w.hist.record(time.Duration(now - s.start))
	}
	switch {
	case act.Fail != "":
		w.fail(s, act.Fail)
	case act.Done && s.setup:
		w.whole.record(time.Duration(now - s.start))
		w.ok.Add(1)
		w.end(s, true)
	case act.Done:
		w.hist.record(time.Duration(now - s.start))
		w.ok.Add(1)
		w.end(s, true)
	case len(act.Next) > 0 && act.After > 0:
		s.last = append(s.last[:0], act.Next...)
		s.delayed = true
		w.timers.push(timerEntry{at: now + int64(act.After), id: s.ID, gen: s.gen, kind: timerSend})
	case len(act.Next) > 0:
		w.send(s, act.Next, now)
	default:
		w.fail(s, "scenario gave no next step")
	}
}

func (w *worker) fail(s *Session, cause string) {
	w.causes[cause]++
	w.failed.Add(1)
	w.end(s, false)
}

func (w *worker) end(s *Session, ok bool) {
	delete(w.sessions, s.ID)
	w.inflight.Add(-1)
	w.r.scen.Finish(s, ok)
	w.release(s)
}

// finishAll fails whatever is still in flight when the run ends.
func (w *worker) finishAll(cause string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.sessions {
		w.fail(s, cause)
	}
	w.timers = w.timers[:0]
}
