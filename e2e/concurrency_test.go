package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// ledger is what the clients were told: every acknowledged change, and
// nothing else. The final state must equal what it implies.
type ledger struct {
	mu       sync.Mutex
	toks     map[string]*ltok
	byHolder map[string][]*ltok

	created, assigned, revealed, revoked, usersAdded atomic.Int64
	ops, rejected                                    atomic.Int64
}

// ltok is one acknowledged token. claimed marks a revoke in flight, so two
// clients never race to revoke one token (the loser would rightly fail and
// muddy the count); exchanges of a claimed token may fail.
type ltok struct {
	id, holder, secret string
	revoked, claimed   bool
	access             string // an access token minted from it over HTTP
}

func newLedger() *ledger {
	return &ledger{toks: map[string]*ltok{}, byHolder: map[string][]*ltok{}}
}

func (l *ledger) add(id, holder, secret string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := &ltok{id: id, holder: holder, secret: secret}
	l.toks[id] = t
	l.byHolder[holder] = append(l.byHolder[holder], t)
}

// pick returns a random live, unclaimed token of holder (any holder when
// empty) matching want; claim marks it for revocation.
func (l *ledger) pick(r *rand.Rand, holder string, claim bool, want func(*ltok) bool) *ltok {
	l.mu.Lock()
	defer l.mu.Unlock()
	var pool []*ltok
	if holder != "" {
		pool = l.byHolder[holder]
	} else {
		for _, t := range l.toks {
			pool = append(pool, t)
		}
	}
	var live []*ltok
	for _, t := range pool {
		if !t.revoked && !t.claimed && (want == nil || want(t)) {
			live = append(live, t)
		}
	}
	if len(live) == 0 {
		return nil
	}
	t := live[r.IntN(len(live))]
	if claim {
		t.claimed = true
	}
	return t
}

func (l *ledger) live(holder string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, t := range l.byHolder[holder] {
		if !t.revoked {
			n++
		}
	}
	return n
}

// settle ends a claim: revoked when the revoke was acknowledged.
func (l *ledger) settle(t *ltok, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t.claimed = false
	if ok {
		t.revoked = true
		l.revoked.Add(1)
	}
}

// gone reports whether t is revoked or about to be, which excuses a failed use.
func (l *ledger) gone(t *ltok) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return t.revoked || t.claimed
}

func (l *ledger) setSecret(t *ltok, secret string) {
	l.mu.Lock()
	t.secret = secret
	l.mu.Unlock()
}

func (l *ledger) setAccess(t *ltok, access string) {
	l.mu.Lock()
	t.access = access
	l.mu.Unlock()
}

