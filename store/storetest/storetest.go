// Package storetest is the store's behaviour suite: every promise the store
// makes (who may do what, reveal once, revocation on removal, rotation grace,
// limits, all-or-nothing writes, events after commit, backups, paging, check),
// asserted through the store's exported API on whatever kv.Engine it runs on.
// Each engine's tests call Run with a Backend; the same assertions hold for a
// bbolt file and for etcd.
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/kv"
)

// Opener opens an engine on one backend's data, with the buckets of
// store.Buckets(). Called again after the store using the last engine has
// closed, it reopens the same data.
type Opener func() (kv.Engine, error)

// Backend makes a fresh, empty place for one test (a temp file, an etcd key
// prefix) and returns its Opener. It registers its own cleanup on t.
type Backend func(t testing.TB) Opener

// Run runs every behaviour test against engines from newBackend.
func Run(t *testing.T, newBackend Backend) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newOrg(t, newBackend)) })
	}
}

// RunSome runs the named behaviour tests only (a subset for slower
// backends, such as three etcd members).
func RunSome(t *testing.T, newBackend Backend, names ...string) {
	for _, name := range names {
		found := false
		for _, c := range cases {
			if c.name == name {
				found = true
				t.Run(c.name, func(t *testing.T) { c.fn(t, newOrg(t, newBackend)) })
			}
		}
		if !found {
			t.Errorf("storetest: no behaviour test %q", name)
		}
	}
}

var cases = []struct {
	name string
	fn   func(*testing.T, *Org)
}{
	{"SecretNeverStored", testSecretNeverStoredInDB},
	{"AssignRevealOnce", testAssignRevealOnce},
	{"AssignOnlyToUsersAndAdmins", testAssignOnlyToUsersAndAdmins},
	{"RemovalAndDemotionRevoke", testRemovalAndDemotionRevoke},
	{"DemotedAdminTokenActsAsUser", testDemotedAdminTokenActsAsUser},
	{"ActorCapLimitsRole", testActorCapLimitsRole},
	{"ScopedUsesEffectiveRole", testScopedUsesEffectiveRole},
	{"ScopedTokens", testScopedTokens},
	{"EnforcesMatrix", testStoreEnforcesMatrix},
	{"TransferOwnership", testTransferOwnership},
	{"RotationGraceAndReuse", testRotationGraceAndReuse},
	{"ExpiryAndLimit", testExpiryAndLimit},
	{"LiveTokenCountIsTheLimitsCount", testLiveTokenCountIsTheLimitsCount},
	{"BadInputLosesNothing", testBadInputLosesNothing},
	{"FaultBeforeCommitLeavesNothing", testFaultBeforeCommitLeavesNothing},
	{"BackupDuringWrites", testBackupDuringWrites},
	{"ImportAllOrNothing", testImportAllOrNothing},
	{"ImportReportsEveryBadLine", testImportReportsEveryBadLine},
	{"DryRunChangesNothing", testDryRunChangesNothing},
	{"AuditByRemovedOrUnknownUser", testAuditByRemovedOrUnknownUser},
	{"EventsAfterCommit", testEventsAfterCommit},
	{"LastUsedCoalescedAndFlushed", testLastUsedCoalescedAndFlushed},
	{"Paging", testPaging},
	{"SortedPagesFollowChanges", testSortedPagesFollowChanges},
	{"EachTokenPagesThroughAll", testEachTokenPagesThroughAll},
	{"EachTokenRowIsEachToken", testEachTokenRowIsEachToken},
	{"AuditPaging", testAuditPaging},
	{"CheckFindsBrokenIndexes", testCheckFindsBrokenIndexes},
	{"CheckBesideWrites", testCheckBesideWrites},
	{"BulkLoadMatchesOrdinaryRecords", testBulkLoadMatchesOrdinaryRecords},
	{"LiveSetFoldsFromSchema2", testLiveSetFoldsFromSchema2},
	{"LiveSetFoldResumes", testLiveSetFoldResumes},
}

