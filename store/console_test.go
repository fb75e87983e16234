package store_test

import (
	"errors"
	"strings"
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

// TestSortedPages: a sorted listing pages through every token exactly once,
// in order, both ways, with the filter applied to the whole list.
func TestSortedPages(t *testing.T) {
	o := newOrg(t)
	names := []string{"delta", "Alpha", "charlie", "bravo", "echo", "alpha2", "foxtrot"}
	for _, n := range names {
		mustCreate(t, o.s, o.userA, n)
	}
	mustCreate(t, o.s, o.adminA, "zulu")
	for _, desc := range []bool{false, true} {
		var got []string
		q := store.TokenQuery{All: true, Sort: "name", Desc: desc, Limit: 3, Filter: "uma"}
		for {
			pg, err := o.s.ListTokens(o.ownerA, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range pg.Tokens {
				got = append(got, v.Name)
			}
			if pg.Next == "" {
				break
			}
			q.After = pg.Next
		}
		want := []string{"Alpha", "alpha2", "bravo", "charlie", "delta", "echo", "foxtrot"}
		if desc {
			for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
				want[i], want[j] = want[j], want[i]
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("desc=%v: %v, want %v", desc, got, want)
		}
	}
	if _, err := o.s.ListTokens(o.ownerA, store.TokenQuery{All: true, Sort: "bogus", Limit: 3}); !errors.Is(err, models.ErrInvalid) {
		t.Fatalf("bogus sort: %v", err)
	}
	if _, err := o.s.ListTokens(o.userA, store.TokenQuery{All: true, Sort: "name", Limit: 3}); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("a user sorted everyone's tokens: %v", err)
	}
}
