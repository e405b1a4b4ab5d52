//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// readBufferSize reads SO_RCVBUF back from the kernel.
func readBufferSize(uc *net.UDPConn) (int, bool) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var n int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		n, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil || serr != nil {
		return 0, false
	}
	return n, true
}
