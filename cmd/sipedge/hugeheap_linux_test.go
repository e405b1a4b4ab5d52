package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestAdviseHeapMarksBlock checks the block's pages carry the advice after
// it was freed, which is what the load's allocations then get.
func TestAdviseHeapMarksBlock(t *testing.T) {
	if !hugePagesAdvisable() {
		t.Skip("transparent huge pages are not in madvise mode here")
	}
	addr := adviseHeap(minHugeHeap)
	if addr == 0 {
		t.Fatal("adviseHeap did nothing")
	}
	flags, ok := vmaFlags(t, addr)
	if !ok {
		t.Fatalf("no mapping holds %#x", addr)
	}
	if !hasFlag(flags, "hg") {
		t.Errorf("mapping of %#x has flags %q, want hg (MADV_HUGEPAGE)", addr, flags)
	}
	if adviseHeap(0) != 0 {
		t.Error("adviseHeap(0) advised a block")
	}
}

// vmaFlags returns the VmFlags of the mapping that holds addr.
func vmaFlags(t *testing.T, addr uintptr) (string, bool) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := vmaRange(line); ok {
			in = lo <= uint64(addr) && uint64(addr) < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmFlags:")), true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return "", false
}

// vmaRange parses a mapping's first line, "lo-hi perms ...".
func vmaRange(line string) (lo, hi uint64, ok bool) {
	r, _, found := strings.Cut(line, " ")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(r, "-")
	if !found {
		return 0, 0, false
	}
	lo, err1 := strconv.ParseUint(a, 16, 64)
	hi, err2 := strconv.ParseUint(b, 16, 64)
	return lo, hi, err1 == nil && err2 == nil
}

func hasFlag(flags, f string) bool {
	for _, x := range strings.Fields(flags) {
		if x == f {
			return true
		}
	}
	return false
}
