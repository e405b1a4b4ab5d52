package location

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// snapTable returns a table with varied bindings: every transport, IPv6 with
// a zone, NAT on and off, zero Registered/Updated, several per AOR.
func snapTable(t testing.TB) (*Table, *clock, map[string][]Binding) {
	tb, c, _ := newTestTable(t)
	want := map[string][]Binding{}
	for i := range 40 {
		aor := aorOf(i)
		bs := []Binding{bnd(i, Transport(i%5), c.In(time.Duration(i+1)*time.Minute))}
		if i%3 == 0 {
			b := bnd(i+100, TCP, c.In(time.Hour))
			b.Source = netip.MustParseAddrPort("[fe80::1%eth0]:5061")
			b.Registered, b.Updated = time.Time{}, time.Time{}
			b.PreviousContact = "sip:old@192.0.2.1"
			b.Q = 1
			b.CSeq = 1<<32 - 1
			bs = append(bs, b)
		}
		set(tb, aor, bs...)
		want[aor] = bs
	}
	return tb, c, want
}

func snapshotBytes(t testing.TB, tb *Table) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := tb.WriteSnapshot(&buf); err != nil {
		t.Fatalf("WriteSnapshot: %v", err)
	}
	return buf.Bytes()
}

func TestSnapshotRoundTrip(t *testing.T) {
	tb, c, want := snapTable(t)
	data := snapshotBytes(t, tb)
	restored := New(Options{Now: c.Now})
	n, err := restored.ReadSnapshot(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("ReadSnapshot: %v", err)
	}
	total := checkHolds(t, restored, want)
	if n != total {
		t.Errorf("ReadSnapshot loaded %d, want %d", n, total)
	}
	wantAORs, wantCts := tb.Stats()
	if aors, cts := restored.Stats(); aors != wantAORs || cts != wantCts {
		t.Errorf("restored Stats = %d, %v; want %d, %v", aors, cts, wantAORs, wantCts)
	}
	// The format is deterministic enough to round-trip again byte-for-byte
	// in size (map order may differ).
	if again := snapshotBytes(t, restored); len(again) != len(data) {
		t.Errorf("second snapshot is %d bytes, first %d", len(again), len(data))
	}
}

func TestSnapshotRestoreDropsExpired(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration
		want    int
	}{
		{name: "nothing expired", advance: 0, want: 40 + 14},
		{name: "first ten minutes gone", advance: 10 * time.Minute, want: 30 + 14},
		{name: "everything gone", advance: 2 * time.Hour, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, c, _ := snapTable(t)
			data := snapshotBytes(t, tb)
			c.Advance(tc.advance)
			restored := New(Options{Now: c.Now})
			n, err := restored.ReadSnapshot(bytes.NewReader(data))
			if err != nil || n != tc.want {
				t.Fatalf("ReadSnapshot = %d, %v; want %d, nil", n, err, tc.want)
			}
			_, cts := restored.Stats()
			if sum(cts) != tc.want {
				t.Errorf("Stats counts %d bindings, want %d", sum(cts), tc.want)
			}
			restored.Range(func(aor string, b *Binding) bool {
				if !b.Expires.After(c.Now()) {
					t.Errorf("restored expired binding %s %s", aor, b.Contact)
				}
				return true
			})
		})
	}
}

func TestSnapshotWritesOnlyLive(t *testing.T) {
	tb, c, _ := snapTable(t)
	c.Advance(10 * time.Minute) // not swept: WriteSnapshot must skip them itself
	data := snapshotBytes(t, tb)
	restored := New(Options{Now: func() time.Time { return epoch }})
	if n, err := restored.ReadSnapshot(bytes.NewReader(data)); err != nil || n != 30+14 {
		t.Fatalf("ReadSnapshot = %d, %v; want 44, nil", n, err)
	}
}

