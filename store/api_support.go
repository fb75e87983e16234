package store

import (
	"fmt"

	"github.com/keydesk/keydesk/models"
	bolt "go.etcd.io/bbolt"
)

// Scoped is a store seen through one API credential. A refresh token is role
// restricted (SPEC §1): it may act only with its effective role, the lower of
// the role it was created with and its holder's current role. The plain store
// methods check the holder's current role; Scoped checks the effective role as
// well, so an admin's old "user" token cannot list users after a promotion and
// the HTTP handlers never decide a permission on their own.
type Scoped struct {
	s   *Store
	p   Principal
	via string
}

// As returns the store acting for p (from Exchange, Inspect or CheckAccess)
// through the door via, e.g. "http 10.0.0.5".
func (s *Store) As(p Principal, via string) Scoped { return Scoped{s: s, p: p, via: via} }

func (c Scoped) actor() Actor { return c.p.Actor(c.via) }

func (c Scoped) subject() models.Subject { return models.Subject{ID: c.p.User.ID, Role: c.p.Role} }

// Authorize answers "may this credential do action to target?" with the
// credential's effective role. The store call that follows checks the holder's
// current role again inside its transaction; both must allow it.
func (c Scoped) Authorize(action models.Action, target *models.Subject) error {
	return models.Authorize(c.subject(), action, target)
}

// Profile returns the credential's holder, as stored now.
func (c Scoped) Profile() (models.User, error) {
	if err := c.Authorize(models.ActProfileView, &models.Subject{ID: c.p.User.ID, Role: c.p.Role}); err != nil {
		return models.User{}, err
	}
	return c.s.Profile(c.actor())
}

// ListUsers is Store.ListUsers limited to the credential's effective role.
func (c Scoped) ListUsers() ([]models.User, error) {
	if err := c.Authorize(models.ActUserList, nil); err != nil {
		return nil, err
	}
	return c.s.ListUsers(c.actor())
}

// AddUser is Store.AddUser limited to the credential's effective role, which
// also bounds the role it may grant.
func (c Scoped) AddUser(nu NewUser) (models.User, error) {
	if err := c.Authorize(models.ActUserAdd, nil); err != nil {
		return models.User{}, err
	}
	if err := models.AuthorizeGrant(c.subject(), nu.Role); err != nil {
		return models.User{}, err
	}
	return c.s.AddUser(c.actor(), nu)
}

// ListTokens is Store.ListTokens limited to the credential's effective role:
// the whole organization's tokens only for an owner-level credential.
func (c Scoped) ListTokens(q TokenQuery) (TokenPage, error) {
	if q.All || (q.Holder != "" && q.Holder != c.p.User.ID) {
		if err := c.Authorize(models.ActTokenListAll, nil); err != nil {
			return TokenPage{}, err
		}
	}
	return c.s.ListTokens(c.actor(), q)
}

// RevokeToken is Store.RevokeToken limited to the credential's effective role.
// A token the credential may not touch is reported as not found, as
// Store.RevokeToken does, so ids of other people's tokens cannot be probed.
func (c Scoped) RevokeToken(id string) (models.Token, error) {
	var holderID string
	err := c.s.view(func(tx *bolt.Tx) error {
		tok, err := c.s.txn(tx).token(id)
		holderID = tok.HolderID
		return err
	})
	if err != nil {
		return models.Token{}, err
	}
	act := models.ActTokenRevokeOwn
	if holderID != c.p.User.ID {
		act = models.ActTokenRevokeAny
	}
	if err := c.Authorize(act, &models.Subject{ID: holderID}); err != nil {
		if act == models.ActTokenRevokeAny {
			return models.Token{}, fmt.Errorf("%w: no token %q among yours", models.ErrNotFound, models.Sanitize(id))
		}
		return models.Token{}, err
	}
	return c.s.RevokeToken(c.actor(), id)
}

// AuthorizeIntrospection decides who may ask RFC 7662 introspection about any
// token. An answer names a token's holder, role and lifetime: the same audience
// as the audit log (owner and admins), so it follows that row of the matrix.
func (c Scoped) AuthorizeIntrospection() error {
	if err := c.Authorize(models.ActAuditRead, nil); err != nil {
		return fmt.Errorf("%w (introspection needs an owner or admin token)", err)
	}
	return nil
}