// Org is a small organization (owner, admin, user, stakeholder) on a fresh
// backend, with a controllable clock.
type Org struct {
	S                             *store.Store
	Owner, Admin, User, Stake     models.User
	OwnerA, AdminA, UserA, StakeA store.Actor
	Clock                         *Clock

	open    Opener
	secrets store.Secrets
	fault   *faulty
}

// Clock is a controllable time source for grace periods and expiry.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock standing at now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newOrg(t *testing.T, newBackend Backend) *Org {
	t.Helper()
	o := &Org{open: newBackend(t), Clock: NewClock(time.Now()),
		secrets: store.Secrets{Dir: t.TempDir(), Pepper: randomKey(t), Seal: randomKey(t)}}
	o.S = o.Reopen(t)
	o.Owner = must(t)(o.S.Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com"}, "test"))
	o.OwnerA = store.Actor{UserID: o.Owner.ID, Via: "test"}
	o.Admin = must(t)(o.S.AddUser(o.OwnerA, store.NewUser{Name: "Ada Admin", Email: "ada@example.com", Role: models.RoleAdmin}))
	o.User = must(t)(o.S.AddUser(o.OwnerA, store.NewUser{Name: "Uma User", Email: "uma@example.com", Role: models.RoleUser}))
	o.Stake = must(t)(o.S.AddUser(o.OwnerA, store.NewUser{Name: "Sam Stake", Email: "sam@example.com", Role: models.RoleStakeholder}))
	o.AdminA = store.Actor{UserID: o.Admin.ID, Via: "test"}
	o.UserA = store.Actor{UserID: o.User.ID, Via: "test"}
	o.StakeA = store.Actor{UserID: o.Stake.ID, Via: "test"}
	return o
}

// Reopen opens a store on the backend's data (after the previous one was
// closed), with the same secrets and clock, and closes it when t ends.
func (o *Org) Reopen(t testing.TB) *store.Store {
	t.Helper()
	e, err := o.open()
	if err != nil {
		t.Fatal(err)
	}
	o.fault = &faulty{Engine: e}
	s, err := store.OpenEngine(o.fault, o.secrets, store.Options{Now: o.Clock.Now, BackupDir: t.TempDir()})
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Engine opens the backend's data raw, for tests that damage it on purpose;
// the store must be closed first, and the engine closed before Reopen.
func (o *Org) Engine(t testing.TB) kv.Engine {
	t.Helper()
	e, err := o.open()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func randomKey(t testing.TB) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func must(t testing.TB) func(models.User, error) models.User {
	return func(u models.User, err error) models.User {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
}

// faulty is the engine with a switch that fails every write transaction after
// its function has run (so the change and its audit entry are written) and
// before commit: what a crash or a lost connection at that moment does.
type faulty struct {
	kv.Engine
	err atomic.Pointer[error]
}

func (f *faulty) Update(ctx context.Context, fn func(kv.Tx) error) error {
	return f.Engine.Update(ctx, func(tx kv.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if p := f.err.Load(); p != nil {
			return *p
		}
		return nil
	})
}

// failWrites makes every write fail before commit with err (nil: stop).
func (o *Org) failWrites(err error) {
	if err == nil {
		o.fault.err.Store(nil)
		return
	}
	o.fault.err.Store(&err)
}

var errInjected = errors.New("injected fault before commit")

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

func mustCreate(t testing.TB, s *store.Store, a store.Actor, name string) (models.Token, string) {
	return mustCreateSpec(t, s, a, store.TokenSpec{Name: name})
}

func mustCreateSpec(t testing.TB, s *store.Store, a store.Actor, spec store.TokenSpec) (models.Token, string) {
	t.Helper()
	tok, sec, err := s.CreateToken(a, spec)
	if err != nil {
		t.Fatal(err)
	}
	return tok, sec
}

// churn starts n writers that create and revoke tokens as a until the
// returned stop is called (stop waits for them; calling it twice is safe).
func (o *Org) churn(t *testing.T, a store.Actor, n int) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-quit:
					return
				default:
				}
				tok, _, err := o.S.CreateToken(a, store.TokenSpec{Name: fmt.Sprintf("w%d-%d", w, i)})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := o.S.RevokeToken(a, tok.ID); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var once sync.Once
	return func() { once.Do(func() { close(quit); wg.Wait() }) }
}
