package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// Look-alike names: "Аda Lovelace" with a Cyrillic А renders like "Ada
// Lovelace" and would let someone pass for that person in every list and
// picker. Each person's name skeleton (models.NameSkeleton) is indexed as
// "skel/<skeleton>/<user id>" in the meta bucket; a new person whose
// skeleton matches a current person's while the names really differ is
// refused. The very same name (up to case and spacing) stays allowed: two
// colleagues may share a name, and their emails tell them apart.
var (
	skelPrefix    = []byte("skel/")
	keySkelIndex  = []byte("skel_index_v1")
	skelIndexDone = []byte{1}
)

func skelKey(skeleton, userID string) []byte {
	return []byte(string(skelPrefix) + skeleton + "/" + userID)
}

// plainName is a name up to case and runs of spaces.
func plainName(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// checkLookAlike refuses name if it renders like a current person's name
// without being that name.
func (t *txn) checkLookAlike(name string) error {
	sk := models.NameSkeleton(name)
	prefix := []byte(string(skelPrefix) + sk + "/")
	var clash models.User
	err := t.Scan(bucketMeta, kv.Range{Prefix: prefix}, func(k, _ []byte) error {
		u, err := t.user(string(k[len(prefix):]))
		if err != nil || u.Removed {
			return nil
		}
		if plainName(u.Name) != plainName(name) {
			clash = u
			return kv.ErrStop
		}
		return nil
	})
	if err != nil && err != kv.ErrStop {
		return err
	}
	if clash.ID != "" {
		return fmt.Errorf("%w: %q looks the same as %s <%s> on screen (letters from another script, or look-alike characters); spell the name in the same letters, or add something that tells them apart", models.ErrConflict, models.Sanitize(name), models.Sanitize(clash.Name), clash.Email)
	}
	return nil
}

func (t *txn) indexName(u models.User) error {
	return t.Put(bucketMeta, skelKey(models.NameSkeleton(u.Name), u.ID), nil)
}

// buildSkelIndex indexes every person's name skeleton once, for data from
// before the index existed.
func (s *Store) buildSkelIndex() error {
	if built, err := s.hasMarker(keySkelIndex); err != nil || built {
		return err
	}
	return s.engine.Update(context.Background(), func(tx kv.Tx) error {
		done, err := tx.Get(bucketMeta, keySkelIndex)
		if err != nil || done != nil {
			return err
		}
		t := s.txn(tx)
		var users []models.User
		if err := tx.Scan(bucketUsers, kv.Range{}, func(_, v []byte) error {
			u, err := decodeUser(v)
			if err != nil {
				return err
			}
			users = append(users, u)
			return nil
		}); err != nil {
			return fmt.Errorf("index name skeletons: %w", err)
		}
		for _, u := range users {
			if err := t.indexName(u); err != nil {
				return err
			}
		}
		return tx.Put(bucketMeta, keySkelIndex, skelIndexDone)
	})
}