// TestConcurrentActorsKeepAcknowledgedState drives one owner through two doors
// (in-process store calls and SSH commands), two admins, ten users and HTTP
// clients at once, for at least 10,000 operations under -race. Afterwards the
// database passes Check, and the tokens, their statuses and the audit log are
// exactly what the acknowledged operations imply.
func TestConcurrentActorsKeepAcknowledgedState(t *testing.T) {
	nUsers, perUser, ownerOps, adminOps, sshOps, httpOps := 16, 560, 400, 100, 60, 250
	if testing.Short() {
		perUser, ownerOps, adminOps, sshOps, httpOps = 100, 80, 20, 15, 50
	}
	w := newWorld(t, worldOpts{users: nUsers})
	s := w.s
	l := newLedger()
	var wg sync.WaitGroup
	fail := func(format string, a ...any) { t.Errorf(format, a...) }
	go1 := func(fn func(r *rand.Rand)) {
		wg.Add(1)
		seed := rand.Uint64()
		go func() { defer wg.Done(); fn(rand.New(rand.NewPCG(seed, 7))) }()
	}

	// Every user starts with a few tokens, so every client has work at once.
	for _, u := range w.users {
		for i := range 3 {
			tok, secret, err := s.CreateToken(w.act(u), store.TokenSpec{Name: fmt.Sprintf("seed%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			l.add(tok.ID, u.ID, secret)
			l.created.Add(1)
		}
	}

	// Users, in process: create, exchange, reveal, revoke their own, read.
	for _, u := range w.users {
		a := store.Actor{UserID: u.ID, Via: "console"}
		go1(func(r *rand.Rand) {
			for i := range perUser {
				l.ops.Add(1)
				switch p := r.IntN(100); {
				case p < 15 && l.live(u.ID) < 18:
					tok, secret, err := s.CreateToken(a, store.TokenSpec{Name: fmt.Sprintf("u%d", i)})
					switch {
					case err == nil:
						l.add(tok.ID, u.ID, secret)
						l.created.Add(1)
					case errors.Is(err, models.ErrLimit):
						l.rejected.Add(1) // assignments raced us to the limit
					default:
						fail("create as %s: %v", u.Email, err)
					}
				case p < 60:
					if tk := l.pick(r, u.ID, false, func(t *ltok) bool { return t.secret != "" }); tk != nil {
						if _, err := s.Exchange(tk.secret, "test"); err != nil && !l.gone(tk) {
							fail("exchange of live %s: %v", tk.id, err)
						}
					}
				case p < 65:
					if tk := l.pick(r, u.ID, false, func(t *ltok) bool { return t.secret == "" }); tk != nil {
						secret, err := s.RevealToken(a, tk.id)
						switch {
						case err == nil:
							l.setSecret(tk, secret)
							l.revealed.Add(1)
						case !l.gone(tk):
							fail("reveal of %s: %v", tk.id, err)
						}
					}
				case p < 77 || l.live(u.ID) >= 18:
					if tk := l.pick(r, u.ID, true, nil); tk != nil {
						_, err := s.RevokeToken(a, tk.id)
						if err != nil {
							fail("revoke own %s: %v", tk.id, err)
						}
						l.settle(tk, err == nil)
					}
				default:
					if _, err := s.ListTokens(a, store.TokenQuery{Limit: 10}); err != nil {
						fail("list: %v", err)
					}
				}
			}
		})
	}

	// The owner, in process: assign to users and revoke anyone's.
	ownerA := store.Actor{UserID: w.owner.ID, Via: "cli"}
	go1(func(r *rand.Rand) {
		for i := range ownerOps {
			l.ops.Add(1)
			u := w.users[r.IntN(len(w.users))]
			if r.IntN(2) == 0 && l.live(u.ID) < 18 {
				toks, err := s.AssignTokens(ownerA, []string{u.Email}, store.TokenSpec{Name: fmt.Sprintf("o%d", i)})
				switch {
				case err == nil:
					for _, tk := range toks {
						l.add(tk.ID, tk.HolderID, "")
						l.assigned.Add(1)
					}
				case errors.Is(err, models.ErrLimit):
					l.rejected.Add(1)
				default:
					fail("assign: %v", err)
				}
				continue
			}
			if tk := l.pick(r, "", true, nil); tk != nil {
				_, err := s.RevokeToken(ownerA, tk.id)
				if err != nil {
					fail("owner revoke %s: %v", tk.id, err)
				}
				l.settle(tk, err == nil)
			}
		}
	})

	// The same owner over SSH: assign and revoke with the command tree.
	go1(func(r *rand.Rand) {
		for i := range sshOps {
			l.ops.Add(1)
			u := w.users[r.IntN(len(w.users))]
			if r.IntN(2) == 0 && l.live(u.ID) < 18 {
				res := w.ssh(w.owner, fmt.Sprintf("token create --for %s --name ssh%d --json", u.Email, i))
				if res.code != 0 {
					if res.code == 1 && res.err == nil {
						l.rejected.Add(1) // e.g. the holder reached the limit meanwhile
						continue
					}
					fail("ssh assign: %v", res)
					continue
				}
				var toks []models.Token
				if err := json.Unmarshal([]byte(res.stdout), &toks); err != nil || len(toks) != 1 {
					fail("ssh assign output %q: %v", res.stdout, err)
					continue
				}
				l.add(toks[0].ID, toks[0].HolderID, "")
				l.assigned.Add(1)
				continue
			}
			if tk := l.pick(r, "", true, nil); tk != nil {
				res := w.ssh(w.owner, "token revoke "+tk.id)
				if res.code != 0 {
					fail("ssh revoke %s: %v", tk.id, res)
				}
				l.settle(tk, res.code == 0)
			}
		}
	})

	// Admins, in process: add people (who hold no tokens) and read the list.
	for ai, ad := range w.admins {
		a := store.Actor{UserID: ad.ID, Via: "console"}
		go1(func(r *rand.Rand) {
			for i := range adminOps {
				l.ops.Add(1)
				if r.IntN(3) == 0 {
					if _, err := s.ListUsers(a); err != nil {
						fail("admin list: %v", err)
					}
					continue
				}
				role := []models.Role{models.RoleUser, models.RoleStakeholder, models.RoleAdmin}[r.IntN(3)]
				_, err := s.AddUser(a, store.NewUser{Name: fmt.Sprintf("New %d-%d", ai, i), Email: fmt.Sprintf("new%d-%d@example.com", ai, i), Role: role})
				if err != nil {
					fail("admin add: %v", err)
					continue
				}
				l.usersAdded.Add(1)
			}
		})
	}

	// HTTP clients: exchanges and RFC 7009 revocations by secret.
	for range 2 {
		c := httpClient()
		go1(func(r *rand.Rand) {
			for range httpOps {
				l.ops.Add(1)
				if r.IntN(4) == 0 {
					if tk := l.pick(r, "", true, func(t *ltok) bool { return t.secret != "" }); tk != nil {
						code, err := revokeOverHTTP(c, w.base, tk.secret)
						if err != nil || code != http.StatusOK {
							fail("http revoke %s: %d %v", tk.id, code, err)
						}
						l.settle(tk, err == nil && code == http.StatusOK)
					}
					continue
				}
				if tk := l.pick(r, "", false, func(t *ltok) bool { return t.secret != "" }); tk != nil {
					access, code, err := exchange(c, w.base, tk.secret)
					switch {
					case err == nil && code == http.StatusOK:
						l.setAccess(tk, access)
					case !l.gone(tk):
						fail("http exchange of live %s: %d %v", tk.id, code, err)
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Revoke a few tokens that have minted access tokens, so the check at the
	// end always has something to refuse.
	for n := 0; n < 10; n++ {
		tk := l.pick(rand.New(rand.NewPCG(uint64(n), 1)), "", true, func(t *ltok) bool { return t.access != "" })
		if tk == nil {
			break
		}
		_, err := s.RevokeToken(ownerA, tk.id)
		if err != nil {
			t.Fatalf("revoke %s: %v", tk.id, err)
		}
		l.settle(tk, true)
		l.ops.Add(1)
	}

	total := l.ops.Load()
	t.Logf("operations: %d (created %d, assigned %d, revealed %d, revoked %d, users added %d, rejected at the limit %d)",
		total, l.created.Load(), l.assigned.Load(), l.revealed.Load(), l.revoked.Load(), l.usersAdded.Load(), l.rejected.Load())
	if !testing.Short() && total < 10_000 {
		t.Fatalf("only %d operations, want at least 10,000", total)
	}

	if problems, err := s.Check(); err != nil || len(problems) > 0 {
		t.Fatalf("check: %v %v", err, problems)
	}

	// Every token, its holder and its status are what the ledger says.
	got := map[string]store.TokenView{}
	err := s.EachToken(ownerA, store.TokenQuery{All: true}, func(v store.TokenView) error {
		got[v.ID] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(l.toks) {
		t.Errorf("store has %d tokens, clients were told of %d", len(got), len(l.toks))
	}
	liveWant, liveGot := map[string]int{}, map[string]int{}
	for id, lt := range l.toks {
		v, ok := got[id]
		switch {
		case !ok:
			t.Errorf("acknowledged token %s is missing", id)
		case v.HolderID != lt.holder:
			t.Errorf("token %s held by %s, want %s", id, v.HolderID, lt.holder)
		case lt.revoked != (v.Status == models.StatusRevoked):
			t.Errorf("token %s status %s, ledger revoked=%v", id, v.Status, lt.revoked)
		}
		if !lt.revoked {
			liveWant[lt.holder]++
		}
	}
	for _, v := range got {
		if v.Status.Usable() {
			liveGot[v.HolderID]++
		}
	}
	for _, u := range w.users {
		if liveGot[u.ID] != liveWant[u.ID] {
			t.Errorf("%s has %d usable tokens, want %d", u.Email, liveGot[u.ID], liveWant[u.ID])
		}
	}

	// The audit log holds one entry per acknowledged change, no more.
	types := map[string]int64{}
	entries, err := s.Audit(ownerA, store.AuditQuery{Limit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		types[e.Type]++
	}
	want := map[string]int64{
		models.AuditTokenCreated:  l.created.Load(),
		models.AuditTokenAssigned: l.assigned.Load(),
		models.AuditTokenRevealed: l.revealed.Load(),
		models.AuditTokenRevoked:  l.revoked.Load(),
		models.AuditUserAdded:     int64(len(w.admins)+len(w.users)) + l.usersAdded.Load(),
	}
	for typ, n := range want {
		if types[typ] != n {
			t.Errorf("audit has %d %s entries, want %d", types[typ], typ, n)
		}
	}
	users, err := s.ListUsers(ownerA)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + len(w.admins) + len(w.users) + int(l.usersAdded.Load()); len(users) != want {
		t.Errorf("%d users, want %d", len(users), want)
	}

	// Access tokens minted before a revoke are refused after it.
	c := httpClient()
	checked := 0
	for _, lt := range l.toks {
		if !lt.revoked || lt.access == "" || checked >= 40 {
			continue
		}
		checked++
		if code, err := whoAmI(c, w.base, lt.access); err != nil || code != http.StatusUnauthorized {
			t.Errorf("access token of revoked %s: %d %v, want 401", lt.id, code, err)
		}
	}
	if checked == 0 {
		t.Error("no revoked token had an access token to check")
	}
	t.Logf("revoked tokens whose access tokens were checked: %d", checked)
}
