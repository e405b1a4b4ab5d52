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
	Stray   int64 `json:"stray"`
	Garbage int64 `json:"garbage"`
	// Latency is the session's latency; for calls, the setup (first
	// INVITE to 200), with the whole call's duration in CallDuration.
	Latency      Latency    `json:"latency"`
	CallDuration *Latency   `json:"call_duration,omitempty"`
	Calls        *CallStats `json:"calls,omitempty"`
	RTP          *RTPStats  `json:"rtp,omitempty"`
	Server       *Server    `json:"server,omitempty"`
}

// CallStats shows both sides of the calls: the UAS counts say the callees
// were reached, the UAC ones how the dialogs went.
type CallStats struct {
	// Challenged counts INVITEs answered with a digest challenge.
	Challenged int64 `json:"challenged"`
	// Reacked counts 2xx retransmissions ACKed again.
	Reacked int64 `json:"reacked"`
	// The UAS side: INVITEs answered (200), retransmitted INVITEs, ACKs
	// and BYEs received, CANCELs answered, 200s retransmitted for want of
	// an ACK, calls given up without one, other requests.
	UASInvites       int64 `json:"uas_invites"`
	UASInviteRetrans int64 `json:"uas_invite_retransmissions"`
	UASAcks          int64 `json:"uas_acks"`
	UASByes          int64 `json:"uas_byes"`
	UASCancels       int64 `json:"uas_cancels,omitempty"`
	UAS200Retrans    int64 `json:"uas_200_retransmissions"`
	UASAckTimeouts   int64 `json:"uas_ack_timeouts"`
	UASOther         int64 `json:"uas_other,omitempty"`
}

func (c *CallStats) add(w *worker) {
	c.Challenged += w.challenged
	c.Reacked += w.reacked
	if u := w.uas; u != nil {
		c.UASInvites += u.invites
		c.UASInviteRetrans += u.inviteRetrans
		c.UASAcks += u.acks
		c.UASByes += u.byes
		c.UASCancels += u.cancels
		c.UAS200Retrans += u.retrans200
		c.UASAckTimeouts += u.ackTimeouts
		c.UASOther += u.other
	}
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
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		if c := r.Calls; c != nil {
			fmt.Fprintf(w, "%s @%.0f/s: challenged %d, re-ACKed 2xx %d; UAS answered %d INVITEs (%d retransmitted), got %d ACKs, %d BYEs; retransmitted 200 %d, no ACK %d\n",
				r.Scenario, r.Offered, c.Challenged, c.Reacked, c.UASInvites, c.UASInviteRetrans, c.UASAcks, c.UASByes, c.UAS200Retrans, c.UASAckTimeouts)
		}
		if d := r.CallDuration; d != nil {
			fmt.Fprintf(w, "%s @%.0f/s: whole call ms p50 %s p90 %s p99 %s max %s\n", r.Scenario, r.Offered, ms(d.P50), ms(d.P90), ms(d.P99), ms(d.Max))
		}
		if m := r.RTP; m != nil {
			fmt.Fprintf(w, "%s @%.0f/s: RTP %d streams, sent %d, received %d, lost %d, jitter mean %.2f ms max %.2f ms\n",
				r.Scenario, r.Offered, m.Streams, m.Sent, m.Received, m.Lost, m.JitterMeanMs, m.JitterMaxMs)
		}
	}
	return nil
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
