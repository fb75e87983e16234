package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// Principal is who a presented credential speaks for: the holder, the refresh
// token behind it and the role it may act with (the lower of the token's role
// and the holder's current role).
type Principal struct {
	User  models.User
	Token models.Token
	Role  models.Role
}

// Actor returns the principal as an Actor for store calls made on its behalf,
// capped at the role the token was created with.
func (p Principal) Actor(via string) Actor {
	return Actor{UserID: p.User.ID, Via: via, Cap: p.Token.Role}
}

// accessCache answers "is this refresh token still good, and what role may it
// act with?" from memory on every API request. Entries are filled lazily from
// disk and refreshed by every commit that touches them. A generation counter,
// bumped by each commit, keeps a reader that loaded from disk before a revoke
// committed from planting its stale answer afterwards.
type accessCache struct {
	mu      sync.RWMutex
	gen     uint64
	tokens  map[string]models.Token
	users   map[string]models.User
	digests map[string]string
}

const accessCacheMax = 200_000

func (c *accessCache) init() {
	c.tokens = map[string]models.Token{}
	c.users = map[string]models.User{}
	c.digests = map[string]string{}
}

// reset drops every entry (another server's changes were missed).
func (c *accessCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.tokens = map[string]models.Token{}
	c.users = map[string]models.User{}
}

// invalidate drops entries a commit changed; the next check reloads them.
func (c *accessCache) invalidate(userIDs, tokenIDs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range userIDs {
		delete(c.users, id)
	}
	for _, id := range tokenIDs {
		delete(c.tokens, id)
	}
}

// get returns the cached token and its holder, and the generation to pass to
// put after a disk read on a miss.
func (c *accessCache) get(tokenID string) (models.Token, models.User, uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	tok, ok := c.tokens[tokenID]
	if !ok {
		return tok, models.User{}, c.gen, false
	}
	u, ok := c.users[tok.HolderID]
	return tok, u, c.gen, ok
}

// digestID returns the token ID for a digest. The mapping never changes once
// written, so it is cached without regard to generations.
func (c *accessCache) digestID(digest string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.digests[digest]
	return id, ok
}

func (c *accessCache) putDigest(digest, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.digests) >= accessCacheMax {
		c.digests = map[string]string{}
	}
	c.digests[digest] = id
}

func (c *accessCache) put(gen uint64, tok models.Token, u models.User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return // a commit happened since the disk read; do not cache what may be stale
	}
	if len(c.tokens) >= accessCacheMax {
		c.tokens = map[string]models.Token{}
		c.users = map[string]models.User{}
	}
	c.tokens[tok.ID] = tok
	c.users[u.ID] = u
}

// CheckAccess validates the refresh token behind an access token on every API
// request: it must still be usable and its holder current. Memory only in the
// steady state; correct under concurrent revokes (see accessCache).
func (s *Store) CheckAccess(tokenID, userID string) (Principal, error) {
	tok, u, err := s.cachedToken(tokenID)
	if err != nil {
		return Principal{}, models.ErrUnauthenticated
	}
	return s.principal(tok, u, userID)
}

// cachedToken returns a token and its holder from the access cache, reading
// disk on a miss.
func (s *Store) cachedToken(tokenID string) (models.Token, models.User, error) {
	// Freshness first, then the entry: an entry read after the cache proved
	// current includes every change up to that proof; one read before it
	// might predate an invalidation the proof already counted.
	trust := s.trustCache()
	tok, u, gen, ok := s.access.get(tokenID)
	if ok && trust {
		return tok, u, nil
	}
	return s.loadToken(tokenID, gen)
}

