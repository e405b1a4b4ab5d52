package proxy

import (
	"sync/atomic"
	"time"
)

// Overload by queueing delay. Past what one core can do, the queue of a UDP
// server is its socket: sipgo's reader shares the CPU with every handler it
// started, datagrams wait in the receive buffer, and by the time
// sip.max_inflight notices anything they have waited seconds and the phones
// have retransmitted, adding to the queue. So the batch reader measures the
// queue itself: the kernel stamps each datagram's arrival (SO_TIMESTAMPNS),
// and the head of each batch read tells how long the queue was. As CoDel
// does, the minimum over an interval tells a standing queue from a burst:
// when even the shortest wait of 100 ms of reads exceeds
// sip.max_queue_delay, new work gets 503 with Retry-After until the waits
// have been short again for half a second.

const (
	overloadInterval = 100 * time.Millisecond
	calmIntervals    = 5
)

// overload is the verdict; observe is called only by the UDP batch reader.
type overload struct {
	on       atomic.Bool
	limit    time.Duration // 0: never overloaded
	onChange func(on bool) // called from the reader, on every change

	windowStart time.Time
	windowMin   time.Duration
	calm        int
}

func (o *overload) active() bool { return o.on.Load() }

// observe takes how long the head of a batch waited in the socket.
func (o *overload) observe(now time.Time, waited time.Duration) {
	if o.limit <= 0 {
		return
	}
	if o.windowStart.IsZero() {
		o.windowStart, o.windowMin = now, waited
		return
	}
	o.windowMin = min(o.windowMin, waited)
	if now.Sub(o.windowStart) < overloadInterval {
		return
	}
	over := o.windowMin > o.limit
	o.windowStart = time.Time{}
	// On at the first interval over the limit; off only after
	// calmIntervals under it, so that a queue that empties in bursts
	// does not let a retransmission wave back in between.
	if over {
		o.calm = 0
	} else if o.calm++; o.calm < calmIntervals {
		return
	}
	if o.on.Swap(over) != over && o.onChange != nil {
		o.onChange(over)
	}
}
