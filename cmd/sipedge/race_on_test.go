//go:build race

package main

// raceBuild: the server binary under test is built with -race too, so the
// process tests check it for races; without -race (a soak, a load figure)
// it is the binary operators run.
const raceBuild = true
