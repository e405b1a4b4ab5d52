package proxy

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sipedge/sipedge/registrar"
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
}

// Default returns the defaults a newcomer gets.
func Default() Config { panic("todo") }

// Validate names the first bad field.
func (c Config) Validate() error { panic("todo") }

// Server is the SIP server.
type Server struct{}

// New builds a server; it does not listen yet.
func New(cfg Config, reg *registrar.Service, prom prometheus.Registerer, log *slog.Logger) (*Server, error) {
	panic("todo")
}

// Listen binds the UDP socket and the TCP listener (same port).
func (s *Server) Listen() error { panic("todo") }

// UDPAddr and TCPAddr are the bound addresses, valid after Listen.
func (s *Server) UDPAddr() netip.AddrPort { panic("todo") }
func (s *Server) TCPAddr() netip.AddrPort { panic("todo") }

// Serve serves until ctx is done, then closes the listeners and returns nil.
func (s *Server) Serve(ctx context.Context) error { panic("todo") }
