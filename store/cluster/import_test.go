package cluster_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/keydesk/keydesk/internal/etcdtest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/kv"
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

// An import of 300 people does not fit one etcd transaction: until staging
// exists it is refused in one line that says how to split the file, dry run
// and real alike, and nothing is written or audited.
func TestImport300OnEtcdRefusedWhole(t *testing.T) {
	p := newPair(t, etcdtest.Shared(t))
	for _, dry := range []bool{true, false} {
		_, err := p.A.Import(p.OwnerA, strings.NewReader(importCSV(300)), dry)
		if !errors.Is(err, kv.ErrTooLarge) || !errors.Is(err, models.ErrInvalid) {
			t.Fatalf("dry=%v: %v, want ErrInvalid and ErrTooLarge", dry, err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "300 people") ||
			!strings.Contains(msg, "at most 20 rows") {
			t.Fatalf("dry=%v: message %q, want one line naming 300 people and at most 20 rows", dry, msg)
		}
		t.Logf("dry=%v: %v", dry, err)
	}
	if n := countUsers(t, p.A, p.OwnerA); n != 1 {
		t.Fatalf("%d people after a refused import, want only the owner", n)
	}
	if n := importAudits(t, p.A, p.OwnerA); n != 0 {
		t.Fatalf("%d import audit entries after a refused import, want 0", n)
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
func TestImportRacesAddOnOtherServer(t *testing.T) {
	p := newPair(t, etcdtest.Shared(t))
	importWon := 0
	defer func() { t.Logf("the import won %d of 10 rounds", importWon) }()
	for round := 0; round < 10; round++ {
		email := fmt.Sprintf("r%d-p7@example.com", round)
		var csv strings.Builder
		csv.WriteString("name,email,role\n")
		for i := 0; i < 20; i++ {
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
			want = 20
			importWon++
			if len(added) != 20 {
				t.Fatalf("round %d: import returned %d people", round, len(added))
			}
		}
		if n != want || holders != 1 {
			t.Fatalf("round %d (import %v): %d of this round's people, %d holders of %s; want %d and 1", round, impErr, n, holders, email, want)
		}
	}
}
