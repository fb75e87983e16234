package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	bolt "go.etcd.io/bbolt"
)

func TestSecretNeverStoredInDB(t *testing.T) {
	o := newOrg(t)
	_, secret, err := o.s.CreateToken(o.userA, store.TokenSpec{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	assigned, err := o.s.AssignTokens(o.ownerA, []string{o.admin.Email}, store.TokenSpec{Name: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	revealed, err := o.s.RevealToken(o.adminA, assigned[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	// A second assignment stays sealed in the file: its plaintext must not be there either.
	sealed, err := o.s.AssignTokens(o.ownerA, []string{o.user.Email}, store.TokenSpec{Name: "sealed"})
	if err != nil {
		t.Fatal(err)
	}
	o.s.Close()
	db, err := os.ReadFile(filepath.Join(o.dir, store.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range []string{secret, revealed} {
		for _, part := range []string{sec, sec[4:30], sec[20:47]} {
			if bytes.Contains(db, []byte(part)) {
				t.Fatalf("database file contains token text %q", part)
			}
		}
	}
	// Reopen and reveal the sealed one: it decrypts, proving it was sealed, not lost.
	s2, err := store.Open(o.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	plain, err := s2.RevealToken(o.userA, sealed[0].ID)
	if err != nil || !strings.HasPrefix(plain, "kdr_") {
		t.Fatalf("reveal after reopen: %q, %v", plain, err)
	}
	if bytes.Contains(db, []byte(plain[4:30])) {
		t.Fatal("sealed token's plaintext is in the file")
	}
	if fi, _ := os.Stat(filepath.Join(o.dir, store.DBFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("db mode %v", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Join(o.dir, "secrets")); fi.Mode().Perm() != 0o700 {
		t.Fatalf("secrets mode %v", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Join(o.dir, "secrets", "pepper")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("pepper mode %v", fi.Mode().Perm())
	}
}

func TestAssignRevealOnce(t *testing.T) {
	o := newOrg(t)
	toks, err := o.s.AssignTokens(o.ownerA, []string{o.user.Email, o.admin.ID}, store.TokenSpec{Name: "deploy", Expires: 30 * 24 * time.Hour})
	if err != nil || len(toks) != 2 {
		t.Fatalf("assign: %v %v", toks, err)
	}
	v, err := o.s.Token(o.userA, toks[0].ID)
	if err != nil || v.Status != models.StatusAwaitingReveal || v.CreatorName != o.owner.Name || !v.Assigned {
		t.Fatalf("view %+v %v", v, err)
	}
	if _, err := o.s.RevealToken(o.ownerA, toks[0].ID); err == nil {
		t.Fatal("the owner who assigned it revealed the secret")
	}
	if _, err := o.s.RevealToken(o.adminA, toks[0].ID); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("another admin revealed someone's token: %v", err)
	}
	sec, err := o.s.RevealToken(o.userA, toks[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.s.RevealToken(o.userA, toks[0].ID); !errors.Is(err, models.ErrAlreadyRevealed) {
		t.Fatalf("second reveal: %v", err)
	}
	p, err := o.s.Exchange(sec, "10.0.0.1")
	if err != nil || p.User.ID != o.user.ID || p.Role != models.RoleUser {
		t.Fatalf("exchange %+v %v", p, err)
	}
	types := auditTypes(t, o.s, o.ownerA)
	if types[models.AuditTokenAssigned] != 2 || types[models.AuditTokenRevealed] != 1 {
		t.Fatalf("audit %v", types)
	}
}

func TestAssignOnlyToUsersAndAdmins(t *testing.T) {
	o := newOrg(t)
	for _, target := range []string{o.stake.Email, o.owner.Email} {
		if _, err := o.s.AssignTokens(o.ownerA, []string{o.user.Email, target}, store.TokenSpec{Name: "x"}); !errors.Is(err, models.ErrPermission) {
			t.Fatalf("assign to %s: %v", target, err)
		}
	}
	// All or none: the user in the same call got nothing.
	page, _ := o.s.ListTokens(o.userA, store.TokenQuery{})
	if len(page.Tokens) != 0 {
		t.Fatal("a failed multi-assign left tokens behind")
	}
	if _, err := o.s.AssignTokens(o.adminA, []string{o.user.Email}, store.TokenSpec{Name: "x"}); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("admin assigned: %v", err)
	}
	as, err := o.s.Assignees(o.ownerA)
	if err != nil || len(as) != 2 {
		t.Fatalf("assignees %v %v", as, err)
	}
	for _, u := range as {
		if !u.Role.Assignable() {
			t.Fatalf("picker offers %s", u.Role)
		}
	}
	if _, err := o.s.Assignees(o.adminA); err == nil {
		t.Fatal("admin got the picker list")
	}
}

func TestRemovalAndDemotionRevoke(t *testing.T) {
	o := newOrg(t)
	_, userSecret := mustCreate(t, o.s, o.userA, "u1")
	mustCreate(t, o.s, o.userA, "u2")
	_, adminSecret := mustCreate(t, o.s, o.adminA, "a1")

	n, err := o.s.SetRole(o.adminA, o.user.Email, models.RoleStakeholder)
	if err != nil || n != 2 {
		t.Fatalf("demote: %d %v", n, err)
	}
	if _, err := o.s.Exchange(userSecret, "x"); !errors.Is(err, models.ErrUnauthenticated) {
		t.Fatalf("demoted user's token still works: %v", err)
	}
	n, err = o.s.RemoveUser(o.ownerA, o.admin.Email)
	if err != nil || n != 1 {
		t.Fatalf("remove: %d %v", n, err)
	}
	if _, err := o.s.Exchange(adminSecret, "x"); !errors.Is(err, models.ErrUnauthenticated) {
		t.Fatalf("removed admin's token still works: %v", err)
	}
	if _, _, err := o.s.CreateToken(o.adminA, store.TokenSpec{Name: "z"}); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("removed admin acted: %v", err)
	}
	// The email is free again.
	if _, err := o.s.AddUser(o.ownerA, store.NewUser{Name: "Ada Again", Email: o.admin.Email, Role: models.RoleUser}); err != nil {
		t.Fatal(err)
	}
	types := auditTypes(t, o.s, o.ownerA)
	if types[models.AuditTokenRevoked] != 3 || types[models.AuditUserRemoved] != 1 || types[models.AuditRoleChanged] != 1 {
		t.Fatalf("audit %v", types)
	}
}

func TestDemotedAdminTokenActsAsUser(t *testing.T) {
	o := newOrg(t)
	tok, secret := mustCreate(t, o.s, o.adminA, "ops")
	p, err := o.s.Exchange(secret, "x")
	if err != nil || p.Role != models.RoleAdmin {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := o.s.CheckAccess(tok.ID, o.admin.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := o.s.SetRole(o.ownerA, o.admin.Email, models.RoleUser); err != nil {
		t.Fatal(err)
	}
	p, err = o.s.CheckAccess(tok.ID, o.admin.ID)
	if err != nil || p.Role != models.RoleUser {
		t.Fatalf("after demotion: %+v %v", p, err)
	}
	// Promoting back does not lift a token above the role it was made with...
	if _, err := o.s.SetRole(o.ownerA, o.admin.Email, models.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if p, _ := o.s.CheckAccess(tok.ID, o.admin.ID); p.Role != models.RoleAdmin {
		t.Fatalf("re-promoted: %s", p.Role)
	}
	// ...and a user's token never acts as admin after promotion.
	utok, _ := mustCreate(t, o.s, o.userA, "u")
	if _, err := o.s.SetRole(o.ownerA, o.user.Email, models.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if p, _ := o.s.CheckAccess(utok.ID, o.user.ID); p.Role != models.RoleUser {
		t.Fatalf("promoted user's old token acts as %s", p.Role)
	}
	if _, err := o.s.CheckAccess(tok.ID, o.user.ID); err == nil {
		t.Fatal("token accepted for a subject who does not hold it")
	}
}

func TestStoreEnforcesMatrix(t *testing.T) {
	o := newOrg(t)
	tok, _ := mustCreate(t, o.s, o.userA, "mine")
	cases := []struct {
		name string
		do   func() error
		ok   bool
	}{
		{"stakeholder generates", func() error { _, _, err := o.s.CreateToken(o.stakeA, store.TokenSpec{Name: "x"}); return err }, false},
		{"user lists all", func() error { _, err := o.s.ListTokens(o.userA, store.TokenQuery{All: true}); return err }, false},
		{"admin lists all", func() error { _, err := o.s.ListTokens(o.adminA, store.TokenQuery{All: true}); return err }, false},
		{"owner lists all", func() error { _, err := o.s.ListTokens(o.ownerA, store.TokenQuery{All: true}); return err }, true},
		{"admin revokes user's token", func() error { _, err := o.s.RevokeToken(o.adminA, tok.ID); return err }, false},
		{"user reads audit", func() error { _, err := o.s.Audit(o.userA, store.AuditQuery{}); return err }, false},
		{"admin reads audit", func() error { _, err := o.s.Audit(o.adminA, store.AuditQuery{}); return err }, true},
		{"user adds user", func() error {
			_, err := o.s.AddUser(o.userA, store.NewUser{Name: "X", Email: "x@example.com", Role: models.RoleUser})
			return err
		}, false},
		{"admin adds admin", func() error {
			_, err := o.s.AddUser(o.adminA, store.NewUser{Name: "Y", Email: "y@example.com", Role: models.RoleAdmin})
			return err
		}, true},
		{"admin adds owner", func() error {
			_, err := o.s.AddUser(o.adminA, store.NewUser{Name: "Z", Email: "z@example.com", Role: models.RoleOwner})
			return err
		}, false},
		{"admin demotes owner", func() error { _, err := o.s.SetRole(o.adminA, o.owner.Email, models.RoleUser); return err }, false},
		{"admin removes owner", func() error { _, err := o.s.RemoveUser(o.adminA, o.owner.Email); return err }, false},
		{"admin transfers ownership", func() error { return o.s.TransferOwnership(o.adminA, o.user.Email) }, false},
		{"user backs up", func() error { _, err := o.s.Backup(o.userA, &bytes.Buffer{}); return err }, false},
		{"admin revokes all of user", func() error { _, err := o.s.RevokeAllOf(o.adminA, o.user.Email); return err }, false},
		{"user rotates own", func() error { _, _, err := o.s.RotateToken(o.userA, tok.ID); return err }, true},
		{"owner revokes user's token", func() error { _, err := o.s.RevokeToken(o.ownerA, tok.ID); return err }, true},
	}
	for _, c := range cases {
		err := c.do()
		if (err == nil) != c.ok {
			t.Errorf("%s: err=%v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !c.ok && !errors.Is(err, models.ErrPermission) && !errors.Is(err, models.ErrNotFound) {
			t.Errorf("%s: refusal %v is neither permission nor not-found", c.name, err)
		}
	}
}

func TestTransferOwnership(t *testing.T) {
	o := newOrg(t)
	if err := o.s.TransferOwnership(o.ownerA, o.stake.Email); err == nil {
		t.Fatal("transferred to a stakeholder")
	}
	if err := o.s.TransferOwnership(o.ownerA, o.admin.Email); err != nil {
		t.Fatal(err)
	}
	owner, _ := o.s.Owner()
	old, _ := o.s.User(o.owner.Email)
	if owner.ID != o.admin.ID || old.Role != models.RoleAdmin {
		t.Fatalf("owner %s, old %s", owner.Email, old.Role)
	}
	users, _ := o.s.ListUsers(o.adminA)
	owners := 0
	for _, u := range users {
		if u.Role == models.RoleOwner {
			owners++
		}
	}
	if owners != 1 {
		t.Fatalf("%d owners", owners)
	}
}

func TestRotationGraceAndReuse(t *testing.T) {
	o := newOrg(t)
	old, oldSecret := mustCreate(t, o.s, o.userA, "rot")
	nt, newSecret, err := o.s.RotateToken(o.userA, old.ID)
	if err != nil || nt.Name != "rot" || nt.ID == old.ID {
		t.Fatalf("rotate %v %v", nt, err)
	}
	if _, err := o.s.Exchange(oldSecret, "a"); err != nil {
		t.Fatalf("old secret in grace: %v", err)
	}
	o.clock.Advance(11 * time.Minute)
	if _, err := o.s.Exchange(oldSecret, "a"); !errors.Is(err, models.ErrUnauthenticated) {
		t.Fatalf("old secret after grace: %v", err)
	}
	if _, err := o.s.Exchange(newSecret, "a"); err != nil {
		t.Fatal(err)
	}
	if auditTypes(t, o.s, o.ownerA)[models.AuditTokenReuse] != 1 {
		t.Fatal("no reuse entry")
	}
}

func TestExpiryAndLimit(t *testing.T) {
	o := newOrg(t)
	_, sec := mustCreateSpec(t, o.s, o.userA, store.TokenSpec{Name: "short", Expires: time.Hour})
	o.clock.Advance(2 * time.Hour)
	if _, err := o.s.Exchange(sec, "x"); !errors.Is(err, models.ErrUnauthenticated) {
		t.Fatalf("expired token works: %v", err)
	}
	for i := 0; i < models.MaxTokensActive; i++ {
		mustCreate(t, o.s, o.userA, "t")
	}
	if _, _, err := o.s.CreateToken(o.userA, store.TokenSpec{Name: "one too many"}); !errors.Is(err, models.ErrLimit) {
		t.Fatalf("limit: %v", err)
	}
}

func TestBadInputLosesNothing(t *testing.T) {
	o := newOrg(t)
	before := auditTypes(t, o.s, o.ownerA)
	bad := []func() error{
		func() error {
			_, _, err := o.s.CreateToken(o.userA, store.TokenSpec{Name: "\x1b]52;c;AAAA\x07"})
			return err
		},
		func() error {
			_, _, err := o.s.CreateToken(o.userA, store.TokenSpec{Name: strings.Repeat("n", 10000)})
			return err
		},
		func() error {
			_, err := o.s.AddUser(o.ownerA, store.NewUser{Name: "Dup", Email: "UMA@example.com", Role: models.RoleUser})
			return err
		},
		func() error {
			_, err := o.s.AddUser(o.ownerA, store.NewUser{Name: "K", Email: "k@example.com", Role: models.RoleUser, Keys: []string{"ssh-ed25519 AAAAbogus"}})
			return err
		},
		func() error { _, err := o.s.AddKey(o.ownerA, o.user.Email, "not a key"); return err },
		func() error { _, err := o.s.RevokeToken(o.ownerA, "tok_missing"); return err },
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
	after := auditTypes(t, o.s, o.ownerA)
	if len(before) != len(after) {
		t.Fatalf("audit changed: %v → %v", before, after)
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("audit changed: %v → %v", before, after)
		}
	}
}

// TestFaultBeforeCommitLeavesNothing injects a failure after a change and its
// audit entry are written but before commit: neither may survive.
func TestFaultBeforeCommitLeavesNothing(t *testing.T) {
	o := newOrg(t)
	boom := errors.New("injected fault")
	o.s.SetFaultHook(func(op string) error { return boom })
	if _, _, err := o.s.CreateToken(o.userA, store.TokenSpec{Name: "doomed"}); !errors.Is(err, boom) {
		t.Fatalf("create: %v", err)
	}
	if _, err := o.s.AssignTokens(o.ownerA, []string{o.user.Email, o.admin.Email}, store.TokenSpec{Name: "doomed"}); !errors.Is(err, boom) {
		t.Fatalf("assign: %v", err)
	}
	if _, err := o.s.SetRole(o.ownerA, o.user.Email, models.RoleAdmin); !errors.Is(err, boom) {
		t.Fatalf("set-role: %v", err)
	}
	o.s.SetFaultHook(nil)
	page, err := o.s.ListTokens(o.ownerA, store.TokenQuery{All: true})
	if err != nil || len(page.Tokens) != 0 {
		t.Fatalf("tokens survived the fault: %v %v", page.Tokens, err)
	}
	if u, _ := o.s.User(o.user.Email); u.Role != models.RoleUser {
		t.Fatalf("role change survived: %s", u.Role)
	}
	types := auditTypes(t, o.s, o.ownerA)
	if types[models.AuditTokenCreated]+types[models.AuditTokenAssigned]+types[models.AuditRoleChanged] != 0 {
		t.Fatalf("audit entries survived: %v", types)
	}
	// The store still works afterwards.
	mustCreate(t, o.s, o.userA, "fine")
}

func TestSecondOpenFailsFast(t *testing.T) {
	o := newOrg(t)
	start := time.Now()
	_, err := store.Open(o.dir, store.Options{})
	took := time.Since(start)
	if !errors.Is(err, models.ErrInUse) {
		t.Fatalf("second open: %v", err)
	}
	if took > 3*time.Second {
		t.Fatalf("second open took %v", took)
	}
	if !strings.Contains(err.Error(), "ssh") {
		t.Fatalf("message does not say how to reach the server: %v", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(filepath.Join(dir, store.DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{0, 0, 0, 0, 0, 0, 0, 99})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(dir, store.Options{}); !errors.Is(err, models.ErrSchemaTooNew) {
		t.Fatalf("newer schema: %v", err)
	}
}

func TestBackupDuringWrites(t *testing.T) {
	o := newOrg(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tok, _, err := o.s.CreateToken(o.ownerA, store.TokenSpec{Name: "w"})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := o.s.RevokeToken(o.ownerA, tok.ID); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	out := filepath.Join(t.TempDir(), "backup.db")
	for i := 0; i < 3; i++ {
		var buf bytes.Buffer
		if _, err := o.s.Backup(o.ownerA, &buf); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(out, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			if tx.Bucket([]byte("tokens")) == nil {
				return errors.New("no tokens bucket")
			}
			return nil
		})
		db.Close()
		if err != nil {
			t.Fatalf("backup %d fails check: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestImportAllOrNothing(t *testing.T) {
	o := newOrg(t)
	csv := "name,email,role\nAnn,ann@example.com,user\nBob,bob@example.com,admin\nCy,not-an-email,user\n"
	_, err := o.s.ImportUsers(o.ownerA, strings.NewReader(csv))
	if err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("want an error naming line 4 (the third data row), got %v", err)
	}
	csv3 := "Ann,ann@example.com,user\nBob,bob@example.com,admin\nCy,not-an-email,user\n"
	_, err = o.s.ImportUsers(o.ownerA, strings.NewReader(csv3))
	if err == nil || !strings.Contains(err.Error(), "line 3:") {
		t.Fatalf("want line 3, got %v", err)
	}
	if _, err := o.s.User("ann@example.com"); !errors.Is(err, models.ErrNotFound) {
		t.Fatal("a failed import left a user behind")
	}
	for _, bad := range []string{
		"Ann,ann@example.com,owner\n",
		"Ann,ann@example.com,user\nAnn2,ANN@example.com,user\n",
		"Ann,uma@example.com,user\n",
		"Ann,ann@example.com\n",
		"\"unterminated,ann@example.com,user\n",
	} {
		if _, err := o.s.ImportUsers(o.ownerA, strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	n, err := o.s.ImportUsers(o.ownerA, strings.NewReader("Ann,ann@example.com,user\nBob,bob@example.com,admin\n"))
	if err != nil || n != 2 {
		t.Fatalf("import %d %v", n, err)
	}
	if _, err := o.s.ImportUsers(o.userA, strings.NewReader("Cy,cy@example.com,user\n")); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("user imported: %v", err)
	}
}

func TestEventsAfterCommit(t *testing.T) {
	o := newOrg(t)
	ch, cancel := o.s.Subscribe()
	defer cancel()
	tok, _ := mustCreate(t, o.s, o.userA, "ev")
	if _, err := o.s.RevokeToken(o.ownerA, tok.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Type == models.AuditTokenRevoked && len(ev.TokenIDs) == 1 && ev.TokenIDs[0] == tok.ID {
				v, err := o.s.Token(o.userA, tok.ID)
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

func TestLastUsedCoalescedAndFlushed(t *testing.T) {
	o := newOrg(t)
	tok, sec := mustCreate(t, o.s, o.userA, "used")
	for i := 0; i < 100; i++ {
		if _, err := o.s.Exchange(sec, "192.0.2.7"); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := o.s.Token(o.userA, tok.ID)
	if v.LastUsedAt.IsZero() || v.LastUsedBy != "192.0.2.7" {
		t.Fatalf("pending use not shown: %+v", v)
	}
	o.s.Close()
	s2, err := store.Open(o.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	v, _ = s2.Token(o.userA, tok.ID)
	if v.LastUsedAt.IsZero() || v.LastUsedBy != "192.0.2.7" {
		t.Fatalf("use not flushed on close: %+v", v)
	}
}

func TestPaging(t *testing.T) {
	o := newOrg(t)
	for i := 0; i < 7; i++ {
		mustCreate(t, o.s, o.userA, "p")
	}
	seen := map[string]bool{}
	q := store.TokenQuery{All: true, Limit: 3}
	var last string
	for pages := 0; pages < 10; pages++ {
		page, err := o.s.ListTokens(o.ownerA, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Tokens {
			if seen[v.ID] {
				t.Fatalf("%s twice", v.ID)
			}
			if last != "" && v.ID >= last {
				t.Fatalf("not newest first: %s after %s", v.ID, last)
			}
			last = v.ID
			seen[v.ID] = true
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
	if len(seen) != 7 {
		t.Fatalf("saw %d tokens", len(seen))
	}
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

// TestActorCapLimitsRole: a request made with a token created as "user" acts
// as a user even after its holder is promoted to admin.
func TestActorCapLimitsRole(t *testing.T) {
	o := newOrg(t)
	_, sec := mustCreate(t, o.s, o.userA, "old")
	if _, err := o.s.SetRole(o.ownerA, o.user.Email, models.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	p, err := o.s.Exchange(sec, "x")
	if err != nil || p.Role != models.RoleUser {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := o.s.ListUsers(p.Actor("http")); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("capped actor listed users: %v", err)
	}
	if _, err := o.s.ListUsers(o.userA); err != nil {
		t.Fatalf("the promoted person, uncapped, cannot list users: %v", err)
	}
	tok, _, err := o.s.CreateToken(p.Actor("http"), store.TokenSpec{Name: "via api"})
	if err != nil || tok.Role != models.RoleUser {
		t.Fatalf("token made by a capped actor: %+v %v", tok, err)
	}
	if u, _ := o.s.User(o.user.Email); u.Role != models.RoleAdmin {
		t.Fatalf("cap leaked into the stored role: %s", u.Role)
	}
}