func TestSnapshotCorruptionRejected(t *testing.T) {
	tb, c, _ := snapTable(t)
	data := snapshotBytes(t, tb)
	mutate := func(f func([]byte) []byte) []byte { return f(bytes.Clone(data)) }
	tests := []struct {
		name string
		data []byte
	}{
		{name: "empty", data: nil},
		{name: "magic only", data: data[:8]},
		{name: "bad magic", data: mutate(func(b []byte) []byte { b[0] = 'X'; return b })},
		{name: "future version", data: mutate(func(b []byte) []byte { b[8] = 2; return b })},
		{name: "flip a byte in a record", data: mutate(func(b []byte) []byte { b[len(b)/2] ^= 0x01; return b })},
		{name: "flip a byte in the first record", data: mutate(func(b []byte) []byte { b[20] ^= 0x80; return b })},
		{name: "flip a checksum byte", data: mutate(func(b []byte) []byte { b[len(b)-1] ^= 0x10; return b })},
		{name: "truncated mid-record", data: data[:len(data)/2]},
		{name: "truncated before checksum", data: data[:len(data)-4]},
		{name: "truncated inside checksum", data: data[:len(data)-1]},
		{name: "trailing garbage", data: append(bytes.Clone(data), 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ex := &expiries{}
			restored := New(Options{Now: c.Now, OnExpire: ex.on})
			set(restored, "existing@x", bnd(999, UDP, c.In(time.Hour)))
			n, err := restored.ReadSnapshot(bytes.NewReader(tc.data))
			if err == nil {
				t.Fatalf("ReadSnapshot accepted a damaged snapshot (%d loaded)", n)
			}
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Errorf("error %v does not wrap ErrCorruptSnapshot", err)
			}
			if n != 0 {
				t.Errorf("loaded = %d, want 0", n)
			}
			if aors, cts := restored.Stats(); aors != 1 || sum(cts) != 1 {
				t.Errorf("table changed: Stats = %d, %v", aors, cts)
			}
		})
	}
	// Every single-bit flip anywhere in a small snapshot is caught. One
	// table serves all: a rejected snapshot must leave it empty.
	small, _, _ := newTestTable(t)
	small.now = c.Now
	set(small, "a@x", bnd(1, UDP, c.In(time.Hour)), bnd(2, WSS, c.In(time.Hour)))
	set(small, "b@x", bnd(3, TCP, c.In(time.Hour)))
	data = snapshotBytes(t, small)
	restored := New(Options{Now: c.Now})
	for i := range data {
		b := bytes.Clone(data)
		b[i] ^= 1 << (i % 8)
		if n, err := restored.ReadSnapshot(bytes.NewReader(b)); err == nil || n != 0 {
			t.Fatalf("flip at byte %d: ReadSnapshot = %d, %v", i, n, err)
		}
		if aors, _ := restored.Stats(); aors != 0 {
			t.Fatalf("flip at byte %d: loaded %d AORs", i, aors)
		}
	}
}

// TestRemoveTemps: the temp files of saves that died before their rename
// go, and nothing else in the directory does, the snapshot included.
func TestRemoveTemps(t *testing.T) {
	tb, c, _ := snapTable(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "location.snap")
	if err := tb.SaveFile(path); err != nil {
		t.Fatalf("SaveFile: %v", err)
	}
	var dead []string
	for range 2 { // as a killed SaveFile leaves them: its own pattern, half written
		f, err := os.CreateTemp(dir, "location.snap"+tempInfix+"*")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("SEDGLOC half a snapshot"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		dead = append(dead, filepath.Base(f.Name()))
	}
	keep := []string{"location.snap", "location.snap.corrupt", "location.snap.tmp-", "location.snap.tmp-12x",
		"other.snap.tmp-123", "xlocation.snap.tmp-123", "sipedge.db"}
	for _, name := range keep[1:] {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "location.snap.tmp-77"), 0o700); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, "location.snap.tmp-77")

	n, err := RemoveTemps(path)
	if err != nil || n != len(dead) {
		t.Fatalf("RemoveTemps = %d, %v; want %d, nil", n, err, len(dead))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(keep)
	if !slices.Equal(got, keep) {
		t.Errorf("directory holds %v, want %v (removed: %v)", got, keep, dead)
	}
	if n, err := New(Options{Now: c.Now}).LoadFile(path); err != nil || n == 0 {
		t.Errorf("snapshot after RemoveTemps: LoadFile = %d, %v", n, err)
	}
	if n, err := RemoveTemps(filepath.Join(dir, "missing", "location.snap")); err == nil || n != 0 {
		t.Errorf("RemoveTemps in a missing directory = %d, %v; want an error", n, err)
	}
}

