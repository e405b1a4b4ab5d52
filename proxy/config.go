package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Config is the SIP server's section of the configuration.
type Config struct {
	// Listen is the SIP address for both UDP and TCP, e.g. ":5060" or "127.0.0.1:0"
	// (with port 0, UDP and TCP get the same free port).
	Listen string `yaml:"listen"`
	// Advertise, when set, is the host[:port] put in Via/Record-Route and shown as
	// proxy_ip/proxy_port, for hosts behind NAT or a load balancer.
	Advertise string `yaml:"advertise"`
	// UserAgent is the Server header value; no version by default.
	UserAgent string `yaml:"user_agent"`
	// UDPReadBuffer is the SO_RCVBUF asked for on the UDP socket, in bytes.
	// The kernel caps it at net.core.rmem_max; what it granted is logged.
	UDPReadBuffer int `yaml:"udp_read_buffer"`
	// MaxInflight caps the requests being handled at once; beyond it new
	// requests get 503 with Retry-After instead of piling up goroutines.
	MaxInflight int `yaml:"max_inflight"`
	// MaxQueueDelay: while UDP datagrams wait in the socket longer than
	// this (the shortest wait over 100 ms, from the kernel's arrival
	// stamps), new requests get 503 with Retry-After (overload.go). 0
	// turns it off.
	MaxQueueDelay time.Duration `yaml:"max_queue_delay"`
	// RetryAfter is the Retry-After value, in seconds, of that 503.
	RetryAfter int `yaml:"retry_after"`
	// RingTimeout bounds how long a branch may ring in all, however many
	// provisionals come, when the callee device has no
	// media.progress_timeout.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// TimerC is RFC 3261 §16.6 step 11's Timer C: a branch whose last
	// provisional response is older than this is CANCELled (or, with none,
	// given up as 408). The RFC wants more than 3 minutes; 0 means 180 s.
	TimerC time.Duration `yaml:"timer_c"`
	// TransactionLinger is how long a finished UDP transaction is kept to
	// absorb retransmissions (sipgo's Timers D, J, L and M, 32 s by RFC
	// 3261). Kamailio's tm keeps 5 s; at 32 s every call and request of
	// the last half minute stays in memory. 0 keeps sipgo's timers.
	TransactionLinger time.Duration `yaml:"transaction_linger"`
	// Gateways are the upstream pools; calls to numbers that are no device
	// of the caller's account go to the pool marked default (or the first).
	Gateways []GatewayPool `yaml:"gateways"`
	// TLS adds a SIP over TLS listener when its listen address is set.
	TLS TLSConfig `yaml:"tls"`
	// WS adds WebSocket (and, with TLS's certificate, WSS) listeners.
	WS WSConfig `yaml:"ws"`
	// RouteSecret keys the token in our Record-Route that in-dialog
	// requests must bring back. Pass a persisted key so calls outlive a
	// restart; nil means a random one per process.
	RouteSecret []byte `yaml:"-"`
	// Flood is the per-source-IP read limit (flood.go).
	Flood FloodConfig `yaml:"flood"`
	// RegisterFastPath answers UDP REGISTER in the socket reader without a
	// SIP transaction (stateless, as RFC 3261 allows a registrar): same
	// registrar, same answers, a fraction of the CPU and memory.
	RegisterFastPath bool `yaml:"register_fast_path"`
	// RegisterRawPath, on top of the fast path, answers the common UDP
	// REGISTERs (401 challenge, 200 for good credentials) on the datagram's
	// bytes without building a sipgo message (rawreg.go); everything else
	// still takes the fast path.
	RegisterRawPath bool `yaml:"register_raw_path"`
	// ChallengeFastPath, with the fast path, answers an initial UDP INVITE
	// that has no credentials and comes from neither a gateway nor an
	// IP-authenticated device statelessly, in the socket reader: the 407
	// (or 403/400) every call's first INVITE gets, without a transaction,
	// as Kamailio's proxy_challenge does (challenge.go).
	ChallengeFastPath bool `yaml:"challenge_fast_path"`
	// DialogFastPath, with the fast path, forwards the ACK for a 2xx and
	// the BYE of a dialog in the socket reader, statelessly, without sipgo
	// transactions (dialogpath.go).
	DialogFastPath bool `yaml:"dialog_fast_path"`
	// UDPBatch is how many datagrams one recvmmsg reads from the UDP
	// listener, and how many raw REGISTER answers one sendmmsg sends
	// (udpbatch.go); 0 or 1 reads and writes one at a time.
	UDPBatch int `yaml:"udp_batch"`
	// SilentScanners drops, without answer, requests whose User-Agent names
	// a known scanner (scanner.go).
	SilentScanners bool `yaml:"silent_scanners"`
	// Limits bounds message sizes and stream connections (limits.go).
	Limits LimitsConfig `yaml:"limits"`
}

