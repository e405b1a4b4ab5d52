package location

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/maphash"
	"io"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Snapshot format, version 1 (integers are unsigned varints unless noted):
//
//	header:  magic "SIPEDLOC" | version byte (1)
//	frame*:  payload length (> 0) | payload: record+
//	record:  aor | contact | original contact | call-id | user agent |
//	         account id | device id | username | realm | previous contact
//	         (each: length, bytes)
//	         | source | local (each: length, netip.AddrPort binary form)
//	         | transport byte | flags byte | cseq | q (4 bytes, big-endian float32 bits)
//	         | expires | registered | updated (each: zig-zag varint Unix ns)
//	end:     0 | record count | CRC-32C of every byte before it (4 bytes, big-endian)
//
// Frames let the reader checksum and decode whole slices instead of single
// bytes. Records of one AOR are consecutive. The checksum is checked before
// anything is loaded, so a truncated or damaged snapshot loads nothing.
const (
	snapMagic   = "SIPEDLOC"
	snapVersion = 1

	flagNAT          = 1 << 0
	flagNoRegistered = 1 << 1
	flagNoUpdated    = 1 << 2
	knownFlags       = flagNAT | flagNoRegistered | flagNoUpdated

	maxSnapFrame    = 1 << 30
	snapFrameTarget = 1 << 20
)