func TestSaveFileLoadFile(t *testing.T) {
	tb, c, want := snapTable(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "location.snap")

	t.Run("missing file", func(t *testing.T) {
		n, err := New(Options{Now: c.Now}).LoadFile(filepath.Join(dir, "nope.snap"))
		if n != 0 || err != nil {
			t.Fatalf("LoadFile(missing) = %d, %v; want 0, nil", n, err)
		}
	})
	t.Run("round trip", func(t *testing.T) {
		if err := tb.SaveFile(path); err != nil {
			t.Fatalf("SaveFile: %v", err)
		}
		// A second save replaces the first atomically and leaves no temp files.
		if err := tb.SaveFile(path); err != nil {
			t.Fatalf("second SaveFile: %v", err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != "location.snap" {
			t.Errorf("directory holds %v, want only location.snap", entries)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("snapshot mode %v is readable by others", perm)
		}
		restored := New(Options{Now: c.Now})
		n, err := restored.LoadFile(path)
		total := 0
		for _, bs := range want {
			total += len(bs)
		}
		if err != nil || n != total {
			t.Fatalf("LoadFile = %d, %v; want %d, nil", n, err, total)
		}
	})
	t.Run("corrupt file", func(t *testing.T) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/3] ^= 0xFF
		bad := filepath.Join(dir, "bad.snap")
		if err := os.WriteFile(bad, data, 0o600); err != nil {
			t.Fatal(err)
		}
		restored := New(Options{Now: c.Now})
		n, err := restored.LoadFile(bad)
		if err == nil || n != 0 || !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("LoadFile(corrupt) = %d, %v", n, err)
		}
		if aors, _ := restored.Stats(); aors != 0 {
			t.Errorf("corrupt file loaded %d AORs", aors)
		}
	})
	t.Run("unwritable directory", func(t *testing.T) {
		err := tb.SaveFile(filepath.Join(dir, "no", "such", "dir", "x.snap"))
		if err == nil {
			t.Fatal("SaveFile into a missing directory returned nil")
		}
	})
}

func TestReadSnapshotMerges(t *testing.T) {
	tb, c, _ := newTestTable(t)
	old := bnd(1, UDP, c.In(time.Minute))
	set(tb, "a@x", old)
	data := snapshotBytes(t, tb)

	into, _, _ := newTestTable(t)
	into.now = c.Now
	newer := old
	newer.CSeq = 99
	other := bnd(2, UDP, c.In(time.Hour))
	set(into, "a@x", newer, other)
	if n, err := into.ReadSnapshot(bytes.NewReader(data)); err != nil || n != 1 {
		t.Fatalf("ReadSnapshot = %d, %v", n, err)
	}
	got := into.Lookup("a@x", nil)
	if len(got) != 2 || got[0].CSeq != old.CSeq || got[1].Contact != other.Contact {
		t.Errorf("after merge a@x = %+v", got)
	}
}

