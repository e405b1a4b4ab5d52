package location

import (
	"context"
	"io"
	"net/netip"
	"time"
)

// Options configures a Table.
type Options struct {
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
	// OnExpire, if set, is called (outside any lock) for each binding removed
	// because it expired.
	OnExpire func(aor string, b Binding)
}

// Table is the sharded location table. AORs are "user@realm", lower-cased by
// the caller. Safe for concurrent use.
type Table struct{}

// New returns an empty table.
func New(opts Options) *Table { panic("todo") }

// Lookup appends copies of aor's live (unexpired) bindings to dst and returns
// it. It does not allocate when dst has room.
func (t *Table) Lookup(aor string, dst []Binding) []Binding { panic("todo") }

// Update replaces aor's bindings with what fn returns, atomically under the
// AOR's shard lock. fn gets the current live bindings (a slice it may reuse)
// and returns the new set; an empty result removes the AOR. fn must not call
// back into the Table.
func (t *Table) Update(aor string, fn func(cur []Binding) []Binding) { panic("todo") }

// Remove deletes aor and returns the bindings it had.
func (t *Table) Remove(aor string) []Binding { panic("todo") }

// RemoveFlow deletes every binding whose flow is (transport, source), e.g.
// when that TCP connection closed, and returns how many went.
func (t *Table) RemoveFlow(tr Transport, source netip.AddrPort) int { panic("todo") }

// Range calls fn for every live binding until fn returns false. fn must not
// call back into the Table.
func (t *Table) Range(fn func(aor string, b *Binding) bool) { panic("todo") }

// Expire removes the bindings that expired by now. Run regularly by Run; tests
// call it directly with an injected clock.
func (t *Table) Expire() int { panic("todo") }

// Stats counts AORs and contacts (by transport) without scanning the table.
func (t *Table) Stats() (aors int, contacts [5]int) { panic("todo") }

// WriteSnapshot writes every live binding to w in a versioned, checksummed format.
func (t *Table) WriteSnapshot(w io.Writer) error { panic("todo") }

// ReadSnapshot loads bindings from r, dropping those already expired.
// A corrupt snapshot returns an error and loads nothing.
func (t *Table) ReadSnapshot(r io.Reader) (loaded int, err error) { panic("todo") }

// SaveFile writes a snapshot atomically (temp file, fsync, rename) to path.
func (t *Table) SaveFile(path string) error { panic("todo") }

// LoadFile reads the snapshot at path; a missing file loads nothing and is no error.
func (t *Table) LoadFile(path string) (int, error) { panic("todo") }

// Run expires bindings every interval and, when snapshotPath is set, saves a
// snapshot every snapshotEvery and once more when ctx ends. It returns when
// ctx is done, after the final snapshot.
func (t *Table) Run(ctx context.Context, interval time.Duration, snapshotPath string, snapshotEvery time.Duration) error {
	panic("todo")
}
