package store

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// TokenSpec is what a person chooses when generating or assigning a token.
type TokenSpec struct {
	Name    string
	Expires time.Duration // 0: never
}

// TokenView is a token as a list shows it: the metadata plus who holds it, who
// made it, and its status now. It never carries the secret.
type TokenView struct {
	models.Token
	Status      models.TokenStatus `json:"status"`
	Masked      string             `json:"masked"`
	HolderName  string             `json:"holder_name"`
	HolderEmail string             `json:"holder_email"`
	CreatorName string             `json:"created_by_name"`
	RevokerName string             `json:"revoked_by_name,omitempty"`
}

// CreateToken generates a refresh token for the actor and returns its metadata
// and the plaintext secret, which exists nowhere else afterwards.
func (s *Store) CreateToken(a Actor, spec TokenSpec) (models.Token, string, error) {
	var tok models.Token
	var secret string
	// Drawn before the transaction, on the caller's goroutine: concurrent
	// creators then draw in parallel instead of one after another inside
	// their group commit, and the id's collision check rides in the first read.
	fresh, err := s.drawToken()
	if err != nil {
		return models.Token{}, "", err
	}
	err = s.change(func(t *txn) (Event, error) {
		if err := t.prefetchCreate(a.UserID, fresh.id); err != nil {
			return Event{}, err
		}
		me, err := t.actor(a)
		if err != nil {
			return Event{}, err
		}
		if err := models.Authorize(me.Subject(), models.ActTokenCreateOwn, &models.Subject{ID: me.ID, Role: me.Role}); err != nil {
			return Event{}, err
		}
		tok, secret, err = t.newToken(me, me, spec, false, fresh)
		if err != nil {
			return Event{}, err
		}
		e := entry(models.AuditTokenCreated, a, me, me)
		e.TokenID, e.Detail = tok.ID, tokenDetail(tok)
		return Event{Type: models.AuditTokenCreated, UserIDs: []string{me.ID}, TokenIDs: []string{tok.ID}}, t.audit(e)
	})
	return tok, secret, err
}

func tokenDetail(tok models.Token) string {
	d := fmt.Sprintf("%q %s", tok.Name, tok.Masked())
	if !tok.ExpiresAt.IsZero() {
		d += " expires " + tok.ExpiresAt.Format("2006-01-02")
	}
	return d
}

// freshToken is a new token's id, secret and the secret's digest, drawn
// before or inside the transaction that stores them.
type freshToken struct {
	id, secret string
	digest     []byte
}

// drawToken draws a new token's id and secret and computes the digest it is
// found by. It needs no transaction; a transaction that runs again keeps it.
func (s *Store) drawToken() (freshToken, error) {
	id, err := models.NewID("tok_")
	if err != nil {
		return freshToken{}, err
	}
	secret, err := models.NewRefreshToken()
	if err != nil {
		return freshToken{}, err
	}
	return freshToken{id: id, secret: secret, digest: s.digest(secret)}, nil
}

// newToken writes a token for holder (made by creator) with a fresh secret and
// its indexes: fresh's, or drawn here when fresh is zero. Assigned tokens keep
// their secret sealed until the holder reveals it.
func (t *txn) newToken(creator, holder models.User, spec TokenSpec, assigned bool, fresh freshToken) (models.Token, string, error) {
	name, err := models.ValidateName("token name", spec.Name)
	if err != nil {
		return models.Token{}, "", err
	}
	if spec.Expires < 0 {
		return models.Token{}, "", fmt.Errorf("%w: expiry must be in the future", models.ErrInvalid)
	}
	if fresh.id == "" {
		if fresh, err = t.s.drawToken(); err != nil {
			return models.Token{}, "", err
		}
	}
	id, secret := fresh.id, fresh.secret
	// Rotated tokens in their grace count: their old secrets still work, so
	// rotating would otherwise hand out more than 25 usable secrets. The new
	// id's collision check rides in the same batch as the live tokens.
	usable, grace, live, err := t.liveTokens(holder.ID, kv.GetOf(bucketTokens, []byte(id)))
	if err != nil {
		return models.Token{}, "", err
	}
	if usable+grace >= models.MaxTokensActive {
		return models.Token{}, "", limitError(creator, holder, usable, grace)
	}
	if v, err := t.Get(bucketTokens, []byte(id)); err != nil || v != nil {
		if err != nil {
			return models.Token{}, "", err
		}
		return models.Token{}, "", fmt.Errorf("token id collision; try again")
	}
	tok := models.Token{ID: id, Name: name, HolderID: holder.ID, Role: holder.Role,
		CreatedAt: t.now, CreatedBy: creator.ID, Assigned: assigned, Tail: models.TokenTail(secret)}
	if spec.Expires > 0 {
		tok.ExpiresAt = t.now.Add(spec.Expires)
	}
	if err := t.putToken(tok); err != nil {
		return models.Token{}, "", err
	}
	if err := t.Put(bucketTokensByHash, fresh.digest, []byte(id)); err != nil {
		return models.Token{}, "", err
	}
	if err := t.Put(bucketTokensByUser, holderKey(holder.ID, id), nil); err != nil {
		return models.Token{}, "", err
	}
	// The set liveTokens just read (and pruned), plus the new id.
	live = append(slices.Clip(live), id)
	if err := t.putLiveSet(holder.ID, live); err != nil {
		return models.Token{}, "", err
	}
	if t.batches() {
		t.OnCommit(func() { t.s.hints.set(holder.ID, live) })
	}
	if assigned {
		sealed, err := t.s.secrets.sealToken(id, secret)
		if err != nil {
			return models.Token{}, "", err
		}
		if err := t.Put(bucketSealed, []byte(id), sealed); err != nil {
			return models.Token{}, "", err
		}
	}
	return tok, secret, nil
}

