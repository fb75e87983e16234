package store_test

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
	"github.com/keydesk/keydesk/store/kv"
	kvbolt "github.com/keydesk/keydesk/store/kv/bolt"
	"github.com/keydesk/keydesk/store/storetest"
	bolt "go.etcd.io/bbolt"
)

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
	db, err := bolt.Open(filepath.Join(dir, kvbolt.File), 0o600, nil)
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

// TestFilesArePrivate: the bbolt file and the secrets are readable by their
// owner only, and the file holds no token text (the behaviour suite checks the
// exported data; this checks the file itself, free pages included).
func TestFilesArePrivate(t *testing.T) {
	o := newOrg(t)
	_, secret := mustCreate(t, o.s, o.userA, "ci")
	o.s.Close()
	db, err := os.ReadFile(filepath.Join(o.dir, kvbolt.File))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(secret[4:30])) {
		t.Fatal("database file contains token text")
	}
	for path, want := range map[string]os.FileMode{
		kvbolt.File: 0o600, "secrets": 0o700, "secrets/pepper": 0o600, "secrets/seal.key": 0o600,
	} {
		fi, err := os.Stat(filepath.Join(o.dir, path))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, want mode %v", path, err, want)
		}
	}
}

// TestBehaviourOnBolt runs the store's behaviour suite on bbolt files.
func TestBehaviourOnBolt(t *testing.T) {
	storetest.Run(t, func(t testing.TB) storetest.Opener {
		path := filepath.Join(t.TempDir(), kvbolt.File)
		return func() (kv.Engine, error) { return kvbolt.Open(path, store.Buckets(), kvbolt.Options{}) }
	})
}
