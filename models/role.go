// Package models holds keydesk's domain: roles and the permission matrix, the
// refresh-token format, validation of user-supplied text and the sentinel errors
// every interface matches with errors.Is. It is pure Go on purpose: no storage, no
// terminal and no network code, so every rule here can be tested in isolation and
// reused by every door (console, SSH, CLI, HTTP).
package models

import (
	"fmt"
	"strings"
)

// Role is a user's place in the organization. Roles are ordered: a higher rank may
// do everything a lower one may, which is what "the lower of two roles" relies on.
type Role string

// The roles of docs/roles.md, highest first.
const (
	RoleOwner       Role = "owner"
	RoleAdmin       Role = "admin"
	RoleUser        Role = "user"
	RoleStakeholder Role = "stakeholder"
)

// Roles lists every role, highest first, for menus and validation.
var Roles = []Role{RoleOwner, RoleAdmin, RoleUser, RoleStakeholder}

// Rank orders roles; an unknown role ranks below every real one so that a
// corrupted record can never grant anything.
func (r Role) Rank() int {
	switch r {
	case RoleOwner:
		return 4
	case RoleAdmin:
		return 3
	case RoleUser:
		return 2
	case RoleStakeholder:
		return 1
	}
	return 0
}

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return r.Rank() > 0 }

// AtLeast reports whether r ranks at or above min.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r.Rank() >= min.Rank() }

// CanHoldTokens reports whether a holder of r may own refresh tokens at all.
// Stakeholders are read-only people in the original product and hold none.
func (r Role) CanHoldTokens() bool { return r.AtLeast(RoleUser) }

// Assignable reports whether the owner may assign a token to a holder of r:
// the original product's picker offers only users and admins.
func (r Role) Assignable() bool { return r == RoleUser || r == RoleAdmin }

// Title is the role's display name ("Account Owner" for the owner, as the
// original product calls it).
func (r Role) Title() string {
	switch r {
	case RoleOwner:
		return "Account Owner"
	case RoleAdmin:
		return "Admin"
	case RoleUser:
		return "User"
	case RoleStakeholder:
		return "Stakeholder"
	}
	return "Unknown"
}

// Lower returns the lower-ranked of two roles: a token's effective role is the
// lower of the role it was created with and its holder's current role.
func Lower(a, b Role) Role {
	if a.Rank() <= b.Rank() {
		return a
	}
	return b
}

// ParseRole accepts a role name in any case, with "account-owner" as an alias.
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "owner", "account-owner", "account_owner":
		return RoleOwner, nil
	case "admin":
		return RoleAdmin, nil
	case "user":
		return RoleUser, nil
	case "stakeholder":
		return RoleStakeholder, nil
	}
	return "", fmt.Errorf("%w: unknown role %q; use one of owner, admin, user, stakeholder", ErrInvalid, Sanitize(s))
}