// AssignTokens gives each listed user or admin a new token (the owner only), all
// in one transaction: either everyone gets one or nobody does. The owner never
// sees the secrets; each holder reveals theirs once.
func (s *Store) AssignTokens(a Actor, holderRefs []string, spec TokenSpec) ([]models.Token, error) {
	var out []models.Token
	err := s.change(func(t *txn) (Event, error) {
		out = out[:0]
		me, err := t.actor(a)
		if err != nil {
			return Event{}, err
		}
		if len(holderRefs) == 0 {
			return Event{}, fmt.Errorf("%w: pick at least one user or admin", models.ErrInvalid)
		}
		if err := authorizeBeforeLookup(me, "", models.ActTokenAssign, ""); err != nil {
			return Event{}, err
		}
		ev := Event{Type: models.AuditTokenAssigned, UserIDs: []string{me.ID}}
		seen := map[string]bool{}
		for _, ref := range holderRefs {
			u, err := t.userRef(ref)
			if err != nil {
				return Event{}, err
			}
			if seen[u.ID] {
				continue
			}
			seen[u.ID] = true
			if err := models.Authorize(me.Subject(), models.ActTokenAssign, &models.Subject{ID: u.ID, Role: u.Role}); err != nil {
				return Event{}, fmt.Errorf("%s: %w", u.Email, err)
			}
			tok, _, err := t.newToken(me, u, spec, true, freshToken{})
			if err != nil {
				return Event{}, err
			}
			e := entry(models.AuditTokenAssigned, a, me, u)
			e.TokenID, e.Detail = tok.ID, tokenDetail(tok)
			if err := t.audit(e); err != nil {
				return Event{}, err
			}
			out = append(out, tok)
			ev.UserIDs = append(ev.UserIDs, u.ID)
			ev.TokenIDs = append(ev.TokenIDs, tok.ID)
		}
		return ev, nil
	})
	return out, err
}

// RevealToken shows an assigned token's secret to its holder, once: the sealed
// copy is deleted in the same transaction that records the reveal.
func (s *Store) RevealToken(a Actor, id string) (string, error) {
	var secret string
	err := s.change(func(t *txn) (Event, error) {
		me, tok, err := t.ownToken(a, id, models.ActTokenReveal)
		if err != nil {
			return Event{}, err
		}
		if !tok.Assigned || tok.Revealed {
			return Event{}, fmt.Errorf("%w: token %s was already shown once and cannot be shown again; rotate it to get a new secret", models.ErrAlreadyRevealed, tok.ID)
		}
		if st := tok.Status(t.now); st != models.StatusAwaitingReveal {
			return Event{}, fmt.Errorf("%w: token %s is %s", models.ErrTokenInactive, tok.ID, st)
		}
		sealed, err := t.Get(bucketSealed, []byte(tok.ID))
		if err != nil {
			return Event{}, err
		}
		if sealed == nil {
			return Event{}, fmt.Errorf("%w: token %s has no sealed secret left", models.ErrAlreadyRevealed, tok.ID)
		}
		if secret, err = t.s.secrets.openToken(tok.ID, sealed); err != nil {
			return Event{}, err
		}
		if err := t.Delete(bucketSealed, []byte(tok.ID)); err != nil {
			return Event{}, err
		}
		tok.Revealed = true
		if err := t.putToken(tok); err != nil {
			return Event{}, err
		}
		e := entry(models.AuditTokenRevealed, a, me, me)
		e.TokenID, e.Detail = tok.ID, tokenDetail(tok)
		return Event{Type: models.AuditTokenRevealed, UserIDs: []string{me.ID}, TokenIDs: []string{tok.ID}}, t.audit(e)
	})
	return secret, err
}

