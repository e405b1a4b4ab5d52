package location

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

const benchAORs = 100_000

func benchTable(b *testing.B, n int) (*Table, *clock) {
	b.Helper()
	tb, c, _ := newTestTable(b)
	for i := range n {
		set(tb, aorOf(i), bnd(i, UDP, c.In(time.Hour)))
	}
	return tb, c
}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = aorOf(i)
	}
	return keys
}

func BenchmarkLookup(b *testing.B) {
	tb, _ := benchTable(b, benchAORs)
	keys := benchKeys(benchAORs)
	dst := make([]Binding, 0, 4)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		dst = tb.Lookup(keys[i%benchAORs], dst[:0])
	}
	if len(dst) != 1 {
		b.Fatalf("Lookup found %d bindings", len(dst))
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	tb, _ := benchTable(b, benchAORs)
	keys := benchKeys(benchAORs)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]Binding, 0, 4)
		for i := 0; pb.Next(); i++ {
			dst = tb.Lookup(keys[(i*7919)%benchAORs], dst[:0])
		}
	})
}

// BenchmarkUpdateRefresh is a re-REGISTER of an existing contact: same
// strings, new expiry and CSeq, the way a registrar's fn does it.
func BenchmarkUpdateRefresh(b *testing.B) {
	tb, c := benchTable(b, benchAORs)
	keys := benchKeys(benchAORs)
	// The registrar's strings come from the packet: equal, not identical.
	fresh := make([]Binding, benchAORs)
	for i := range fresh {
		fresh[i] = bnd(i, UDP, time.Time{})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		n := i % benchAORs
		nb := &fresh[n]
		exp := c.In(time.Hour + time.Duration(i)*time.Nanosecond)
		tb.Update(keys[n], func(cur []Binding) []Binding {
			for j := range cur {
				if cur[j].Contact == nb.Contact {
					cur[j].Expires = exp
					cur[j].Updated = exp
					cur[j].CSeq++
					cur[j].CallID = nb.CallID
					cur[j].UserAgent = nb.UserAgent
					return cur
				}
			}
			return append(cur, *nb)
		})
	}
}

