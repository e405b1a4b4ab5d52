package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one run's outcome.
type Result struct {
	Scenario string  `json:"scenario"`
	Target   string  `json:"target"`
	Offered  float64 `json:"offered_per_s"`
	// Elapsed runs from the first request to the last session's end.
	Elapsed   time.Duration `json:"-"`
	ElapsedS  float64       `json:"elapsed_s"`
	Started   int64         `json:"started"`
	Succeeded int64         `json:"succeeded"`
	Failed    int64         `json:"failed"`
	Skipped   int64         `json:"skipped,omitempty"`
	// Achieved is Succeeded per second of the sending window.
	Achieved float64 `json:"achieved_per_s"`
	// FailureRatio is Failed / Started.
	FailureRatio float64          `json:"failure_ratio"`
	Failures     map[string]int64 `json:"failures,omitempty"`
	// Sent counts datagrams sent, Retransmissions those that were repeats.
	Sent            int64 `json:"sent"`
	Retransmissions int64 `json:"retransmissions"`
	// Stray counts responses that matched no live transaction (late
	// answers to a retransmission, duplicates); Garbage what did not parse.
	Stray   int64   `json:"stray"`
	Garbage int64   `json:"garbage"`
	Latency Latency `json:"latency"`
	Server  *Server `json:"server,omitempty"`
}

// Server is the server's cost over the run, from /proc.
type Server struct {
	PIDs     []int   `json:"pids"`
	CPUS     float64 `json:"cpu_s"`
	CPUPerOp float64 `json:"cpu_us_per_success"`
	// CPUUtil is CPU seconds per elapsed second (1.0 = one core busy).
	CPUUtil float64 `json:"cpu_util"`
	RSS     int64   `json:"rss_bytes"`
	PSS     int64   `json:"pss_bytes"`
	HWM     int64   `json:"rss_peak_bytes"`
}

// Clean reports whether the run held its rate: failures under 0.1% and at
// least 97% of the offered rate achieved.
func (r *Result) Clean() bool {
	return r.Started > 0 && r.FailureRatio < 0.001 && r.Achieved >= 0.97*r.Offered
}

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteTable writes results as an aligned text table, one row per run.
func WriteTable(w io.Writer, results ...*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\toffered/s\tachieved/s\tstarted\tok\tfailed\tretrans\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\tsrv CPU µs/op\tsrv PSS MiB\tfailures\t")
	for _, r := range results {
		cpu, pss := "-", "-"
		if r.Server != nil {
			cpu = fmt.Sprintf("%.1f", r.Server.CPUPerOp)
			pss = fmt.Sprintf("%.1f", float64(r.Server.PSS)/(1<<20))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Scenario, r.Offered, r.Achieved, r.Started, r.Succeeded, r.Failed, r.Retransmissions,
			ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.P999), ms(r.Latency.Max),
			cpu, pss, causes(r.Failures))
	}
	return tw.Flush()
}

func ms(us uint64) string { return fmt.Sprintf("%.2f", float64(us)/1000) }

func causes(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}
