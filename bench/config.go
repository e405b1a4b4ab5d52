package bench

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// RFC 3261 timers for non-INVITE client transactions (§17.1.2.2).
const (
	T1 = 500 * time.Millisecond
	T2 = 4 * time.Second
)

// Config describes one run.
type Config struct {
	// Target is the server's UDP address.
	Target netip.AddrPort
	// AllowRemote permits a non-loopback target; off by default so a typo
	// cannot aim a load test at someone else's server.
	AllowRemote bool
	// Scenario drives the sessions.
	Scenario Scenario
	// Rate is new sessions per second.
	Rate float64
	// Duration bounds the sending; Max bounds the sessions started (0: no
	// bound besides Duration). The run ends at whichever comes first, plus
	// the drain.
	Duration time.Duration
	Max      int
	// MaxInflight caps the sessions in flight (0: no cap). With a rate
	// above what the server holds it makes a closed loop, as SIPp's -l
	// does: throughput without an overload collapse of retransmissions.
	MaxInflight int
	// Sockets is the number of workers, each with its own UDP socket.
	Sockets int
	// Drain is how long to wait after sending stops for sessions still in
	// flight; those left are failed as "unfinished".
	Drain time.Duration
	// T1 and T2 are the retransmission timers; a transaction is given up
	// after 64·T1 (Timer F).
	T1, T2 time.Duration
	// PIDs are the server's processes, for CPU and memory from /proc.
	PIDs []int
	// Progress, if set, gets a line per second.
	Progress io.Writer
	// SocketBuffer is SO_RCVBUF/SO_SNDBUF asked for on each socket.
	SocketBuffer int
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Sockets == 0 {
		c.Sockets = 4
	}
	if c.Drain == 0 {
		c.Drain = 5 * time.Second
	}
	if c.T1 == 0 {
		c.T1 = T1
	}
	if c.T2 == 0 {
		c.T2 = T2
	}
	if c.SocketBuffer == 0 {
		c.SocketBuffer = 4 << 20
	}
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	switch {
	case !c.Target.IsValid() || c.Target.Port() == 0:
		return errors.New("bench: target: want ip:port")
	case !c.AllowRemote && !c.Target.Addr().Unmap().IsLoopback():
		return fmt.Errorf("bench: target %s is not a loopback address (allow it explicitly to load a remote server)", c.Target)
	case c.Scenario == nil:
		return errors.New("bench: scenario: none given")
	case c.Rate <= 0:
		return fmt.Errorf("bench: rate %v: must be > 0", c.Rate)
	case c.Duration <= 0:
		return fmt.Errorf("bench: duration %v: must be > 0", c.Duration)
	case c.Max < 0:
		return fmt.Errorf("bench: max %d: must be ≥ 0", c.Max)
	case c.MaxInflight < 0:
		return fmt.Errorf("bench: max in flight %d: must be ≥ 0", c.MaxInflight)
	case c.Sockets < 1 || c.Sockets > 256:
		return fmt.Errorf("bench: sockets %d: want 1..256", c.Sockets)
	case c.Drain < 0:
		return fmt.Errorf("bench: drain %v: must be ≥ 0", c.Drain)
	case c.T1 <= 0 || c.T2 < c.T1:
		return fmt.Errorf("bench: timers T1=%v T2=%v: want 0 < T1 ≤ T2", c.T1, c.T2)
	}
	return nil
}
