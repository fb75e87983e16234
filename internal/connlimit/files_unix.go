//go:build unix

package connlimit

import "syscall"

// openFileLimit is the process's limit on open files (the soft limit, which
// the Go runtime raises to the hard one at start on Linux and macOS).
func openFileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur == 0 || r.Cur > 1<<30 {
		return 0
	}
	return int(r.Cur)
}
