package store_test

import (
	"errors"
	"testing"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// TestRenameToken: the holder renames a usable token of theirs; the
// secret keeps working, the rename is audited, and nobody else may.
func TestRenameToken(t *testing.T) {
	o := newOrg(t)
	tok, sec := mustCreate(t, o.s, o.userA, "old name")
	got, err := o.s.RenameToken(o.userA, tok.ID, "  new name ")
	if err != nil || got.Name != "new name" {
		t.Fatalf("rename: %+v %v", got, err)
	}
	if p, err := o.s.Inspect(sec); err != nil || p.Token.Name != "new name" {
		t.Fatalf("secret after rename: %+v %v", p.Token, err)
	}
	if _, err := o.s.RenameToken(o.ownerA, tok.ID, "x"); err == nil {
		t.Fatal("the owner renamed someone else's token")
	}
	if _, err := o.s.RenameToken(o.userA, tok.ID, ""); !errors.Is(err, models.ErrInvalid) {
		t.Fatalf("empty name: %v", err)
	}
	es, err := o.s.Audit(o.ownerA, store.AuditQuery{Type: models.AuditTokenRenamed})
	if err != nil || len(es) != 1 || es[0].TokenID != tok.ID {
		t.Fatalf("audit: %+v %v", es, err)
	}
	if _, err := o.s.RevokeToken(o.userA, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := o.s.RenameToken(o.userA, tok.ID, "dead"); !errors.Is(err, models.ErrTokenInactive) {
		t.Fatalf("renaming a revoked token: %v", err)
	}
}

// TestRevokerNameAndGrace: a revoked token's view names who revoked it; the
// grace period the console quotes is the store's.
func TestRevokerNameAndGrace(t *testing.T) {
	o := newOrg(t)
	tok, _ := mustCreate(t, o.s, o.userA, "t")
	if _, err := o.s.RevokeToken(o.ownerA, tok.ID); err != nil {
		t.Fatal(err)
	}
	v, err := o.s.Token(o.userA, tok.ID)
	if err != nil || v.RevokerName != "Olive Owner" {
		t.Fatalf("revoker: %q %v", v.RevokerName, err)
	}
	if g := o.s.RotationGrace(); g <= 0 {
		t.Fatalf("grace %v", g)
	}
}

// TestAuditUserPartial: the person filter takes part of a name or email
// when no one has exactly that email or ID.
func TestAuditUserPartial(t *testing.T) {
	o := newOrg(t)
	mustCreate(t, o.s, o.userA, "t")
	es, err := o.s.Audit(o.ownerA, store.AuditQuery{User: "uma"})
	if err != nil || len(es) == 0 {
		t.Fatalf("partial: %d %v", len(es), err)
	}
	for _, e := range es {
		if e.ActorID != o.user.ID && e.TargetID != o.user.ID {
			t.Fatalf("entry of someone else: %+v", e)
		}
	}
	if _, err := o.s.Audit(o.ownerA, store.AuditQuery{User: "nobody-like-this"}); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("no match: %v", err)
	}
}
