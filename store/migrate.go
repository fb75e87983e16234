package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keydesk/keydesk/models"
	bolt "go.etcd.io/bbolt"
)

// migration upgrades a database by one schema version, from the version it is
// keyed by in migrations to that version plus one. It runs in one write
// transaction together with the schema_version bump, so a crash leaves the file
// at either the old version or the new one, never between.
type migration func(tx *bolt.Tx) error

// migrations holds every step, keyed by the version it upgrades from. A database
// at version v < SchemaVersion runs migrations[v], migrations[v+1], … in order.
var migrations = map[uint64]migration{
	0: migrate0to1,
}

// backupTimeFormat stamps the copy taken before a migration,
// keydesk.db.bak-v<old>-<UTC timestamp>; nanoseconds keep two copies apart.
const backupTimeFormat = "20060102T150405.000000000Z"

// migrate brings an older database up to SchemaVersion, copying the file aside
// first. It runs before prepare creates buckets, because a file without a
// schema_version key is only "older" (version 0, written before versions were
// recorded) if it already holds buckets; a file with none is new. Newer and
// unreadable versions are left for prepare to refuse.
func (s *Store) migrate() error {
	from, older, err := s.storedVersion()
	if err != nil || !older {
		return err
	}
	for v := from; v < SchemaVersion; v++ {
		if migrations[v] == nil {
			return fmt.Errorf("database schema %d cannot be upgraded: this keydesk has no migration from schema %d; restore a newer backup or use an older keydesk", from, v)
		}
	}
	path, err := s.backupBeforeMigration(from)
	if err != nil {
		return fmt.Errorf("back up the database before migrating it from schema %d: %w", from, err)
	}
	for v := from; v < SchemaVersion; v++ {
		step := migrations[v]
		err := s.db.Update(func(tx *bolt.Tx) error {
			if err := step(tx); err != nil {
				return err
			}
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			return meta.Put(keySchema, u64(v+1))
		})
		if err != nil {
			return fmt.Errorf("migrate database from schema %d to %d (a copy of the original is at %s): %w", v, v+1, path, err)
		}
	}
	return nil
}

// storedVersion reads the file's schema version. older reports a version below
// SchemaVersion that must be migrated; a new, empty file is not older.
func (s *Store) storedVersion() (v uint64, older bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		hasBuckets := false
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { hasBuckets = true; return nil })
		if !hasBuckets {
			return nil // a new file: prepare writes the current version
		}
		var raw []byte
		if meta := tx.Bucket(bucketMeta); meta != nil {
			raw = meta.Get(keySchema)
		}
		switch {
		case raw == nil:
			v, older = 0, true // written before versions were recorded
		case len(raw) == 8:
			v = binary.BigEndian.Uint64(raw)
			older = v < SchemaVersion
		}
		// An unreadable or newer version is prepare's to refuse.
		return nil
	})
	return v, older, err
}

// backupBeforeMigration writes a consistent copy of the database beside it
// (0600, fsynced) and returns its path. It never overwrites an existing file.
func (s *Store) backupBeforeMigration(from uint64) (string, error) {
	name := fmt.Sprintf("%s.bak-v%d-%s", DBFile, from, s.opts.Now().UTC().Format(backupTimeFormat))
	path := filepath.Join(s.dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(f)
		return err
	})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", err
	}
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync() // make the new name durable before the original changes
		_ = d.Close()
	}
	return path, nil
}

// migrate0to1 upgrades a file written before schema versions were recorded:
// it creates any missing bucket, rebuilds the indexes that can be derived from
// the records (email, SSH key, token holder) and records the owner in meta.
// The digest index cannot be derived (only the secret yields a digest) and is
// kept as it is.
func migrate0to1(tx *bolt.Tx) error {
	for _, b := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	for _, b := range [][]byte{bucketUsersByEmail, bucketUsersByKey, bucketTokensByUser} {
		if err := tx.DeleteBucket(b); err != nil {
			return fmt.Errorf("drop index %s: %w", b, err)
		}
		if _, err := tx.CreateBucket(b); err != nil {
			return fmt.Errorf("create index %s: %w", b, err)
		}
	}
	byEmail, byKey := tx.Bucket(bucketUsersByEmail), tx.Bucket(bucketUsersByKey)
	var owners []string
	err := tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
		u, err := decodeUser(v)
		if err != nil {
			return fmt.Errorf("user %s: %w", k, err)
		}
		if u.Removed {
			return nil
		}
		if u.Role == models.RoleOwner {
			owners = append(owners, u.ID)
		}
		if err := byEmail.Put([]byte(u.Email), []byte(u.ID)); err != nil {
			return err
		}
		for _, key := range u.Keys {
			if err := byKey.Put([]byte(key.Fingerprint), []byte(u.ID)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	byHolder := tx.Bucket(bucketTokensByUser)
	err = tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
		t, err := decodeToken(v)
		if err != nil {
			return fmt.Errorf("token %s: %w", k, err)
		}
		return byHolder.Put(holderKey(t.HolderID, t.ID), nil)
	})
	if err != nil {
		return err
	}
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyOwner) == nil && len(owners) == 1 {
		return meta.Put(keyOwner, []byte(owners[0]))
	}
	return nil
}
