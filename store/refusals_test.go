package store_test

import (
	"errors"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keydesk/keydesk/internal/doortest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// newSSHKey returns an authorized_keys line and its SHA256 fingerprint.
func newSSHKey(t *testing.T) (line, fp string) {
	k := doortest.NewSigner(t)
	return doortest.AuthorizedKey(k), gossh.FingerprintSHA256(k.PublicKey())
}

// A session is bound to the key it logged in with: once that key is removed
// from the person (or while it is still pending) the store refuses the
// session's every read and change, whatever the SSH server has done yet.
func TestSessionKeyNoLongerOnAccountIsRefused(t *testing.T) {
	o := newOrg(t)
	line1, fp1 := newSSHKey(t)
	line2, fp2 := newSSHKey(t)
	line3, fp3 := newSSHKey(t)
	if _, err := o.s.AddKey(o.ownerA, o.user.Email, line1); err != nil {
		t.Fatal(err) // her first key: active at once
	}
	viaKey1 := store.Actor{UserID: o.user.ID, Via: "ssh test", Key: fp1}
	viaKey2 := store.Actor{UserID: o.user.ID, Via: "ssh test", Key: fp2}
	viaKey3 := store.Actor{UserID: o.user.ID, Via: "ssh test", Key: fp3}
	mustCreate(t, o.s, viaKey1, "from key 1")

	// A key someone else adds to a person who has one waits for approval:
	// a session claiming it is refused.
	if _, err := o.s.AddKey(o.ownerA, o.user.Email, line3); err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.s.CreateToken(viaKey3, store.TokenSpec{Name: "pending"}); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("create through a pending key: err = %v, want ErrPermission", err)
	}

	// The owner adds a second key, she approves it through the first, and
	// the owner removes the first (say it was stolen).
	if _, err := o.s.AddKey(o.ownerA, o.user.Email, line2); err != nil {
		t.Fatal(err)
	}
	if _, err := o.s.ApproveKey(viaKey1, fp2); err != nil {
		t.Fatal(err)
	}
	if err := o.s.RemoveKey(o.ownerA, o.user.Email, fp1); err != nil {
		t.Fatal(err)
	}
	_, _, err := o.s.CreateToken(viaKey1, store.TokenSpec{Name: "after removal"})
	if !errors.Is(err, models.ErrPermission) || !strings.Contains(err.Error(), fp1) {
		t.Fatalf("create through the removed key: err = %v, want ErrPermission naming %s", err, fp1)
	}
	if _, err := o.s.Profile(viaKey1); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("profile through the removed key: err = %v, want ErrPermission", err)
	}
	// Her other key, and the local command line (no key), still act for her.
	mustCreate(t, o.s, viaKey2, "from key 2")
	mustCreate(t, o.s, o.userA, "local")
	toks, err := o.s.ListTokens(o.userA, store.TokenQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(toks.Tokens) != 3 {
		t.Fatalf("%d tokens, want 3 (nothing created through the removed or pending key)", len(toks.Tokens))
	}
}

// A holder at the limit who rotates is told why a rotation needs room (the
// old secret keeps working for its grace period), not the generic "revoke one
// first" that reads as if the token being rotated were the one too many.
func TestRotationAtTheLimitSaysWhy(t *testing.T) {
	o := newOrg(t)
	var first models.Token
	for i := range models.MaxTokensActive {
		tok, _ := mustCreate(t, o.s, o.userA, "t")
		if i == 0 {
			first = tok
		}
	}
	_, _, err := o.s.RotateToken(o.userA, first.ID)
	if !errors.Is(err, models.ErrLimit) {
		t.Fatalf("rotate at the limit: err = %v, want ErrLimit", err)
	}
	for _, want := range []string{"rotating needs room", "10 minutes", "revoke this one and create a new one"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("rotate at the limit said %q; want it to contain %q", err, want)
		}
	}
	// Nothing changed: the token is still active, not half rotated.
	v, err := o.s.Token(o.userA, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != models.StatusActive || !v.RotatedAt.IsZero() {
		t.Fatalf("after the refused rotation the token is %s (rotated at %v), want active and untouched", v.Status, v.RotatedAt)
	}
}