// loadToken is cachedToken's miss. It is a function of its own because the
// read's closure goes through the kv.Engine interface, so whatever it captures
// escapes to the heap: sharing tok and u with the hit path cost every cached
// check two allocations (464 B) and doubled its time.
func (s *Store) loadToken(tokenID string, gen uint64) (tok models.Token, u models.User, err error) {
	err = s.view(func(tx kv.Tx) error {
		t := s.txn(tx)
		var err error
		if tok, err = t.token(tokenID); err != nil {
			return err
		}
		u, err = t.user(tok.HolderID)
		return err
	})
	if err != nil {
		return tok, u, err
	}
	s.access.put(gen, tok, u)
	return tok, u, nil
}

func (s *Store) principal(tok models.Token, u models.User, wantUser string) (Principal, error) {
	now := s.opts.Now()
	if (wantUser != "" && tok.HolderID != wantUser) || u.ID != tok.HolderID || u.Removed ||
		!u.Role.CanHoldTokens() || !tok.UsableAt(now) {
		return Principal{}, models.ErrUnauthenticated
	}
	return Principal{User: u, Token: tok, Role: models.Lower(tok.Role, u.Role)}, nil
}

// Exchange checks a refresh token presented for an access token and records
// its use (time and source, coalesced in memory). Unknown, malformed, expired
// and revoked tokens all yield models.ErrUnauthenticated. A rotated token used
// after its grace period is audited as reuse.
func (s *Store) Exchange(secret, source string) (Principal, error) {
	p, tok, err := s.lookupSecret(secret)
	if err != nil {
		// Reuse is a rotated secret past its grace, not one refused for
		// another reason (its holder removed, the store unreachable).
		if now := s.opts.Now(); tok.ID != "" && tok.Status(now) == models.StatusRotated && !tok.UsableAt(now) {
			s.auditReuse(tok, source)
		}
		return Principal{}, err
	}
	s.usage.record(p.Token.ID, s.opts.Now().UTC(), source)
	return p, nil
}

// Inspect is Exchange without recording a use, for introspection.
func (s *Store) Inspect(secret string) (Principal, error) {
	p, _, err := s.lookupSecret(secret)
	return p, err
}

// lookupSecret returns the principal for a secret. On failure it still returns
// the token record when one was found, so callers can detect reuse.
func (s *Store) lookupSecret(secret string) (Principal, models.Token, error) {
	if _, err := models.ParseRefreshToken(secret); err != nil {
		return Principal{}, models.Token{}, models.ErrUnauthenticated
	}
	digest := s.digest(secret)
	id, ok := s.access.digestID(string(digest))
	if !ok {
		var err error
		if id, err = s.loadDigest(digest); err != nil {
			return Principal{}, models.Token{}, models.ErrUnauthenticated
		}
	}
	tok, u, err := s.cachedToken(id)
	if err != nil {
		// No token: one half-read (the store failed after the token) must
		// not pass for a rotated secret replayed (Exchange's reuse check).
		return Principal{}, models.Token{}, models.ErrUnauthenticated
	}
	p, err := s.principal(tok, u, "")
	return p, tok, err
}

// loadDigest is lookupSecret's digest-cache miss, apart for loadToken's reason.
func (s *Store) loadDigest(digest []byte) (id string, err error) {
	err = s.view(func(tx kv.Tx) error {
		v, err := tx.Get(bucketTokensByHash, digest)
		if err != nil {
			return err
		}
		if v == nil {
			return models.ErrUnauthenticated
		}
		id = string(v)
		return nil
	})
	if err == nil {
		s.access.putDigest(string(digest), id)
	}
	return id, err
}

