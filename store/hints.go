package store

import (
	"sync"

	"github.com/keydesk/keydesk/store/kv"
)

// liveHints remembers, per holder, the token ids in their live set when this
// server last gave them a token, so that the next create can announce those
// token records in its first read on etcd (kv.Prefetch): one read round trip
// before the commit instead of two (the live set, then its tokens). A hint
// is never trusted: the create still reads the live set and every
// token in it inside its transaction, so a stale hint (another server's
// create, a revoke) costs a wasted key in the batch or one more round trip,
// never a wrong count. Engines that read locally (bbolt) never fill it.
type liveHints struct {
	mu sync.Mutex
	m  map[string][]string
}

// maxLiveHints bounds the memory hints take (at most 25 ids a holder); when
// full it starts over, which only costs the next creates their second read.
const maxLiveHints = 4096

func (h *liveHints) get(holderID string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[holderID]
}

func (h *liveHints) set(holderID string, ids []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || (len(h.m) >= maxLiveHints && h.m[holderID] == nil) {
		h.m = map[string][]string{}
	}
	h.m[holderID] = ids
}

// batches reports whether the engine fetches announced reads together (etcd).
func (t *txn) batches() bool {
	_, ok := t.Tx.(kv.Prefetcher)
	return ok
}

// prefetchCreate announces, in one batch, what creating token tokenID for
// holderID (who is also the actor) reads: the holder, their live set and
// the tokens in it as last seen here, the new id (absent, unless it
// collides) and the audit counter.
func (t *txn) prefetchCreate(holderID, tokenID string) error {
	if !t.batches() || holderID == "" {
		return nil
	}
	hint := t.s.hints.get(holderID)
	reads := make([]kv.Read, 0, 4+len(hint))
	reads = append(reads, kv.GetOf(bucketUsers, []byte(holderID)), liveSetRead(holderID),
		kv.SequenceOf(bucketAudit), kv.GetOf(bucketTokens, []byte(tokenID)))
	for _, id := range hint {
		reads = append(reads, kv.GetOf(bucketTokens, []byte(id)))
	}
	return kv.Prefetch(t.Tx, reads...)
}

// prefetchToken announces, in one batch, what a change by a to token id
// reads first (tokenFor): the actor, the token and, in a write, the audit
// counter; extra rides along.
func (t *txn) prefetchToken(a Actor, id string, extra ...kv.Read) error {
	if !t.batches() || a.UserID == "" {
		return nil
	}
	reads := append([]kv.Read{kv.GetOf(bucketUsers, []byte(a.UserID)), kv.GetOf(bucketTokens, []byte(id))}, extra...)
	if t.Writable() {
		reads = append(reads, kv.SequenceOf(bucketAudit))
	}
	return kv.Prefetch(t.Tx, reads...)
}
