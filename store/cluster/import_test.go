package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/etcdtest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

func importCSV(n int) string {
	var b strings.Builder
	b.WriteString("name,email,role\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "Person %d,p%d@example.com,user\n", i, i)
	}
	return b.String()
}

func countUsers(t *testing.T, s *store.Store, a store.Actor) int {
	t.Helper()
	us, err := s.ListUsers(a)
	if err != nil {
		t.Fatal(err)
	}
	return len(us)
}

func importAudits(t *testing.T, s *store.Store, a store.Actor) int {
	t.Helper()
	es, err := s.Audit(a, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.Type == models.AuditUsersImported {
			n++
		}
	}
	return n
}

// An import that fits one etcd transaction commits whole and is audited once.
func TestImportThatFitsOnEtcd(t *testing.T) {
	p := newPair(t, etcdtest.Shared(t))
	added, err := p.A.Import(p.OwnerA, strings.NewReader(importCSV(20)), false)
	if err != nil || len(added) != 20 {
		t.Fatalf("import of 20: %d added, %v", len(added), err)
	}
	if n := countUsers(t, p.B, p.OwnerA); n != 21 {
		t.Fatalf("B sees %d people, want 21", n)
	}
	if n := importAudits(t, p.A, p.OwnerA); n != 1 {
		t.Fatalf("%d import audit entries, want 1", n)
	}
}

