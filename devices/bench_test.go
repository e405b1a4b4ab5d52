package devices

import (
	"fmt"
	"net/netip"
	"testing"
	"unsafe"
)

// benchStore builds a store whose indexes hold n password devices
// (user<i>@realm<i%100>.example.com) and n/10 IP-auth devices (10.x.y.z),
// straight into memory: the lookups do not touch the file.
func benchStore(b testing.TB, n int) *Store {
	s, _ := newTestStore(b)
	var changes []Change
	for i := range n {
		d := &Device{
			ID:       fmt.Sprintf("%032x", i),
			Realm:    fmt.Sprintf("realm%d.example.com", i%100),
			Username: fmt.Sprintf("user%d", i),
			Method:   "password",
			Enabled:  true,
		}
		if i%10 == 0 {
			d.Method = "ip"
			d.IP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		}
		changes = append(changes, Change{New: d})
	}
	s.applyDevices(changes)
	return s
}

const benchDevices = 100_000

func BenchmarkByUser(b *testing.B) {
	s := benchStore(b, benchDevices)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if s.ByUser("realm42.example.com", "user1042") == nil {
			b.Fatal("miss")
		}
	}
}

func BenchmarkByUserMixedCase(b *testing.B) {
	s := benchStore(b, benchDevices)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if s.ByUser("Realm42.EXAMPLE.com", "User1042") == nil {
			b.Fatal("miss")
		}
	}
}

func BenchmarkByUserMiss(b *testing.B) {
	s := benchStore(b, benchDevices)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if s.ByUser("realm42.example.com", "nobody") != nil {
			b.Fatal("hit")
		}
	}
}

func BenchmarkByUserParallel(b *testing.B) {
	s := benchStore(b, benchDevices)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if s.ByUser("realm42.example.com", "user1042") == nil {
				b.Fatal("miss")
			}
			i++
		}
	})
}

func BenchmarkByIP(b *testing.B) {
	s := benchStore(b, benchDevices)
	addr := netip.AddrFrom4([4]byte{10, 0, 3, 232}) // device 1000
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if s.ByIP(addr) == nil {
			b.Fatal("miss")
		}
	}
}

func BenchmarkByIPMapped(b *testing.B) {
	s := benchStore(b, benchDevices)
	addr := netip.MustParseAddr("::ffff:10.0.3.232")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if s.ByIP(addr) == nil {
			b.Fatal("miss")
		}
	}
}

func BenchmarkByIPParallel(b *testing.B) {
	s := benchStore(b, benchDevices)
	addr := netip.AddrFrom4([4]byte{10, 0, 3, 232})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if s.ByIP(addr) == nil {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkCreateDevice is the admin write path: validation, defaults,
// uniqueness and one fsync'd bbolt transaction.
func BenchmarkCreateDevice(b *testing.B) {
	s, _ := newTestStore(b)
	a, err := s.CreateAccount(map[string]any{"name": "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.CreateDevice(a.ID, map[string]any{"name": "d", "sip": map[string]any{"username": fmt.Sprintf("u%d", i), "password": "secret"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// The hot-path lookups must not allocate, whatever the case of the input.
func TestLookupsDoNotAllocate(t *testing.T) {
	s := benchStore(t, 1000)
	a, err := s.CreateAccount(map[string]any{"name": "acme", "realm": "acme.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	long := string(make([]byte, userKeyMax))
	v4 := netip.AddrFrom4([4]byte{10, 0, 0, 100})
	mapped := netip.MustParseAddr("::ffff:10.0.0.100")
	for name, fn := range map[string]func(){
		"ByUser":            func() { _ = s.ByUser("realm42.example.com", "user942") },
		"ByUser mixed case": func() { _ = s.ByUser("REALM42.Example.Com", "USER942") },
		"ByUser miss":       func() { _ = s.ByUser("realm42.example.com", "nobody") },
		"ByUser too long":   func() { _ = s.ByUser(long, "x") },
		"ByIP":              func() { _ = s.ByIP(v4) },
		"ByIP mapped":       func() { _ = s.ByIP(mapped) },
		"ByIP zero":         func() { _ = s.ByIP(netip.Addr{}) },
		"AccountByRealm":    func() { _ = s.AccountByRealm("ACME.example.com") },
		"Account":           func() { _, _ = s.Account(a.ID) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs/op", name, n)
		}
	}
	if s.ByUser("REALM42.Example.Com", "USER942") == nil || s.ByIP(mapped) == nil || s.AccountByRealm("ACME.example.com") != a {
		t.Error("lookups miss")
	}
}

// BenchmarkOpen is a restart's device load: openDevices imported devices
// read back from the file, decoded and indexed.
func BenchmarkOpen(b *testing.B) {
	const openDevices = 50_000
	s, path := newTestStore(b)
	a := mustAccount(b, s, obj(b, `{"name":"acme","realm":"acme.example.com"}`))
	if _, err := s.ImportDevices(a.ID, phoneDocs(b, 1, openDevices)); err != nil {
		b.Fatal(describe(err))
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		o, err := Open(Options{Path: path})
		if err != nil {
			b.Fatal(err)
		}
		if o.ByUser("acme.example.com", "user0000001") == nil {
			b.Fatal("user0000001 not loaded")
		}
		_ = o.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/openDevices, "ns/device")
}

// TestDeviceSize holds Device to the 320-byte size class: a million of them
// are in memory, and one more field or a flag out of its group moves every
// one of them to the next class (352 bytes).
func TestDeviceSize(t *testing.T) {
	if n := unsafe.Sizeof(Device{}); n > 320 {
		t.Errorf("Device is %d bytes, over the 320-byte size class", n)
	}
}
