package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// The live set keeps, per holder, the ids of tokens that may still be
// usable: created and not yet revoked, expired or rotated past their grace.
// The 25-token limit is checked against it, so creating a token reads the
// handful of live tokens a person holds, never every token they ever had
// (13,400 old tokens cost 100–200 ms per create inside the write loop).
//
// Since schema 3 a holder's set is one value in the holder index, under the
// holder's id alone: tokens_by_holder maps "<holder>/<token>" → "" for every
// token and "<holder>" → the live set, so a holder's prefix scan
// ("<holder>/") never sees it and the set sits beside the holder's entries.
// The value is
//
//	0x01                       set format
//	token id, …                uvarint length + bytes each, in the order added
//
// and a holder with no live token has no key. Schema 2 kept one empty-valued
// key per live token in meta ("live/<holder>/<token>"): a million of them
// cost 58 MB of a 330 MB file (bbolt's 16-byte element header each), about
// as much as the token records' index on digests; foldLiveSet moves them.
//
// A token enters when it is created and leaves when it is revoked; one that
// expired or whose grace ended leaves the next time its holder's set is
// counted (both are final, so removing it then is exact).
var (
	keyLiveIndex  = []byte("live_index_v1") // set once every existing token is in the set
	liveIndexDone = []byte{1}
)

const liveSetFormat1 = 0x01

// liveSetKey is where holderID's live set is kept in bucketTokensByUser.
func liveSetKey(holderID string) []byte { return []byte(holderID) }

func encodeLiveSet(ids []string) []byte {
	n := 1
	for _, id := range ids {
		n += binary.MaxVarintLen16 + len(id)
	}
	b := append(make([]byte, 0, n), liveSetFormat1)
	for _, id := range ids {
		b = appendString(b, id)
	}
	return b
}

var errDamagedLiveSet = errors.New("damaged live-token set")

