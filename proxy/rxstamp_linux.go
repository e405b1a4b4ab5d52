package proxy

import (
	"encoding/binary"
	"net"
	"syscall"
	"time"
	"unsafe"
)

// rxStampSpace is the control-message room one datagram's receive time
// needs: a cmsghdr and a timespec.
var rxStampSpace = syscall.CmsgSpace(16)

// enableRxStamps asks the kernel to stamp each datagram with the time it
// arrived (SO_TIMESTAMPNS), so the reader can tell how long it waited.
func enableRxStamps(uc *net.UDPConn) bool {
	rc, err := uc.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return false
	}
	return true
}

// rxStamp reads the arrival time from a datagram's control messages.
func rxStamp(oob []byte) (time.Time, bool) {
	for len(oob) >= syscall.CmsgLen(0) {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < syscall.CmsgLen(0) || n > len(oob) {
			return time.Time{}, false
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS && n >= syscall.CmsgLen(16) {
			d := oob[syscall.CmsgLen(0):]
			sec := int64(binary.NativeEndian.Uint64(d[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(d[8:16]))
			return time.Unix(sec, nsec), true
		}
		oob = oob[min(syscall.CmsgSpace(n-syscall.CmsgLen(0)), len(oob)):]
	}
	return time.Time{}, false
}