// ApplyTimers sets sipgo's transaction timers from c. They are package
// globals of sipgo, read when a transaction starts: call it once, before
// any server or client runs.
func (c Config) ApplyTimers() {
	if l := c.TransactionLinger; l > 0 {
		sip.Timer_D, sip.Timer_J, sip.Timer_L, sip.Timer_M = l, l, l, l
	}
}

// Default returns the defaults a newcomer gets.
func Default() Config {
	return Config{
		Listen:            ":5060",
		UserAgent:         "sipedge",
		UDPReadBuffer:     4 << 20,
		MaxInflight:       10000,
		MaxQueueDelay:     100 * time.Millisecond,
		RetryAfter:        5,
		RingTimeout:       60 * time.Second,
		TimerC:            defaultTimerC,
		TransactionLinger: 5 * time.Second,
		Flood:             DefaultFlood(),
		RegisterFastPath:  true,
		RegisterRawPath:   true,
		ChallengeFastPath: true,
		DialogFastPath:    true,
		UDPBatch:          16,
	}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("sip.listen: %q is not host:port: %w", c.Listen, err)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("sip.listen: host %q must be an IP address or empty", host)
		}
	}
	if _, err := parsePort(port); err != nil {
		return fmt.Errorf("sip.listen: %w", err)
	}
	if c.Advertise != "" {
		if _, _, err := splitAdvertise(c.Advertise); err != nil {
			return fmt.Errorf("sip.advertise: %w", err)
		}
	}
	if c.UDPBatch < 0 || c.UDPBatch > 1024 {
		// Each slot holds a 64 KiB read buffer.
		return fmt.Errorf("sip.udp_batch: %d is outside 0-1024", c.UDPBatch)
	}
	if strings.ContainsAny(c.UserAgent, "\r\n\x00") {
		return errors.New("sip.user_agent: must not contain CR, LF or NUL")
	}
	if c.UDPReadBuffer < 0 {
		return fmt.Errorf("sip.udp_read_buffer: %d must not be negative", c.UDPReadBuffer)
	}
	if c.MaxInflight <= 0 {
		return fmt.Errorf("sip.max_inflight: %d must be positive", c.MaxInflight)
	}
	if c.MaxQueueDelay < 0 {
		return fmt.Errorf("sip.max_queue_delay: %v must not be negative", c.MaxQueueDelay)
	}
	if c.RetryAfter < 0 {
		return fmt.Errorf("sip.retry_after: %d must not be negative", c.RetryAfter)
	}
	if c.RingTimeout < 0 {
		return fmt.Errorf("sip.ring_timeout: %s must not be negative", c.RingTimeout)
	}
	if c.TimerC < 0 {
		return fmt.Errorf("sip.timer_c: %s must not be negative", c.TimerC)
	}
	if c.TransactionLinger < 0 || c.TransactionLinger > 64*sip.T1 {
		return fmt.Errorf("sip.transaction_linger: %s must be between 0 and %s", c.TransactionLinger, 64*sip.T1)
	}
	if err := c.TLS.validate(); err != nil {
		return err
	}
	if err := c.WS.validate(c.TLS); err != nil {
		return err
	}
	if err := c.Flood.Validate(); err != nil {
		return err
	}
	return validatePools(c.Gateways)
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q is not a number in 0..65535", s)
	}
	return uint16(n), nil
}

// splitAdvertise accepts "host", "host:port", "[v6]" and "[v6]:port"; a bare
// IPv6 address without brackets is taken whole, since its colons are not a port.
func splitAdvertise(s string) (host string, port uint16, err error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String(), 0, nil
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil {
			return "", 0, fmt.Errorf("%q: %w", s, err)
		}
		return a.String(), 0, nil
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		h, p = s, ""
	}
	if p != "" {
		if port, err = parsePort(p); err != nil {
			return "", 0, err
		}
		if port == 0 {
			return "", 0, errors.New("port 0 cannot be advertised")
		}
	}
	if !validHost(h) {
		return "", 0, fmt.Errorf("%q is not an IP address or host name", h)
	}
	return h, port, nil
}

// validHost is a DNS-name-or-IP check, strict enough that the value is safe
// to put into a header.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
