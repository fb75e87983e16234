//go:build linux

package bolt

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLockedErrorNamesTheHolder: a second open of a held file says which
// process holds it (issue 17 defect 15), here a child `flock` standing in
// for a second keydesk.
func TestLockedErrorNamesTheHolder(t *testing.T) {
	msg := openHeld(t, "", "sleep", "30")
	if !strings.Contains(msg, "pid") || !strings.Contains(msg, "flock") {
		t.Fatalf("the error does not name the holder: %s", msg)
	}
}

// openHeld makes a database file, has a child flock(1) hold it running
// command (named name in its argv[0] when name is set), waits until the lock
// shows in /proc/locks, and returns the error a second Open gets (ErrLocked,
// or the test fails).
func openHeld(t *testing.T, name string, command ...string) string {
	t.Helper()
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Skip("flock(1) is not installed")
	}
	path := filepath.Join(t.TempDir(), File)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(flock, append([]string{"-x", path}, command...)...)
	if name != "" {
		cmd.Args[0] = name
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for holder(path) == "" {
		if time.Now().After(deadline) {
			t.Fatal("the child's lock never showed in /proc/locks")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = Open(path, nil, Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("open of a held file: %v", err)
	}
	return err.Error()
}