// auditReuse handles a rotated secret used after its grace period: someone
// holds a secret that should be dead, so the whole chain it was rotated into
// is revoked (RFC 9700 §4.14.2: the server cannot tell the legitimate client
// from the attacker), and the audit says so. At most one entry a minute per
// token, so a replaying client cannot flood the log; the chain is revoked on
// the first replay.
func (s *Store) auditReuse(tok models.Token, source string) {
	if !s.usage.allowReuseAudit(tok.ID, s.opts.Now()) {
		return
	}
	_ = s.change(func(t *txn) (Event, error) {
		cur, err := t.token(tok.ID)
		if err != nil {
			return Event{}, err
		}
		holder, err := t.user(cur.HolderID)
		if err != nil {
			return Event{}, err
		}
		chain, err := t.chainFrom(cur)
		if err != nil {
			return Event{}, err
		}
		ev := Event{Type: models.AuditTokenReuse, UserIDs: []string{holder.ID}, TokenIDs: []string{cur.ID}}
		var revoked []string
		system := Actor{Via: source}
		for i := range chain {
			next := &chain[i]
			if !next.RevokedAt.IsZero() {
				continue
			}
			if err := t.revoke(system, models.User{}, holder, next, "rotated secret of "+cur.ID+" reused after its grace period"); err != nil {
				return Event{}, err
			}
			revoked = append(revoked, next.ID)
			ev.TokenIDs = append(ev.TokenIDs, next.ID)
		}
		e := entry(models.AuditTokenReuse, system, models.User{}, holder)
		e.TokenID = cur.ID
		e.Detail = "rotated secret used after its grace period from " + models.Sanitize(source)
		if len(revoked) > 0 {
			e.Detail += "; revoked its rotation chain: " + strings.Join(revoked, ", ") + " (RFC 9700 §4.14.2)"
		} else {
			e.Detail += "; its rotation chain was already revoked"
		}
		return ev, t.audit(e)
	})
}

// RevokeSecret revokes the token whose secret is presented (RFC 7009: whoever
// holds a token may revoke it). Unknown or already dead tokens are not an error.
func (s *Store) RevokeSecret(secret, via string) error {
	if _, err := models.ParseRefreshToken(secret); err != nil {
		return nil
	}
	digest := s.digest(secret)
	// Look first, outside the write queue: an unknown or already revoked
	// token costs one read, never a durable write or an event to every
	// console (a flood of made-up tokens would otherwise cost both).
	live := false
	if err := s.view(func(tx kv.Tx) error {
		id, err := tx.Get(bucketTokensByHash, digest)
		if err != nil || id == nil {
			return err
		}
		tok, err := s.txn(tx).token(string(id))
		if err != nil {
			return err
		}
		live = tok.RevokedAt.IsZero()
		return nil
	}); err != nil {
		return err
	}
	if !live {
		return nil
	}
	return s.change(func(t *txn) (Event, error) {
		id, err := t.Get(bucketTokensByHash, digest)
		if err != nil {
			return Event{}, err
		}
		if id == nil {
			return Event{}, nil
		}
		tok, err := t.token(string(id))
		if err != nil {
			return Event{}, err
		}
		if !tok.RevokedAt.IsZero() {
			return Event{}, nil
		}
		holder, err := t.user(tok.HolderID)
		if err != nil {
			return Event{}, err
		}
		a := Actor{UserID: holder.ID, Via: via}
		if err := t.revoke(a, holder, holder, &tok, "revoked by presenting the secret (RFC 7009)"); err != nil {
			return Event{}, err
		}
		ended, err := t.endGrace(a, holder, holder, tok)
		if err != nil {
			return Event{}, err
		}
		return Event{Type: models.AuditTokenRevoked, UserIDs: []string{holder.ID}, TokenIDs: append([]string{tok.ID}, ended...)}, nil
	})
}

// usageBuffer coalesces "last used" updates in memory; flushLoop writes them in
// one transaction every LastUsedFlush and on Close, never one write per request.
type usageBuffer struct {
	mu   sync.Mutex
	pend map[string]usage
	// flushed is the batch the last flush took. It stays visible to pending
	// until the next flush: a reader whose snapshot predates that commit (a
	// listing's page, read ahead) would otherwise see neither the record
	// nor the pending use, and a last use would go back in time.
	flushed map[string]usage
	reuseAt map[string]time.Time
}

type usage struct {
	at   time.Time
	from string
}

func (b *usageBuffer) init() {
	b.pend = map[string]usage{}
	b.reuseAt = map[string]time.Time{}
}

