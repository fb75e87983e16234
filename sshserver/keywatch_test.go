package sshserver

import (
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/store"
	gossh "golang.org/x/crypto/ssh"
)

// TestRemovedKeyEndsItsSessions: removing a key (say, a stolen one) ends the
// sessions it opened at once, a console with a line that says why; the
// person's sessions with their other keys go on. An open console kept acting
// as its person after its key was removed, generating tokens, for as long as
// the connection lasted (up to 12 h).
func TestRemovedKeyEndsItsSessions(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	uma := store.Actor{UserID: o.user.ID, Via: "test"}
	stolen := newKey(t)
	addPending(t, o, stolen)
	fp := gossh.FingerprintSHA256(stolen.PublicKey())
	if _, err := o.s.ApproveKey(uma, fp); err != nil {
		t.Fatal(err)
	}

	thief := mustDial(t, r.addr, stolen)
	sess, scr := openConsole(t, thief, 100, 30)
	scr.waitFor(t, "Uma Userton", 3*time.Second)
	ended := make(chan error, 1)
	go func() { ended <- sess.Wait() }()
	own := mustDial(t, r.addr, o.userKey)
	ownSess, ownScr := openConsole(t, own, 100, 30)
	ownScr.waitFor(t, "Uma Userton", 3*time.Second)
	ownEnded := make(chan error, 1)
	go func() { ownEnded <- ownSess.Wait() }()

	if err := o.s.RemoveKey(store.Actor{UserID: o.owner.ID, Via: "test"}, "uma@example.com", fp); err != nil {
		t.Fatal(err)
	}
	scr.waitFor(t, "no longer logs in as you", 3*time.Second)
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the console ended with status 0; want a failure")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the console of a removed key is still open")
	}
	select {
	case <-ownEnded:
		t.Fatal("the person's console with their other key was closed too")
	default:
	}
	if _, _, code := run(t, own, "whoami"); code != 0 {
		t.Fatal("the person's connection with their other key was closed too")
	}
}

// TestRemovedKeyEndsItsCommand: a command running on a removed key's
// connection (here one waiting on its input) is cut off too, with one line
// on stderr that says why.
func TestRemovedKeyEndsItsCommand(t *testing.T) {
	o := newOrg(t)
	r := start(t, o.s, Options{})
	owner := mustDial(t, r.addr, o.ownerKey)
	sess, err := owner.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	sess.Stderr = &stderr
	in, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := sess.Start("user import -"); err != nil { // waits for rows on stdin
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- sess.Wait() }()
	// The session is watched once it runs: poll until the server has it.
	if !eventually(3*time.Second, func() bool { return len(r.srv.keys.of(o.owner.ID)) == 1 }) {
		t.Fatal("the command's session never ran")
	}
	// The owner's own key, removed from another of the owner's sessions.
	second := newKey(t)
	if _, err := o.s.AddKey(store.Actor{UserID: o.owner.ID, Via: "test"}, "olive@example.com", authorized(second)); err != nil {
		t.Fatal(err)
	}
	if err := o.s.RemoveKey(store.Actor{UserID: o.owner.ID, Via: "test"}, "olive@example.com", gossh.FingerprintSHA256(o.ownerKey.PublicKey())); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(3 * time.Second):
		t.Fatal("a command on a removed key's connection is still running")
	}
	if !strings.Contains(stderr.String(), "no longer logs in as you") {
		t.Fatalf("stderr %q does not say why", stderr.String())
	}
}
