//go:build !race

package registrar

const raceEnabled = false
