package store

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// NewUser is what it takes to add a person.
type NewUser struct {
	Name  string
	Email string
	Role  models.Role
	Keys  []string // authorized_keys lines
}

// Initialized reports whether the organization exists (it has an owner).
func (s *Store) Initialized() (bool, error) {
	var ok bool
	err := s.view(func(tx kv.Tx) error {
		v, err := tx.Get(bucketMeta, keyOwner)
		ok = v != nil
		return err
	})
	return ok, err
}

// Init creates the organization and its Account Owner. It fails if one exists:
// whoever holds the data directory holds the organization, once.
func (s *Store) Init(nu NewUser, via string) (models.User, error) {
	var owner models.User
	err := s.change(func(t *txn) (Event, error) {
		if id, err := t.ownerID(); err != nil || id != "" {
			if err != nil {
				return Event{}, err
			}
			return Event{}, fmt.Errorf("%w: %s already has an organization", models.ErrConflict, t.s.opts.Location)
		}
		nu.Role = models.RoleOwner
		u, err := t.insertUser(nu)
		if err != nil {
			return Event{}, err
		}
		if err := t.Put(bucketMeta, keyOwner, []byte(u.ID)); err != nil {
			return Event{}, err
		}
		e := entry(models.AuditOrgCreated, Actor{UserID: u.ID, Via: via}, u, u)
		if err := t.audit(e); err != nil {
			return Event{}, err
		}
		owner = u
		return Event{Type: models.AuditOrgCreated, UserIDs: []string{u.ID}}, nil
	})
	return owner, err
}

// insertUser validates nu and writes the user and its indexes.
func (t *txn) insertUser(nu NewUser) (models.User, error) {
	name, err := models.ValidateName("name", nu.Name)
	if err != nil {
		return models.User{}, err
	}
	email, err := models.NormalizeEmail(nu.Email)
	if err != nil {
		return models.User{}, err
	}
	if !nu.Role.Valid() {
		return models.User{}, fmt.Errorf("%w: unknown role %q; use admin, user or stakeholder", models.ErrInvalid, models.Sanitize(string(nu.Role)))
	}
	if v, err := t.Get(bucketUsersByEmail, []byte(email)); err != nil || v != nil {
		if err != nil {
			return models.User{}, err
		}
		return models.User{}, fmt.Errorf("%w: a user with email %s already exists", models.ErrConflict, email)
	}
	id, err := models.NewID("usr_")
	if err != nil {
		return models.User{}, err
	}
	u := models.User{ID: id, Name: name, Email: email, Role: nu.Role, CreatedAt: t.now}
	for _, k := range nu.Keys {
		key, err := models.ParseSSHKey(k)
		if err != nil {
			return models.User{}, err
		}
		if err := t.attachKey(&u, key); err != nil {
			return models.User{}, err
		}
	}
	u.HadKey = len(u.Keys) > 0
	if err := t.checkLookAlike(name); err != nil {
		return models.User{}, err
	}
	if err := t.indexName(u); err != nil {
		return models.User{}, err
	}
	if err := t.Put(bucketUsersByEmail, []byte(email), []byte(id)); err != nil {
		return models.User{}, err
	}
	return u, t.putUser(u)
}

// attachKey adds key to u (not yet written) and indexes it; a key belongs to
// exactly one person, or logging in with it would be ambiguous.
func (t *txn) attachKey(u *models.User, key models.SSHKey) error {
	other, err := t.Get(bucketUsersByKey, []byte(key.Fingerprint))
	if err != nil {
		return err
	}
	if other != nil {
		if string(other) == u.ID {
			return fmt.Errorf("%w: %s already has key %s", models.ErrConflict, u.Email, key.Fingerprint)
		}
		return fmt.Errorf("%w: key %s is already registered to another user", models.ErrConflict, key.Fingerprint)
	}
	key.AddedAt = t.now
	u.Keys = append(u.Keys, key)
	return t.Put(bucketUsersByKey, []byte(key.Fingerprint), []byte(u.ID))
}

