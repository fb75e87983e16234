package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
	"github.com/keydesk/keydesk/store/kv/bolt"
)

// migration upgrades the data by one schema version, from the version it is
// keyed by in migrations to that version plus one. It runs in one write
// transaction together with the schema_version bump, so a crash leaves the data
// at either the old version or the new one, never between.
type migration func(tx kv.Tx) error

// migrations holds every step, keyed by the version it upgrades from. Data at
// version v < SchemaVersion runs migrations[v], migrations[v+1], … in order.
var migrations = map[uint64]migration{
	0: migrate0to1,
	1: migrate1to2,
	2: migrate2to3,
}

// backupTimeFormat stamps the copy taken before a migration,
// keydesk.db.bak-v<old>-<UTC timestamp>; nanoseconds keep two copies apart.
const backupTimeFormat = "20060102T150405.000000000Z"

// migrate brings older data up to SchemaVersion, copying it aside first. Data
// without a schema_version key is only "older" (version 0, written before
// versions were recorded) if it holds records; an empty store is new. Newer and
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
	if s.opts.BackupDir == "" {
		return fmt.Errorf("database schema %d needs an upgrade to %d, and no backup directory is set to copy it to first", from, SchemaVersion)
	}
	path, err := s.backupBeforeMigration(from)
	if err != nil {
		return fmt.Errorf("back up the database before migrating it from schema %d: %w", from, err)
	}
	for v := from; v < SchemaVersion; v++ {
		step := migrations[v]
		err := s.engine.Update(context.Background(), func(tx kv.Tx) error {
			if err := step(tx); err != nil {
				return err
			}
			return tx.Put(bucketMeta, keySchema, u64(v+1))
		})
		if err != nil {
			return fmt.Errorf("migrate database from schema %d to %d (a copy of the original is at %s): %w", v, v+1, path, err)
		}
	}
	return nil
}

// storedVersion reads the schema version. older reports a version below
// SchemaVersion that must be migrated; a new, empty store is not older.
func (s *Store) storedVersion() (v uint64, older bool, err error) {
	err = s.engine.View(context.Background(), func(tx kv.Tx) error {
		raw, err := tx.Get(bucketMeta, keySchema)
		if err != nil {
			return err
		}
		switch {
		case raw == nil:
			hasData := false
			for _, b := range allBuckets {
				err := tx.Scan(b, kv.Range{Limit: 1}, func(_, _ []byte) error { hasData = true; return nil })
				if err != nil {
					return err
				}
			}
			v, older = 0, hasData // with data: written before versions were recorded
		case len(raw) == 8:
			v = binary.BigEndian.Uint64(raw)
			older = v < SchemaVersion
		}
		// An unreadable or newer version is prepare's to refuse.
		return nil
	})
	return v, older, err
}