func (b *usageBuffer) record(id string, at time.Time, from string) {
	b.mu.Lock()
	b.pend[id] = usage{at: at, from: from}
	b.mu.Unlock()
}

// pending is the latest use of id not known to be in every snapshot yet:
// waiting for a flush, or in the batch the last flush wrote.
func (b *usageBuffer) pending(id string) (time.Time, string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.latest(id)
}

// applyPending brings the rows' last uses up to the pending ones, under one
// lock for a whole page of a listing (one lock a token was 7% of listing a
// million).
func (b *usageBuffer) applyPending(rows []TokenRow) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pend) == 0 && len(b.flushed) == 0 {
		return
	}
	for i := range rows {
		r := &rows[i]
		if at, from, ok := b.latest(string(r.ID)); ok && at.After(r.LastUsedAt) {
			r.LastUsedAt, r.LastUsedBy = at, []byte(from)
		}
	}
}

func (b *usageBuffer) latest(id string) (time.Time, string, bool) {
	u, ok := b.pend[id]
	if f, in := b.flushed[id]; in && (!ok || f.at.After(u.at)) {
		u, ok = f, true
	}
	return u.at, u.from, ok
}

// restore puts uses back after a failed flush, unless a newer use came meanwhile.
func (b *usageBuffer) restore(pend map[string]usage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, u := range pend {
		if cur, ok := b.pend[id]; !ok || u.at.After(cur.at) {
			b.pend[id] = u
		}
	}
}

func (b *usageBuffer) take() map[string]usage {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pend) == 0 {
		return nil
	}
	out := b.pend
	b.pend = map[string]usage{}
	b.flushed = out
	return out
}

func (b *usageBuffer) allowReuseAudit(id string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if last, ok := b.reuseAt[id]; ok && now.Sub(last) < time.Minute {
		return false
	}
	if len(b.reuseAt) > 10000 {
		b.reuseAt = map[string]time.Time{}
	}
	b.reuseAt[id] = now
	return true
}

func (s *Store) flushLoop() {
	defer s.wg.Done()
	tick := time.NewTicker(s.opts.LastUsedFlush)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := s.FlushUsage(); err != nil {
				s.opts.Logger.Error("record token uses", "err", err)
			}
		case <-s.quit:
			if err := s.flushUsageDirect(); err != nil {
				s.opts.Logger.Error("record token uses on close", "err", err)
			}
			return
		}
	}
}

// FlushUsage writes recorded token uses now. On failure they are kept for
// the next flush and the error is returned.
func (s *Store) FlushUsage() error {
	pend := s.usage.take()
	if len(pend) == 0 {
		return nil
	}
	if err := s.update(func(tx kv.Tx) error { return s.writeUsage(tx, pend) }); err != nil {
		s.usage.restore(pend)
		return fmt.Errorf("record last use of %d tokens: %w", len(pend), err)
	}
	return nil
}

// flushUsageDirect is FlushUsage for Close, which refuses new changes meanwhile.
func (s *Store) flushUsageDirect() error {
	pend := s.usage.take()
	if len(pend) == 0 {
		return nil
	}
	if err := s.engine.Update(context.Background(), func(tx kv.Tx) error { return s.writeUsage(tx, pend) }); err != nil {
		return fmt.Errorf("record last use of %d tokens: %w", len(pend), err)
	}
	return nil
}

func (s *Store) writeUsage(tx kv.Tx, pend map[string]usage) error {
	t := s.txn(tx)
	for id, u := range pend {
		tok, err := t.token(id)
		if errors.Is(err, models.ErrNotFound) {
			continue // gone since it was used; nothing to record
		}
		if err != nil {
			return err
		}
		if u.at.After(tok.LastUsedAt) {
			tok.LastUsedAt, tok.LastUsedBy = u.at, models.Sanitize(u.from)
			if err := t.putToken(tok); err != nil {
				return err
			}
		}
	}
	return nil
}
