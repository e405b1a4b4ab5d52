package proxy_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// sipgo opens an ephemeral UDP socket for a new destination on
		// demand; one opened by a send that races the user agent's Close
		// (a gateway health check or a relayed retransmission as a test
		// server shuts down) is never put in the pool Close empties, so its
		// reader outlives the test. A library shutdown race, not ours; every
		// other goroutine is still checked.
		goleak.IgnoreAnyFunction("github.com/emiago/sipgo/sip.(*TransportUDP).readUDPConnection"),
	)
}