// A 5,000-row import is far bigger than one etcd transaction: it is staged
// and made visible at once. A dry run reports the same people as the real
// run and writes nothing; B, reading all along, sees all of it or none; one
// import audit entry; B's subscribers get the import as one event naming
// every person added.
func TestImport5000OnEtcdAllOrNone(t *testing.T) {
	const rows = 5000
	p := newPair(t, etcdtest.Shared(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := p.EB.WaitFresh(ctx); err != nil {
		t.Fatalf("B's cache never proved fresh: %+v", p.EB.Freshness())
	}
	dry, err := p.A.Import(p.OwnerA, strings.NewReader(importCSV(rows)), true)
	if err != nil || len(dry) != rows {
		t.Fatalf("dry run of %d: %d people, %v", rows, len(dry), err)
	}
	if n := countUsers(t, p.B, p.OwnerA); n != 1 {
		t.Fatalf("after a dry run B sees %d people, want only the owner", n)
	}
	events, stop := p.B.Subscribe()
	defer stop()

	done := make(chan struct{})
	type look struct{ none, all int }
	looked := make(chan look, 1)
	go func() { // B reads until the import has returned, and once more
		var l look
		for last := false; !last; {
			select {
			case <-done:
				last = true
			default:
			}
			us, err := p.B.ListUsers(p.OwnerA)
			if err != nil {
				t.Error(err)
				break
			}
			switch len(us) {
			case 1:
				l.none++
			case rows + 1:
				l.all++
			default:
				t.Errorf("B saw %d people: part of the import", len(us))
				last = true
			}
		}
		looked <- l
	}()
	start := time.Now()
	added, err := p.A.Import(p.OwnerA, strings.NewReader(importCSV(rows)), false)
	took := time.Since(start)
	close(done)
	l := <-looked
	if err != nil || len(added) != rows {
		t.Fatalf("import of %d: %d added, %v", rows, len(added), err)
	}
	t.Logf("import of %d rows on etcd: %v (%d staged commits, %d commits on A); B looked %d times before, %d after",
		rows, took.Round(time.Millisecond), p.EA.Stats().Staged.Load(), p.EA.Stats().Commits.Load(), l.none, l.all)
	if l.all == 0 {
		t.Fatal("B never saw the import")
	}
	for i := range added {
		if added[i].Email != dry[i].Email || added[i].Name != dry[i].Name {
			t.Fatalf("row %d: dry run reported %s, the import added %s", i, dry[i].Email, added[i].Email)
		}
	}
	if n := importAudits(t, p.B, p.OwnerA); n != 1 {
		t.Fatalf("%d import audit entries, want 1", n)
	}
	want := map[string]bool{}
	for _, u := range added {
		want[u.ID] = true
	}
	for got := false; !got; {
		select {
		case ev := <-events:
			switch ev.Type {
			case models.AuditUserAdded:
				t.Fatalf("B published a user_added event for part of the import: %+v", ev)
			case models.AuditUsersImported:
				got = true
				for _, id := range ev.UserIDs {
					delete(want, id)
				}
				if len(want) != 0 {
					t.Fatalf("B's import event misses %d of the %d people", len(want), rows)
				}
			}
		case <-ctx.Done():
			t.Fatal("no import event on B")
		}
	}
}

// One email that already exists among 300 rows: every bad line is reported
// (validation comes before the size check), the error names the line, and
// nothing is imported.
func TestImport300WithDuplicateOnEtcdNamesLine(t *testing.T) {
	p := newPair(t, etcdtest.Shared(t))
	if _, err := p.B.AddUser(p.OwnerA, store.NewUser{Name: "Taken", Email: "p150@example.com", Role: models.RoleUser}); err != nil {
		t.Fatal(err)
	}
	_, err := p.A.Import(p.OwnerA, strings.NewReader(importCSV(300)), false)
	var ie *store.ImportError
	if !errors.As(err, &ie) || len(ie.Lines) != 1 || ie.Lines[0].Line != 152 {
		t.Fatalf("import with p150 taken: %v, want one bad line 152", err)
	}
	if !strings.Contains(err.Error(), "line 152") {
		t.Fatalf("message %q does not name line 152", err)
	}
	if n := countUsers(t, p.A, p.OwnerA); n != 2 {
		t.Fatalf("%d people, want the owner and Taken only", n)
	}
}

// An import on A racing an add of one of its emails on B: exactly one wins
// the email, and the import is all or nothing.
func TestImportRacesAddOnOtherServer(t *testing.T) { raceImport(t, 20, 10) }

// The same with an import too big for one etcd transaction (staged).
func TestStagedImportRacesAddOnOtherServer(t *testing.T) { raceImport(t, 400, 4) }

func raceImport(t *testing.T, rows, rounds int) {
	p := newPair(t, etcdtest.Shared(t))
	importWon := 0
	defer func() { t.Logf("the import of %d won %d of %d rounds", rows, importWon, rounds) }()
	for round := 0; round < rounds; round++ {
		email := fmt.Sprintf("r%d-p%d@example.com", round, rows/2)
		var csv strings.Builder
		csv.WriteString("name,email,role\n")
		for i := 0; i < rows; i++ {
			fmt.Fprintf(&csv, "Person %d,r%d-p%d@example.com,user\n", i, round, i)
		}
		var wg sync.WaitGroup
		var impErr, addErr error
		var added []models.User
		wg.Add(2)
		go func() {
			defer wg.Done()
			added, impErr = p.A.Import(p.OwnerA, strings.NewReader(csv.String()), false)
		}()
		go func() {
			defer wg.Done()
			_, addErr = p.B.AddUser(p.OwnerA, store.NewUser{Name: "Racer", Email: email, Role: models.RoleUser})
		}()
		wg.Wait()
		if (impErr == nil) == (addErr == nil) {
			t.Fatalf("round %d: import %v, add %v: want exactly one winner", round, impErr, addErr)
		}
		us, err := p.A.ListUsers(p.OwnerA)
		if err != nil {
			t.Fatal(err)
		}
		n, holders := 0, 0
		for _, u := range us {
			if strings.HasPrefix(u.Email, fmt.Sprintf("r%d-", round)) {
				n++
			}
			if u.Email == email {
				holders++
			}
		}
		want := 1 // the racer only
		if impErr == nil {
			want = rows
			importWon++
			if len(added) != rows {
				t.Fatalf("round %d: import returned %d people", round, len(added))
			}
		}
		if n != want || holders != 1 {
			t.Fatalf("round %d (import %v): %d of this round's people, %d holders of %s; want %d and 1", round, impErr, n, holders, email, want)
		}
	}
}