var (
	// ErrCorruptSnapshot is wrapped by every error about a snapshot's content.
	ErrCorruptSnapshot = errors.New("location: corrupt snapshot")

	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// WriteSnapshot writes every live binding to w in a versioned, checksummed format.
// Each shard is encoded to memory under its read lock and written after, so
// a slow w never blocks registrations. The snapshot is consistent per AOR,
// not across AORs.
func (t *Table) WriteSnapshot(w io.Writer) error {
	crc := crc32.New(castagnoli)
	mw := io.MultiWriter(w, crc)
	if _, err := mw.Write(append([]byte(snapMagic), snapVersion)); err != nil {
		return fmt.Errorf("location: write snapshot: %w", err)
	}
	var (
		frame []byte
		lenb  []byte
		count uint64
	)
	flush := func() error {
		if len(frame) == 0 {
			return nil
		}
		lenb = binary.AppendUvarint(lenb[:0], uint64(len(frame)))
		if _, err := mw.Write(lenb); err != nil {
			return err
		}
		_, err := mw.Write(frame)
		frame = frame[:0]
		return err
	}
	now := unixNano(t.now())
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		for _, e := range s.m {
			for j := range e.bindings {
				b := &e.bindings[j]
				if unixNano(b.Expires) <= now {
					continue
				}
				frame = appendRecord(frame, e.key, b)
				count++
			}
		}
		s.mu.RUnlock()
		if len(frame) >= snapFrameTarget {
			if err := flush(); err != nil {
				return fmt.Errorf("location: write snapshot: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("location: write snapshot: %w", err)
	}
	end := binary.AppendUvarint(lenb[:0], 0)
	end = binary.AppendUvarint(end, count)
	crc.Write(end)
	end = binary.BigEndian.AppendUint32(end, crc.Sum32())
	if _, err := w.Write(end); err != nil {
		return fmt.Errorf("location: write snapshot: %w", err)
	}
	return nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendAddrPort(buf []byte, ap netip.AddrPort) []byte {
	var tmp [32]byte
	p, _ := ap.AppendBinary(tmp[:0]) // never fails
	buf = binary.AppendUvarint(buf, uint64(len(p)))
	return append(buf, p...)
}

func appendRecord(buf []byte, aor string, b *Binding) []byte {
	for _, s := range [...]string{aor, b.Contact, b.OriginalContact, b.CallID, b.UserAgent,
		b.AccountID, b.DeviceID, b.Username, b.Realm, b.PreviousContact} {
		buf = appendString(buf, s)
	}
	buf = appendAddrPort(buf, b.Source)
	buf = appendAddrPort(buf, b.Local)
	var flags byte
	if b.NAT {
		flags |= flagNAT
	}
	if b.Registered.IsZero() {
		flags |= flagNoRegistered
	}
	if b.Updated.IsZero() {
		flags |= flagNoUpdated
	}
	buf = append(buf, byte(b.Transport), flags)
	buf = binary.AppendUvarint(buf, uint64(b.CSeq))
	buf = binary.BigEndian.AppendUint32(buf, math.Float32bits(b.Q))
	buf = binary.AppendVarint(buf, unixNano(b.Expires))
	buf = binary.AppendVarint(buf, unixNano(b.Registered))
	buf = binary.AppendVarint(buf, unixNano(b.Updated))
	return buf
}

// snapStream reads the framing of a snapshot, summing every byte it reads.
type snapStream struct {
	r interface {
		io.Reader
		io.ByteReader
	}
	crc hash.Hash32
	// mem is the whole snapshot when it is in memory already (a mapped
	// file, a test's bytes), and mr the reader over it: frames are then
	// views of mem, not copies.
	mem []byte
	mr  *bytes.Reader
}

func newSnapStream(r io.Reader) *snapStream {
	return &snapStream{r: bufio.NewReader(r), crc: crc32.New(castagnoli)}
}

// memSnapStream views a snapshot that is in memory already.
func memSnapStream(mem []byte) *snapStream {
	mr := bytes.NewReader(mem)
	return &snapStream{r: mr, crc: crc32.New(castagnoli), mem: mem, mr: mr}
}

func corrupt(what string, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %s: %w", ErrCorruptSnapshot, what, err)
}

func (ss *snapStream) ReadByte() (byte, error) {
	c, err := ss.r.ReadByte()
	if err == nil {
		ss.crc.Write([]byte{c})
	}
	return c, err
}

func (ss *snapStream) uvarint(what string) (uint64, error) {
	v, err := binary.ReadUvarint(ss)
	if err != nil {
		return 0, corrupt(what, err)
	}
	return v, nil
}

// readN reads n bytes into buf, growing it only as data actually arrives so
// a lying length cannot make it allocate more than the input holds.
func (ss *snapStream) readN(buf *bytes.Buffer, n uint64, what string) ([]byte, error) {
	buf.Reset()
	got, err := io.CopyN(buf, ss.r, int64(n))
	if err != nil {
		return nil, corrupt(what, fmt.Errorf("%d of %d bytes: %w", got, n, err))
	}
	ss.crc.Write(buf.Bytes())
	return buf.Bytes(), nil
}

// exactFrame is the largest frame read into a buffer of its announced size
// at once; WriteSnapshot's are about snapFrameTarget. A larger one grows
// with what arrives, so that a lying length costs no more than this.
const exactFrame = 4 * snapFrameTarget

// readFrame reads a frame of n bytes into a buffer of its own, which the
// records decoded from it keep viewing; buf is the growing one for frames
// over exactFrame, handed over to the caller as well.
func (ss *snapStream) readFrame(buf *bytes.Buffer, n uint64) ([]byte, error) {
	if ss.mem != nil {
		if n > uint64(ss.mr.Len()) {
			return nil, corrupt("frame", fmt.Errorf("%d of %d bytes: %w", ss.mr.Len(), n, io.ErrUnexpectedEOF))
		}
		off := len(ss.mem) - ss.mr.Len()
		frame := ss.mem[off : off+int(n) : off+int(n)]
		_, _ = ss.mr.Seek(int64(n), io.SeekCurrent)
		ss.crc.Write(frame)
		return frame, nil
	}
	if n > exactFrame {
		*buf = bytes.Buffer{}
		return ss.readN(buf, n, "frame")
	}
	frame := make([]byte, n)
	if got, err := io.ReadFull(ss.r, frame); err != nil {
		return nil, corrupt("frame", fmt.Errorf("%d of %d bytes: %w", got, n, err))
	}
	ss.crc.Write(frame)
	return frame, nil
}

// snapDecoder decodes records from one frame.
type snapDecoder struct {
	b   []byte
	err error
}

func (d *snapDecoder) fail(what string, err error) {
	if d.err == nil {
		d.err = corrupt(what, err)
	}
}

func (d *snapDecoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what, errors.New("bad varint"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *snapDecoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what, errors.New("bad varint"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *snapDecoder) take(what string, n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what, io.ErrUnexpectedEOF)
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

// string needs no length cap: take checks it against the frame, whose size
// is bounded by the bytes actually read. It is a view of the frame, not a
// copy: every frame is kept until the restore is over, and the table keeps
// none of the strings it is given (shard.set stores its own copy of each,
// or a part of one, as it must for strings read from a datagram), so a
// copy here would be made twice.
func (d *snapDecoder) string(what string) string {
	p := d.take(what, d.uvarint(what))
	if len(p) == 0 {
		return ""
	}
	return unsafe.String(&p[0], len(p))
}

func (d *snapDecoder) byte(what string) byte {
	if p := d.take(what, 1); p != nil {
		return p[0]
	}
	return 0
}

func (d *snapDecoder) addrPort(what string) netip.AddrPort {
	p := d.take(what, d.uvarint(what))
	var ap netip.AddrPort
	if d.err == nil {
		if err := ap.UnmarshalBinary(p); err != nil {
			d.fail(what, err)
		}
	}
	return ap
}

func (d *snapDecoder) record() (string, Binding) {
	var b Binding
	aor := d.string("aor")
	b.Contact = d.string("contact")
	b.OriginalContact = d.string("original contact")
	b.CallID = d.string("call-id")
	b.UserAgent = d.string("user agent")
	b.AccountID = d.string("account id")
	b.DeviceID = d.string("device id")
	b.Username = d.string("username")
	b.Realm = d.string("realm")
	b.PreviousContact = d.string("previous contact")
	b.Source = d.addrPort("source")
	b.Local = d.addrPort("local")
	b.Transport = Transport(d.byte("transport"))
	flags := d.byte("flags")
	cseq := d.uvarint("cseq")
	q := d.take("q", 4)
	exp := d.varint("expires")
	reg := d.varint("registered")
	upd := d.varint("updated")
	if d.err != nil {
		return "", Binding{}
	}
	// Whatever Update accepted must load again, so the AOR and transport are
	// not validated here; only what WriteSnapshot never writes is an error.
	switch {
	case flags&^knownFlags != 0:
		d.fail("flags", fmt.Errorf("unknown flags %#x", flags))
	case cseq > math.MaxUint32:
		d.fail("cseq", fmt.Errorf("%d out of range", cseq))
	}
	b.NAT = flags&flagNAT != 0
	b.CSeq = uint32(cseq)
	b.Q = math.Float32frombits(binary.BigEndian.Uint32(q))
	b.Expires = time.Unix(0, exp)
	if flags&flagNoRegistered == 0 {
		b.Registered = time.Unix(0, reg)
	}
	if flags&flagNoUpdated == 0 {
		b.Updated = time.Unix(0, upd)
	}
	return aor, b
}

// errNoMap: the snapshot file cannot be mapped (empty, or no mmap here).
var errNoMap = errors.New("location: snapshot not mapped")

// snapGroup is the consecutive records of one AOR.
type snapGroup struct {
	aor      string
	bindings []Binding
}

// ReadSnapshot loads bindings from r, dropping those already expired.
// A corrupt snapshot returns an error and loads nothing.
//
// The whole snapshot is decoded and its checksum verified before the table
// is touched. A loaded binding replaces a binding of the same AOR with the
// same Contact, so loading into a non-empty table merges.
func (t *Table) ReadSnapshot(r io.Reader) (loaded int, err error) {
	return t.readSnapshot(newSnapStream(r))
}

// readSnapshotMem is ReadSnapshot of a snapshot in memory, which it reads
// in place: nothing the table keeps refers to mem once it returns.
func (t *Table) readSnapshotMem(mem []byte) (int, error) {
	return t.readSnapshot(memSnapStream(mem))
}

func (t *Table) readSnapshot(ss *snapStream) (loaded int, err error) {
	groups, err := decodeSnapshot(ss)
	if err != nil {
		return 0, err
	}
	now := unixNano(t.now())
	// Restoring a million bindings is most of a restart: insert from
	// every CPU, each worker owning whole shards so that no two contend
	// for a shard's lock.
	workers := min(runtime.GOMAXPROCS(0), shardCount, max(1, groups.n/4096))
	t.reserve(groups.n)
	var wg sync.WaitGroup
	var total atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for _, chunk := range groups.chunks {
				for i := range chunk {
					g := &chunk[i]
					if workers > 1 && int(maphash.String(t.seed, g.aor)&(shardCount-1))%workers != w {
						continue
					}
					n += t.restore(g, now)
				}
			}
			total.Add(int64(n))
		}()
	}
	wg.Wait()
	return int(total.Load()), nil
}

// restore adds g's live bindings to the table and says how many it added.
func (t *Table) restore(g *snapGroup, now int64) int {
	if len(g.bindings) == 1 && unixNano(g.bindings[0].Expires) > now {
		// Nearly every AOR of a restart into an empty table: the group's
		// own slice, made by the decoder for this AOR alone, is stored as
		// it is rather than copied twice on the way in.
		s := t.shard(g.aor)
		s.mu.Lock()
		_, exists := s.m[g.aor]
		if !exists {
			s.adopt(g.aor, g.bindings)
		}
		s.mu.Unlock()
		if !exists {
			return 1
		}
	}
	n := 0
	t.Update(g.aor, func(cur []Binding) []Binding {
		var k int
		cur, k = mergeGroup(cur, g.bindings, now)
		n += k
		return cur
	})
	return n
}

// groupChunk is how many AOR groups a decoded snapshot holds per slice:
// fixed-size slices instead of one grown by doubling to a million.
const groupChunk = 8192

// snapGroups is a decoded snapshot, in file order.
type snapGroups struct {
	chunks [][]snapGroup
	n      int
}

func (gs *snapGroups) last() *snapGroup {
	if gs.n == 0 {
		return nil
	}
	c := gs.chunks[len(gs.chunks)-1]
	return &c[len(c)-1]
}

func (gs *snapGroups) add(g snapGroup) {
	if k := len(gs.chunks); k == 0 || len(gs.chunks[k-1]) == groupChunk {
		gs.chunks = append(gs.chunks, make([]snapGroup, 0, groupChunk))
	}
	k := len(gs.chunks) - 1
	gs.chunks[k] = append(gs.chunks[k], g)
	gs.n++
}

func decodeSnapshot(ss *snapStream) (*snapGroups, error) {
	// Frames bypass bufio's buffer (CopyN reads them straight into buf), so
	// the default size suffices.
	var buf bytes.Buffer
	hdr, err := ss.readN(&buf, uint64(len(snapMagic)+1), "header")
	if err != nil {
		return nil, err
	}
	if string(hdr[:len(snapMagic)]) != snapMagic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrCorruptSnapshot, hdr[:len(snapMagic)])
	}
	if v := hdr[len(snapMagic)]; v != snapVersion {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrCorruptSnapshot, v)
	}

	groups := &snapGroups{}
	var records uint64
	for {
		n, err := ss.uvarint("frame length")
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		if n > maxSnapFrame {
			return nil, corrupt("frame length", fmt.Errorf("%d over %d", n, maxSnapFrame))
		}
		// A buffer per frame: the records decoded from it are views of it.
		frame, err := ss.readFrame(&buf, n)
		if err != nil {
			return nil, err
		}
		d := snapDecoder{b: frame}
		for len(d.b) > 0 {
			aor, b := d.record()
			if d.err != nil {
				return nil, d.err
			}
			records++
			if g := groups.last(); g != nil && g.aor == aor {
				g.bindings = append(g.bindings, b)
			} else {
				groups.add(snapGroup{aor: aor, bindings: []Binding{b}})
			}
		}
	}
	count, err := ss.uvarint("record count")
	if err != nil {
		return nil, err
	}
	sum := ss.crc.Sum32()
	var trailer [4]byte
	if _, err := io.ReadFull(ss.r, trailer[:]); err != nil {
		return nil, corrupt("checksum", err)
	}
	if got := binary.BigEndian.Uint32(trailer[:]); got != sum {
		return nil, fmt.Errorf("%w: checksum %08x, computed %08x", ErrCorruptSnapshot, got, sum)
	}
	if count != records {
		return nil, fmt.Errorf("%w: %d records, trailer says %d", ErrCorruptSnapshot, records, count)
	}
	if _, err := ss.r.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the checksum", ErrCorruptSnapshot)
	}
	return groups, nil
}

