package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux architecture Go runs on.
const clockTicks = 100

// ProcSample is a server's CPU time and memory at one moment, summed over
// its processes (Kamailio runs several).
type ProcSample struct {
	CPU time.Duration // utime+stime
	// RSS counts shared pages once per process; PSS splits them, which is
	// the fair figure for a forking server. HWM is the peak RSS.
	RSS, PSS, HWM int64
}

// ReadProc samples /proc for pids.
func ReadProc(pids []int) (ProcSample, error) {
	var s ProcSample
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return s, fmt.Errorf("bench: %w", err)
		}
		// Fields after the command name, which may hold spaces and ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			return s, fmt.Errorf("bench: /proc/%d/stat: unexpected format", pid)
		}
		f := bytes.Fields(stat[i+1:])
		if len(f) < 13 {
			return s, fmt.Errorf("bench: /proc/%d/stat: unexpected format", pid)
		}
		// f[0] is field 3 (state); utime and stime are fields 14 and 15.
		ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
		st, _ := strconv.ParseInt(string(f[12]), 10, 64)
		s.CPU += time.Duration(ut+st) * time.Second / clockTicks

		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			s.RSS += kbField(b, "VmRSS:")
			s.HWM += kbField(b, "VmHWM:")
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
			s.PSS += kbField(b, "Pss:")
		}
	}
	return s, nil
}

// kbField reads "Name:   123 kB" as bytes.
func kbField(b []byte, name string) int64 {
	i := bytes.Index(b, []byte("\n"+name))
	if i < 0 {
		if !bytes.HasPrefix(b, []byte(name)) {
			return 0
		}
		i = -1
	}
	rest := b[i+1+len(name):]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	f := bytes.Fields(rest)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(string(f[0]), 10, 64)
	return n << 10
}
