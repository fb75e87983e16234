package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/store/kv"
)

// The live set's layouts, as the store documents them (store/live.go):
// schema 2 kept "live/<holder>/<token>" → "" in meta; schema 3 keeps
// "<holder>" → 0x01 (uvarint length + token id)… in tokens_by_holder.
const (
	bucketMeta    kv.Bucket = "meta"
	bucketHolders kv.Bucket = "tokens_by_holder"
)

func readLiveSet(t testing.TB, v []byte) []string {
	t.Helper()
	if len(v) < 2 || v[0] != 1 {
		t.Fatalf("live set %x: unknown format", v)
	}
	var ids []string
	for b := v[1:]; len(b) > 0; {
		n, w := binary.Uvarint(b)
		if w <= 0 || n == 0 || n > uint64(len(b)-w) {
			t.Fatalf("live set %x: damaged", v)
		}
		ids = append(ids, string(b[w:w+int(n)]))
		b = b[w+int(n):]
	}
	return ids
}

func writeLiveSet(ids []string) []byte {
	b := []byte{1}
	for _, id := range ids {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
	}
	return b
}

// unfoldLiveSets rewrites the closed store's data the way schema 2 kept it:
// every holder's live set back into one meta key per token, schema_version
// 2. keepFolded, when set, names a holder whose set is left half folded
// (its first half stays in the new value), as an interrupted fold leaves it.
// It returns each holder's set.
func unfoldLiveSets(t *testing.T, o *Org, schema uint64, keepFolded string) map[string][]string {
	t.Helper()
	e := o.Engine(t)
	defer e.Close()
	sets := map[string][]string{}
	err := e.Update(context.Background(), func(tx kv.Tx) error {
		clear(sets)
		if err := tx.Scan(bucketHolders, kv.Range{}, func(k, v []byte) error {
			if !bytes.Contains(k, []byte("/")) {
				sets[string(k)] = readLiveSet(t, v)
			}
			return nil
		}); err != nil {
			return err
		}
		if len(sets) == 0 {
			return errors.New("no live sets to unfold")
		}
		for h, ids := range sets {
			old := ids
			if h == keepFolded {
				if err := tx.Put(bucketHolders, []byte(h), writeLiveSet(ids[:len(ids)/2])); err != nil {
					return err
				}
				old = ids[len(ids)/2:]
			} else if err := tx.Delete(bucketHolders, []byte(h)); err != nil {
				return err
			}
			for _, id := range old {
				if err := tx.Put(bucketMeta, []byte("live/"+h+"/"+id), nil); err != nil {
					return err
				}
			}
		}
		if keepFolded != "" {
			if err := tx.Put(bucketMeta, []byte("folding_live_set"), []byte{1}); err != nil {
				return err
			}
		}
		return tx.Put(bucketMeta, []byte("schema_version"), binary.BigEndian.AppendUint64(nil, schema))
	})
	if err != nil {
		t.Fatal(err)
	}
	return sets
}

// liveSetOrg gives the owner, the admin and the user 25 tokens each, one of
// the user's revoked: more live tokens than one etcd transaction folds.
func liveSetOrg(t *testing.T, o *Org) {
	for _, a := range []store.Actor{o.OwnerA, o.AdminA, o.UserA} {
		for i := range models.MaxTokensActive {
			tok, _ := mustCreate(t, o.S, a, fmt.Sprint("t", i))
			if a == o.UserA && i == 0 {
				if _, err := o.S.RevokeToken(a, tok.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	o.S.Close()
}

// checkFolded: the reopened store is sound, has no schema-2 live key or fold
// marker left, holds every set as it was, and counts the limit from them.
func checkFolded(t *testing.T, o *Org, sets map[string][]string) {
	t.Helper()
	s := o.Reopen(t)
	if p, err := s.Check(); err != nil || len(p) != 0 {
		t.Fatalf("check after the fold: %v %q", err, p)
	}
	if _, _, err := s.CreateToken(o.OwnerA, store.TokenSpec{Name: "26th"}); !errors.Is(err, models.ErrLimit) {
		t.Fatalf("the owner's 26th token: %v", err)
	}
	tok25, _ := mustCreate(t, s, o.UserA, "25th")
	if _, _, err := s.CreateToken(o.UserA, store.TokenSpec{Name: "26th"}); !errors.Is(err, models.ErrLimit) {
		t.Fatalf("the user's 26th token: %v", err)
	}
	s.Close()
	e := o.Engine(t)
	defer e.Close()
	err := e.View(context.Background(), func(tx kv.Tx) error {
		if err := tx.Scan(bucketMeta, kv.Range{Prefix: []byte("live/")}, func(k, _ []byte) error {
			return fmt.Errorf("schema-2 key %s left", k)
		}); err != nil {
			return err
		}
		if v, err := tx.Get(bucketMeta, []byte("folding_live_set")); err != nil || v != nil {
			return fmt.Errorf("fold marker left: %v", err)
		}
		for h, want := range sets {
			v, err := tx.Get(bucketHolders, []byte(h))
			if err != nil {
				return err
			}
			got := readLiveSet(t, v)
			if h == o.User.ID {
				want = append(slices.Clone(want), tok25.ID)
			}
			if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
				return fmt.Errorf("live set of %s: %v, want %v", h, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testLiveSetFoldsFromSchema2: schema-2 data (one meta key per live token)
// is migrated after a backup, its live sets folded in transactions the
// engine accepts, and the 25-token limit counts the same tokens.
func testLiveSetFoldsFromSchema2(t *testing.T, o *Org) {
	liveSetOrg(t, o)
	sets := unfoldLiveSets(t, o, 2, "")
	checkFolded(t, o, sets)
}

// testLiveSetFoldResumes: a fold that stopped midway (schema already 3, the
// marker set, one holder's set half in each layout) finishes at open.
func testLiveSetFoldResumes(t *testing.T, o *Org) {
	liveSetOrg(t, o)
	sets := unfoldLiveSets(t, o, store.SchemaVersion, o.Admin.ID)
	checkFolded(t, o, sets)
}
