package storetest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/kv/bolt"
)

func testBadInputLosesNothing(t *testing.T, o *Org) {
	before := auditTypes(t, o.S, o.OwnerA)
	bad := []func() error{
		func() error {
			_, _, err := o.S.CreateToken(o.UserA, store.TokenSpec{Name: "\x1b]52;c;AAAA\x07"})
			return err
		},
		func() error {
			_, _, err := o.S.CreateToken(o.UserA, store.TokenSpec{Name: strings.Repeat("n", 10000)})
			return err
		},
		func() error {
			_, err := o.S.AddUser(o.OwnerA, store.NewUser{Name: "Dup", Email: "UMA@example.com", Role: models.RoleUser})
			return err
		},
		func() error {
			_, err := o.S.AddUser(o.OwnerA, store.NewUser{Name: "K", Email: "k@example.com", Role: models.RoleUser, Keys: []string{"ssh-ed25519 AAAAbogus"}})
			return err
		},
		func() error { _, err := o.S.AddKey(o.OwnerA, o.User.Email, "not a key"); return err },
		func() error { _, err := o.S.RevokeToken(o.OwnerA, "tok_missing"); return err },
	}
	for i, f := range bad {
		err := f()
		if err == nil {
			t.Fatalf("case %d accepted", i)
		}
		if strings.Contains(err.Error(), "\n") || strings.ContainsRune(err.Error(), 0x1b) {
			t.Fatalf("case %d: error is not one safe line: %q", i, err)
		}
	}
	after := auditTypes(t, o.S, o.OwnerA)
	if len(before) != len(after) {
		t.Fatalf("audit changed: %v → %v", before, after)
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("audit changed: %v → %v", before, after)
		}
	}
}

// testFaultBeforeCommitLeavesNothing injects a failure after a change and its
// audit entry are written but before commit: neither may survive.
func testFaultBeforeCommitLeavesNothing(t *testing.T, o *Org) {
	boom := errInjected
	o.failWrites(boom)
	if _, _, err := o.S.CreateToken(o.UserA, store.TokenSpec{Name: "doomed"}); !errors.Is(err, boom) {
		t.Fatalf("create: %v", err)
	}
	if _, err := o.S.AssignTokens(o.OwnerA, []string{o.User.Email, o.Admin.Email}, store.TokenSpec{Name: "doomed"}); !errors.Is(err, boom) {
		t.Fatalf("assign: %v", err)
	}
	if _, err := o.S.SetRole(o.OwnerA, o.User.Email, models.RoleAdmin); !errors.Is(err, boom) {
		t.Fatalf("set-role: %v", err)
	}
	o.failWrites(nil)
	page, err := o.S.ListTokens(o.OwnerA, store.TokenQuery{All: true})
	if err != nil || len(page.Tokens) != 0 {
		t.Fatalf("tokens survived the fault: %v %v", page.Tokens, err)
	}
	if u, _ := o.S.User(o.User.Email); u.Role != models.RoleUser {
		t.Fatalf("role change survived: %s", u.Role)
	}
	types := auditTypes(t, o.S, o.OwnerA)
	if types[models.AuditTokenCreated]+types[models.AuditTokenAssigned]+types[models.AuditRoleChanged] != 0 {
		t.Fatalf("audit entries survived: %v", types)
	}
	// The store still works afterwards.
	mustCreate(t, o.S, o.UserA, "fine")
}

func testBackupDuringWrites(t *testing.T, o *Org) {
	stop := o.churn(t, o.OwnerA, 1)
	defer stop()
	out := filepath.Join(t.TempDir(), "backup.db")
	for i := 0; i < 3; i++ {
		var buf bytes.Buffer
		if _, err := o.S.Backup(o.OwnerA, &buf); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		// Every engine exports keydesk's backup format, a bbolt file: it
		// opens as a store of its own and is sound.
		checkBackup(t, out, o.secrets, i)
	}
}

