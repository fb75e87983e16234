//go:build linux

package bolt

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// holder describes the process holding path's lock, as Linux's /proc/locks
// and /proc/PID/cmdline tell: "keydesk serve (pid 4242)", or a console,
// "keydesk --data /srv/kd (pid 4242, a console)". It returns "" where that
// cannot be read (another OS, another user's process): the error then says
// what it could be.
func holder(path string) string {
	h, _ := holderAndPort(path)
	return h
}

// holderAndPort is holder, and when the holder is `keydesk serve` the port
// its SSH listens on (sshPort), else "".
func holderAndPort(path string) (string, string) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", ""
	}
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return "", ""
	}
	for _, line := range strings.Split(string(locks), "\n") {
		// "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF"
		f := strings.Fields(line)
		if len(f) < 6 || f[1] != "FLOCK" {
			continue
		}
		dev := strings.Split(f[5], ":")
		if len(dev) != 3 {
			continue
		}
		if ino, err := strconv.ParseUint(dev[2], 10, 64); err != nil || ino != uint64(st.Ino) {
			continue
		}
		pid, err := strconv.Atoi(f[4])
		if err != nil || pid == os.Getpid() {
			continue
		}
		return describe(pid)
	}
	return "", ""
}

// describe names a process by its command line, and gives a server's SSH
// port.
func describe(pid int) (string, string) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(raw) == 0 {
		return fmt.Sprintf("another process (pid %d)", pid), ""
	}
	args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	args[0] = args[0][strings.LastIndex(args[0], "/")+1:]
	cmd := strings.Join(args, " ")
	if len(cmd) > 120 {
		cmd = cmd[:120] + "…"
	}
	kind, port := "a console", ""
	for _, a := range args[1:] {
		if a == "serve" {
			kind, port = "the server", sshPort(args)
		}
	}
	if args[0] != "keydesk" && !strings.HasPrefix(args[0], "keydesk") {
		kind, port = "not keydesk", ""
	}
	return fmt.Sprintf("`%s` (pid %d, %s)", sanitize(cmd), pid, kind), port
}

// sanitize keeps a command line printable: it ends up on a terminal.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			return '?'
		}
		return r
	}, s)
}