// decodeLiveSet returns the ids in a live set; a damaged value is an error,
// never a panic.
func decodeLiveSet(v []byte) ([]string, error) {
	if len(v) < 2 || v[0] != liveSetFormat1 {
		return nil, fmt.Errorf("%w: unknown format", errDamagedLiveSet)
	}
	r := recordReader{b: v[1:]}
	var ids []string
	for len(r.b) > 0 && r.err == nil {
		if id := r.string(); id != "" {
			ids = append(ids, id)
		} else if r.err == nil {
			r.err = errors.New("empty token id")
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", errDamagedLiveSet, r.err)
	}
	return ids, nil
}

// liveSet returns the ids in holderID's live set. A damaged set is derived
// data: it is rebuilt from the holder index (every token of the holder's
// that may still be usable, exactly what the set holds) and, in a write
// transaction, written back; keydesk check reports such damage.
func (t *txn) liveSet(holderID string) ([]string, error) {
	v, err := t.Get(bucketTokensByUser, liveSetKey(holderID))
	if err != nil || v == nil {
		return nil, err
	}
	ids, err := decodeLiveSet(v)
	if err == nil {
		return ids, nil
	}
	prefix := []byte(holderID + "/")
	ids = nil
	if err := t.Scan(bucketTokensByUser, kv.Range{Prefix: prefix}, func(k, _ []byte) error {
		tok, err := t.token(string(k[len(prefix):]))
		if err != nil {
			return err
		}
		if tok.UsableAt(t.now) {
			ids = append(ids, tok.ID)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("rebuild the damaged live-token set of %s: %w; run `keydesk check`", models.Sanitize(holderID), err)
	}
	if t.Writable() {
		if err := t.putLiveSet(holderID, ids); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// putLiveSet replaces holderID's live set with ids (none: no key).
func (t *txn) putLiveSet(holderID string, ids []string) error {
	if len(ids) == 0 {
		return t.Delete(bucketTokensByUser, liveSetKey(holderID))
	}
	return t.Put(bucketTokensByUser, liveSetKey(holderID), encodeLiveSet(ids))
}

func (t *txn) dropLive(holderID, tokenID string) error {
	ids, err := t.liveSet(holderID)
	if err != nil || !slices.Contains(ids, tokenID) {
		return err
	}
	return t.putLiveSet(holderID, slices.DeleteFunc(ids, func(id string) bool { return id == tokenID }))
}

// liveSetRead announces the read of holderID's live set (kv.Prefetch): one key.
func liveSetRead(holderID string) kv.Read {
	return kv.GetOf(bucketTokensByUser, liveSetKey(holderID))
}

// liveTokens counts the holder's tokens that count toward the limit now:
// usable ones and rotated ones still inside their grace (their old secret
// works), pruning the set of tokens that can never count again; live lists
// those that stay in the set. It reads the set (one key) and each token in
// it; the token records are fetched together with also (kv.Prefetch: one
// round trip on etcd instead of one per token).
func (t *txn) liveTokens(holderID string, also ...kv.Read) (usable, grace int, live []string, err error) {
	usable, grace, live, listed, err := t.countLive(holderID, also...)
	if err != nil {
		return 0, 0, nil, err
	}
	if len(live) != listed {
		if err := t.putLiveSet(holderID, live); err != nil {
			return 0, 0, nil, err
		}
	}
	return usable, grace, live, nil
}

// countLive reads the holder's live set and the records it lists, counting
// the usable tokens and those in their rotation grace; live is the ids still
// live now and listed how many the set named (more means it can be pruned).
// It only reads, so a View can count as a create does: O(live tokens), not
// O(every token the holder ever had).
func (t *txn) countLive(holderID string, also ...kv.Read) (usable, grace int, live []string, listed int, err error) {
	ids, err := t.liveSet(holderID)
	if err != nil {
		return 0, 0, nil, 0, err
	}
	if t.batches() {
		reads := also
		for _, id := range ids {
			reads = append(reads, kv.GetOf(bucketTokens, []byte(id)))
		}
		if err := kv.Prefetch(t.Tx, reads...); err != nil {
			return 0, 0, nil, 0, err
		}
	}
	for _, id := range ids {
		v, err := t.Get(bucketTokens, []byte(id))
		if err != nil {
			return 0, 0, nil, 0, err
		}
		if v == nil {
			continue // a dangling entry counts for nothing
		}
		tok, err := decodeToken([]byte(id), v)
		if err != nil {
			continue // neither does a damaged record (keydesk check reports it)
		}
		switch {
		case tok.Status(t.now).Usable():
			usable++
		case tok.UsableAt(t.now):
			grace++
		default:
			continue
		}
		live = append(live, id)
	}
	return usable, grace, live, len(ids), nil
}

// buildLiveIndex puts every token that may still be usable into the live set,
// once, for data written before the set existed. It runs at open.
func (s *Store) buildLiveIndex() error {
	if built, err := s.hasMarker(keyLiveIndex); err != nil || built {
		return err // opening writes nothing once the set exists
	}
	return s.engine.Update(context.Background(), func(tx kv.Tx) error {
		done, err := tx.Get(bucketMeta, keyLiveIndex)
		if err != nil || done != nil {
			return err
		}
		t := s.txn(tx)
		now := s.opts.Now()
		live := map[string][]string{}
		var holders []string
		if err := tx.Scan(bucketTokens, kv.Range{}, func(k, v []byte) error {
			tok, err := decodeToken(k, v)
			if err != nil {
				return err
			}
			if tok.UsableAt(now) {
				if live[tok.HolderID] == nil {
					holders = append(holders, tok.HolderID)
				}
				live[tok.HolderID] = append(live[tok.HolderID], tok.ID)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("index live tokens: %w", err)
		}
		for _, h := range holders {
			if err := t.putLiveSet(h, live[h]); err != nil {
				return err
			}
		}
		return tx.Put(bucketMeta, keyLiveIndex, liveIndexDone)
	})
}

// oldLivePrefix starts schema 2's live-set keys in meta: "live/<holder>/<token>".
var oldLivePrefix = []byte("live/")

// keyFoldLive marks a schema-3 fold of the live set (migrate2to3) that has
// not finished.
var keyFoldLive = []byte("folding_live_set")

// foldBatch bounds the old keys one fold transaction moves (a variable so a
// test can make a small set take several).
var foldBatch = 20000

// foldLiveSet finishes migrate2to3 if its marker is present: it moves schema
// 2's per-token live keys into one set per holder, in transactions of at most
// foldBatch old keys that fit the engine's Limits. Each transaction deletes
// the keys it folded and merges them into whatever set the holder already
// has, so an interrupted fold resumes from the first key left, and a holder
// whose keys span two transactions keeps them all. Until the marker is gone
// the store does not open, so nothing counts a half-folded set.
func (s *Store) foldLiveSet() error {
	ctx := context.Background()
	if pending, err := s.hasMarker(keyFoldLive); err != nil || !pending {
		return err
	}
	// Each old key is one delete, each holder at most one put: 2 writes a
	// key at worst, and the marker's delete.
	chunk := foldBatch
	lim := s.engine.Limits()
	if lim.MaxOps > 0 {
		chunk = min(chunk, max(1, (lim.MaxOps-1)/2))
	}
	if lim.MaxBytes > 0 {
		// An old key is ~42 bytes, its share of a holder's set ~20.
		chunk = min(chunk, max(1, lim.MaxBytes/256))
	}
	folded := 0
	for done := false; !done; {
		n := 0
		err := s.engine.Update(ctx, func(tx kv.Tx) error {
			var keys [][]byte
			// Collect, then write: a write under a live cursor may move it.
			if err := tx.Scan(bucketMeta, kv.Range{Prefix: oldLivePrefix, Limit: chunk}, func(k, _ []byte) error {
				keys = append(keys, bytes.Clone(k))
				return nil
			}); err != nil {
				return err
			}
			t := s.txn(tx)
			var holders []string
			add := map[string][]string{}
			for _, k := range keys {
				holder, token, ok := bytes.Cut(k[len(oldLivePrefix):], []byte("/"))
				if ok && len(holder) > 0 && len(token) > 0 {
					h := string(holder)
					if add[h] == nil {
						holders = append(holders, h)
					}
					add[h] = append(add[h], string(token))
				} // a malformed key was never read by a count: it goes
				if err := tx.Delete(bucketMeta, k); err != nil {
					return err
				}
			}
			for _, h := range holders {
				ids, err := t.liveSet(h)
				if err != nil {
					return err
				}
				for _, id := range add[h] {
					if !slices.Contains(ids, id) {
						ids = append(ids, id)
					}
				}
				if err := t.putLiveSet(h, ids); err != nil {
					return err
				}
			}
			n = len(keys)
			done = len(keys) < chunk
			if done {
				return tx.Delete(bucketMeta, keyFoldLive)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("fold the live-token set for schema 3 (a copy of the original was taken before the upgrade): %w", err)
		}
		folded += n
	}
	if folded > 0 {
		// The freed pages stay in the file until it is compacted.
		s.opts.Logger.Info("upgraded the live-token set to schema 3; `keydesk compact` returns the space it freed to the file system", "keys", folded)
	}
	return nil
}

// limitError says why a holder may not have another token.
// limitError says who is at the limit: "you" when the actor is the holder,
// else the holder's email (as the owner assigning sees it).
func limitError(actor, holder models.User, usable, grace int) error {
	who, holds := models.Sanitize(holder.Email), "holds"
	if actor.ID == holder.ID {
		who, holds = "you", "hold"
	}
	if grace > 0 {
		return fmt.Errorf("%w: %s already %s %d usable tokens (%d of them rotated and still in their grace period); revoke one first, or wait for the grace period to end", models.ErrLimit, who, holds, usable+grace, grace)
	}
	return fmt.Errorf("%w: %s already %s %d active tokens; revoke one first", models.ErrLimit, who, holds, usable)
}
