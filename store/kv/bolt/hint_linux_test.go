//go:build linux

package bolt

import (
	"strings"
	"testing"
)

// TestHeldByServerSaysTheSSHCommandOnce: a file held by a process whose
// command line is a `keydesk serve --ssh-addr …` (a child flock(1) named
// keydesk, carrying those words) is refused with one hint, naming that
// server's port. The store added a second hint with the default port after
// this one ("…(ssh -p PORT host COMMAND); run the command over SSH instead:
// ssh -p 23234 localhost <command>").
func TestHeldByServerSaysTheSSHCommandOnce(t *testing.T) {
	msg := openHeld(t, "keydesk", "sh", "-c", "sleep 30", "serve", "--ssh-addr", "127.0.0.1:24434")
	if !strings.Contains(msg, "the server") || !strings.HasSuffix(msg, "; run the command over SSH instead: ssh -p 24434 localhost COMMAND") || strings.Count(msg, "over SSH") != 1 {
		t.Fatalf("want one hint naming port 24434, got: %s", msg)
	}
}

func TestSSHPort(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"keydesk", "serve"}, "23234"},
		{[]string{"keydesk", "serve", "--ssh-addr", ":2222", "--data", "/d"}, "2222"},
		{[]string{"keydesk", "serve", "--ssh-addr=127.0.0.1:24434"}, "24434"},
		{[]string{"keydesk", "--data", "/d", "serve", "--ssh-addr", "[::1]:2200"}, "2200"},
		{[]string{"keydesk", "serve", "--ssh-addr"}, "23234"},
	} {
		if got := sshPort(c.args); got != c.want {
			t.Errorf("sshPort(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}
