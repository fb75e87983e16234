//go:build !linux

package bolt

// holder cannot tell who holds a lock outside Linux (no /proc/locks); the
// error then says what it could be.
func holder(string) string { return "" }
