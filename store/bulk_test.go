package store_test

import (
	"errors"
	"testing"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

func TestBulkLoadMatchesOrdinaryRecords(t *testing.T) {
	o := newOrg(t)
	if err := o.s.BulkLoad(o.adminA, store.BulkSpec{Users: 3, TokensPerUser: 2}); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("admin bulk-loaded: %v", err)
	}
	if err := o.s.BulkLoad(o.ownerA, store.BulkSpec{Users: 50, TokensPerUser: 3, BatchSize: 40, RevokedEveryNth: 7}); err != nil {
		t.Fatal(err)
	}
	if p, err := o.s.Check(); err != nil || len(p) != 0 {
		t.Fatalf("check after bulk load: %v %v", p, err)
	}
	users, _ := o.s.ListUsers(o.ownerA)
	if len(users) != 54 {
		t.Fatalf("%d users", len(users))
	}
	n := 0
	revoked := 0
	if err := o.s.EachToken(o.ownerA, store.TokenQuery{All: true}, func(v store.TokenView) error {
		n++
		if v.Status == models.StatusRevoked {
			revoked++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 150 || revoked != 150/7 {
		t.Fatalf("%d tokens, %d revoked", n, revoked)
	}
	// A bulk-loaded person is an ordinary user afterwards.
	u, err := o.s.User("person000003@bulk.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.s.LiveTokenCount(o.ownerA, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := o.s.RevokeAllOf(o.ownerA, u.Email); err != nil {
		t.Fatal(err)
	}
}
