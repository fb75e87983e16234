package store

import (
	"fmt"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// Scoped is the store seen through one API credential. A refresh token is role
// restricted (docs/roles.md): it acts with the lower of the role it was created with
// and its holder's current role. Scoped passes the credential as an Actor
// capped at the token's role, so every store method applies the effective role
// inside its own transaction; the HTTP handlers decide nothing themselves.
type Scoped struct {
	s *Store
	a Actor
}

// As returns the store acting for p (from Exchange, Inspect or CheckAccess)
// through the door via, e.g. "http 10.0.0.5".
func (s *Store) As(p Principal, via string) Scoped { return Scoped{s: s, a: p.Actor(via)} }

// Profile returns the credential's holder, as stored now.
func (c Scoped) Profile() (models.User, error) { return c.s.Profile(c.a) }

// ListUsers is Store.ListUsers with the credential's effective role.
func (c Scoped) ListUsers() ([]models.User, error) { return c.s.ListUsers(c.a) }

// AddUser is Store.AddUser with the credential's effective role, which also
// bounds the role it may grant.
func (c Scoped) AddUser(nu NewUser) (models.User, error) { return c.s.AddUser(c.a, nu) }

// ListTokens is Store.ListTokens with the credential's effective role: the
// whole organization's tokens only for an owner-level credential.
func (c Scoped) ListTokens(q TokenQuery) (TokenPage, error) { return c.s.ListTokens(c.a, q) }

// RevokeToken is Store.RevokeToken with the credential's effective role. A
// token the credential may not touch is reported as not found, so ids of other
// people's tokens cannot be probed.
func (c Scoped) RevokeToken(id string) (models.Token, error) { return c.s.RevokeToken(c.a, id) }

// AuthorizeIntrospection decides who may ask RFC 7662 introspection about any
// token. An answer names a token's holder, role and lifetime: the same audience
// as the audit log (owner and admins), so it follows that row of the matrix.
func (c Scoped) AuthorizeIntrospection() error {
	return c.s.view(func(tx kv.Tx) error {
		me, err := c.s.txn(tx).actor(c.a)
		if err != nil {
			return err
		}
		if err := models.Authorize(me.Subject(), models.ActAuditRead, nil); err != nil {
			return fmt.Errorf("%w (introspection needs an owner or admin token)", err)
		}
		return nil
	})
}
