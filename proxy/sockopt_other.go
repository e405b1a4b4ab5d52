//go:build !unix

package proxy

import "net"

// readBufferSize is not available here; the caller logs what it asked for.
func readBufferSize(*net.UDPConn) (int, bool) { return 0, false }
