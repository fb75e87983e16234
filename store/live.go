package store

import (
	"context"
	"fmt"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// The live set keeps, per holder, the ids of tokens that may still be
// usable: created and not yet revoked, expired or rotated past their grace.
// The 25-token limit is checked against it, so creating a token reads the
// handful of live tokens a person holds, never every token they ever had
// (13,400 old tokens cost 100–200 ms per create inside the write loop).
//
// Keys are "live/<holder>/<token>" in the meta bucket, with no value. A token
// enters when it is created and leaves when it is revoked; one that expired
// or whose grace ended leaves the next time its holder's set is counted
// (both are final, so removing it then is exact).
var (
	livePrefix    = []byte("live/")
	keyLiveIndex  = []byte("live_index_v1") // set once every existing token is in the set
	liveIndexDone = []byte{1}
)

func liveKey(holderID, tokenID string) []byte {
	return append(append(append([]byte(nil), livePrefix...), holderID+"/"...), tokenID...)
}

func (t *txn) addLive(holderID, tokenID string) error {
	return t.Put(bucketMeta, liveKey(holderID, tokenID), nil)
}

func (t *txn) dropLive(holderID, tokenID string) error {
	return t.Delete(bucketMeta, liveKey(holderID, tokenID))
}

// liveScan announces liveTokens' scan of the holder's set (kv.Prefetch).
func liveScan(holderID string) kv.Read {
	return kv.ScanOf(bucketMeta, kv.Range{Prefix: liveKey(holderID, "")})
}

// liveTokens counts the holder's tokens that count toward the limit now:
// usable ones and rotated ones still inside their grace (their old secret
// works), pruning the set of tokens that can never count again; live lists
// those that stay in the set. The token records are fetched together with
// also (kv.Prefetch: one round trip on etcd instead of one per token).
func (t *txn) liveTokens(holderID string, also ...kv.Read) (usable, grace int, live []string, err error) {
	prefix := liveKey(holderID, "")
	var ids []string
	err = t.Scan(bucketMeta, kv.Range{Prefix: prefix}, func(k, _ []byte) error {
		ids = append(ids, string(k[len(prefix):]))
		return nil
	})
	if err != nil {
		return 0, 0, nil, err
	}
	if t.batches() {
		reads := also
		for _, id := range ids {
			reads = append(reads, kv.GetOf(bucketTokens, []byte(id)))
		}
		if err := kv.Prefetch(t.Tx, reads...); err != nil {
			return 0, 0, nil, err
		}
	}
	var dead []string
	for _, id := range ids {
		tok, err := t.token(id)
		if err != nil {
			dead = append(dead, id) // a dangling entry counts for nothing
			continue
		}
		switch {
		case tok.Status(t.now).Usable():
			usable++
		case tok.UsableAt(t.now):
			grace++
		default:
			dead = append(dead, id)
			continue
		}
		live = append(live, id)
	}
	for _, id := range dead {
		if err := t.dropLive(holderID, id); err != nil {
			return 0, 0, nil, err
		}
	}
	return usable, grace, live, nil
}

// buildLiveIndex puts every token that may still be usable into the live set,
// once, for data written before the set existed. It runs at open.
func (s *Store) buildLiveIndex() error {
	built := false
	if err := s.engine.View(context.Background(), func(tx kv.Tx) error {
		done, err := tx.Get(bucketMeta, keyLiveIndex)
		built = done != nil
		return err
	}); err != nil || built {
		return err // opening writes nothing once the set exists
	}
	return s.engine.Update(context.Background(), func(tx kv.Tx) error {
		done, err := tx.Get(bucketMeta, keyLiveIndex)
		if err != nil || done != nil {
			return err
		}
		t := s.txn(tx)
		now := s.opts.Now()
		var live [][2]string
		if err := tx.Scan(bucketTokens, kv.Range{}, func(k, v []byte) error {
			tok, err := decodeToken(k, v)
			if err != nil {
				return err
			}
			if tok.UsableAt(now) {
				live = append(live, [2]string{tok.HolderID, tok.ID})
			}
			return nil
		}); err != nil {
			return fmt.Errorf("index live tokens: %w", err)
		}
		for _, l := range live {
			if err := t.addLive(l[0], l[1]); err != nil {
				return err
			}
		}
		return tx.Put(bucketMeta, keyLiveIndex, liveIndexDone)
	})
}

// limitError says why a holder may not have another token.
func limitError(holder models.User, usable, grace int) error {
	if grace > 0 {
		return fmt.Errorf("%w: %s already holds %d usable tokens (%d of them rotated and still in their grace period); revoke one first, or wait for the grace period to end", models.ErrLimit, holder.Email, usable+grace, grace)
	}
	return fmt.Errorf("%w: %s already holds %d active tokens; revoke one first", models.ErrLimit, holder.Email, usable)
}
