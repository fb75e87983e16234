package store

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
)

// TestListIndexEqualsScan compares every page of random sorted and filtered
// listings from the index with the scan's, on a real bbolt store: after the
// build, after concurrent changes, and after the clock moves tokens to
// expired.
func TestListIndexEqualsScan(t *testing.T) {
	var clock atomic.Pointer[time.Time]
	start := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	clock.Store(&start)
	s, err := Open(t.TempDir(), Options{Now: func() time.Time { return *clock.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ou, err := s.Init(NewUser{Name: "Olive Owner", Email: "olive@example.com"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	owner := Actor{UserID: ou.ID, Via: "test"}
	rng := rand.New(rand.NewPCG(1, 17))
	names := []string{"Ada", "ada", "Bob Builder", "Çelik", "ZOË", "Dan", "eve", "Ada"}
	var people []string
	for i := range 12 {
		u, err := s.AddUser(owner, NewUser{Name: names[i%len(names)], Email: fmt.Sprintf("p%02d@Example.com", i), Role: models.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		people = append(people, u.ID)
	}
	if err := s.BulkLoad(owner, BulkSpec{Users: 20, TokensPerUser: 3, RevokedEveryNth: 5}); err != nil {
		t.Fatal(err)
	}
	tokNames := []string{"ci", "CI deploy", "Build", "backup", "zeta", "Ärger", "ci", "x"}
	var ids []string
	change := func(rng *rand.Rand) {
		switch rng.IntN(6) {
		case 0, 1:
			exp := time.Duration(rng.IntN(4)) * time.Duration(rng.IntN(3600)+1) * time.Second
			if rng.IntN(3) == 0 {
				exp += time.Duration(rng.IntN(1000)) * time.Millisecond
			}
			tok, _, err := s.CreateToken(owner, TokenSpec{Name: tokNames[rng.IntN(len(tokNames))], Expires: exp})
			if err == nil {
				ids = append(ids, tok.ID)
			}
		case 2:
			toks, err := s.AssignTokens(owner, []string{people[rng.IntN(len(people))]}, TokenSpec{Name: tokNames[rng.IntN(len(tokNames))]})
			if err == nil {
				for _, tok := range toks {
					ids = append(ids, tok.ID)
				}
			}
		case 3:
			if len(ids) > 0 {
				_, _ = s.RevokeToken(owner, ids[rng.IntN(len(ids))])
			}
		case 4:
			if len(ids) > 0 {
				_, _ = s.RenameToken(owner, ids[rng.IntN(len(ids))], tokNames[rng.IntN(len(tokNames))]+" r")
			}
		case 5:
			if len(ids) > 0 {
				if tok, _, err := s.RotateToken(owner, ids[rng.IntN(len(ids))]); err == nil {
					ids = append(ids, tok.ID)
				}
			}
		}
	}
	for range 120 {
		change(rng)
	}
	filters := []string{"", "", "a", "ADA", "ci", "tok_", "kdr", "…", "kdr_…", "active", "REV", "await", "expired", "rotated",
		"user", "admin", "example.com", "p0", "ç", "zoë", "unknown", "nothing-matches", "0", "Z", " ci "}
	sorts := []string{"", "name", "holder", "status", "expires"}
	compare := func(round string, n int) {
		t.Helper()
		for range n {
			q := TokenQuery{All: true, Sort: sorts[rng.IntN(len(sorts))], Desc: rng.IntN(2) == 0,
				Filter: filters[rng.IntN(len(filters))], Oldest: rng.IntN(2) == 0, Limit: 1 + rng.IntN(9)}
			for pages := 0; ; pages++ {
				got, gerr := s.ListTokens(owner, q)
				want, werr := s.scanPage(owner, q)
				if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: %+v page %d:\n got %v %s\nwant %v %s", round, q, pages, gerr, pageIDs(got), werr, pageIDs(want))
				}
				if want.Next == "" || pages > 200 {
					break
				}
				q.After = want.Next
			}
		}
	}
	compare("built", 150)
	if s.list.served.Load() == 0 {
		t.Fatal("the index answered no page")
	}

	// Changes while pages are read, then the same comparison.
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(2, 17))
		for {
			select {
			case <-done:
				return
			default:
			}
			q := TokenQuery{All: true, Sort: sorts[r.IntN(len(sorts))], Filter: filters[r.IntN(len(filters))], Limit: 5}
			if _, err := s.ListTokens(owner, q); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 150 {
		change(rng)
	}
	if _, err := s.RemoveUser(owner, people[0]); err != nil {
		t.Fatal(err)
	}
	close(done)
	wg.Wait()
	before := s.list.served.Load()
	compare("after changes", 150)
	if s.list.served.Load() == before {
		t.Fatal("the index answered no page after the changes")
	}

	// Time alone turns tokens expired: no commit marks them.
	later := start.Add(90 * time.Minute)
	clock.Store(&later)
	compare("later", 150)
}

func pageIDs(p TokenPage) string {
	out := ""
	for _, v := range p.Tokens {
		out += fmt.Sprintf(" %s(%q,%s,%s)", v.ID, v.Name, v.HolderName, v.Status)
	}
	return out + " next=" + fmt.Sprintf("%q", p.Next)
}
