package store_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	kvbolt "github.com/keydesk/keydesk/store/kv/bolt"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/ssh"
)

// v0File builds a real organization, closes it, and rewrites it with raw bbolt
// into what keydesk wrote before schema versions were recorded: the records
// and the digest index, but no schema_version key (or an explicit 0), no owner
// pointer, and derived indexes that are missing or stale. It returns the
// refresh token secret that must keep working after the upgrade.
func v0File(t *testing.T, explicitZero bool) (dir, secret, tokenID string) {
	t.Helper()
	dir = t.TempDir()
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	owner := must(s.Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com"}, "test"))
	oa := store.Actor{UserID: owner.ID, Via: "test"}
	u := must(s.AddUser(oa, store.NewUser{Name: "Uma User", Email: "uma@example.com", Role: models.RoleUser,
		Keys: []string{testKey(t)}}))
	tok, sec, err := s.CreateToken(store.Actor{UserID: u.ID, Via: "test"}, store.TokenSpec{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AssignTokens(oa, []string{u.Email}, store.TokenSpec{Name: "assigned"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, kvbolt.File), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if explicitZero {
			if err := meta.Put([]byte("schema_version"), make([]byte, 8)); err != nil {
				return err
			}
		} else if err := meta.Delete([]byte("schema_version")); err != nil {
			return err
		}
		if err := meta.Delete([]byte("owner_id")); err != nil {
			return err
		}
		// The holder index did not exist yet; the email index has a stale entry.
		if err := tx.DeleteBucket([]byte("tokens_by_holder")); err != nil {
			return err
		}
		if err := tx.DeleteBucket([]byte("users_by_key")); err != nil {
			return err
		}
		return tx.Bucket([]byte("users_by_email")).Put([]byte("ghost@example.com"), []byte("usr_nobody"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, sec, tok.ID
}

func testKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
}

func schemaOf(t *testing.T, path string) (uint64, bool) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v uint64
	var ok bool
	_ = db.View(func(tx *bolt.Tx) error {
		if raw := tx.Bucket([]byte("meta")).Get([]byte("schema_version")); len(raw) == 8 {
			v, ok = binary.BigEndian.Uint64(raw), true
		}
		return nil
	})
	return v, ok
}

func TestMigrateFromV0BacksUpFirstAndRebuildsIndexes(t *testing.T) {
	for _, explicit := range []bool{false, true} {
		name := map[bool]string{false: "no schema key", true: "explicit 0"}[explicit]
		t.Run(name, func(t *testing.T) {
			dir, secret, tokenID := v0File(t, explicit)
			before, err := os.ReadFile(filepath.Join(dir, kvbolt.File))
			if err != nil {
				t.Fatal(err)
			}

			s, err := store.Open(dir, store.Options{})
			if err != nil {
				t.Fatalf("open a v0 file: %v", err)
			}
			defer s.Close()

			// A backup of the original, 0600, still at version 0.
			baks, _ := filepath.Glob(filepath.Join(dir, kvbolt.File+".bak-v0-*"))
			if len(baks) != 1 {
				t.Fatalf("want one backup, found %v", baks)
			}
			fi, err := os.Stat(baks[0])
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("backup mode %v, want 0600", fi.Mode().Perm())
			}
			if v, ok := schemaOf(t, baks[0]); ok && v != 0 {
				t.Fatalf("backup has schema %d, want the original 0", v)
			}
			if len(before) == 0 || fi.Size() == 0 {
				t.Fatal("empty database or backup")
			}

			// The upgraded store is sound and fully usable.
			if problems, err := s.Check(); err != nil || len(problems) != 0 {
				t.Fatalf("check after migration: %v %v", err, problems)
			}
			owner, err := s.Owner()
			if err != nil || owner.Email != "olive@example.com" {
				t.Fatalf("owner after migration: %v %v", owner, err)
			}
			p, err := s.Exchange(secret, "test")
			if err != nil || p.Token.ID != tokenID {
				t.Fatalf("token from v0 no longer works: %v", err)
			}
			u, err := s.User("uma@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.UserByKey(u.Keys[0].Fingerprint); err != nil {
				t.Fatalf("key index not rebuilt: %v", err)
			}
			page, err := s.ListTokens(store.Actor{UserID: u.ID, Via: "test"}, store.TokenQuery{})
			if err != nil || len(page.Tokens) != 2 {
				t.Fatalf("holder index not rebuilt: %d tokens, %v", len(page.Tokens), err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if v, ok := schemaOf(t, filepath.Join(dir, kvbolt.File)); !ok || v != store.SchemaVersion {
				t.Fatalf("schema after migration %d (%v), want %d", v, ok, store.SchemaVersion)
			}

			// Opening again migrates nothing and takes no second backup.
			s2, err := store.Open(dir, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s2.Close()
			if baks, _ := filepath.Glob(filepath.Join(dir, kvbolt.File+".bak-*")); len(baks) != 1 {
				t.Fatalf("reopening took another backup: %v", baks)
			}
		})
	}
}

func TestNewAndCurrentFilesTakeNoBackup(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if baks, _ := filepath.Glob(filepath.Join(dir, kvbolt.File+".bak-*")); len(baks) != 0 {
		t.Fatalf("backup of a current file: %v", baks)
	}
}

// TestNewerSchemaRefusedUntouched: a file from a newer keydesk is refused with
// a message that says what to do, and neither migrated nor backed up.
func TestNewerSchemaRefusedUntouched(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := filepath.Join(dir, kvbolt.File)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{0, 0, 0, 0, 0, 0, 0, store.SchemaVersion + 1})
	})
	db.Close()
	before, _ := os.ReadFile(path)
	_, err = store.Open(dir, store.Options{})
	if !errors.Is(err, models.ErrSchemaTooNew) || !strings.Contains(err.Error(), "upgrade keydesk") {
		t.Fatalf("newer schema: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a refused file was changed")
	}
	if baks, _ := filepath.Glob(filepath.Join(dir, kvbolt.File+".bak-*")); len(baks) != 0 {
		t.Fatalf("backup of a refused file: %v", baks)
	}
}
