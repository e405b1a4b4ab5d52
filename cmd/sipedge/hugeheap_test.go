package main

import (
	"os"
	"path/filepath"
	"testing"
)

func sized(t *testing.T, dir, name string, n int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(n); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	return p
}

func TestLoadHeapEstimate(t *testing.T) {
	dir := t.TempDir()
	db := sized(t, dir, "sipedge.db", 1000<<20)
	snap := sized(t, dir, "location.snap", 100<<20)
	small := sized(t, dir, "small.db", 1<<20)
	missing := filepath.Join(dir, "none")
	for _, tc := range []struct {
		name     string
		db, snap string
		ram      uint64
		want     uint64
	}{
		{"both", db, snap, 0, 400<<20 + 250<<20},
		{"store only", db, missing, 0, 400 << 20},
		{"snapshot only", missing, snap, 0, 250 << 20},
		{"capped at half the memory", db, snap, 600 << 20, 300 << 20},
		{"too small to matter", small, missing, 0, 0},
		{"nothing yet", missing, missing, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := loadHeapEstimate(tc.db, tc.snap, tc.ram); got != tc.want {
				t.Errorf("loadHeapEstimate = %d MiB, want %d MiB", got>>20, tc.want>>20)
			}
		})
	}
}
