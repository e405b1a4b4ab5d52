// Command tracewaits reads an execution trace (sipedge -trace) and reports
// how long goroutines waited to run once runnable: counts of waits over
// 250 µs, 500 µs, 1 ms and 2 ms, how many of those overlapped a run of the
// collector's mark worker, and which goroutines (by where they blocked or
// were started) waited longest in total. `go tool trace -pprof=sched`
// leaves out new goroutines waiting for their first run, which is where
// the socket reader's batches made sipgo's handlers wait.
//
//	go run . run.trace
//
// A module of its own, so the trace reader is no dependency of sipedge.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/exp/trace"
)

type interval struct{ from, to trace.Time }

type wait struct {
	interval
	where string
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tracewaits FILE")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fail(err)
	}
	defer f.Close()
	waits, marks, err := read(f)
	if err != nil {
		fail(err)
	}
	report(os.Stdout, waits, marks)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tracewaits:", err)
	os.Exit(1)
}

// read collects every runnable-to-running wait and every run of a mark worker.
func read(r io.Reader) (waits []wait, marks []interval, err error) {
	tr, err := trace.NewReader(r)
	if err != nil {
		return nil, nil, err
	}
	runnable := map[trace.GoID]trace.Time{}
	running := map[trace.GoID]trace.Time{}
	where := map[trace.GoID]string{}
	for {
		ev, err := tr.ReadEvent()
		if errors.Is(err, io.EOF) {
			return waits, marks, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		g := st.Resource.Goroutine()
		from, to := st.Goroutine()
		if from == trace.GoRunning || from == trace.GoNotExist || from == trace.GoUndetermined {
			// Where it blocked, or the function it was started with.
			if s := frames(st.Stack); s != "" {
				where[g] = s
			} else if s := frames(ev.Stack()); s != "" && from != trace.GoRunning {
				where[g] = s
			}
		}
		if from == trace.GoRunning {
			if t, ok := running[g]; ok && strings.Contains(where[g], "gcBgMarkWorker") {
				marks = append(marks, interval{t, ev.Time()})
			}
		}
		switch to {
		case trace.GoRunnable:
			runnable[g] = ev.Time()
		case trace.GoRunning:
			if t, ok := runnable[g]; ok && from == trace.GoRunnable {
				waits = append(waits, wait{interval{t, ev.Time()}, where[g]})
			}
			running[g] = ev.Time()
		}
	}
}

func frames(s trace.Stack) string {
	var b strings.Builder
	for fr := range s.Frames() {
		if b.Len() > 0 {
			b.WriteString(" < ")
		}
		b.WriteString(fr.Func)
		if b.Len() > 200 {
			break
		}
	}
	return b.String()
}

func report(w io.Writer, waits []wait, marks []interval) {
	var markTime trace.Time
	for _, m := range marks {
		markTime += m.to - m.from
	}
	fmt.Fprintf(w, "%d waits; mark worker ran %d times, %.1f ms in all\n", len(waits), len(marks), float64(markTime)/1e6)
	for _, us := range []trace.Time{250, 500, 1000, 2000} {
		n, during := 0, 0
		for _, wt := range waits {
			if wt.to-wt.from < us*1000 {
				continue
			}
			n++
			for _, m := range marks {
				if m.from < wt.to && m.to > wt.from {
					during++
					break
				}
			}
		}
		fmt.Fprintf(w, "waits >= %4d us: %6d, %d of them while a mark worker ran\n", us, n, during)
	}
	total := map[string]trace.Time{}
	for _, wt := range waits {
		if d := wt.to - wt.from; d >= 250000 {
			total[wt.where] += d
		}
	}
	keys := make([]string, 0, len(total))
	for k := range total {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return total[keys[i]] > total[keys[j]] })
	fmt.Fprintln(w, "time in waits >= 250 us, by where the goroutine blocked or started:")
	for _, k := range keys[:min(12, len(keys))] {
		fmt.Fprintf(w, "  %8.1f ms  %s\n", float64(total[k])/1e6, k)
	}
}
