//go:build linux

package store_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// TestOpenHeldByServerHintsOnce: a data directory held by a `keydesk serve
// --ssh-addr …` (a child flock(1) named keydesk, carrying those words) is
// refused as in use with one hint, the SSH command for that server. Open
// added a second, with the default port, after the engine's own.
func TestOpenHeldByServerHintsOnce(t *testing.T) {
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Skip("flock(1) is not installed")
	}
	dir := t.TempDir()
	cmd := exec.Command(flock, "-x", filepath.Join(dir, "keydesk.db"), "sh", "-c", "sleep 30", "serve", "--ssh-addr", "127.0.0.1:24434")
	cmd.Args[0] = "keydesk"
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// Until the child holds the lock, a non-blocking flock of our own gets it.
	deadline := time.Now().Add(5 * time.Second)
	for exec.Command(flock, "-n", filepath.Join(dir, "keydesk.db"), "true").Run() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the child never took the lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = store.Open(dir, store.Options{OpenTimeout: 50 * time.Millisecond})
	if !errors.Is(err, models.ErrInUse) {
		t.Fatalf("open of a held directory: %v", err)
	}
	if msg := err.Error(); strings.Count(msg, "over SSH") != 1 || !strings.HasSuffix(msg, "ssh -p 24434 localhost COMMAND") {
		t.Fatalf("want one hint with the server's port, got: %s", msg)
	}
}
