package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// runner is one run's shared, read-only state.
type runner struct {
	cfg     Config
	scen    Scenario
	target  string
	runID   string
	start   time.Time
	timeout int64 // 64·T1 in ns
}

func (r *runner) now() int64 { return int64(time.Since(r.start)) }

// Run drives cfg.Scenario at cfg.Rate until cfg.Duration or cfg.Max, waits
// up to cfg.Drain for sessions in flight, and reports. Cancelling ctx stops
// sending and draining at once.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Scenario.Prepare(cfg.Sockets); err != nil {
		return nil, err
	}
	var uasCfg uasConfig
	if cs, ok := cfg.Scenario.(calls); ok {
		uasCfg = cs.uasConfig()
		// A call started at the end of sending still has its hold to run.
		cfg.Drain += uasCfg.hold
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	r := &runner{
		cfg: cfg, scen: cfg.Scenario, target: cfg.Target.String(),
		runID: hex.EncodeToString(id[:]), timeout: int64(64 * cfg.T1),
	}

	workers := make([]*worker, cfg.Sockets)
	for i := range workers {
		w, err := newWorker(r, i)
		if err != nil {
			for _, w := range workers[:i] {
				_ = w.conn.Close()
				w.closeMedia()
			}
			return nil, err
		}
		workers[i] = w
	}

	var before ProcSample
	if len(cfg.PIDs) > 0 {
		var err error
		if before, err = ReadProc(cfg.PIDs); err != nil {
			for _, w := range workers {
				_ = w.conn.Close()
				w.closeMedia()
			}
			return nil, err
		}
	}

	r.start = time.Now()
	stopMedia := runMedia(workers)
	var readers, pacers sync.WaitGroup
	perWorker := cfg.Rate / float64(cfg.Sockets)
	for i, w := range workers {
		quota := int64(-1)
		if cfg.Max > 0 {
			quota = int64(cfg.Max / cfg.Sockets)
			if i < cfg.Max%cfg.Sockets {
				quota++
			}
		}
		readers.Add(1)
		go func() { defer readers.Done(); w.read() }()
		pacers.Add(1)
		go func() { defer pacers.Done(); w.pace(ctx, perWorker, quota) }()
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() { defer close(progressDone); progress(r, workers, stopProgress) }()

	pacers.Wait()
	elapsed := time.Since(r.start)
	close(stopProgress)
	<-progressDone
	for _, w := range workers {
		_ = w.conn.Close()
	}
	readers.Wait()
	stopMedia()

	res := &Result{Scenario: r.scen.Name(), Target: r.target, Offered: cfg.Rate, Elapsed: elapsed, ElapsedS: elapsed.Seconds(), Failures: map[string]int64{}}
	var h, whole histogram
	var sendEnd int64
	var cs *CallStats
	if uasCfg.report {
		cs = &CallStats{}
	}
	for _, w := range workers {
		w.finishAll("unfinished")
		res.Started += w.started.Load()
		res.Succeeded += w.ok.Load()
		res.Failed += w.failed.Load()
		res.Skipped += w.skipped.Load()
		res.Sent += w.sent.Load()
		res.Retransmissions += w.retrans.Load()
		res.Stray += w.stray.Load()
		res.Garbage += w.garbage.Load()
		for k, v := range w.causes {
			res.Failures[k] += v
		}
		h.merge(&w.hist)
		whole.merge(&w.whole)
		sendEnd = max(sendEnd, w.sendEnd)
		if cs != nil {
			cs.add(w)
		}
	}
	if cs != nil {
		res.Calls = cs
		if whole.total > 0 {
			d := whole.latency()
			res.CallDuration = &d
		}
		res.RTP = mediaStats(workers)
	}
	// The achieved rate is over the sending window, as the offered rate is
	// (the drain would dilute it); a generator that fell behind stretched
	// that window, one that kept up sent Started in Started/Rate.
	window := max(time.Duration(sendEnd), time.Duration(float64(res.Started+res.Skipped)/cfg.Rate*float64(time.Second)))
	if window > 0 {
		res.Achieved = float64(res.Succeeded) / window.Seconds()
	}
	if res.Started > 0 {
		res.FailureRatio = float64(res.Failed) / float64(res.Started)
	}
	res.Latency = h.latency()
	if len(cfg.PIDs) > 0 {
		after, err := ReadProc(cfg.PIDs)
		if err != nil {
			return res, err
		}
		srv := &Server{PIDs: cfg.PIDs, CPUS: (after.CPU - before.CPU).Seconds(), RSS: after.RSS, PSS: after.PSS, HWM: after.HWM}
		if res.Succeeded > 0 {
			srv.CPUPerOp = srv.CPUS * 1e6 / float64(res.Succeeded)
		}
		srv.CPUUtil = srv.CPUS / elapsed.Seconds()
		res.Server = srv
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("bench: run interrupted: %w", err)
	}
	return res, nil
}

func progress(r *runner, workers []*worker, stop <-chan struct{}) {
	if r.cfg.Progress == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastOK int64
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		var started, ok, failed, retrans, inflight int64
		for _, w := range workers {
			started += w.started.Load()
			ok += w.ok.Load()
			failed += w.failed.Load()
			retrans += w.retrans.Load()
			inflight += w.inflight.Load()
		}
		fmt.Fprintf(r.cfg.Progress, "%s %5.1fs offered %.0f/s: started %d, ok %d (%d/s), failed %d, retrans %d, in flight %d\n",
			r.scen.Name(), time.Since(r.start).Seconds(), r.cfg.Rate, started, ok, ok-lastOK, failed, retrans, inflight)
		lastOK = ok
	}
}

// isClosed tells a closed socket from transient errors (ICMP port
// unreachable on a connected socket comes back as ECONNREFUSED on read).
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
