package cluster_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/etcdtest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/cluster"
	"github.com/keydesk/keydesk/store/kv"
	"github.com/keydesk/keydesk/store/kv/etcd"
	"github.com/keydesk/keydesk/store/storetest"
)

// pair is two stores (two "servers") on one organization in etcd, sharing
// its secrets, each with its own client and engine.
type pair struct {
	A, B   *store.Store
	EA, EB *etcd.Engine
	Owner  models.User
	OwnerA store.Actor
}

func key(t testing.TB) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func openStore(t testing.TB, c etcdCluster, prefix string, sec store.Secrets) (*store.Store, *etcd.Engine) {
	t.Helper()
	e, err := engine(t, c, prefix, cluster.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.OpenEngine(e, sec, store.Options{})
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, e
}

func newPair(t testing.TB, c etcdCluster) *pair {
	t.Helper()
	prefix := c.Prefix(t)
	sec := store.Secrets{Dir: t.TempDir(), Pepper: key(t), Seal: key(t)}
	p := &pair{}
	p.A, p.EA = openStore(t, c, prefix, sec)
	p.B, p.EB = openStore(t, c, prefix, sec)
	owner, err := p.A.Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	p.Owner, p.OwnerA = owner, store.Actor{UserID: owner.ID, Via: "test"}
	return p
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// A token revoked on A is refused on B: B's cache learns of the revoke from
// its watch, or B reads through when it cannot prove its cache is fresh. The
// delay (revoke acknowledged on A → first refusal on B) is measured over 50
// trials and logged; the assertion is only that every trial is refused, well
// inside a generous bound.
func TestRevokeOnAIsRefusedOnB(t *testing.T) {
	p := newPair(t, etcdtest.Shared(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.EB.WaitFresh(ctx); err != nil {
		t.Fatalf("B's cache never proved fresh: %+v", p.EB.Freshness())
	}
	var delays []time.Duration
	for i := 0; i < 50; i++ {
		tok, secret, err := p.A.CreateToken(p.OwnerA, store.TokenSpec{Name: fmt.Sprintf("t%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		// B serves it (and caches it, once it proves its cache fresh) first.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := p.B.Exchange(secret, "b"); err == nil {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("B never accepted a token created on A: %v", err)
			}
		}
		if _, err := p.B.CheckAccess(tok.ID, p.Owner.ID); err != nil {
			t.Fatalf("B refuses a live token: %v", err)
		}
		if _, err := p.A.RevokeToken(p.OwnerA, tok.ID); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for {
			_, err := p.B.CheckAccess(tok.ID, p.Owner.ID)
			if errors.Is(err, models.ErrUnauthenticated) {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("trial %d: B still accepts a token revoked on A 5 s ago", i)
			}
		}
		delays = append(delays, time.Since(start))
		if _, err := p.B.Exchange(secret, "b"); !errors.Is(err, models.ErrUnauthenticated) {
			t.Fatalf("trial %d: B exchanges a revoked token: %v", i, err)
		}
	}
	t.Logf("revoke on A → refused on B over %d trials: p50 %v, p99 %v, max %v (target p99 ≤ 100 ms)",
		len(delays), percentile(delays, 0.5), percentile(delays, 0.99), percentile(delays, 1))
}

// Sixteen creators, half on A and half on B, all for one holder, leave
// exactly the 25 usable tokens the limit allows: the holder scan is guarded.
func TestSixteenCreatorsOnTwoServersLeaveTwentyFive(t *testing.T) {
	t.Parallel() // on the shared member, with its own prefix
	p := newPair(t, etcdtest.Shared(t))
	u, err := p.A.AddUser(p.OwnerA, store.NewUser{Name: "Uma User", Email: "uma@example.com", Role: models.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	ua := store.Actor{UserID: u.ID, Via: "test"}
	var made, limited atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		s := p.A
		if w%2 == 1 {
			s = p.B
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				_, _, err := s.CreateToken(ua, store.TokenSpec{Name: fmt.Sprintf("w%d-%d", w, i)})
				switch {
				case err == nil:
					made.Add(1)
				case errors.Is(err, models.ErrLimit):
					limited.Add(1)
				default:
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for _, s := range []*store.Store{p.A, p.B} {
		page, err := s.ListTokens(ua, store.TokenQuery{})
		if err != nil {
			t.Fatal(err)
		}
		usable := 0
		for _, v := range page.Tokens {
			if v.Status.Usable() {
				usable++
			}
		}
		if usable != 25 || made.Load() != 25 {
			t.Fatalf("%d usable tokens listed, %d creations acknowledged (%d refused at the limit); want 25 and 25",
				usable, made.Load(), limited.Load())
		}
	}
}

// The same email added on A and on B at once gives one user and one conflict.
func TestSameEmailOnTwoServersOneWinner(t *testing.T) {
	t.Parallel() // on the shared member, with its own prefix
	p := newPair(t, etcdtest.Shared(t))
	for round := 0; round < 10; round++ {
		email := fmt.Sprintf("dup%d@example.com", round)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*store.Store{p.A, p.B} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.AddUser(p.OwnerA, store.NewUser{Name: "Dup", Email: email, Role: models.RoleUser})
			}()
		}
		wg.Wait()
		ok, conflicts := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, models.ErrConflict):
				conflicts++
			default:
				t.Fatal(err)
			}
		}
		if ok != 1 || conflicts != 1 {
			t.Fatalf("round %d: %d added, %d conflicts (%v); want 1 and 1", round, ok, conflicts, errs)
		}
	}
}

// A change on A reaches B's subscribers (what a console on B redraws from),
// after B's caches have dropped what it touched. Latency logged over 20 trials.
func TestChangeOnAIsAnEventOnB(t *testing.T) {
	p := newPair(t, etcdtest.Shared(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.EB.WaitFresh(ctx); err != nil {
		t.Fatalf("B's cache never proved fresh: %+v", p.EB.Freshness())
	}
	events, stop := p.B.Subscribe()
	defer stop()
	var delays []time.Duration
	for i := 0; i < 20; i++ {
		tok, _, err := p.A.CreateToken(p.OwnerA, store.TokenSpec{Name: fmt.Sprintf("e%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for got := false; !got; {
			select {
			case ev := <-events:
				// The token named too: the API Tokens page wakes on it.
				got = ev.Type == models.AuditTokenCreated && len(ev.UserIDs) > 0 && ev.UserIDs[0] == p.Owner.ID &&
					slices.Contains(ev.TokenIDs, tok.ID)
			case <-ctx.Done():
				t.Fatalf("trial %d: no event on B for token %s created on A", i, tok.ID)
			}
		}
		delays = append(delays, time.Since(start))
	}
	// B's own changes are events through its own commit path, once.
	if _, _, err := p.B.CreateToken(p.OwnerA, store.TokenSpec{Name: "own"}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Type != models.AuditTokenCreated {
			t.Fatalf("B's own change gave event %+v", ev)
		}
	case <-ctx.Done():
		t.Fatal("no event for B's own change")
	}
	t.Logf("change on A → event on B: p50 %v, max %v (target ≤ 100 ms)", percentile(delays, 0.5), percentile(delays, 1))
}

// writers add users on A and B (two writers each) until stopped, keeping
// every acknowledged email with when its write was invoked and acknowledged.
type writers struct {
	mu    sync.Mutex
	acked []ackedWrite
	stop  atomic.Bool
	wg    sync.WaitGroup
}

type ackedWrite struct {
	email       string
	invoked, at time.Time
}

func startWriters(p *pair) *writers {
	ws := &writers{}
	for w := 0; w < 4; w++ {
		s := p.A
		if w%2 == 1 {
			s = p.B
		}
		ws.wg.Add(1)
		go func() {
			defer ws.wg.Done()
			for i := 0; !ws.stop.Load(); i++ {
				email := fmt.Sprintf("w%d-%d@example.com", w, i)
				invoked := time.Now()
				_, err := s.AddUser(p.OwnerA, store.NewUser{Name: "W", Email: email, Role: models.RoleStakeholder})
				if err != nil {
					continue // refused or unknown outcome: not acknowledged, may be retried by a person
				}
				ws.mu.Lock()
				ws.acked = append(ws.acked, ackedWrite{email, invoked, time.Now()})
				ws.mu.Unlock()
			}
		}()
	}
	return ws
}

// snapshot is every write acknowledged so far, in acknowledgement order.
func (ws *writers) snapshot() []ackedWrite {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return slices.Clone(ws.acked)
}

// waitAcked waits (30 s at most) until n writes are acknowledged.
func (ws *writers) waitAcked(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if got := len(ws.snapshot()); got >= n {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("only %d writes acknowledged, waited for %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// halt stops the writers and returns every acknowledged write.
func (ws *writers) halt() []ackedWrite {
	ws.stop.Store(true)
	ws.wg.Wait()
	return ws.snapshot()
}

// allThere fails t unless every acknowledged user is listed on both A and B.
func allThere(t testing.TB, p *pair, acked []ackedWrite, after string) {
	t.Helper()
	for _, s := range []*store.Store{p.A, p.B} {
		users, err := s.ListUsers(p.OwnerA)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, u := range users {
			have[u.Email] = true
		}
		for _, w := range acked {
			if !have[w.email] {
				t.Fatalf("acknowledged user %s (at %v) lost after %s", w.email, w.at.Format("15:04:05.000"), after)
			}
		}
	}
}

// Killing the etcd leader while A and B write loses no acknowledged change,
// and writes resume; the stall (longest gap between acknowledged writes
// around the kill) is logged.
func TestLeaderKillLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("three members: not in -short")
	}
	c := etcdtest.NewCluster(t, 3)
	p := newPair(t, c)
	ws := startWriters(p)
	ws.waitAcked(t, 20)
	lead := c.Leader()
	if lead < 0 {
		t.Fatal("no leader")
	}
	before := len(ws.snapshot())
	killed := time.Now()
	c.HardStop(lead)
	ws.waitAcked(t, before+20) // writes resume
	acked := ws.halt()
	// The longest gap between acknowledgements after the kill.
	var stall time.Duration
	prev := killed
	for _, w := range acked {
		if w.at.Before(killed) {
			continue
		}
		stall = max(stall, w.at.Sub(prev))
		prev = w.at
	}
	if stall > 20*time.Second {
		t.Fatalf("writes stalled %v after the leader kill", stall)
	}
	allThere(t, p, acked, "the leader kill")
	t.Logf("leader kill: %d acknowledged writes, none lost; write stall %v (target ≤ 5 s); ambiguous commits settled A %d/%d B %d/%d",
		len(acked), stall, p.EA.Stats().Landed.Load(), p.EA.Stats().Ambiguous.Load(), p.EB.Stats().Landed.Load(), p.EB.Stats().Ambiguous.Load())
}

// A subset of the behaviour suite on three members: the tests whose writes,
// limits, events and exports depend most on the engine.
func TestStoreBehaviourOnThreeMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("three members: not in -short")
	}
	c := etcdtest.NewCluster(t, 3)
	storetest.RunSome(t, func(t testing.TB) storetest.Opener {
		prefix := c.Prefix(t)
		return func() (kv.Engine, error) { return engine(t, c, prefix, cluster.EngineOptions{}) }
	}, "AssignRevealOnce", "RemovalAndDemotionRevoke", "RotationGraceAndReuse", "ExpiryAndLimit",
		"FaultBeforeCommitLeavesNothing", "BackupDuringWrites", "ImportAllOrNothing", "EventsAfterCommit",
		"Paging", "AuditPaging", "BulkLoadMatchesOrdinaryRecords")
}

// When another server moves the shared data to a newer schema, this one
// refuses to write (it would write an older layout into it).
func TestNewerSchemaElsewhereStopsWrites(t *testing.T) {
	t.Parallel() // on the shared member, with its own prefix
	c := etcdtest.Shared(t)
	prefix := c.Prefix(t)
	sec := store.Secrets{Dir: t.TempDir(), Pepper: key(t), Seal: key(t)}
	s, _ := openStore(t, c, prefix, sec)
	owner, err := s.Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := engine(t, c, prefix, cluster.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	err = raw.Update(context.Background(), func(tx kv.Tx) error {
		return tx.Put("meta", []byte("schema_version"), binary.BigEndian.AppendUint64(nil, store.SchemaVersion+1))
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err := s.CreateToken(store.Actor{UserID: owner.ID, Via: "test"}, store.TokenSpec{Name: "x"})
		if errors.Is(err, models.ErrSchemaTooNew) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still accepted 10 s after the schema moved ahead: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Removing a person who holds 25 tokens is one transaction that fits etcd's
// 128 operations (no mirror for the audit log, no tombstone for keys that
// were never there).
func TestRemovingAFullHolderFitsOneTransaction(t *testing.T) {
	t.Parallel() // on the shared member, with its own prefix
	p := newPair(t, etcdtest.Shared(t))
	u, err := p.A.AddUser(p.OwnerA, store.NewUser{Name: "Uma User", Email: "uma@example.com", Role: models.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	ua := store.Actor{UserID: u.ID, Via: "test"}
	for i := 0; i < 25; i++ {
		if _, _, err := p.A.CreateToken(ua, store.TokenSpec{Name: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.B.RemoveUser(p.OwnerA, u.Email); err != nil || n != 25 {
		t.Fatalf("remove a holder of 25 tokens: %d, %v", n, err)
	}
	if problems, err := p.A.Check(); err != nil || len(problems) > 0 {
		t.Fatalf("check: %v %q", err, problems)
	}
}

// Sorted pages on B follow A's changes: B builds its listing index on its
// first sorted page, A renames, revokes and creates, and B's pages (walked to
// the end) come to equal the order worked out from A's records, within a
// generous bound, while B's cache is fresh.
func TestSortedPagesOnBFollowA(t *testing.T) {
	p := newPair(t, etcdtest.Shared(t))
	var ids []string
	for i := range 12 {
		tok, _, err := p.A.CreateToken(p.OwnerA, store.TokenSpec{Name: fmt.Sprintf("n%02d", (i*7)%12)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tok.ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.EB.WaitFresh(ctx); err != nil {
		t.Fatalf("B's cache never proved fresh: %+v", p.EB.Freshness())
	}
	walk := func(s *store.Store) []string {
		var out []string
		q := store.TokenQuery{All: true, Sort: "name", Filter: "n", Limit: 5}
		for range 20 {
			pg, err := s.ListTokens(p.OwnerA, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range pg.Tokens {
				out = append(out, v.ID+" "+v.Name)
			}
			if pg.Next == "" {
				break
			}
			q.After = pg.Next
		}
		return out
	}
	want := func() []string {
		var vs []store.TokenView
		if err := p.A.EachToken(p.OwnerA, store.TokenQuery{All: true}, func(v store.TokenView) error {
			if strings.Contains(strings.ToLower(v.Name+v.ID+v.Masked+v.HolderName+v.HolderEmail+string(v.Status)+string(v.Role)), "n") {
				vs = append(vs, v)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		sort.Slice(vs, func(i, j int) bool {
			a, b := strings.ToLower(vs[i].Name), strings.ToLower(vs[j].Name)
			if a != b {
				return a < b
			}
			return vs[i].ID < vs[j].ID
		})
		var out []string
		for _, v := range vs {
			out = append(out, v.ID+" "+v.Name)
		}
		return out
	}
	settle := func(when string) {
		t.Helper()
		w := want()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := walk(p.B)
			if fmt.Sprint(got) == fmt.Sprint(w) && p.B.Health().Cache == "fresh" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: B's sorted pages\n got %v\nwant %v (cache %s)", when, got, w, p.B.Health().Cache)
			}
		}
	}
	settle("created")
	if _, err := p.A.RenameToken(p.OwnerA, ids[3], "a first"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.A.RenameToken(p.OwnerA, ids[4], "zz last"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.A.RevokeToken(p.OwnerA, ids[5]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.A.CreateToken(p.OwnerA, store.TokenSpec{Name: "m new"}); err != nil {
		t.Fatal(err)
	}
	settle("changed on A")
}
