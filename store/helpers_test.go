package store_test

import (
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/storetest"
)

// org is a small organization on a real bbolt file in a temp dir.
type org struct {
	s                             *store.Store
	dir                           string
	owner, admin, user, stake     models.User
	ownerA, adminA, userA, stakeA store.Actor
	clock                         *storetest.Clock
}

func newOrg(t testing.TB) *org {
	t.Helper()
	dir := t.TempDir()
	c := storetest.NewClock(time.Now())
	s, err := store.Open(dir, store.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	o := &org{s: s, dir: dir, clock: c}
	o.owner = must(s.Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com"}, "test"))
	o.ownerA = store.Actor{UserID: o.owner.ID, Via: "test"}
	o.admin = must(s.AddUser(o.ownerA, store.NewUser{Name: "Ada Admin", Email: "ada@example.com", Role: models.RoleAdmin}))
	o.user = must(s.AddUser(o.ownerA, store.NewUser{Name: "Uma User", Email: "uma@example.com", Role: models.RoleUser}))
	o.stake = must(s.AddUser(o.ownerA, store.NewUser{Name: "Sam Stake", Email: "sam@example.com", Role: models.RoleStakeholder}))
	o.adminA = store.Actor{UserID: o.admin.ID, Via: "test"}
	o.userA = store.Actor{UserID: o.user.ID, Via: "test"}
	o.stakeA = store.Actor{UserID: o.stake.ID, Via: "test"}
	return o
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func mustCreate(t testing.TB, s *store.Store, a store.Actor, name string) (models.Token, string) {
	t.Helper()
	tok, sec, err := s.CreateToken(a, store.TokenSpec{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return tok, sec
}
