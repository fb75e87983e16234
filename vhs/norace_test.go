//go:build !race && !windows

package vhs_test

const raceEnabled = false
