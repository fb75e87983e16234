package store_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	kvbolt "github.com/keydesk/keydesk/store/kv/bolt"
	bolt "go.etcd.io/bbolt"
)

// fixtureManifest mirrors store/internal/fixturegen's Manifest.
type fixtureManifest struct {
	WrittenAt time.Time `json:"written_at"`
	Owner     string    `json:"owner"`
	Admin     string    `json:"admin"`
	User      string    `json:"user"`
	Stake     string    `json:"stake"`
	Removed   string    `json:"removed"`
	KeyFP     string    `json:"key_fp"`
	Tokens    map[string]struct {
		ID     string             `json:"id"`
		Secret string             `json:"secret"`
		Status models.TokenStatus `json:"status"`
	} `json:"tokens"`
	AuditMin int `json:"audit_min"`
}

// copyFixture copies testdata/name into a temp dir (opening a store may write
// to it: a migration, the last-used flush) and reads its manifest.
func copyFixture(t *testing.T, name string) (string, fixtureManifest) {
	t.Helper()
	src := filepath.Join("testdata", name)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	var m fixtureManifest
	data, err := os.ReadFile(filepath.Join(dst, "manifest.json"))
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dst, m
}

// TestFixtureFromSchema1Works opens a database written by the schema-1 store
// (before the store ran on store/kv, JSON token records) and uses it: it is
// migrated after a backup, then list, reveal the sealed token, exchange by
// digest, audit, check, a new write, and a reopen.
func TestFixtureFromSchema1Works(t *testing.T) {
	dir, m := copyFixture(t, "v1")
	now := m.WrittenAt.Add(30 * 24 * time.Hour)
	s, err := store.Open(dir, store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("open the schema-1 fixture: %v", err)
	}
	defer s.Close()
	// Opening it migrated it to the current schema, after a copy of the original.
	if baks, _ := filepath.Glob(filepath.Join(dir, kvbolt.File+".bak-v1-*")); len(baks) != 1 {
		t.Fatalf("want one schema-1 backup, found %v", baks)
	}
	if p, err := s.Check(); err != nil || len(p) != 0 {
		t.Fatalf("check: %v %q", err, p)
	}
	owner, err := s.Owner()
	if err != nil || owner.Email != m.Owner {
		t.Fatalf("owner %v %v", owner, err)
	}
	oa := store.Actor{UserID: owner.ID, Via: "test"}
	users, err := s.ListUsers(oa)
	if err != nil || len(users) != 4 {
		t.Fatalf("users %v %v", users, err)
	}
	for _, u := range users {
		if u.ID == m.Removed {
			t.Fatal("the removed person is listed")
		}
	}
	user, err := s.UserByKey(m.KeyFP)
	if err != nil || user.Email != m.User {
		t.Fatalf("user by key: %v %v", user, err)
	}
	admin, err := s.User(m.Admin)
	if err != nil {
		t.Fatal(err)
	}
	ua := store.Actor{UserID: user.ID, Via: "test"}

	// Every token is listed with the status it had when written.
	page, err := s.ListTokens(oa, store.TokenQuery{All: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.TokenView{}
	for _, v := range page.Tokens {
		got[v.ID] = v
	}
	if len(got) != len(m.Tokens) {
		t.Fatalf("listed %d tokens, the fixture has %d", len(got), len(m.Tokens))
	}
	for what, ft := range m.Tokens {
		v, ok := got[ft.ID]
		if !ok || v.Status != ft.Status {
			t.Errorf("%s token %s: listed %v with status %q, want %q", what, ft.ID, ok, v.Status, ft.Status)
		}
	}
	if v := got[m.Tokens["active"].ID]; v.LastUsedBy != "192.0.2.7" || v.LastUsedAt.IsZero() || v.HolderEmail != m.User {
		t.Errorf("active token's last use or holder lost: %+v", v)
	}
	if v := got[m.Tokens["sealed"].ID]; v.CreatorName != owner.Name || !v.Assigned {
		t.Errorf("assigned token: %+v", v)
	}
	mine, err := s.ListTokens(ua, store.TokenQuery{})
	if err != nil || len(mine.Tokens) != 4 {
		t.Fatalf("the user's own tokens (holder index): %d %v", len(mine.Tokens), err)
	}

	// Exchange looks each secret up by its digest. Live ones first: a rotated
	// secret used after its grace revokes its successor (RFC 9700 §4.14.2).
	for _, live := range []bool{true, false} {
		for what, ft := range m.Tokens {
			if ft.Secret == "" || (ft.Status == models.StatusActive) != live {
				continue
			}
			p, err := s.Exchange(ft.Secret, "192.0.2.8")
			if ft.Status == models.StatusActive {
				if err != nil || p.Token.ID != ft.ID {
					t.Errorf("%s token: exchange %v %v", what, p.Token.ID, err)
				}
			} else if !errors.Is(err, models.ErrUnauthenticated) {
				t.Errorf("%s token (%s) exchanged: %v", what, ft.Status, err)
			}
		}
	}

	// The sealed token opens with the fixture's seal key, once.
	sec, err := s.RevealToken(ua, m.Tokens["sealed"].ID)
	if err != nil || !strings.HasPrefix(sec, models.TokenPrefix) {
		t.Fatalf("reveal the sealed token: %q %v", sec, err)
	}
	if p, err := s.Exchange(sec, "x"); err != nil || p.Token.ID != m.Tokens["sealed"].ID {
		t.Fatalf("exchange the revealed secret: %v", err)
	}
	if _, err := s.RevealToken(ua, m.Tokens["sealed"].ID); !errors.Is(err, models.ErrAlreadyRevealed) {
		t.Fatalf("second reveal: %v", err)
	}

	// The audit log reads, pages and filters, the removed person's included.
	entries, err := s.Audit(oa, store.AuditQuery{Limit: 1000})
	if err != nil || len(entries) < m.AuditMin {
		t.Fatalf("audit: %d entries (want ≥ %d) %v", len(entries), m.AuditMin, err)
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].Seq >= entries[i-1].Seq {
			t.Fatalf("audit not newest first at %d", i)
		}
	}
	for _, ref := range []string{m.Removed, "rex@example.com"} {
		if gone, _ := s.Audit(oa, store.AuditQuery{User: ref, Type: models.AuditUserRemoved}); len(gone) != 1 {
			t.Fatalf("removal found by %s: %d entries", ref, len(gone))
		}
	}
	if rot, _ := s.Audit(oa, store.AuditQuery{Type: models.AuditTokenRotated}); len(rot) != 1 || rot[0].TokenID != m.Tokens["rotated_old"].ID {
		t.Fatalf("rotation entry: %+v", rot)
	}

	// It takes new writes and stays sound.
	if _, _, err := s.CreateToken(store.Actor{UserID: admin.ID, Via: "test"}, store.TokenSpec{Name: "new"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddUser(oa, store.NewUser{Name: "Rex Again", Email: "rex@example.com", Role: models.RoleUser}); err != nil {
		t.Fatalf("the removed person's email is not free: %v", err)
	}
	if p, err := s.Check(); err != nil || len(p) != 0 {
		t.Fatalf("check after writes: %v %q", err, p)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v, ok := schemaOf(t, filepath.Join(dir, kvbolt.File)); !ok || v != store.SchemaVersion {
		t.Fatalf("schema after opening the fixture: %d %v, want %d", v, ok, store.SchemaVersion)
	}
	// The migrated file reopens as it is: no second migration, no second copy.
	s2, err := store.Open(dir, store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if baks, _ := filepath.Glob(filepath.Join(dir, kvbolt.File+".bak-*")); len(baks) != 1 {
		t.Fatalf("reopening took another backup: %v", baks)
	}
	if v, err := s2.Token(ua, m.Tokens["active"].ID); err != nil || v.LastUsedBy != "192.0.2.8" {
		t.Fatalf("active token after reopen: %+v %v", v, err)
	}
}

// TestTokenReencodingResumes: a store opened while schema 2's token
// re-encoding is unfinished (marker set, JSON records left, as after a crash
// in the middle; the upgrade has already moved the schema to the current
// one) finishes it, and reads every token meanwhile.
func TestTokenReencodingResumes(t *testing.T) {
	dir, m := copyFixture(t, "v1")
	db, err := bolt.Open(filepath.Join(dir, kvbolt.File), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if err := meta.Put([]byte("schema_version"), []byte{0, 0, 0, 0, 0, 0, 0, store.SchemaVersion}); err != nil {
			return err
		}
		return meta.Put([]byte("converting_tokens"), []byte{1})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.Check(); err != nil || len(p) != 0 {
		t.Fatalf("check: %v %q", err, p)
	}
	if p, err := s.Exchange(m.Tokens["active"].Secret, "x"); err != nil || p.Token.ID != m.Tokens["active"].ID {
		t.Fatalf("exchange: %v", err)
	}
	s.Close()
	db, err = bolt.Open(filepath.Join(dir, kvbolt.File), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("meta")).Get([]byte("converting_tokens")) != nil {
			t.Error("the marker is still set")
		}
		n := 0
		_ = tx.Bucket([]byte("tokens")).ForEach(func(k, v []byte) error {
			n++
			if v[0] == '{' {
				t.Errorf("token %s is still JSON", k)
			}
			return nil
		})
		if n != len(m.Tokens) {
			t.Errorf("%d tokens, want %d", n, len(m.Tokens))
		}
		return nil
	})
	if baks, _ := filepath.Glob(filepath.Join(dir, kvbolt.File+".bak-*")); len(baks) != 0 {
		t.Fatalf("resuming took a backup: %v", baks)
	}
}