// mergeGroup adds the live bindings of group to cur, a later one replacing
// an earlier one with the same Contact, and says how many of the result came
// from group. A map keeps large groups linear.
func mergeGroup(cur, group []Binding, now int64) ([]Binding, int) {
	if len(cur) == 0 && len(group) == 1 {
		// A restart into an empty table: nearly every AOR.
		if unixNano(group[0].Expires) <= now {
			return cur, 0
		}
		return group, 1
	}
	var byContact map[string]int
	if len(cur)+len(group) > 16 {
		byContact = make(map[string]int, len(cur)+len(group))
		for i := range cur {
			byContact[cur[i].Contact] = i
		}
	}
	fromGroup := make([]bool, len(cur), len(cur)+len(group))
	for _, b := range group {
		if unixNano(b.Expires) <= now {
			continue
		}
		at := -1
		if byContact != nil {
			if i, ok := byContact[b.Contact]; ok {
				at = i
			}
		} else {
			for i := range cur {
				if cur[i].Contact == b.Contact {
					at = i
					break
				}
			}
		}
		if at >= 0 {
			cur[at], fromGroup[at] = b, true
			continue
		}
		if byContact != nil {
			byContact[b.Contact] = len(cur)
		}
		cur = append(cur, b)
		fromGroup = append(fromGroup, true)
	}
	n := 0
	for _, f := range fromGroup {
		if f {
			n++
		}
	}
	return cur, n
}

