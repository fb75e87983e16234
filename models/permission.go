package models

import "fmt"

// Action names something an actor may try to do. The names double as the
// permission matrix's row labels in tests and error messages.
type Action string

// The actions of docs/roles.md. Token actions on one's own tokens and on someone
// else's are separate rows because the matrix answers them differently.
const (
	ActProfileView       Action = "view profile"
	ActTokenCreateOwn    Action = "generate own token"
	ActTokenRotateOwn    Action = "rotate own token"
	ActTokenRevokeOwn    Action = "revoke own token"
	ActTokenRenameOwn    Action = "rename own token"
	ActTokenReveal       Action = "reveal assigned token"
	ActTokenListAll      Action = "list every token"
	ActTokenAssign       Action = "assign token"
	ActTokenRevokeAny    Action = "revoke another's token"
	ActTokenRevokeAllOf  Action = "revoke all tokens of a user"
	ActUserList          Action = "list users"
	ActUserAdd           Action = "add user"
	ActUserRemove        Action = "remove user"
	ActUserSetRole       Action = "change role"
	ActUserManageKeys    Action = "manage ssh keys"
	ActOwnershipTransfer Action = "transfer ownership"
	ActAuditRead         Action = "read audit log"
	ActBackup            Action = "back up the database"
	ActTokenListOwn      Action = "list own tokens"
	ActUserViewOther     Action = "view another user"
	ActUserManageOwnKeys Action = "manage own ssh keys"
)

// Relation says whether an action's target is the actor themself.
type Relation int

// Relations an action may be limited to.
const (
	RelNone  Relation = iota // the action has no target person
	RelSelf                  // the target is the actor
	RelOther                 // the target is someone else
)

func (r Relation) String() string {
	switch r {
	case RelSelf:
		return "self"
	case RelOther:
		return "other"
	}
	return "none"
}

// Permission is one row of the matrix: who may act, on whom, and which roles the
// target may hold.
type Permission struct {
	Roles   []Role   // actor roles allowed
	On      Relation // RelNone: no target; RelSelf/RelOther: the only relation allowed
	Targets []Role   // target roles allowed (nil: any)
}

var (
	tokenHolders = []Role{RoleOwner, RoleAdmin, RoleUser}
	managers     = []Role{RoleOwner, RoleAdmin}
	ownerOnly    = []Role{RoleOwner}
	everyone     = []Role{RoleOwner, RoleAdmin, RoleUser, RoleStakeholder}
	belowOwner   = []Role{RoleAdmin, RoleUser, RoleStakeholder}
	assignable   = []Role{RoleAdmin, RoleUser}
)

// Matrix is docs/roles.md's table as data. Authorize is the only reader; tests walk it.
var Matrix = map[Action]Permission{
	ActProfileView:       {Roles: everyone, On: RelSelf},
	ActTokenListOwn:      {Roles: everyone, On: RelSelf},
	ActTokenCreateOwn:    {Roles: tokenHolders, On: RelSelf},
	ActTokenRotateOwn:    {Roles: tokenHolders, On: RelSelf},
	ActTokenRevokeOwn:    {Roles: tokenHolders, On: RelSelf},
	ActTokenRenameOwn:    {Roles: tokenHolders, On: RelSelf},
	ActTokenReveal:       {Roles: tokenHolders, On: RelSelf},
	ActTokenListAll:      {Roles: ownerOnly, On: RelNone},
	ActTokenAssign:       {Roles: ownerOnly, On: RelOther, Targets: assignable},
	ActTokenRevokeAny:    {Roles: ownerOnly, On: RelOther},
	ActTokenRevokeAllOf:  {Roles: ownerOnly, On: RelOther},
	ActUserList:          {Roles: managers, On: RelNone},
	ActUserViewOther:     {Roles: managers, On: RelOther},
	ActUserAdd:           {Roles: managers, On: RelNone},
	ActUserRemove:        {Roles: managers, On: RelOther, Targets: belowOwner},
	ActUserSetRole:       {Roles: managers, On: RelOther, Targets: belowOwner},
	ActUserManageKeys:    {Roles: managers, On: RelOther, Targets: belowOwner},
	ActUserManageOwnKeys: {Roles: managers, On: RelSelf},
	ActOwnershipTransfer: {Roles: ownerOnly, On: RelOther, Targets: assignable},
	ActAuditRead:         {Roles: managers, On: RelNone},
	ActBackup:            {Roles: ownerOnly, On: RelNone},
}

// Subject is a person as the rules see them: an identity and a current role.
type Subject struct {
	ID   string
	Role Role
}