// tokenFor loads token id with its holder and checks selfAct on it, or
// otherAct when someone else holds it (empty: only the holder may). Someone
// else's token is reported as not found unless the actor may see every token
// anyway, so token ids cannot be probed.
func (t *txn) tokenFor(a Actor, id string, selfAct, otherAct models.Action) (me, holder models.User, tok models.Token, err error) {
	if err = t.prefetchToken(a, id); err != nil {
		return
	}
	if me, err = t.actor(a); err != nil {
		return
	}
	if tok, err = t.token(id); err != nil {
		return
	}
	act := selfAct
	if tok.HolderID != me.ID {
		if models.Authorize(me.Subject(), models.ActTokenListAll, nil) != nil {
			err = fmt.Errorf("%w: no token %q among yours", models.ErrNotFound, models.Sanitize(id))
			return
		}
		if otherAct != "" {
			act = otherAct
		}
	}
	if holder, err = t.user(tok.HolderID); err != nil {
		return
	}
	err = models.Authorize(me.Subject(), act, &models.Subject{ID: holder.ID, Role: holder.Role})
	return
}

// ownToken is tokenFor for actions only the holder may take.
func (t *txn) ownToken(a Actor, id string, act models.Action) (models.User, models.Token, error) {
	me, _, tok, err := t.tokenFor(a, id, act, "")
	return me, tok, err
}

// RotateToken replaces one of the actor's tokens with a new secret of the same
// name, role and lifetime. The old secret keeps working for the grace period so
// deployments can switch over; afterwards its use is rejected and audited.
func (s *Store) RotateToken(a Actor, id string) (models.Token, string, error) {
	var tok models.Token
	var secret string
	err := s.change(func(t *txn) (Event, error) {
		me, old, err := t.ownToken(a, id, models.ActTokenRotateOwn)
		if err != nil {
			return Event{}, err
		}
		if st := old.Status(t.now); st != models.StatusActive {
			return Event{}, fmt.Errorf("%w: token %s is %s; only an active token can be rotated", models.ErrTokenInactive, old.ID, st)
		}
		spec := TokenSpec{Name: old.Name}
		if !old.ExpiresAt.IsZero() {
			spec.Expires = old.ExpiresAt.Sub(old.CreatedAt)
		}
		// The new token keeps the role the old one was restricted to.
		holder := me
		holder.Role = models.Lower(old.Role, me.Role)
		old.RotatedAt, old.GraceUntil = t.now, t.now.Add(t.s.opts.RotationGrace)
		if err := t.putToken(old); err != nil { // first, so the limit check counts it as rotated
			return Event{}, err
		}
		if tok, secret, err = t.newToken(me, holder, spec, false, freshToken{}); err != nil {
			if errors.Is(err, models.ErrLimit) {
				// The generic "revoke one first" reads as if this token were
				// the one too many; say why a rotation needs room.
				return Event{}, fmt.Errorf("%w: rotating needs room for one more token, since %s's old secret keeps working for %s: you already hold %d usable tokens, counting old secrets still in their grace period; revoke another one first, or revoke this one and create a new one", models.ErrLimit, old.ID, models.FormatGrace(t.s.opts.RotationGrace), models.MaxTokensActive)
			}
			return Event{}, err
		}
		old.RotatedTo = tok.ID
		if err := t.putToken(old); err != nil {
			return Event{}, err
		}
		e := entry(models.AuditTokenRotated, a, me, me)
		e.TokenID = old.ID
		e.Detail = fmt.Sprintf("replaced by %s; old secret works until %s", tok.ID, old.GraceUntil.Format(time.RFC3339))
		return Event{Type: models.AuditTokenRotated, UserIDs: []string{me.ID}, TokenIDs: []string{old.ID, tok.ID}}, t.audit(e)
	})
	return tok, secret, err
}