// sealSnapshot wraps records in a valid envelope (header, one frame, count,
// checksum) so the fuzzer reaches the record decoder past the checksum.
func sealSnapshot(records []byte, count uint64) []byte {
	out := []byte(snapMagic + "\x01")
	if len(records) > 0 {
		out = binary.AppendUvarint(out, uint64(len(records)))
		out = append(out, records...)
	}
	out = binary.AppendUvarint(out, 0)
	out = binary.AppendUvarint(out, count)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

func FuzzReadSnapshot(f *testing.F) {
	// Small seeds: the fuzzer minimises every new input, which is slow on
	// a large one.
	tb, c, _ := newTestTable(f)
	b := bnd(1, WSS, c.In(time.Hour))
	b.Source = netip.MustParseAddrPort("[fe80::1%eth0]:5061")
	set(tb, "a@x", b)
	one := snapshotBytes(f, tb)
	f.Add(one, false, uint8(0))
	// The same record, sealed by the harness instead.
	body := one[len(snapMagic)+1:]
	frameLen, k := binary.Uvarint(body)
	record := body[k : k+int(frameLen)]
	if n, err := New(Options{Now: c.Now}).ReadSnapshot(bytes.NewReader(sealSnapshot(record, 1))); n != 1 || err != nil {
		f.Fatalf("sealed seed loads %d, %v; want 1, nil", n, err)
	}
	f.Add(record, true, uint8(1))
	set(tb, "b@x", bnd(2, UDP, c.In(time.Minute)), bnd(3, TCP, c.In(time.Hour)))
	f.Add(snapshotBytes(f, tb), false, uint8(0))
	f.Add(snapshotBytes(f, New(Options{})), false, uint8(0))
	f.Add([]byte{}, false, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, seal bool, count uint8) {
		if seal {
			data = sealSnapshot(data, uint64(count))
		}
		restored := New(Options{Now: c.Now})
		n, err := restored.ReadSnapshot(bytes.NewReader(data))
		aors, cts := restored.Stats()
		// Read in place (LoadFile's way), the same input loads the same.
		inPlace := New(Options{Now: c.Now})
		mem := bytes.Clone(data)
		if mn, merr := inPlace.readSnapshotMem(mem); mn != n || (merr == nil) != (err == nil) {
			t.Fatalf("in place = %d, %v; streamed = %d, %v", mn, merr, n, err)
		}
		if err == nil {
			// Nothing kept views the input.
			want := snapshotBytes(t, inPlace)
			for i := range mem {
				mem[i] ^= 0xff
			}
			if got := snapshotBytes(t, inPlace); len(got) != len(want) {
				t.Fatalf("in-place table changed with its input: %d then %d bytes", len(want), len(got))
			}
		}
		if err != nil {
			if n != 0 || aors != 0 {
				t.Fatalf("error %v but loaded %d (%d AORs)", err, n, aors)
			}
			return
		}
		// Counted by Range: Stats has no counter for a transport byte
		// the registrar never writes, which the decoder takes as it is.
		held := 0
		restored.Range(func(string, *Binding) bool { held++; return true })
		if held != n || sum(cts) > n {
			t.Fatalf("loaded %d but the table holds %d (Stats %v)", n, held, cts)
		}
		// What loads must write back and load again the same.
		again := New(Options{Now: c.Now})
		m, err := again.ReadSnapshot(bytes.NewReader(snapshotBytes(t, restored)))
		if err != nil || m != n {
			t.Fatalf("re-read = %d, %v; want %d", m, err, n)
		}
	})
}

// Whatever Update accepts must survive a snapshot, or one odd binding would
// make every later snapshot unloadable.
func TestSnapshotRoundTripOddValues(t *testing.T) {
	tb, c, _ := newTestTable(t)
	exp := c.In(time.Hour)
	tests := []struct {
		name string
		aor  string
		b    func() Binding
	}{
		{name: "empty AOR", aor: "", b: func() Binding { return bnd(1, UDP, exp) }},
		{name: "unknown transport", aor: "t@x", b: func() Binding { return bnd(2, Transport(9), exp) }},
		{name: "long zone", aor: "z@x", b: func() Binding {
			b := bnd(3, TCP, exp)
			b.Source = netip.AddrPortFrom(netip.MustParseAddr("fe80::1").WithZone(strings.Repeat("z", 300)), 5060)
			return b
		}},
		{name: "huge contact", aor: "h@x", b: func() Binding {
			b := bnd(4, TLS, exp)
			b.Contact = "sip:" + strings.Repeat("a", 200<<10) + "@x"
			b.OriginalContact = ""
			return b
		}},
		{name: "zero addresses and NaN q", aor: "n@x", b: func() Binding {
			b := bnd(5, WS, exp)
			b.Source, b.Local = netip.AddrPort{}, netip.AddrPort{}
			b.Q = float32(math.NaN())
			return b
		}},
		{name: "far future expiry", aor: "f@x", b: func() Binding { return bnd(6, WSS, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)) }},
	}
	for _, tc := range tests {
		set(tb, tc.aor, tc.b())
	}
	restored := New(Options{Now: c.Now})
	n, err := restored.ReadSnapshot(bytes.NewReader(snapshotBytes(t, tb)))
	if err != nil || n != len(tests) {
		t.Fatalf("ReadSnapshot = %d, %v; want %d, nil", n, err, len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := restored.Lookup(tc.aor, nil)
			if len(got) != 1 {
				t.Fatalf("restored %d bindings", len(got))
			}
			want := tc.b()
			if tc.name == "far future expiry" {
				// Beyond int64 nanoseconds: clamped, still live.
				if !got[0].Expires.After(time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("Expires = %v", got[0].Expires)
				}
				want.Expires, want.Registered, want.Updated = got[0].Expires, got[0].Registered, got[0].Updated
			}
			if math.IsNaN(float64(want.Q)) {
				if !math.IsNaN(float64(got[0].Q)) {
					t.Errorf("Q = %v, want NaN", got[0].Q)
				}
				got[0].Q, want.Q = 0, 0
			}
			if !sameBinding(got[0], want) {
				t.Errorf("restored %+v", got[0])
			}
		})
	}
}

