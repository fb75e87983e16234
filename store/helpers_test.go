package store_test

import (
	"sync"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// org is a small organization on a real bbolt file in a temp dir.
type org struct {
	s                             *store.Store
	dir                           string
	owner, admin, user, stake     models.User
	ownerA, adminA, userA, stakeA store.Actor
	clock                         *clock
}

// clock is a controllable time source for grace periods and expiry.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newOrg(t testing.TB) *org {
	t.Helper()
	dir := t.TempDir()
	c := &clock{now: time.Now()}
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

func auditTypes(t *testing.T, s *store.Store, a store.Actor) map[string]int {
	t.Helper()
	entries, err := s.Audit(a, store.AuditQuery{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range entries {
		out[e.Type]++
	}
	return out
}
