//go:build race && !windows

package vhs_test

// raceEnabled builds the replayed binary with -race when the tests run with it.
const raceEnabled = true
