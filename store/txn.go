package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// txn wraps a key-value transaction with the record helpers every operation needs.
type txn struct {
	kv.Tx
	s   *Store
	now time.Time
}

func (s *Store) txn(tx kv.Tx) *txn { return &txn{Tx: tx, s: s, now: s.opts.Now().UTC()} }

// change runs fn as one write: fn makes the change and returns the event to
// publish once it is durable.
func (s *Store) change(fn func(t *txn) (Event, error)) error {
	var committed Event
	err := s.update(func(tx kv.Tx) error {
		t := s.txn(tx)
		ev, err := fn(t)
		if err != nil {
			return err
		}
		tx.OnCommit(func() { committed = ev; s.afterCommit(ev) })
		return nil
	})
	if err == nil && takesAccess[committed.Type] {
		s.settle()
	}
	return err
}

// takesAccess are the changes after which some credential that worked may no
// longer work (so other servers' caches must not answer for it, see settle).
var takesAccess = map[string]bool{models.AuditTokenRevoked: true, models.AuditTokenRevokedOAuth: true,
	models.AuditUserRemoved: true, models.AuditRoleChanged: true, models.AuditOwnershipMoved: true}

// afterCommit refreshes the access cache and tells subscribers. It runs only
// once the transaction is durable, before the writer's call returns, so a revoke
// is visible to every later request the moment RevokeToken returns.
func (s *Store) afterCommit(ev Event) {
	s.access.invalidate(ev.UserIDs, ev.TokenIDs)
	if ev.Type == "" && len(ev.UserIDs) == 0 && len(ev.TokenIDs) == 0 {
		return // nothing changed that a console shows
	}
	s.events.publish(ev)
}

func (t *txn) user(id string) (models.User, error) {
	v, err := t.Get(bucketUsers, []byte(id))
	if err != nil {
		return models.User{}, err
	}
	if v == nil {
		return models.User{}, fmt.Errorf("%w: no user %q", models.ErrNotFound, models.Sanitize(id))
	}
	return decodeUser(v)
}

// actor loads the acting user fresh, inside the transaction, so permissions
// follow the current role and a removed user can do nothing.
func (t *txn) actor(a Actor) (models.User, error) {
	if a.UserID == "" {
		return models.User{}, fmt.Errorf("%w: no acting user", models.ErrPermission)
	}
	u, err := t.user(a.UserID)
	if errors.Is(err, models.ErrNotFound) || err == nil && u.Removed {
		return models.User{}, fmt.Errorf("%w: your account no longer exists", models.ErrPermission)
	}
	if err != nil {
		return models.User{}, err // the store could not say (etcd unreachable): not a verdict on the account
	}
	if a.Key != "" && !slices.ContainsFunc(u.Keys, func(k models.SSHKey) bool { return k.Fingerprint == a.Key && !k.Pending }) {
		return models.User{}, fmt.Errorf("%w: the SSH key this session logged in with (%s) is no longer on your account; log in again with a key you hold", models.ErrPermission, models.Sanitize(a.Key))
	}
	if a.Cap != "" {
		u.Role = models.Lower(u.Role, a.Cap)
	}
	return u, nil
}

// userRef resolves a user ID ("usr_…") or an email to a current (not removed) user.
func (t *txn) userRef(ref string) (models.User, error) {
	ref = strings.TrimSpace(ref)
	if strings.HasPrefix(ref, "usr_") {
		u, err := t.user(ref)
		if err == nil && !u.Removed {
			return u, nil
		}
		return models.User{}, fmt.Errorf("%w: no user %q", models.ErrNotFound, models.Sanitize(ref))
	}
	email := strings.ToLower(ref)
	id, err := t.Get(bucketUsersByEmail, []byte(email))
	if err != nil {
		return models.User{}, err
	}
	if id == nil {
		return models.User{}, fmt.Errorf("%w: no user with email %q; see `keydesk user list`", models.ErrNotFound, models.Sanitize(ref))
	}
	return t.user(string(id))
}