func testImportAllOrNothing(t *testing.T, o *Org) {
	csv := "name,email,role\nAnn,ann@example.com,user\nBob,bob@example.com,admin\nCy,not-an-email,user\n"
	_, err := o.S.ImportUsers(o.OwnerA, strings.NewReader(csv))
	if err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("want an error naming line 4 (the third data row), got %v", err)
	}
	csv3 := "Ann,ann@example.com,user\nBob,bob@example.com,admin\nCy,not-an-email,user\n"
	_, err = o.S.ImportUsers(o.OwnerA, strings.NewReader(csv3))
	if err == nil || !strings.Contains(err.Error(), "line 3:") {
		t.Fatalf("want line 3, got %v", err)
	}
	if _, err := o.S.User("ann@example.com"); !errors.Is(err, models.ErrNotFound) {
		t.Fatal("a failed import left a user behind")
	}
	for _, bad := range []string{
		"Ann,ann@example.com,owner\n",
		"Ann,ann@example.com,user\nAnn2,ANN@example.com,user\n",
		"Ann,uma@example.com,user\n",
		"Ann,ann@example.com\n",
		"\"unterminated,ann@example.com,user\n",
	} {
		if _, err := o.S.ImportUsers(o.OwnerA, strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	n, err := o.S.ImportUsers(o.OwnerA, strings.NewReader("Ann,ann@example.com,user\nBob,bob@example.com,admin\n"))
	if err != nil || n != 2 {
		t.Fatalf("import %d %v", n, err)
	}
	if _, err := o.S.ImportUsers(o.UserA, strings.NewReader("Cy,cy@example.com,user\n")); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("user imported: %v", err)
	}
}

func testEventsAfterCommit(t *testing.T, o *Org) {
	ch, cancel := o.S.Subscribe()
	defer cancel()
	tok, _ := mustCreate(t, o.S, o.UserA, "ev")
	if _, err := o.S.RevokeToken(o.OwnerA, tok.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Type == models.AuditTokenRevoked && len(ev.TokenIDs) == 1 && ev.TokenIDs[0] == tok.ID {
				v, err := o.S.Token(o.UserA, tok.ID)
				if err != nil || v.Status != models.StatusRevoked {
					t.Fatalf("event arrived before the change was visible: %v %v", v.Status, err)
				}
				return
			}
		case <-deadline:
			t.Fatal("no revoke event")
		}
	}
}

func testBulkLoadMatchesOrdinaryRecords(t *testing.T, o *Org) {
	if err := o.S.BulkLoad(o.AdminA, store.BulkSpec{Users: 3, TokensPerUser: 2}); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("admin bulk-loaded: %v", err)
	}
	if err := o.S.BulkLoad(o.OwnerA, store.BulkSpec{Users: 50, TokensPerUser: 3, BatchSize: 40, RevokedEveryNth: 7}); err != nil {
		t.Fatal(err)
	}
	if p, err := o.S.Check(); err != nil || len(p) != 0 {
		t.Fatalf("check after bulk load: %v %v", p, err)
	}
	users, _ := o.S.ListUsers(o.OwnerA)
	if len(users) != 54 {
		t.Fatalf("%d users", len(users))
	}
	n := 0
	revoked := 0
	if err := o.S.EachToken(o.OwnerA, store.TokenQuery{All: true}, func(v store.TokenView) error {
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
	u, err := o.S.User("person000003@bulk.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.S.LiveTokenCount(o.OwnerA, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := o.S.RevokeAllOf(o.OwnerA, u.Email); err != nil {
		t.Fatal(err)
	}
}

// checkBackup opens the backup file at path as a store and checks it: sound,
// with the backup's own audit entry in it.
func checkBackup(t *testing.T, path string, sec store.Secrets, i int) {
	t.Helper()
	e, err := bolt.Open(path, store.Buckets(), bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.OpenEngine(e, sec, store.Options{})
	if err != nil {
		e.Close()
		t.Fatalf("backup %d does not open: %v", i, err)
	}
	defer s.Close()
	if p, err := s.Check(); err != nil || len(p) > 0 {
		t.Fatalf("backup %d fails check: %v %q", i, err, p)
	}
	owner, err := s.Owner()
	if err != nil {
		t.Fatal(err)
	}
	if n := auditTypes(t, s, store.Actor{UserID: owner.ID})[models.AuditBackup]; n != i+1 {
		t.Fatalf("backup %d holds %d backup entries, want %d (its own included)", i, n, i+1)
	}
}
