//go:build !linux

package bolt

// holderAndPort cannot tell who holds a lock outside Linux (no
// /proc/locks); the error then says what it could be.
func holderAndPort(string) (string, string) { return "", "" }