func TestReadSnapshotDuplicateContacts(t *testing.T) {
	c := newClock()
	exp := c.In(time.Hour)
	tests := []struct {
		name    string
		records []int // binding numbers, in order, all for one AOR
		want    int
	}{
		{name: "same contact twice", records: []int{1, 1}, want: 1},
		{name: "small group", records: []int{1, 2, 1, 3}, want: 3},
		{name: "large group", records: func() []int {
			var r []int
			for i := range 40 {
				r = append(r, i%25)
			}
			return r
		}(), want: 25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var recs []byte
			for i, n := range tc.records {
				b := bnd(n, UDP, exp)
				b.CSeq = uint32(i) // the last record of a contact wins
				recs = appendRecord(recs, "a@x", &b)
			}
			tb := New(Options{Now: c.Now})
			n, err := tb.ReadSnapshot(bytes.NewReader(sealSnapshot(recs, uint64(len(tc.records)))))
			if err != nil || n != tc.want {
				t.Fatalf("ReadSnapshot = %d, %v; want %d, nil", n, err, tc.want)
			}
			got := tb.Lookup("a@x", nil)
			if len(got) != tc.want {
				t.Fatalf("stored %d bindings, want %d", len(got), tc.want)
			}
			last := map[string]uint32{}
			for i, n := range tc.records {
				last[bnd(n, UDP, exp).Contact] = uint32(i)
			}
			for _, b := range got {
				if b.CSeq != last[b.Contact] {
					t.Errorf("%s has CSeq %d, want the last record's %d", b.Contact, b.CSeq, last[b.Contact])
				}
			}
		})
	}
}

// TestSnapshotRestoreIndexes checks that AORs restored with one binding (the
// restore's own path, which stores the decoder's slice) are in the flow
// index and the expiry heap like any set by Update.
func TestSnapshotRestoreIndexes(t *testing.T) {
	tb, c, _ := newTestTable(t)
	tcp := bnd(1, TCP, c.In(time.Hour))
	udp := bnd(2, UDP, c.In(time.Minute))
	set(tb, "tcp@x", tcp)
	set(tb, "udp@x", udp)
	data := snapshotBytes(t, tb)

	ex := &expiries{}
	restored := New(Options{Now: c.Now, OnExpire: ex.on})
	if n, err := restored.ReadSnapshot(bytes.NewReader(data)); err != nil || n != 2 {
		t.Fatalf("ReadSnapshot = %d, %v; want 2, nil", n, err)
	}
	if got := restored.Lookup("tcp@x", nil); len(got) != 1 || !sameBinding(got[0], tcp) {
		t.Fatalf("tcp@x = %+v, want %+v", got, tcp)
	}
	if n := restored.RemoveFlow(TCP, tcp.Source); n != 1 {
		t.Errorf("RemoveFlow of the restored TCP binding removed %d, want 1", n)
	}
	if got := restored.Lookup("tcp@x", nil); len(got) != 0 {
		t.Errorf("tcp@x after RemoveFlow = %+v", got)
	}
	c.Advance(2 * time.Minute)
	if n := restored.Expire(); n != 1 {
		t.Errorf("Expire removed %d, want 1 (udp@x)", n)
	}
	if ex.got["udp@x|"+udp.Contact] != 1 {
		t.Errorf("OnExpire calls = %v, want udp@x once", ex.got)
	}
	if aors, _ := restored.Stats(); aors != 0 {
		t.Errorf("Stats after flow removal and expiry: %d AORs, want 0", aors)
	}
}

