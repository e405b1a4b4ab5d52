package bench

// timerHeap is a min-heap of retransmission and delayed-send deadlines. An
// entry is stale once its session has moved to another transaction (gen
// differs) or ended; stale entries are skipped when popped, which is
// cheaper than finding and removing them. Hand-written rather than
// container/heap so pushing does not box a value per retransmission.
type timerHeap []timerEntry

type timerKind uint8

const (
	timerRetransmit timerKind = iota
	timerSend
	// timerUAS is the UAS side's: id is a call's key, not a session's.
	timerUAS
)

type timerEntry struct {
	at   int64
	id   uint64
	gen  uint32
	kind timerKind
}

func (h *timerHeap) push(e timerEntry) {
	*h = append(*h, e)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].at <= a[i].at {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

// popDue removes and returns the earliest entry if it is due at now.
func (h *timerHeap) popDue(now int64) (timerEntry, bool) {
	a := *h
	if len(a) == 0 || a[0].at > now {
		return timerEntry{}, false
	}
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && a[l].at < a[m].at {
			m = l
		}
		if r < n && a[r].at < a[m].at {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top, true
}