// RenameToken gives one of the actor's usable tokens a new name; the secret
// stays the same. The name follows the rules of a new token's.
func (s *Store) RenameToken(a Actor, id, name string) (models.Token, error) {
	var out models.Token
	name, err := models.ValidateName("token name", name)
	if err != nil {
		return out, err
	}
	err = s.change(func(t *txn) (Event, error) {
		me, tok, err := t.ownToken(a, id, models.ActTokenRenameOwn)
		if err != nil {
			return Event{}, err
		}
		if !tok.Status(t.now).Usable() {
			return Event{}, fmt.Errorf("%w: token %s is %s; only a usable token can be renamed", models.ErrTokenInactive, tok.ID, tok.Status(t.now))
		}
		old := tok.Name
		tok.Name = name
		if err := t.putToken(tok); err != nil {
			return Event{}, err
		}
		out = tok
		e := entry(models.AuditTokenRenamed, a, me, me)
		e.TokenID, e.Detail = tok.ID, fmt.Sprintf("%q → %q", old, name)
		return Event{Type: models.AuditTokenRenamed, UserIDs: []string{me.ID}, TokenIDs: []string{tok.ID}}, t.audit(e)
	})
	return out, err
}

// RotationGrace is how long a rotated secret keeps working.
func (s *Store) RotationGrace() time.Duration { return s.opts.RotationGrace }

// RevokeToken revokes one token: the actor's own, or anyone's for the owner.
// Access tokens minted from it stop working the moment this returns.
func (s *Store) RevokeToken(a Actor, id string) (models.Token, error) {
	var out models.Token
	err := s.change(func(t *txn) (Event, error) {
		// What a revoke changes is read first; the live set read is the
		// actor's (an admin revoking another's token reads the holder's later).
		// The live tokens as last seen here ride along: endGrace reads them.
		extra := append([]kv.Read{liveSetRead(a.UserID), kv.GetOf(bucketSealed, []byte(id))}, t.hintedLive(a.UserID)...)
		if err := t.prefetchToken(a, id, extra...); err != nil {
			return Event{}, err
		}
		me, holder, tok, err := t.tokenFor(a, id, models.ActTokenRevokeOwn, models.ActTokenRevokeAny)
		if err != nil {
			return Event{}, err
		}
		if !tok.RevokedAt.IsZero() {
			return Event{}, fmt.Errorf("%w: token %s was already revoked", models.ErrTokenInactive, tok.ID)
		}
		reason := ""
		if next, ok := t.liveSuccessor(tok); ok {
			// Said in the audit and by the caller (Token.RotatedTo): the
			// rotated secret is dead, its successor is not.
			reason = "its successor " + next.ID + " stays usable (revoke it too, or use --chain)"
		}
		if err := t.revoke(a, me, holder, &tok, reason); err != nil {
			return Event{}, err
		}
		ended, err := t.endGrace(a, me, holder, tok)
		if err != nil {
			return Event{}, err
		}
		out = tok
		return Event{Type: models.AuditTokenRevoked, UserIDs: []string{holder.ID, me.ID}, TokenIDs: append([]string{tok.ID}, ended...)}, nil
	})
	return out, err
}

// RevokeChain revokes a token and every token it was rotated into, so no
// secret of that lineage works any more (`token revoke --chain`). It returns
// the tokens revoked, the one named first.
func (s *Store) RevokeChain(a Actor, id string) ([]models.Token, error) {
	var out []models.Token
	err := s.change(func(t *txn) (Event, error) {
		out = out[:0]
		me, holder, tok, err := t.tokenFor(a, id, models.ActTokenRevokeOwn, models.ActTokenRevokeAny)
		if err != nil {
			return Event{}, err
		}
		chain, err := t.chainFrom(tok)
		if err != nil {
			return Event{}, err
		}
		ev := Event{Type: models.AuditTokenRevoked, UserIDs: []string{holder.ID, me.ID}}
		for i := range chain {
			if !chain[i].RevokedAt.IsZero() {
				continue
			}
			if err := t.revoke(a, me, holder, &chain[i], "with its rotation chain from "+tok.ID); err != nil {
				return Event{}, err
			}
			out = append(out, chain[i])
			ev.TokenIDs = append(ev.TokenIDs, chain[i].ID)
		}
		if len(out) == 0 {
			return Event{}, fmt.Errorf("%w: token %s and its successors were already revoked", models.ErrTokenInactive, tok.ID)
		}
		ended, err := t.endGrace(a, me, holder, chain[0])
		if err != nil {
			return Event{}, err
		}
		ev.TokenIDs = append(ev.TokenIDs, ended...)
		return ev, nil
	})
	return out, err
}

