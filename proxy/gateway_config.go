package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// GatewayPool is one upstream pool (sip.gateways[]): carriers, a PBX, a
// trunk provider. Calls from a device to a number that is no device of its
// account go to the default pool; requests whose source address is one of a
// pool's targets are trusted (no challenge) and routed to devices.
type GatewayPool struct {
	// Name labels the pool in metrics and logs.
	Name string `yaml:"name"`
	// Default marks the pool for calls that reach no device (the first pool
	// when none is marked).
	Default bool `yaml:"default"`
	// Realm is the account realm whose devices calls from this pool reach;
	// empty: the Request-URI host.
	Realm string `yaml:"realm"`
	// CheckInterval is the OPTIONS health-check period; 0 disables checks
	// and the targets are always considered up.
	CheckInterval time.Duration `yaml:"check_interval"`
	// DownAfter is how many health checks in a row must fail (no answer,
	// 408 or 5xx) before a target is skipped; one good answer brings it back.
	DownAfter int `yaml:"down_after"`
	// Targets are tried by ascending priority; within a priority, in a
	// random order weighted by weight.
	Targets []GatewayTarget `yaml:"targets"`
	// OnHealth, when set, is told every change of a target's health (for
	// tests and for whoever wants to log it elsewhere).
	OnHealth func(pool, target string, up bool) `yaml:"-"`
}

// GatewayTarget is one address of a pool.
type GatewayTarget struct {
	// Addr is ip:port; an IP literal so that trusting by source address
	// needs no DNS.
	Addr string `yaml:"addr"`
	// Transport is udp (default) or tcp.
	Transport string `yaml:"transport"`
	Priority  int    `yaml:"priority"`
	// Weight is relative within a priority; 0 counts as 1.
	Weight int `yaml:"weight"`
}

const defaultDownAfter = 3

func validatePools(pools []GatewayPool) error {
	names := map[string]bool{}
	defaults := 0
	for i, p := range pools {
		field := fmt.Sprintf("sip.gateways[%d]", i)
		if p.Name == "" || strings.ContainsAny(p.Name, "\r\n\x00") {
			return fmt.Errorf("%s.name: required, one line", field)
		}
		if names[p.Name] {
			return fmt.Errorf("%s.name: %q used twice", field, p.Name)
		}
		names[p.Name] = true
		if p.Default {
			defaults++
		}
		if p.Realm != "" && !validHost(p.Realm) {
			return fmt.Errorf("%s.realm: %q is not a host name", field, p.Realm)
		}
		if p.CheckInterval < 0 {
			return fmt.Errorf("%s.check_interval: must not be negative", field)
		}
		if p.DownAfter < 0 {
			return fmt.Errorf("%s.down_after: must not be negative", field)
		}
		if len(p.Targets) == 0 {
			return fmt.Errorf("%s.targets: at least one target", field)
		}
		for j, t := range p.Targets {
			tf := fmt.Sprintf("%s.targets[%d]", field, j)
			ap, err := netip.ParseAddrPort(t.Addr)
			if err != nil || ap.Port() == 0 {
				return fmt.Errorf("%s.addr: %q is not ip:port", tf, t.Addr)
			}
			switch strings.ToLower(t.Transport) {
			case "", "udp", "tcp":
			default:
				return fmt.Errorf("%s.transport: %q is not udp or tcp", tf, t.Transport)
			}
			if t.Weight < 0 {
				return fmt.Errorf("%s.weight: must not be negative", tf)
			}
		}
	}
	if defaults > 1 {
		return errors.New("sip.gateways: more than one pool is marked default")
	}
	return nil
}