// SaveFile writes a snapshot atomically (temp file, fsync, rename) to path.
// The directory is synced too, so after SaveFile returns the new snapshot
// survives a power cut; before that, the previous one is what a restart sees.
func (t *Table) SaveFile(path string) error {
	if err := t.saveFile(path); err != nil {
		t.snapFailures.Add(1)
		return err
	}
	t.snapLast.Store(t.now().UnixNano())
	return nil
}

func (t *Table) saveFile(path string) (err error) {
	dir, base := splitPath(path)
	f, err := os.CreateTemp(dir, base+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("location: save snapshot: %w", err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if err != nil && !renamed {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	if err := t.WriteSnapshot(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("location: save snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("location: save snapshot: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("location: save snapshot: close: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("location: save snapshot: %w", err)
	}
	renamed = true
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("location: save snapshot: open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("location: save snapshot: sync dir: %w", err)
	}
	return nil
}

// RemoveTemps deletes what SaveFile leaves next to path when the process
// dies mid-write (SIGKILL, OOM, power cut): temp files that were never
// renamed. At a million bindings each is some 300 MB, so a server killed
// during its periodic saves fills the disk one crash at a time. Only the
// process that owns the data directory may call it, before its first
// save: another writer's file in progress would go too.
func RemoveTemps(path string) (removed int, err error) {
	dir, base := splitPath(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("location: remove temps: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !isTempOf(e.Name(), base) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("location: remove temps: %w", errors.Join(errs...))
	}
	return removed, nil
}

// splitPath is path's directory ("." for a bare name) and file name.
func splitPath(path string) (dir, base string) {
	dir, base = filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	return dir, base
}

// tempInfix joins a snapshot's name and the random part of its temp files.
const tempInfix = ".tmp-"

// isTempOf reports whether name is one of SaveFile's temp files for base:
// CreateTemp puts digits where its pattern has the star.
func isTempOf(name, base string) bool {
	rest, ok := strings.CutPrefix(name, base+tempInfix)
	if !ok || rest == "" {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return false
		}
	}
	return true
}

// LoadFile reads the snapshot at path; a missing file loads nothing and is no error.
func (t *Table) LoadFile(path string) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("location: load snapshot: %w", err)
	}
	defer f.Close()
	var n int
	if mem, unmap, merr := mapFile(f); merr == nil {
		n, err = t.readSnapshotMem(mem)
		unmap()
	} else {
		n, err = t.ReadSnapshot(f)
	}
	if err != nil {
		return 0, fmt.Errorf("location: load snapshot %s: %w", path, err)
	}
	return n, nil
}
