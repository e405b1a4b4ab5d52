//go:build race

package proxy

// raceBuild turns UDP batching off under the race detector: x/net marks
// every batch buffer written in full for it (16 × 64 KiB per read), which
// makes a race-built server read a flood so slowly that the kernel drops
// honest datagrams. Race builds read one datagram at a time; the batch
// reader runs in every other build (and in make interop).
const raceBuild = true
