//go:build !linux

package main

func hugePagesAdvisable() bool { return false }

func adviseHuge([]byte) uintptr { return 0 }

func totalRAM() uint64 { return 0 }