// TestSnapshotReadInPlace reads a snapshot in place, as LoadFile does from
// the mapped file, then overwrites its bytes (as the unmapping makes them
// unreadable): the table keeps nothing of them, on the path of AORs new to
// the table and on the merging one.
func TestSnapshotReadInPlace(t *testing.T) {
	tb, c, want := snapTable(t)
	mem := bytes.Clone(snapshotBytes(t, tb))
	restored := New(Options{Now: c.Now})
	merged := aorOf(3) // two bindings in the snapshot
	extra := bnd(500, UDP, c.In(time.Hour))
	set(restored, merged, extra)
	if _, err := restored.readSnapshotMem(mem); err != nil {
		t.Fatalf("readSnapshotMem: %v", err)
	}
	for i := range mem {
		mem[i] = 'X'
	}
	want[merged] = append([]Binding{extra}, want[merged]...)
	if total := checkHolds(t, restored, want); total == 0 {
		t.Fatal("nothing to compare")
	}
	var n int
	restored.Range(func(aor string, _ *Binding) bool {
		if strings.Contains(aor, "XX") {
			t.Errorf("AOR %q views the snapshot's bytes", aor)
		}
		n++
		return true
	})
	if n == 0 {
		t.Fatal("Range saw nothing")
	}
}

// checkHolds compares what tb holds for each AOR of want, every field and
// times to the nanosecond, and returns how many bindings want has.
func checkHolds(t *testing.T, tb *Table, want map[string][]Binding) int {
	t.Helper()
	total := 0
	for aor, bs := range want {
		total += len(bs)
		got := tb.Lookup(aor, nil)
		if len(got) != len(bs) {
			t.Errorf("%s: %d bindings, want %d", aor, len(got), len(bs))
			continue
		}
		for i := range bs {
			if !sameBinding(got[i], bs[i]) {
				t.Errorf("%s[%d]:\n got %+v\nwant %+v", aor, i, got[i], bs[i])
			}
			if !got[i].Registered.IsZero() && got[i].Registered.UnixNano() != bs[i].Registered.UnixNano() {
				t.Errorf("%s[%d]: Registered lost precision", aor, i)
			}
		}
	}
	return total
}

// TestReadSnapshotFramesJoined: the frames are decoded side by side, and an
// AOR whose records straddle two frames (WriteSnapshot never writes one,
// another writer may) is restored as one.
func TestReadSnapshotFramesJoined(t *testing.T) {
	_, c, _ := newTestTable(t)
	b1, b2, b3 := bnd(1, UDP, c.In(time.Hour)), bnd(2, TCP, c.In(time.Hour)), bnd(3, UDP, c.In(time.Hour))
	frames := [][]byte{
		appendRecord(nil, "a@x", &b1),
		appendRecord(appendRecord(nil, "a@x", &b2), "b@x", &b3),
	}
	data := []byte(snapMagic + "\x01")
	for _, f := range frames {
		data = binary.AppendUvarint(data, uint64(len(f)))
		data = append(data, f...)
	}
	data = binary.AppendUvarint(data, 0)
	data = binary.AppendUvarint(data, 3)
	data = binary.BigEndian.AppendUint32(data, crc32.Checksum(data, castagnoli))
	for name, read := range map[string]func(*Table) (int, error){
		"streamed": func(tb *Table) (int, error) { return tb.ReadSnapshot(bytes.NewReader(data)) },
		"in place": func(tb *Table) (int, error) { return tb.readSnapshotMem(bytes.Clone(data)) },
	} {
		tb := New(Options{Now: c.Now})
		if n, err := read(tb); err != nil || n != 3 {
			t.Fatalf("%s: read = %d, %v; want 3, nil", name, n, err)
		}
		checkHolds(t, tb, map[string][]Binding{"a@x": {b1, b2}, "b@x": {b3}})
		if aors, _ := tb.Stats(); aors != 2 {
			t.Errorf("%s: %d AORs, want 2", name, aors)
		}
	}
}
