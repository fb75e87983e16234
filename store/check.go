package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// Check verifies the organization: the engine's own structural check (a bbolt
// file's pages), then that every index agrees with its records both ways,
// every token's holder exists, exactly one owner exists, and the audit log is
// in order. It returns one line per problem; none means the data is sound. It
// may run beside a live server's writes: the record checks read one consistent
// snapshot.
func (s *Store) Check() ([]string, error) {
	var problems []string
	add := func(format string, a ...any) {
		if len(problems) < 1000 {
			problems = append(problems, fmt.Sprintf(format, a...))
		}
	}
	ctx := context.Background()
	if err := s.engine.Check(ctx, add); err != nil {
		return problems, err
	}
	err := s.view(func(tx kv.Tx) error {
		if got, err := tx.Get(bucketMeta, keySecretsCheck); err != nil {
			return err
		} else if got == nil {
			add("no secrets check value recorded (it is written when the store opens)")
		} else if !bytes.Equal(got, s.secrets.checkValue()) {
			add("%v", errSecretsMismatch(s.secrets.Dir))
		}
		if err := checkUsers(tx, add); err != nil {
			return err
		}
		if err := checkTokens(tx, s.opts.Now(), add); err != nil {
			return err
		}
		return checkAudit(tx, add)
	})
	return problems, err
}

// exists reports whether b holds k; an engine error counts as absent and is
// returned by the scan that follows (a check reports, it does not stop early).
func exists(tx kv.Tx, b kv.Bucket, k []byte) bool {
	v, err := tx.Get(b, k)
	return err == nil && v != nil
}

func getString(tx kv.Tx, b kv.Bucket, k []byte) string {
	v, _ := tx.Get(b, k)
	return string(v)
}

