package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/keydesk/keydesk/models"
	bolt "go.etcd.io/bbolt"
)

// Check verifies the database: bbolt's own page check, then that every index
// agrees with its records both ways, every token's holder exists, exactly one
// owner exists, and the audit log is in order. It returns one line per problem;
// none means the database is sound. It reads in one writable transaction that
// is rolled back, so it may run beside a live server's writes: bbolt's
// Tx.Check reads the freelist, which is safe only while no other writer runs.
func (s *Store) Check() ([]string, error) {
	var problems []string
	add := func(format string, a ...any) {
		if len(problems) < 1000 {
			problems = append(problems, fmt.Sprintf(format, a...))
		}
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	for err := range tx.Check() {
		add("bbolt: %v", err)
	}
	checkUsers(tx, add)
	checkTokens(tx, add)
	checkAudit(tx, add)
	return problems, nil
}

func checkUsers(tx *bolt.Tx, add func(string, ...any)) {
	users := tx.Bucket(bucketUsers)
	byEmail := tx.Bucket(bucketUsersByEmail)
	byKey := tx.Bucket(bucketUsersByKey)
	owners := 0
	ownerID := string(tx.Bucket(bucketMeta).Get(keyOwner))
	_ = users.ForEach(func(k, v []byte) error {
		u, err := decodeUser(v)
		if err != nil {
			add("user %s: %v", k, err)
			return nil
		}
		if u.ID != string(k) {
			add("user %s: record says id %s", k, u.ID)
		}
		if u.Removed {
			if id := byEmail.Get([]byte(u.Email)); string(id) == u.ID {
				add("user %s: removed but still indexed by email", u.ID)
			}
			return nil
		}
		if u.Role == models.RoleOwner {
			owners++
			if u.ID != ownerID {
				add("user %s: is owner but meta names %s", u.ID, ownerID)
			}
		}
		if id := byEmail.Get([]byte(u.Email)); string(id) != u.ID {
			add("user %s: email index for %s points to %q", u.ID, u.Email, id)
		}
		for _, key := range u.Keys {
			if id := byKey.Get([]byte(key.Fingerprint)); string(id) != u.ID {
				add("user %s: key index for %s points to %q", u.ID, key.Fingerprint, id)
			}
		}
		return nil
	})
	if ownerID != "" && owners != 1 {
		add("organization has %d owners, want exactly 1", owners)
	}
	_ = byEmail.ForEach(func(k, v []byte) error {
		u, err := decodeUserAt(users, v)
		if err != nil || u.Removed || u.Email != string(k) {
			add("email index %s → %s: no such current user", k, v)
		}
		return nil
	})
	_ = byKey.ForEach(func(k, v []byte) error {
		u, err := decodeUserAt(users, v)
		if err != nil || u.Removed || !hasKey(u, string(k)) {
			add("key index %s → %s: no such user key", k, v)
		}
		return nil
	})
}

func decodeUserAt(users *bolt.Bucket, id []byte) (models.User, error) {
	v := users.Get(id)
	if v == nil {
		return models.User{}, fmt.Errorf("missing")
	}
	return decodeUser(v)
}

func hasKey(u models.User, fp string) bool {
	for _, k := range u.Keys {
		if k.Fingerprint == fp {
			return true
		}
	}
	return false
}

func checkTokens(tx *bolt.Tx, add func(string, ...any)) {
	users := tx.Bucket(bucketUsers)
	tokens := tx.Bucket(bucketTokens)
	byHolder := tx.Bucket(bucketTokensByUser)
	byDigest := tx.Bucket(bucketTokensByHash)
	sealed := tx.Bucket(bucketSealed)
	digestCount := map[string]int{}
	_ = byDigest.ForEach(func(k, v []byte) error {
		if tokens.Get(v) == nil {
			add("digest index → %s: no such token", v)
		}
		digestCount[string(v)]++
		return nil
	})
	_ = tokens.ForEach(func(k, v []byte) error {
		t, err := decodeToken(v)
		if err != nil {
			add("token %s: %v", k, err)
			return nil
		}
		if t.ID != string(k) {
			add("token %s: record says id %s", k, t.ID)
		}
		if users.Get([]byte(t.HolderID)) == nil {
			add("token %s: holder %s does not exist", t.ID, t.HolderID)
		}
		if byHolder.Get(holderKey(t.HolderID, t.ID)) == nil {
			add("token %s: missing from the holder index", t.ID)
		}
		if digestCount[t.ID] != 1 {
			add("token %s: %d digest index entries, want 1", t.ID, digestCount[t.ID])
		}
		awaiting := t.Assigned && !t.Revealed && t.RevokedAt.IsZero()
		if has := sealed.Get(k) != nil; has && !awaiting {
			add("token %s: sealed secret kept after reveal or revoke", t.ID)
		}
		return nil
	})
	_ = byHolder.ForEach(func(k, _ []byte) error {
		i := bytes.IndexByte(k, '/')
		if i < 0 {
			add("holder index key %q is malformed", k)
			return nil
		}
		v := tokens.Get(k[i+1:])
		if v == nil {
			add("holder index %s: no such token", k)
			return nil
		}
		if t, err := decodeToken(v); err == nil && t.HolderID != string(k[:i]) {
			add("holder index %s: token is held by %s", k, t.HolderID)
		}
		return nil
	})
	_ = sealed.ForEach(func(k, _ []byte) error {
		if tokens.Get(k) == nil {
			add("sealed secret for %s: no such token", k)
		}
		return nil
	})
}

func checkAudit(tx *bolt.Tx, add func(string, ...any)) {
	b := tx.Bucket(bucketAudit)
	var prev models.AuditEntry
	_ = b.ForEach(func(k, v []byte) error {
		e, err := decodeAudit(v)
		if err != nil {
			add("audit %x: %v", k, err)
			return nil
		}
		if len(k) != 8 || binary.BigEndian.Uint64(k) != e.Seq {
			add("audit entry %d stored under key %x", e.Seq, k)
		}
		if prev.Seq != 0 && e.At.Before(prev.At.Add(-maxClockStep)) {
			add("audit entry %d (%s) is older than entry %d (%s)", e.Seq, e.At.Format("2006-01-02T15:04:05"), prev.Seq, prev.At.Format("2006-01-02T15:04:05"))
		}
		if strings.TrimSpace(e.Type) == "" {
			add("audit entry %d has no type", e.Seq)
		}
		prev = e
		return nil
	})
	if seq := b.Sequence(); prev.Seq > seq {
		add("audit sequence %d is behind the last entry %d", seq, prev.Seq)
	}
}

// maxClockStep tolerates a wall clock stepped back a little (NTP) between two
// entries; audit order is the sequence, time is informative.
const maxClockStep = 5 * 60 * 1e9