// Authorize answers "may actor do action to target?". target is nil for actions
// without a target person. The error wraps ErrPermission and says, in one line,
// what was refused and why.
func Authorize(actor Subject, action Action, target *Subject) error {
	p, ok := Matrix[action]
	if !ok {
		return fmt.Errorf("%w: unknown action %q", ErrPermission, action)
	}
	if !contains(p.Roles, actor.Role) {
		// The role decides, so the way on is someone who may change it, or
		// who may do it: the roles page says who that is.
		return fmt.Errorf("%w: %s may not %s; `keydesk help roles` says who may", ErrPermission, roleNoun(actor.Role), action)
	}
	rel := RelNone
	if target != nil {
		rel = RelOther
		if target.ID == actor.ID {
			rel = RelSelf
		}
	}
	if p.On != RelNone && rel != p.On {
		if p.On == RelSelf {
			if hint, ok := otherRefusals[action]; ok {
				return fmt.Errorf("%w: %s", ErrPermission, hint)
			}
			return fmt.Errorf("%w: you may only %s for yourself", ErrPermission, action)
		}
		if hint, ok := selfRefusals[action]; ok {
			return fmt.Errorf("%w: %s", ErrPermission, hint)
		}
		return fmt.Errorf("%w: you may not %s on yourself", ErrPermission, action)
	}
	if p.Targets != nil && target != nil && !contains(p.Targets, target.Role) {
		if hint, ok := targetRefusals[action]; ok {
			return fmt.Errorf("%w: "+hint, ErrPermission, roleNoun(target.Role))
		}
		return fmt.Errorf("%w: you may not %s for %s", ErrPermission, action, roleNoun(target.Role))
	}
	return nil
}

// selfRefusals say, for actions that must target someone else, what to do
// instead: every refusal is one line that names the way forward.
var selfRefusals = map[Action]string{
	ActUserSetRole:       "you may not change your own role; another admin or the owner can (the owner hands over with transfer-ownership)",
	ActUserRemove:        "you may not remove yourself; another admin or the owner can",
	ActUserManageKeys:    "manage your own ssh keys from your profile",
	ActTokenAssign:       "you may not assign a token to yourself; generate one instead",
	ActTokenRevokeAny:    "revoke your own token as its holder",
	ActTokenRevokeAllOf:  "you may not revoke all your own tokens at once; revoke them one by one",
	ActOwnershipTransfer: "you already are the Account Owner; name the user or admin who should be",
	ActUserViewOther:     "view your own profile instead",
}

// otherRefusals say, for actions on one's own things tried on someone
// else's, whose they are and what to do instead ("you may only reveal
// assigned token for yourself" left an owner wondering how to see a token
// they had assigned: they never do).
var otherRefusals = map[Action]string{
	ActTokenReveal:    "only the token's holder may reveal it, once; whoever assigned it never sees the secret",
	ActTokenRotateOwn: "only the token's holder may rotate it",
	ActTokenRenameOwn: "only the token's holder may rename it",
	ActTokenRevokeOwn: "only the token's holder, or the Account Owner, may revoke it",
	ActTokenCreateOwn: "to give someone a token, assign it (token create --for EMAIL; Account Owner)",
}

// targetRefusals say why a target's role rules an action out; %s is the
// target's role with its article ("an owner").
var targetRefusals = map[Action]string{
	ActUserRemove:        "the target is %s; the Account Owner cannot be removed (transfer ownership first)",
	ActUserSetRole:       "the target is %s; the Account Owner's role changes only by transfer-ownership",
	ActUserManageKeys:    "the target is %s; only the Account Owner manages the owner's ssh keys",
	ActTokenAssign:       "the target is %s; tokens are assigned only to users and admins",
	ActOwnershipTransfer: "the target is %s; ownership goes only to a user or admin (change their role first)",
}

// RoleMay reports whether role may take action on some target at all: the
// question a list of candidates asks before checking each one.
func RoleMay(role Role, action Action) bool { return contains(Matrix[action].Roles, role) }

// AuthorizeRoleChange adds the rule that a role may be granted only below the
// owner (ownership moves by transfer) and never above the actor's own role.
func AuthorizeRoleChange(actor Subject, target Subject, to Role) error {
	if err := Authorize(actor, ActUserSetRole, &target); err != nil {
		return err
	}
	return AuthorizeGrant(actor, to)
}

// AuthorizeGrant checks that actor may hand out role to: never owner (use a
// transfer) and never above the actor's own role.
func AuthorizeGrant(actor Subject, to Role) error {
	if !to.Valid() {
		return fmt.Errorf("%w: unknown role %q", ErrInvalid, to)
	}
	if to == RoleOwner {
		return fmt.Errorf("%w: there is exactly one owner; use transfer-ownership instead", ErrPermission)
	}
	if to.Rank() > actor.Role.Rank() {
		return fmt.Errorf("%w: %s may not grant the %s role", ErrPermission, roleNoun(actor.Role), to)
	}
	return nil
}

func roleNoun(r Role) string {
	switch r {
	case RoleOwner, RoleAdmin:
		return "an " + string(r)
	case RoleUser, RoleStakeholder:
		return "a " + string(r)
	}
	return "an unknown role"
}

func contains(list []Role, r Role) bool {
	for _, x := range list {
		if x == r {
			return true
		}
	}
	return false
}