// User returns a current user by ID or email, for identity resolution (who is
// logging in?). It grants nothing by itself.
func (s *Store) User(ref string) (models.User, error) {
	var u models.User
	err := s.view(func(tx kv.Tx) error {
		var err error
		u, err = s.txn(tx).userRef(ref)
		return err
	})
	return u, err
}

// UserByKey returns the user holding the SSH key with this SHA256 fingerprint.
func (s *Store) UserByKey(fingerprint string) (models.User, error) {
	var u models.User
	err := s.view(func(tx kv.Tx) error {
		id, err := tx.Get(bucketUsersByKey, []byte(fingerprint))
		if err != nil {
			return err
		}
		if id == nil {
			return fmt.Errorf("%w: no user holds key %s", models.ErrNotFound, fingerprint)
		}
		u, err = s.txn(tx).user(string(id))
		if err == nil && u.Removed {
			err = fmt.Errorf("%w: no user holds key %s", models.ErrNotFound, fingerprint)
		}
		if err == nil && slices.ContainsFunc(u.Keys, func(k models.SSHKey) bool { return k.Fingerprint == fingerprint && k.Pending }) {
			err = fmt.Errorf("%w: key %s waits for %s's approval", models.ErrKeyPending, fingerprint, u.Email)
		}
		return err
	})
	return u, err
}

// Owner returns the Account Owner.
func (s *Store) Owner() (models.User, error) {
	var u models.User
	err := s.view(func(tx kv.Tx) error {
		id, err := tx.Get(bucketMeta, keyOwner)
		if err != nil {
			return err
		}
		if id == nil {
			return models.ErrNotInitialized
		}
		u, err = s.txn(tx).user(string(id))
		return err
	})
	return u, err
}

// Profile returns the actor's own record.
func (s *Store) Profile(a Actor) (models.User, error) {
	var u models.User
	err := s.view(func(tx kv.Tx) error {
		var err error
		u, err = s.txn(tx).actor(a)
		return err
	})
	return u, err
}