// chainFrom is tok followed by every token it was rotated into, in order.
func (t *txn) chainFrom(tok models.Token) ([]models.Token, error) {
	chain := []models.Token{tok}
	seen := map[string]bool{tok.ID: true}
	for cur := tok; cur.RotatedTo != "" && !seen[cur.RotatedTo]; {
		next, err := t.token(cur.RotatedTo)
		if err != nil {
			return nil, err
		}
		seen[next.ID] = true
		chain = append(chain, next)
		cur = next
	}
	return chain, nil
}

// liveSuccessor is the last token of tok's rotation chain if it is still
// usable.
func (t *txn) liveSuccessor(tok models.Token) (models.Token, bool) {
	if tok.RotatedTo == "" {
		return models.Token{}, false
	}
	chain, err := t.chainFrom(tok)
	if err != nil || len(chain) < 2 {
		return models.Token{}, false
	}
	last := chain[len(chain)-1]
	return last, last.UsableAt(t.now)
}

// endGrace revokes the rotated predecessors of tok (just revoked) whose grace
// has not ended, newest first, and returns their ids. A rotated secret keeps
// working only so that deployments can move to its successor; once the
// successor is revoked there is nothing left to move to. Without this,
// revoking a token that had just been rotated into (say, after a leak) left
// the secret it replaced working for the rest of the grace, up to 10 minutes,
// while the revoke said it was done. Predecessors in grace are still in the
// holder's live set, so this reads that set and its records, never every
// token the holder ever had.
func (t *txn) endGrace(a Actor, me, holder models.User, tok models.Token) ([]string, error) {
	ids, err := t.liveSet(tok.HolderID)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	if t.batches() {
		reads := make([]kv.Read, 0, len(ids))
		for _, id := range ids {
			reads = append(reads, kv.GetOf(bucketTokens, []byte(id)))
		}
		if err := kv.Prefetch(t.Tx, reads...); err != nil {
			return nil, err
		}
	}
	before := map[string]models.Token{} // successor id → its predecessor in grace
	for _, id := range ids {
		if id == tok.ID {
			continue
		}
		v, err := t.Get(bucketTokens, []byte(id))
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue // a dangling entry (keydesk check reports it)
		}
		p, err := decodeToken([]byte(id), v)
		if err != nil {
			continue // so is a damaged record; it cannot be exchanged either
		}
		if p.RotatedTo != "" && p.RevokedAt.IsZero() && p.UsableAt(t.now) {
			before[p.RotatedTo] = p
		}
	}
	var ended []string
	for cur := tok.ID; ; {
		p, ok := before[cur]
		if !ok {
			return ended, nil
		}
		delete(before, cur) // a damaged cycle ends here
		if err := t.revoke(a, me, holder, &p, "its successor "+tok.ID+" was revoked, which ends the old secret's rotation grace"); err != nil {
			return nil, err
		}
		ended = append(ended, p.ID)
		cur = p.ID
	}
}

// hintedLive announces the records of holderID's live tokens as this server
// last saw them (liveHints): on etcd, endGrace then finds them fetched in the
// change's first read instead of making a round trip of its own.
func (t *txn) hintedLive(holderID string) []kv.Read {
	if !t.batches() {
		return nil
	}
	hint := t.s.hints.get(holderID)
	reads := make([]kv.Read, 0, len(hint))
	for _, id := range hint {
		reads = append(reads, kv.GetOf(bucketTokens, []byte(id)))
	}
	return reads
}

// revoke marks tok revoked, drops any sealed secret and audits it.
func (t *txn) revoke(a Actor, me, holder models.User, tok *models.Token, reason string) error {
	tok.RevokedAt, tok.RevokedBy = t.now, me.ID
	if err := t.putToken(*tok); err != nil {
		return err
	}
	if err := t.dropLive(tok.HolderID, tok.ID); err != nil {
		return err
	}
	if err := t.Delete(bucketSealed, []byte(tok.ID)); err != nil {
		return err
	}
	e := entry(models.AuditTokenRevoked, a, me, holder)
	e.TokenID, e.Detail = tok.ID, tokenDetail(*tok)
	if reason != "" {
		e.Detail += "; " + reason
	}
	return t.audit(e)
}