// BenchmarkExpire measures sweeping: each op expires one binding among
// benchAORs, with the due items spread over all shards.
func BenchmarkExpire(b *testing.B) {
	tb, c, _ := newTestTable(b)
	keys := benchKeys(benchAORs)
	for i := range benchAORs {
		set(tb, keys[i], bnd(i, UDP, c.In(time.Duration(i+1)*time.Millisecond)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	expired := 0
	for i := 0; b.Loop(); i++ {
		n := i % benchAORs
		if n == 0 && i > 0 {
			b.StopTimer()
			c.Advance(-time.Duration(benchAORs) * time.Millisecond)
			for j := range benchAORs {
				set(tb, keys[j], bnd(j, UDP, c.In(time.Duration(j+1)*time.Millisecond)))
			}
			b.StartTimer()
		}
		c.Advance(time.Millisecond)
		expired += tb.Expire()
	}
	if expired == 0 {
		b.Fatal("nothing expired")
	}
}

func BenchmarkWriteSnapshot(b *testing.B) {
	tb, _ := benchTable(b, benchAORs)
	b.ReportAllocs()
	for b.Loop() {
		if err := tb.WriteSnapshot(discard{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadSnapshot is a restart's restore: benchAORs bindings decoded
// and inserted into an empty table, reported per binding.
func BenchmarkReadSnapshot(b *testing.B) {
	src, _ := benchTable(b, benchAORs)
	var snap bytes.Buffer
	if err := src.WriteSnapshot(&snap); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		dst, _, _ := newTestTable(b)
		b.StartTimer()
		n, err := dst.ReadSnapshot(bytes.NewReader(snap.Bytes()))
		if err != nil || n != benchAORs {
			b.Fatalf("loaded %d, %v", n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchAORs), "ns/binding")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestMemoryPerBinding reports the heap cost of a binding at scale. It is
// slow and only runs with SIPEDGE_MEMTEST=N (bindings) and without -short.
func TestMemoryPerBinding(t *testing.T) {
	env := os.Getenv("SIPEDGE_MEMTEST")
	if testing.Short() || env == "" {
		t.Skip("set SIPEDGE_MEMTEST=<bindings> (e.g. 100000 or 1000000) to run")
	}
	n, err := strconv.Atoi(env)
	if err != nil || n <= 0 {
		n = 100_000
	}
	// Build every input first, as a registrar would hand them over; the table
	// keeps its own copies of the strings, so once the inputs are dropped
	// what is left above the baseline is the table.
	type input struct {
		aor string
		b   Binding
	}
	now := epoch
	if os.Getenv("SIPEDGE_MEMTEST_SNAPSHOT") != "" {
		// The kept snapshot is for a real server: bindings live from now.
		now = time.Now()
	}
	before := heapInUse()
	inputs := make([]input, n)
	local := netip.MustParseAddrPort("10.0.0.1:5060")
	for i := range inputs {
		user := fmt.Sprintf("user%06d", i)
		ip := netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)})
		contact := fmt.Sprintf("sip:%s@%s:5060;transport=udp", user, ip)
		account := fmt.Sprintf("%032x", i/1000) // one account per 1000 AORs
		realm := fmt.Sprintf("acct%d.sip.example.com", i/1000)
		inputs[i] = input{
			aor: user + "@" + realm,
			b: Binding{
				Contact:         contact,
				OriginalContact: "<" + contact + ">",
				Source:          netip.AddrPortFrom(ip, 5060),
				Local:           local,
				Transport:       UDP,
				Expires:         now.Add(time.Hour),
				Registered:      now,
				Updated:         now,
				CallID:          fmt.Sprintf("%032x", uint64(i)*2654435761),
				CSeq:            uint32(i),
				UserAgent:       fmt.Sprintf("Yealink SIP-T46S %s", "66.86.0.15"),
				Q:               1,
				AccountID:       account,
				DeviceID:        fmt.Sprintf("%032x", uint64(i)*40503),
				Username:        user,
				Realm:           realm,
			},
		}
	}
	tb := New(Options{Now: func() time.Time { return now }})
	for i := range inputs {
		b := inputs[i].b
		tb.Update(inputs[i].aor, func(cur []Binding) []Binding { return append(cur, b) })
	}
	inputs = nil
	after := heapInUse()
	aors, cts := tb.Stats()
	if aors != n || cts[UDP] != n {
		t.Fatalf("Stats = %d, %v; want %d", aors, cts, n)
	}
	t.Logf("%d bindings: %.0f bytes of heap per binding (%.1f MiB in all)",
		n, float64(after-before)/float64(n), float64(after-before)/(1<<20))

	// Restart cost: the snapshot written on shutdown, read back at start.
	// SIPEDGE_MEMTEST_SNAPSHOT keeps the file (as <data>/location.snap it
	// times a whole-server restart).
	path := os.Getenv("SIPEDGE_MEMTEST_SNAPSHOT")
	if path == "" {
		path = filepath.Join(t.TempDir(), "location.snap")
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := tb.WriteSnapshot(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	wrote := time.Since(start)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	restored := New(Options{Now: func() time.Time { return now }})
	mid := heapInUse()
	start = time.Now()
	loaded, err := restored.LoadFile(path)
	read := time.Since(start)
	if err != nil || loaded != n {
		t.Fatalf("LoadFile = %d, %v; want %d", loaded, err, n)
	}
	t.Logf("snapshot of %d bindings: %.1f MiB, written in %v, restored in %v, %.0f bytes of heap per restored binding",
		n, float64(fi.Size())/(1<<20), wrote, read, float64(heapInUse()-mid)/float64(n))
	runtime.KeepAlive(restored)
	runtime.KeepAlive(tb)
	runtime.KeepAlive(inputs)
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
