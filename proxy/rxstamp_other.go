//go:build !linux

package proxy

import (
	"net"
	"time"
)

var rxStampSpace = 0

func enableRxStamps(*net.UDPConn) bool { return false }

func rxStamp([]byte) (time.Time, bool) { return time.Time{}, false }