// revokeAllOf revokes every token of u that is not already dead.
func (t *txn) revokeAllOf(a Actor, me, u models.User, reason string) ([]string, error) {
	toks, err := t.holderTokens(u.ID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for i := range toks {
		if !toks[i].UsableAt(t.now) && toks[i].Status(t.now) != models.StatusAwaitingReveal {
			continue
		}
		if err := t.revoke(a, me, u, &toks[i], reason); err != nil {
			return nil, err
		}
		ids = append(ids, toks[i].ID)
	}
	return ids, nil
}

// RevokeAllOf revokes every live token a user holds (owner only) and returns how many.
func (s *Store) RevokeAllOf(a Actor, ref string) (int, error) {
	_, n, err := s.revokeAll(a, ref, false)
	return n, err
}

// PreviewRevokeAllOf is RevokeAllOf as a dry run, under the same rules: the
// holder and how many tokens it would revoke. Nothing changes.
func (s *Store) PreviewRevokeAllOf(a Actor, ref string) (models.User, int, error) {
	return s.revokeAll(a, ref, true)
}

func (s *Store) revokeAll(a Actor, ref string, dry bool) (models.User, int, error) {
	var n int
	var holder models.User
	err := s.changeOrPreview(dry, func(t *txn) (Event, error) {
		me, u, err := t.actOn(a, ref, models.ActTokenRevokeAllOf, models.ActTokenRevokeOwn)
		if err != nil {
			return Event{}, err
		}
		holder = u
		ids, err := t.revokeAllOf(a, me, u, "all tokens of "+u.Email)
		n = len(ids)
		return Event{Type: models.AuditTokenRevoked, UserIDs: []string{u.ID, me.ID}, TokenIDs: ids}, err
	})
	return holder, n, err
}

// TokenQuery selects tokens for a listing.
type TokenQuery struct {
	All    bool   // every token of the organization (owner only)
	Holder string // one person's tokens, by ID or email (self, or owner for anyone)
	Filter string // case-insensitive substring of name, id, masked form, holder or status
	Oldest bool   // oldest first instead of newest first
	After  string // paging cursor: the previous page's Next
	Limit  int    // page size; 0 means no limit
	// Sort orders an All listing by "name", "holder", "status" or
	// "expires" instead of creation (ascending; Desc reverses), ties by ID.
	// It reads every token the filter keeps for each page (ListTokens only,
	// with a Limit): the console's column sort over the whole list.
	Sort string
	Desc bool
}

// tokenSortKeys are the orders TokenQuery.Sort knows.
var tokenSortKeys = map[string]func(v TokenView) string{
	"name":   func(v TokenView) string { return strings.ToLower(v.Name) },
	"holder": func(v TokenView) string { return strings.ToLower(v.HolderName) + "\x00" + v.HolderEmail },
	"status": func(v TokenView) string { return string(v.Status) },
	"expires": func(v TokenView) string {
		if v.ExpiresAt.IsZero() {
			return "~" // never: after every date
		}
		return v.ExpiresAt.UTC().Format(time.RFC3339Nano)
	},
}

// sortedPage is ListTokens for a Sort: one pass over the tokens (in
// EachToken's short transactions), keeping the Limit that come first after
// the cursor. The cursor is the last row's sort key and ID.
func (s *Store) sortedPage(a Actor, q TokenQuery) (TokenPage, error) {
	keyOf, ok := tokenSortKeys[q.Sort]
	if !ok {
		return TokenPage{}, fmt.Errorf("%w: unknown sort %q; use name, holder, status or expires", models.ErrInvalid, models.Sanitize(q.Sort))
	}
	if q.Limit <= 0 {
		return TokenPage{}, fmt.Errorf("%w: a sorted listing needs a page size", models.ErrInvalid)
	}
	type row struct {
		key string
		v   TokenView
	}
	less := func(x, y row) bool {
		switch {
		case x.key != y.key:
			return (x.key < y.key) != q.Desc
		case x.v.ID == y.v.ID:
			return false
		}
		return (x.v.ID < y.v.ID) != q.Desc
	}
	var cur *row
	if q.After != "" {
		i := strings.LastIndexByte(q.After, 0)
		if i < 0 {
			return TokenPage{}, fmt.Errorf("%w: not a cursor of this sort", models.ErrInvalid)
		}
		cur = &row{key: q.After[:i], v: TokenView{Token: models.Token{ID: q.After[i+1:]}}}
	}
	// best holds the Limit+1 smallest rows after the cursor, kept sorted:
	// pages are small, so insertion beats a heap.
	var best []row
	inner := q
	inner.Sort, inner.After, inner.Limit, inner.Oldest = "", "", 0, true
	err := s.EachToken(a, inner, func(v TokenView) error {
		r := row{key: keyOf(v), v: v}
		if cur != nil && !less(*cur, r) {
			return nil
		}
		if len(best) > q.Limit && !less(r, best[len(best)-1]) {
			return nil
		}
		i := sort.Search(len(best), func(i int) bool { return less(r, best[i]) })
		best = append(best, row{})
		copy(best[i+1:], best[i:])
		best[i] = r
		if len(best) > q.Limit+1 {
			best = best[:q.Limit+1]
		}
		return nil
	})
	if err != nil {
		return TokenPage{}, err
	}
	var page TokenPage
	for i, r := range best {
		if i == q.Limit {
			last := best[i-1]
			page.Next = last.key + "\x00" + last.v.ID
			break
		}
		page.Tokens = append(page.Tokens, r.v)
	}
	return page, nil
}

// TokenPage is one page of a listing; Next is the cursor for the following
// page, empty on the last one.
type TokenPage struct {
	Tokens []TokenView
	Next   string
}

// ListTokens returns one page of tokens. Pages walk the ID order, which is
// creation order, so the first page of a million tokens costs a page's work.
func (s *Store) ListTokens(a Actor, q TokenQuery) (TokenPage, error) {
	if q.All && q.Limit > 0 && (q.Sort != "" || strings.TrimSpace(q.Filter) != "") {
		// The console's sorted and filtered pages: from the index when it
		// can vouch for the answer (listindex.go), else by a scan.
		if page, err := s.indexedPage(a, q); !errors.Is(err, errNoIndex) {
			return page, err
		}
	}
	return s.scanPage(a, q)
}

// scanPage is ListTokens by reading the tokens.
func (s *Store) scanPage(a Actor, q TokenQuery) (TokenPage, error) {
	if q.Sort != "" {
		return s.sortedPage(a, q)
	}
	var page TokenPage
	err := s.EachToken(a, q, func(v TokenView) error {
		if q.Limit > 0 && len(page.Tokens) == q.Limit {
			page.Next = page.Tokens[len(page.Tokens)-1].ID
			return kv.ErrStop
		}
		page.Tokens = append(page.Tokens, v)
		return nil
	})
	return page, err
}

// eachTokenPage is how many tokens EachToken reads per transaction.
const eachTokenPage = 512

// EachToken streams the tokens q selects to fn, in order, without holding them
// all in memory: `token list --all --json` on a million tokens streams.
//
// fn is never called inside a transaction: each round reads at most
// eachTokenPage tokens in a read transaction (checking the actor's
// permission again), closes it, and only then hands them to fn. fn usually
// writes to a client (an SSH channel, an HTTP body); a client that stops
// reading would otherwise hold a read transaction open, and a held read
// transaction can stall the engine's writes (bbolt waits for readers before
// it remaps a growing file) and with them every other session.
func (s *Store) EachToken(a Actor, q TokenQuery, fn func(TokenView) error) error {
	filter := strings.ToLower(strings.TrimSpace(q.Filter))
	names := map[string]models.User{}
	after := q.After
	for {
		var page []TokenView
		more := false
		err := s.view(func(tx kv.Tx) error {
			page, more = page[:0], false
			t := s.txn(tx)
			me, err := t.actor(a)
			if err != nil {
				return err
			}
			un := userNames{t: t, cache: names}
			add := func(tok models.Token) {
				v := s.view1(tok, t.now, &un)
				if filter == "" || v.matches(filter) {
					page = append(page, v)
				}
			}
			if q.All {
				if err := models.Authorize(me.Subject(), models.ActTokenListAll, nil); err != nil {
					return err
				}
				r := kv.Range{Reverse: !q.Oldest, Limit: eachTokenPage}
				if after != "" && q.Oldest {
					r.After = []byte(after)
				} else if after != "" {
					r.Before = []byte(after)
				}
				n := 0
				err := tx.Scan(bucketTokens, r, func(k, v []byte) error {
					tok, err := decodeToken(k, v)
					if err != nil {
						return err
					}
					add(tok)
					n++
					after = string(k)
					return nil
				})
				more = n == eachTokenPage
				return err
			}
			holder := me
			if ref := strings.TrimSpace(q.Holder); ref != "" {
				// Refuse before resolving: who exists is not a user's to learn.
				self := ref == me.ID || strings.EqualFold(ref, me.Email)
				if !self && models.Authorize(me.Subject(), models.ActTokenListAll, nil) != nil {
					return fmt.Errorf("%w: you may list only your own tokens (the Account Owner lists anyone's)", models.ErrPermission)
				}
				if holder, err = t.userRef(ref); err != nil {
					return err
				}
			}
			toks, err := t.holderTokens(holder.ID)
			if err != nil {
				return err
			}
			sort.Slice(toks, func(i, j int) bool {
				if q.Oldest {
					return toks[i].ID < toks[j].ID
				}
				return toks[i].ID > toks[j].ID
			})
			n := 0
			for _, tok := range toks {
				if after != "" && ((!q.Oldest && tok.ID >= after) || (q.Oldest && tok.ID <= after)) {
					continue
				}
				if n == eachTokenPage {
					more = true
					break
				}
				add(tok)
				n++
				after = tok.ID
			}
			return nil
		})
		if err != nil {
			return err
		}
		// The transaction is closed: now the page may go to a slow client.
		for _, v := range page {
			if err := fn(v); err != nil {
				if errors.Is(err, kv.ErrStop) {
					return nil
				}
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

type userNames struct {
	t     *txn
	cache map[string]models.User
}

// maxNameCache bounds userNames. It is above any organization keydesk is
// sized for (100k people), because a listing walks tokens in ID order, i.e.
// holders at random: with a cap below the organization's size nearly every
// token missed and decoded its holder's record again (half the time of
// `token list --all` on 1M tokens). Only the name and email are kept, about
// 100 bytes a person.
const maxNameCache = 1 << 18

func (n *userNames) get(id string) models.User {
	if u, ok := n.cache[id]; ok {
		return u
	}
	u, err := n.t.user(id)
	if err != nil {
		u = models.User{ID: id, Name: "(unknown)", Email: ""}
	}
	u = models.User{ID: u.ID, Name: u.Name, Email: u.Email}
	if len(n.cache) < maxNameCache {
		n.cache[id] = u
	}
	return u
}

func (s *Store) view1(tok models.Token, now time.Time, names *userNames) TokenView {
	if at, from, ok := s.usage.pending(tok.ID); ok && at.After(tok.LastUsedAt) {
		tok.LastUsedAt, tok.LastUsedBy = at, from
	}
	h := names.get(tok.HolderID)
	c := names.get(tok.CreatedBy)
	v := TokenView{Token: tok, Status: tok.Status(now), Masked: tok.Masked(),
		HolderName: h.Name, HolderEmail: h.Email, CreatorName: c.Name}
	if tok.RevokedBy != "" {
		v.RevokerName = names.get(tok.RevokedBy).Name
	}
	return v
}

func (v TokenView) matches(filter string) bool {
	for _, f := range []string{v.Name, v.ID, v.Masked, v.HolderName, v.HolderEmail, string(v.Status), string(v.Role)} {
		if strings.Contains(strings.ToLower(f), filter) {
			return true
		}
	}
	return false
}

// Token returns one token's view: the actor's own, or any for the owner.
func (s *Store) Token(a Actor, id string) (TokenView, error) {
	var out TokenView
	err := s.view(func(tx kv.Tx) error {
		t := s.txn(tx)
		_, _, tok, err := t.tokenFor(a, id, models.ActTokenListOwn, models.ActTokenListAll)
		if err != nil {
			return err
		}
		out = s.view1(tok, t.now, &userNames{t: t, cache: map[string]models.User{}})
		return nil
	})
	return out, err
}

// LiveTokenCount is how many usable tokens a person holds: what removing or
// demoting them would revoke. Owner and admins only.
func (s *Store) LiveTokenCount(a Actor, ref string) (int, error) {
	var n int
	err := s.view(func(tx kv.Tx) error {
		t := s.txn(tx)
		me, err := t.actor(a)
		if err != nil {
			return err
		}
		if err := authorizeBeforeLookup(me, ref, models.ActUserViewOther, models.ActProfileView); err != nil {
			return err
		}
		u, err := t.userRef(ref)
		if err != nil {
			return err
		}
		if u.ID != me.ID {
			if err := models.Authorize(me.Subject(), models.ActUserViewOther, &models.Subject{ID: u.ID, Role: u.Role}); err != nil {
				return err
			}
		}
		usable, grace, _, _, err := t.countLive(u.ID)
		n = usable + grace // both would be revoked, as both count toward the limit
		return err
	})
	return n, err
}
