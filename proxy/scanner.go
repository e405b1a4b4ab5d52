package proxy

import (
	"bytes"
	"fmt"
	"net"

	"github.com/prometheus/client_golang/prometheus"
)

// scannerAgents are User-Agent fragments of SIP scanners and war-dialers
// (lower case). No phone, PBX or gateway sends these; an answer would only
// tell the scanner that something is here.
var scannerAgents = [][]byte{
	[]byte("friendly-scanner"),
	[]byte("sipvicious"),
	[]byte("sipcli"),
	[]byte("sip-scan"),
	[]byte("sipscan"),
	[]byte("vaxsipuseragent"),
	[]byte("iwar"),
	[]byte("sundayddr"),
	[]byte("siparmyknife"),
	[]byte("sivus"),
	[]byte("pplsip"),
}

// scannerFilter drops, unanswered, requests whose User-Agent names a known
// scanner, unless they come from an allow-listed source.
type scannerFilter struct {
	allow   allowList
	dropped prometheus.Counter
}

func newScannerFilter(allow allowList, reg prometheus.Registerer) (*scannerFilter, error) {
	f := &scannerFilter{
		allow: allow,
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sipedge_proxy_scanner_dropped_total",
			Help: "Reads dropped without answer because the User-Agent names a SIP scanner.",
		}),
	}
	if err := reg.Register(f.dropped); err != nil {
		return nil, fmt.Errorf("proxy: scanner metrics: %w", err)
	}
	return f, nil
}

// filter is the ReadFilter.
func (f *scannerFilter) filter(_ string, remote net.Addr, data []byte) bool {
	if !isScanner(data) {
		return true
	}
	if ip, ok := remoteIP(remote); ok && f.allow.contains(ip) {
		return true
	}
	f.dropped.Inc()
	return false
}

// isScanner looks for a User-Agent header line in the raw head of a
// message and matches it, case-insensitively, against scannerAgents. It
// reads bytes only: no parsing, no allocation for a line up to 256 bytes.
func isScanner(data []byte) bool {
	const name = "user-agent"
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			return false // end of the head
		}
		if len(line) <= len(name) || !bytes.EqualFold(line[:len(name)], []byte(name)) {
			continue
		}
		rest := bytes.TrimLeft(line[len(name):], " \t")
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		var buf [256]byte
		v := rest[1:]
		if len(v) > len(buf) {
			v = v[:len(buf)]
		}
		lower := buf[:len(v)]
		for i, c := range v {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[i] = c
		}
		for _, a := range scannerAgents {
			if bytes.Contains(lower, a) {
				return true
			}
		}
	}
	return false
}
