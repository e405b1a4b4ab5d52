package main

import (
	"os"
	"strings"
	"syscall"
	"unsafe"
)

// hugePagesAdvisable: the kernel gives huge pages to advised memory only
// ("madvise"). With "always" the heap gets them anyway and with "never"
// or no THP at all advice changes nothing, so both skip the block.
func hugePagesAdvisable() bool {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err == nil && strings.Contains(string(b), "[madvise]")
}

// adviseHuge marks b's pages for huge pages and returns its address. A
// refusal only costs the saving, so it is not reported.
func adviseHuge(b []byte) uintptr {
	_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE)
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))
}

// totalRAM is the machine's memory in bytes, 0 when unknown.
func totalRAM() uint64 {
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) != nil {
		return 0
	}
	return si.Totalram * uint64(si.Unit)
}