// actOn loads the actor and the person ref names and checks act on them; when
// the person is the actor and selfAct is set, selfAct is checked instead (the
// matrix answers "my own" and "someone else's" in different rows).
func (t *txn) actOn(a Actor, ref string, act, selfAct models.Action) (me, u models.User, err error) {
	if me, err = t.actor(a); err != nil {
		return me, u, err
	}
	if err = authorizeBeforeLookup(me, ref, act, selfAct); err != nil {
		return me, u, err
	}
	if u, err = t.userRef(ref); err != nil {
		return me, u, err
	}
	if u.ID == me.ID && selfAct != "" {
		act = selfAct
	}
	return me, u, models.Authorize(me.Subject(), act, &models.Subject{ID: u.ID, Role: u.Role})
}

// authorizeBeforeLookup refuses, before ref is resolved, an actor whose role
// may not do act to anyone else, unless ref names the actor and selfAct is
// theirs to do: "not found" for one email and "permission denied" for
// another would tell a stakeholder who has an account.
func authorizeBeforeLookup(me models.User, ref string, act, selfAct models.Action) error {
	if slices.Contains(models.Matrix[act].Roles, me.Role) {
		return nil
	}
	ref = strings.TrimSpace(ref)
	if selfAct != "" && (ref == me.ID || strings.EqualFold(ref, me.Email)) {
		return nil
	}
	return models.Authorize(me.Subject(), act, nil) // the role's refusal
}

func (t *txn) putUser(u models.User) error {
	data, err := encodeUser(u)
	if err != nil {
		return fmt.Errorf("encode user %s: %w", u.ID, err)
	}
	t.noteUser(u.ID)
	return t.Put(bucketUsers, []byte(u.ID), data)
}

func (t *txn) token(id string) (models.Token, error) {
	v, err := t.Get(bucketTokens, []byte(id))
	if err != nil {
		return models.Token{}, err
	}
	if v == nil {
		return models.Token{}, fmt.Errorf("%w: no token %q", models.ErrNotFound, models.Sanitize(id))
	}
	return decodeToken([]byte(id), v)
}

func (t *txn) putToken(tok models.Token) error {
	t.noteToken(tok.ID)
	return t.Put(bucketTokens, []byte(tok.ID), encodeToken(tok))
}

func holderKey(holderID, tokenID string) []byte { return []byte(holderID + "/" + tokenID) }

// holderTokens returns the holder's tokens, via the reverse index, oldest first.
func (t *txn) holderTokens(holderID string) ([]models.Token, error) {
	prefix := []byte(holderID + "/")
	var out []models.Token
	err := t.Scan(bucketTokensByUser, kv.Range{Prefix: prefix}, func(k, _ []byte) error {
		tok, err := t.token(string(k[len(prefix):]))
		if err != nil {
			return err
		}
		out = append(out, tok)
		return nil
	})
	return out, err
}

// audit appends an entry; its sequence number orders the log.
func (t *txn) audit(e models.AuditEntry) error {
	seq, err := t.NextSequence(bucketAudit)
	if err != nil {
		return fmt.Errorf("audit sequence: %w", err)
	}
	e.Seq = seq
	if e.At.IsZero() {
		e.At = t.now
	}
	data, err := encodeAudit(e)
	if err != nil {
		return fmt.Errorf("encode audit entry: %w", err)
	}
	return t.Put(bucketAudit, u64(seq), data)
}

// entry starts an audit entry for actor acting on target (either may be zero).
func entry(typ string, a Actor, actor models.User, target models.User) models.AuditEntry {
	return models.AuditEntry{Type: typ, ActorID: actor.ID, ActorEmail: actor.Email,
		TargetID: target.ID, TargetEmail: target.Email, Via: a.Via}
}

func (t *txn) ownerID() (string, error) {
	v, err := t.Get(bucketMeta, keyOwner)
	return string(v), err
}
