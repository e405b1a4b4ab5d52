package proxy

import (
	"context"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// nat applies RFC 3261 §18.2.1 and RFC 3581 §4 on receipt: the top Via gets
// received=<source ip> when its sent-by host is not the packet's source, and
// an empty rport is filled with the source port (which also forces received).
// sipgo only does this on the responses it builds, and only for rport; doing
// it on the request means every response we build and, later, every request
// we forward carries the real source.
//
// The Via is changed in place before any response exists; the only other
// reader, sipgo's 100 Trying timer for INVITE, fires 200 ms later.
func nat(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, tx sip.ServerTransaction, req *sip.Request) error {
		fixVia(req)
		return next.ServeSIP(ctx, tx, req)
	})
}

func fixVia(req *sip.Request) {
	via := req.Via()
	if via == nil {
		return
	}
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return
	}
	ip := src.Addr().Unmap().WithZone("")
	rport, hasRport := via.Params.Get("rport")
	fillRport := hasRport && rport == ""
	if fillRport {
		via.Params.Add("rport", strconv.Itoa(int(src.Port())))
	}
	if fillRport || !sameHost(via.Host, ip) {
		via.Params.Add("received", ip.String())
	}
}

// sameHost reports whether a Via sent-by host is that IP literal; a name
// never is, as §18.2.1 wants received added for any domain name.
func sameHost(host string, ip netip.Addr) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	// Every IP literal has a colon or starts with a digit; a name is told
	// at once instead of by a failed parse, which allocates its error.
	if host == "" || strings.IndexByte(host, ':') < 0 && (host[0] < '0' || host[0] > '9') {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().WithZone("") == ip
}