// backupBeforeMigration writes a consistent copy of the data to BackupDir
// (0600, fsynced) and returns its path. It never overwrites an existing file.
func (s *Store) backupBeforeMigration(from uint64) (string, error) {
	name := fmt.Sprintf("%s.bak-v%d-%s", bolt.File, from, s.opts.Now().UTC().Format(backupTimeFormat))
	path := filepath.Join(s.opts.BackupDir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, err = s.engine.Export(context.Background(), f)
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
	if d, err := os.Open(s.opts.BackupDir); err == nil {
		_ = d.Sync() // make the new name durable before the original changes
		_ = d.Close()
	}
	return path, nil
}

// clearBucket deletes every key of b. Keys are collected first: deleting under
// a live cursor skips keys on some engines.
func clearBucket(tx kv.Tx, b kv.Bucket) error {
	var keys [][]byte
	err := tx.Scan(b, kv.Range{}, func(k, _ []byte) error {
		keys = append(keys, append([]byte(nil), k...))
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := tx.Delete(b, k); err != nil {
			return err
		}
	}
	return nil
}

// migrate0to1 upgrades data written before schema versions were recorded:
// it rebuilds the indexes that can be derived from the records (email, SSH
// key, token holder and, at open, the live set) and records the owner in meta. The digest index cannot
// be derived (only the secret yields a digest) and is kept as it is.
func migrate0to1(tx kv.Tx) error {
	for _, b := range []kv.Bucket{bucketUsersByEmail, bucketUsersByKey, bucketTokensByUser} {
		if err := clearBucket(tx, b); err != nil {
			return fmt.Errorf("drop index %s: %w", b, err)
		}
	}
	// The holder index holds the live sets too (live.go): buildLiveIndex
	// puts them back from the records.
	if err := tx.Delete(bucketMeta, keyLiveIndex); err != nil {
		return err
	}
	var owners []string
	err := tx.Scan(bucketUsers, kv.Range{}, func(k, v []byte) error {
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
		if err := tx.Put(bucketUsersByEmail, []byte(u.Email), []byte(u.ID)); err != nil {
			return err
		}
		for _, key := range u.Keys {
			if err := tx.Put(bucketUsersByKey, []byte(key.Fingerprint), []byte(u.ID)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = tx.Scan(bucketTokens, kv.Range{}, func(k, v []byte) error {
		t, err := decodeToken(k, v)
		if err != nil {
			return fmt.Errorf("token %s: %w", k, err)
		}
		return tx.Put(bucketTokensByUser, holderKey(t.HolderID, t.ID), nil)
	})
	if err != nil {
		return err
	}
	owner, err := tx.Get(bucketMeta, keyOwner)
	if err != nil {
		return err
	}
	if owner == nil && len(owners) == 1 {
		return tx.Put(bucketMeta, keyOwner, []byte(owners[0]))
	}
	return nil
}

// migrate1to2 starts re-encoding every token record from schema 1's JSON
// (about 190 bytes) into the compact binary record (about 80; records.go). A
// million tokens rewritten in one transaction took 1.9 GB of memory, so this
// step only bumps the schema (an older keydesk then refuses the file instead
// of misreading binary records) and leaves a marker; convertTokens then
// rewrites the records in bounded transactions and removes the marker, and a
// store opened with the marker still present resumes it. Records of both
// kinds decode meanwhile.
func migrate1to2(tx kv.Tx) error {
	return tx.Put(bucketMeta, keyConvertTokens, []byte{1})
}

// migrate2to3 starts folding the live-token set from one meta key per live
// token into one value per holder (live.go): a million keys in one
// transaction is more than an etcd transaction holds, so, as with
// migrate1to2, this step bumps the schema (an older keydesk then refuses the
// file instead of counting an empty set) and leaves a marker, and
// foldLiveSet moves the keys in bounded transactions, resuming if a store
// is opened with the marker still present.
func migrate2to3(tx kv.Tx) error {
	return tx.Put(bucketMeta, keyFoldLive, []byte{1})
}

// hasMarker reports whether key is set in meta: the markers of a one-time
// index build that is done, or of a migration step that has not finished.
func (s *Store) hasMarker(key []byte) (bool, error) {
	set := false
	err := s.engine.View(context.Background(), func(tx kv.Tx) error {
		v, err := tx.Get(bucketMeta, key)
		set = v != nil
		return err
	})
	return set, err
}

// keyConvertTokens marks a token re-encoding that has not finished.
var keyConvertTokens = []byte("converting_tokens")

// convertTokens finishes migrate1to2 if its marker is present.
func (s *Store) convertTokens() error {
	ctx := context.Background()
	if pending, err := s.hasMarker(keyConvertTokens); err != nil || !pending {
		return err
	}
	chunk := 10000
	if lim := s.engine.Limits(); lim.MaxOps > 0 && lim.MaxOps-1 < chunk {
		chunk = max(1, lim.MaxOps-1)
	}
	var after []byte
	for done := false; !done; {
		err := s.engine.Update(ctx, func(tx kv.Tx) error {
			type rec struct{ k, v []byte }
			var recs []rec
			last, seen := after, 0
			// Collect, then write: a write under a live cursor may move it.
			err := tx.Scan(bucketTokens, kv.Range{After: after, Limit: chunk}, func(k, v []byte) error {
				seen++
				last = bytes.Clone(k)
				if len(v) == 0 || v[0] != '{' {
					return nil // already binary
				}
				t, err := decodeTokenJSON(k, v)
				if err != nil {
					return fmt.Errorf("token %s: %w", models.Sanitize(string(k)), err)
				}
				recs = append(recs, rec{k: bytes.Clone(k), v: encodeToken(t)})
				return nil
			})
			if err != nil {
				return err
			}
			for _, r := range recs {
				if err := tx.Put(bucketTokens, r.k, r.v); err != nil {
					return err
				}
			}
			done = seen < chunk
			if done {
				if err := tx.Delete(bucketMeta, keyConvertTokens); err != nil {
					return err
				}
			}
			tx.OnCommit(func() { after = last })
			return nil
		})
		if err != nil {
			return fmt.Errorf("re-encode token records for schema 2 (a copy of the original was taken before the upgrade): %w", err)
		}
	}
	return nil
}
