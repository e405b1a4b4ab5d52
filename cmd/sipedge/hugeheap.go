package main

import (
	"os"
	"runtime"
)

// A restart builds a gigabyte of heap in a few seconds, and every page of
// it is touched for the first time: at a million devices and bindings that
// was 450,000 page faults, a sixth of the start's CPU, and more under a
// hypervisor. Transparent huge pages would take 512 times fewer, but many
// kernels give them only to memory advised for them (transparent_hugepage
// "madvise", Debian's default) and Go advises none of its heap. So before
// the load, the heap is grown by what the load will need, in one block
// advised for huge pages, and the block is freed again: the load's
// allocations then come from that advised memory. Nothing is touched
// here; what the load does not use stays unbacked and goes back to the
// OS with the rest of the free heap after the load. BENCHMARKS.md,
// "Restart, huge pages".

// Heap the load builds per byte of its input, measured at a million
// devices and bindings (703 MiB of heap from a 1.9 GB device store,
// 666 MiB from a 309 MB snapshot), rounded up.
const (
	heapPerStoreByte    = 0.4
	heapPerSnapshotByte = 2.5
)

// minHugeHeap: below this the faults cost a few tens of milliseconds.
const minHugeHeap = 64 << 20

// loadHeapEstimate is the heap a start will build from the device store
// at dbPath and the snapshot at snapPath (either may be missing), at most
// half of ram (0: unknown, no cap), 0 when too small to matter.
func loadHeapEstimate(dbPath, snapPath string, ram uint64) uint64 {
	var n float64
	if fi, err := os.Stat(dbPath); err == nil {
		n += float64(fi.Size()) * heapPerStoreByte
	}
	if fi, err := os.Stat(snapPath); err == nil {
		n += float64(fi.Size()) * heapPerSnapshotByte
	}
	size := uint64(n)
	if ram > 0 {
		size = min(size, ram/2)
	}
	if size < minHugeHeap {
		return 0
	}
	return size
}

// adviseHeap grows the heap by size in a block advised for huge pages and
// frees it before returning (a collection of a heap that is still nearly
// empty). It returns the block's address for tests; 0 when nothing was
// done.
func adviseHeap(size uint64) uintptr {
	if size == 0 || !hugePagesAdvisable() {
		return 0
	}
	b := make([]byte, size)
	addr := adviseHuge(b)
	b = nil
	runtime.GC()
	return addr
}