// ListUsers returns every current user, sorted by name (owner and admins only).
func (s *Store) ListUsers(a Actor) ([]models.User, error) {
	var out []models.User
	err := s.view(func(tx kv.Tx) error {
		t := s.txn(tx)
		me, err := t.actor(a)
		if err != nil {
			return err
		}
		if err := models.Authorize(me.Subject(), models.ActUserList, nil); err != nil {
			return err
		}
		return tx.Scan(bucketUsers, kv.Range{}, func(_, v []byte) error {
			u, err := decodeUser(v)
			if err != nil {
				return err
			}
			if !u.Removed {
				out = append(out, u)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Email < out[j].Email
	})
	return out, err
}

// Assignees returns the users and admins the owner may assign tokens to, sorted
// by name: the picker's list, decided here rather than in the picker.
func (s *Store) Assignees(a Actor) ([]models.User, error) {
	var out []models.User
	err := s.view(func(tx kv.Tx) error {
		me, err := s.txn(tx).actor(a)
		if err != nil {
			return err
		}
		if !models.RoleMay(me.Role, models.ActTokenAssign) {
			return fmt.Errorf("%w: only the Account Owner assigns tokens", models.ErrPermission)
		}
		return tx.Scan(bucketUsers, kv.Range{}, func(_, v []byte) error {
			u, err := decodeUser(v)
			if err != nil {
				return err
			}
			if !u.Removed && models.Authorize(me.Subject(), models.ActTokenAssign, &models.Subject{ID: u.ID, Role: u.Role}) == nil {
				out = append(out, u)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// AddUser adds a person (owner and admins; never a second owner).
func (s *Store) AddUser(a Actor, nu NewUser) (models.User, error) {
	var added models.User
	err := s.change(func(t *txn) (Event, error) {
		u, err := t.addUser(a, nu)
		added = u
		return Event{Type: models.AuditUserAdded, UserIDs: []string{u.ID}}, err
	})
	return added, err
}

func (t *txn) addUser(a Actor, nu NewUser) (models.User, error) {
	me, err := t.actor(a)
	if err != nil {
		return models.User{}, err
	}
	if err := models.Authorize(me.Subject(), models.ActUserAdd, nil); err != nil {
		return models.User{}, err
	}
	if err := models.AuthorizeGrant(me.Subject(), nu.Role); err != nil {
		return models.User{}, err
	}
	u, err := t.insertUser(nu)
	if err != nil {
		return models.User{}, err
	}
	// Keys given at onboarding work at once, marked with who added them;
	// the person is told at their first login.
	if len(u.Keys) > 0 {
		for i := range u.Keys {
			u.Keys[i].AddedBy = me.ID
		}
		if err := t.putUser(u); err != nil {
			return models.User{}, err
		}
	}
	e := entry(models.AuditUserAdded, a, me, u)
	e.Detail = "role " + string(u.Role)
	return u, t.audit(e)
}

// RemoveUser removes a person; every token they hold is revoked in the same
// transaction. It returns how many tokens were revoked.
func (s *Store) RemoveUser(a Actor, ref string) (int, error) {
	_, n, err := s.removeUser(a, ref, false)
	return n, err
}

// PreviewRemoveUser is RemoveUser as a dry run, under the same rules: the
// person as removing them would leave them, and how many tokens it would
// revoke. Nothing changes.
func (s *Store) PreviewRemoveUser(a Actor, ref string) (models.User, int, error) {
	return s.removeUser(a, ref, true)
}

func (s *Store) removeUser(a Actor, ref string, dry bool) (models.User, int, error) {
	var n int
	var out models.User
	err := s.changeOrPreview(dry, func(t *txn) (Event, error) {
		me, u, err := t.actOn(a, ref, models.ActUserRemove, "")
		if err != nil {
			return Event{}, err
		}
		ids, err := t.revokeAllOf(a, me, u, "holder removed")
		if err != nil {
			return Event{}, err
		}
		n = len(ids)
		if err := t.Delete(bucketUsersByEmail, []byte(u.Email)); err != nil {
			return Event{}, err
		}
		for _, k := range u.Keys {
			if err := t.Delete(bucketUsersByKey, []byte(k.Fingerprint)); err != nil {
				return Event{}, err
			}
		}
		u.Removed, u.RemovedAt, u.Keys = true, t.now, nil
		if err := t.putUser(u); err != nil {
			return Event{}, err
		}
		out = u
		e := entry(models.AuditUserRemoved, a, me, u)
		e.Detail = fmt.Sprintf("%d tokens revoked", n)
		return Event{Type: models.AuditUserRemoved, UserIDs: []string{u.ID}, TokenIDs: ids}, t.audit(e)
	})
	return out, n, err
}

// SetRole changes a person's role below owner. Demotion to stakeholder revokes
// every token they hold; it returns how many were revoked.
func (s *Store) SetRole(a Actor, ref string, role models.Role) (int, error) {
	var n int
	err := s.change(func(t *txn) (Event, error) {
		me, err := t.actor(a)
		if err != nil {
			return Event{}, err
		}
		if err := authorizeBeforeLookup(me, ref, models.ActUserSetRole, ""); err != nil {
			return Event{}, err
		}
		u, err := t.userRef(ref)
		if err != nil {
			return Event{}, err
		}
		if err := models.AuthorizeRoleChange(me.Subject(), u.Subject(), role); err != nil {
			return Event{}, err
		}
		if u.Role == role {
			return Event{}, fmt.Errorf("%w: %s is already %s", models.ErrConflict, u.Email, role)
		}
		var ids []string
		if !role.CanHoldTokens() {
			if ids, err = t.revokeAllOf(a, me, u, "holder demoted to "+string(role)); err != nil {
				return Event{}, err
			}
		}
		n = len(ids)
		old := u.Role
		u.Role = role
		if err := t.putUser(u); err != nil {
			return Event{}, err
		}
		e := entry(models.AuditRoleChanged, a, me, u)
		e.Detail = fmt.Sprintf("%s → %s", old, role)
		return Event{Type: models.AuditRoleChanged, UserIDs: []string{u.ID}, TokenIDs: ids}, t.audit(e)
	})
	return n, err
}

// AddKey registers an SSH public key for a person.
func (s *Store) AddKey(a Actor, ref, keyText string) (models.SSHKey, error) {
	var added models.SSHKey
	err := s.change(func(t *txn) (Event, error) {
		me, u, err := t.keyManager(a, ref)
		if err != nil {
			return Event{}, err
		}
		key, err := models.ParseSSHKey(keyText)
		if err != nil {
			return Event{}, err
		}
		// Someone else's key for a person who already had a working key
		// waits for that person's approval: otherwise an admin (or the
		// owner) could add a key of their own, log in as them and reveal
		// or rotate their tokens. A first key (onboarding) works at once.
		how := ""
		if me.ID != u.ID {
			key.AddedBy = me.ID
			if u.HadKey {
				key.Pending = true
				how = "; pending until " + u.Email + " approves it from a key they hold"
			} else {
				how = "; their first key, active at once, added by " + me.Email
			}
		}
		if err := t.attachKey(&u, key); err != nil {
			return Event{}, err
		}
		added = u.Keys[len(u.Keys)-1]
		if !key.Pending {
			u.HadKey = true
		}
		if err := t.putUser(u); err != nil {
			return Event{}, err
		}
		e := entry(models.AuditKeyAdded, a, me, u)
		e.Detail = key.Type + " " + key.Fingerprint + how
		return Event{Type: models.AuditKeyAdded, UserIDs: []string{u.ID}}, t.audit(e)
	})
	return added, err
}

// RemoveKey unregisters the key with this fingerprint.
func (s *Store) RemoveKey(a Actor, ref, fingerprint string) error {
	return s.change(func(t *txn) (Event, error) {
		me, u, err := t.keyManager(a, ref)
		if err != nil && errors.Is(err, models.ErrPermission) && me.ID != "" && me.ID == u.ID &&
			slices.ContainsFunc(u.Keys, func(k models.SSHKey) bool { return k.Fingerprint == fingerprint && k.Pending }) {
			err = nil // anyone may refuse a key someone else registered for them
		}
		if err != nil {
			return Event{}, err
		}
		kept := u.Keys[:0:0]
		for _, k := range u.Keys {
			if k.Fingerprint != fingerprint {
				kept = append(kept, k)
			}
		}
		if len(kept) == len(u.Keys) {
			return Event{}, fmt.Errorf("%w: %s has no key %s; see `keydesk user list`", models.ErrNotFound, u.Email, models.Sanitize(fingerprint))
		}
		u.Keys = kept
		if err := t.Delete(bucketUsersByKey, []byte(fingerprint)); err != nil {
			return Event{}, err
		}
		if err := t.putUser(u); err != nil {
			return Event{}, err
		}
		e := entry(models.AuditKeyRemoved, a, me, u)
		e.Detail = fingerprint
		return Event{Type: models.AuditKeyRemoved, UserIDs: []string{u.ID}}, t.audit(e)
	})
}

// ApproveKey makes one of the actor's own pending keys (added for them by
// someone else) able to log in. Only the person may approve, from a session
// or command that authenticated with a key they already hold; nobody can
// approve a key for someone else.
func (s *Store) ApproveKey(a Actor, fingerprint string) (models.SSHKey, error) {
	var out models.SSHKey
	err := s.change(func(t *txn) (Event, error) {
		me, err := t.actor(a)
		if err != nil {
			return Event{}, err
		}
		// Any role may approve (or refuse) a key registered for them: it is
		// consent, not key management.
		fingerprint = strings.TrimSpace(fingerprint)
		i := slices.IndexFunc(me.Keys, func(k models.SSHKey) bool { return k.Fingerprint == fingerprint })
		if i < 0 {
			return Event{}, fmt.Errorf("%w: you have no key %s; `keydesk whoami` lists yours", models.ErrNotFound, models.Sanitize(fingerprint))
		}
		if !me.Keys[i].Pending {
			return Event{}, fmt.Errorf("%w: key %s is already active", models.ErrConflict, fingerprint)
		}
		me.Keys[i].Pending, me.Keys[i].Acknowledged = false, true
		out = me.Keys[i]
		if err := t.putUser(me); err != nil {
			return Event{}, err
		}
		e := entry(models.AuditKeyApproved, a, me, me)
		e.Detail = me.Keys[i].Type + " " + fingerprint
		if by, err := t.user(me.Keys[i].AddedBy); err == nil {
			e.Detail += ", added by " + by.Email
		}
		return Event{Type: models.AuditKeyApproved, UserIDs: []string{me.ID}}, t.audit(e)
	})
	return out, err
}

// KeyNotices is what a person should be told when they log in with the key
// fingerprint: whether someone else registered that key for them (not yet
// acknowledged: said once, then marked), and which keys others added for
// them wait for their approval.
type KeyNotices struct {
	AddedBy models.User     // who registered the login key, if it is to be told
	Pending []models.SSHKey // keys waiting for approval
	Adders  map[string]models.User
}

// LoginNotices returns the notices for u logging in with fingerprint and
// marks the login key's notice as given.
func (s *Store) LoginNotices(userID, fingerprint string) (KeyNotices, error) {
	var out KeyNotices
	collect := func(t *txn) (models.User, bool, error) {
		out = KeyNotices{Adders: map[string]models.User{}}
		u, err := t.user(userID)
		if err != nil {
			return u, false, err
		}
		mark := false
		for i, k := range u.Keys {
			if k.AddedBy == "" {
				continue
			}
			by, err := t.user(k.AddedBy)
			if err != nil {
				by = models.User{ID: k.AddedBy, Name: "(removed)"}
			}
			out.Adders[k.AddedBy] = by
			switch {
			case k.Pending:
				out.Pending = append(out.Pending, k)
			case k.Fingerprint == fingerprint && !k.Acknowledged:
				out.AddedBy = by
				u.Keys[i].Acknowledged, mark = true, true
			}
		}
		return u, mark, nil
	}
	var mark bool
	if err := s.view(func(tx kv.Tx) error {
		var err error
		_, mark, err = collect(s.txn(tx))
		return err
	}); err != nil || !mark {
		return out, err // most logins: one read, no write
	}
	err := s.change(func(t *txn) (Event, error) {
		u, mark, err := collect(t)
		if err != nil || !mark {
			return Event{}, err
		}
		return Event{}, t.putUser(u)
	})
	return out, err
}

func (t *txn) keyManager(a Actor, ref string) (models.User, models.User, error) {
	return t.actOn(a, ref, models.ActUserManageKeys, models.ActUserManageOwnKeys)
}

// TransferOwnership makes another user or admin the Account Owner; the former
// owner becomes an admin. Exactly one owner exists before and after.
func (s *Store) TransferOwnership(a Actor, ref string) error {
	return s.change(func(t *txn) (Event, error) {
		me, u, err := t.actOn(a, ref, models.ActOwnershipTransfer, "")
		if err != nil {
			return Event{}, err
		}
		me.Role, u.Role = models.RoleAdmin, models.RoleOwner
		if err := t.putUser(me); err != nil {
			return Event{}, err
		}
		if err := t.putUser(u); err != nil {
			return Event{}, err
		}
		if err := t.Put(bucketMeta, keyOwner, []byte(u.ID)); err != nil {
			return Event{}, err
		}
		e := entry(models.AuditOwnershipMoved, a, me, u)
		e.Detail = "former owner is now admin"
		return Event{Type: models.AuditOwnershipMoved, UserIDs: []string{me.ID, u.ID}}, t.audit(e)
	})
}
