//go:build !race

package proxy

// raceBuild: see race_on.go.
const raceBuild = false