func checkUsers(tx kv.Tx, add func(string, ...any)) error {
	owners := 0
	ownerID := getString(tx, bucketMeta, keyOwner)
	err := tx.Scan(bucketUsers, kv.Range{}, func(k, v []byte) error {
		u, err := decodeUser(v)
		if err != nil {
			add("user %s: %v", k, err)
			return nil
		}
		if u.ID != string(k) {
			add("user %s: record says id %s", k, u.ID)
		}
		if u.Removed {
			if id := getString(tx, bucketUsersByEmail, []byte(u.Email)); id == u.ID {
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
		if id := getString(tx, bucketUsersByEmail, []byte(u.Email)); id != u.ID {
			add("user %s: email index for %s points to %q", u.ID, u.Email, id)
		}
		for _, key := range u.Keys {
			if id := getString(tx, bucketUsersByKey, []byte(key.Fingerprint)); id != u.ID {
				add("user %s: key index for %s points to %q", u.ID, key.Fingerprint, id)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if ownerID != "" && owners != 1 {
		add("organization has %d owners, want exactly 1", owners)
	}
	err = tx.Scan(bucketUsersByEmail, kv.Range{}, func(k, v []byte) error {
		u, err := decodeUserAt(tx, v)
		if err != nil || u.Removed || u.Email != string(k) {
			add("email index %s → %s: no such current user", k, v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Scan(bucketUsersByKey, kv.Range{}, func(k, v []byte) error {
		u, err := decodeUserAt(tx, v)
		if err != nil || u.Removed || !hasKey(u, string(k)) {
			add("key index %s → %s: no such user key", k, v)
		}
		return nil
	})
}

func decodeUserAt(tx kv.Tx, id []byte) (models.User, error) {
	v, err := tx.Get(bucketUsers, id)
	if err != nil {
		return models.User{}, err
	}
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

func checkTokens(tx kv.Tx, now time.Time, add func(string, ...any)) error {
	digestCount := map[string]int{}
	err := tx.Scan(bucketTokensByHash, kv.Range{}, func(k, v []byte) error {
		if !exists(tx, bucketTokens, v) {
			add("digest index → %s: no such token", v)
		}
		digestCount[string(v)]++
		return nil
	})
	if err != nil {
		return err
	}
	// The holder index holds "<holder>/<token>" for every token and
	// "<holder>" → the holder's live set (live.go).
	live := map[string]bool{} // token ids in some holder's live set
	err = tx.Scan(bucketTokensByUser, kv.Range{}, func(k, v []byte) error {
		i := bytes.IndexByte(k, '/')
		if i < 0 {
			checkLiveSet(tx, k, v, live, add)
			return nil
		}
		v, err := tx.Get(bucketTokens, k[i+1:])
		if err != nil {
			return err
		}
		if v == nil {
			add("holder index %s: no such token", k)
			return nil
		}
		if t, err := decodeToken(k[i+1:], v); err == nil && t.HolderID != string(k[:i]) {
			add("holder index %s: token is held by %s", k, t.HolderID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = tx.Scan(bucketTokens, kv.Range{}, func(k, v []byte) error {
		t, err := decodeToken(k, v)
		if err != nil {
			add("token %s: %v", k, err)
			return nil
		}
		if !exists(tx, bucketUsers, []byte(t.HolderID)) {
			add("token %s: holder %s does not exist", t.ID, t.HolderID)
		}
		if !exists(tx, bucketTokensByUser, holderKey(t.HolderID, t.ID)) {
			add("token %s: missing from the holder index", t.ID)
		}
		if t.UsableAt(now) && !live[t.ID] {
			add("token %s: usable but missing from its holder's live set (the 25-token limit does not count it)", t.ID)
		}
		if digestCount[t.ID] != 1 {
			add("token %s: %d digest index entries, want 1", t.ID, digestCount[t.ID])
		}
		awaiting := t.Assigned && !t.Revealed && t.RevokedAt.IsZero()
		if has := exists(tx, bucketSealed, k); has && !awaiting {
			add("token %s: sealed secret kept after reveal or revoke", t.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !exists(tx, bucketMeta, keyFoldLive) {
		err = tx.Scan(bucketMeta, kv.Range{Prefix: oldLivePrefix, Limit: 1}, func(k, _ []byte) error {
			add("meta %s: a schema-2 live-set key left after the fold into the holder index", k)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return tx.Scan(bucketSealed, kv.Range{}, func(k, _ []byte) error {
		if !exists(tx, bucketTokens, k) {
			add("sealed secret for %s: no such token", k)
		}
		return nil
	})
}

// checkLiveSet checks holder's live set v: it decodes, its holder exists, and
// each token it lists exists once and is the holder's. Tokens that expired
// or ended their grace may still be listed (a count prunes them). It marks
// the listed tokens in live.
func checkLiveSet(tx kv.Tx, holder, v []byte, live map[string]bool, add func(string, ...any)) {
	ids, err := decodeLiveSet(v)
	if err != nil {
		add("live set of %s: %v", holder, err)
		return
	}
	if !exists(tx, bucketUsers, holder) {
		add("live set of %s: no such person", holder)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			add("live set of %s: lists %s twice", holder, id)
			continue
		}
		seen[id] = true
		rec, err := tx.Get(bucketTokens, []byte(id))
		if err != nil || rec == nil {
			add("live set of %s: no such token %s", holder, id)
			continue
		}
		if t, err := decodeToken([]byte(id), rec); err == nil && t.HolderID != string(holder) {
			add("live set of %s: token %s is held by %s", holder, id, t.HolderID)
			continue
		}
		live[id] = true
	}
}

// sequenceReader is what an engine offers when it can read a bucket's
// sequence without taking a number (bbolt keeps it in the bucket header); the
// check compares it with the last audit key where it can.
type sequenceReader interface {
	Sequence(b kv.Bucket) (uint64, error)
}

func checkAudit(tx kv.Tx, add func(string, ...any)) error {
	var prev models.AuditEntry
	err := tx.Scan(bucketAudit, kv.Range{}, func(k, v []byte) error {
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
	if err != nil {
		return err
	}
	if sr, ok := tx.(sequenceReader); ok {
		seq, err := sr.Sequence(bucketAudit)
		if err != nil {
			return err
		}
		if prev.Seq > seq {
			add("audit sequence %d is behind the last entry %d", seq, prev.Seq)
		}
	}
	return nil
}

// maxClockStep tolerates a wall clock stepped back a little (NTP) between two
// entries; audit order is the sequence, time is informative.
const maxClockStep = 5 * 60 * 1e9
