package models

import (
	"errors"
	"fmt"
	"testing"
)

// TestPermissionMatrix walks every action × actor role × relation × target role
// and compares Authorize with docs/roles.md's matrix written out independently below.
func TestPermissionMatrix(t *testing.T) {
	// spec answers from docs/roles.md's table, independent of Matrix.
	spec := func(act Action, actor Role, rel Relation, target Role) bool {
		holder := actor == RoleOwner || actor == RoleAdmin || actor == RoleUser
		manager := actor == RoleOwner || actor == RoleAdmin
		owner := actor == RoleOwner
		switch act {
		case ActProfileView, ActTokenListOwn:
			return rel == RelSelf
		case ActTokenCreateOwn, ActTokenRotateOwn, ActTokenRevokeOwn, ActTokenRenameOwn, ActTokenReveal:
			return holder && rel == RelSelf
		case ActTokenListAll, ActBackup:
			return owner && rel == RelNone
		case ActTokenAssign:
			return owner && rel == RelOther && (target == RoleUser || target == RoleAdmin)
		case ActTokenRevokeAny, ActTokenRevokeAllOf:
			return owner && rel == RelOther
		case ActUserList, ActUserAdd, ActAuditRead:
			return manager && rel == RelNone
		case ActUserViewOther:
			return manager && rel == RelOther
		case ActUserRemove, ActUserSetRole, ActUserManageKeys:
			return manager && rel == RelOther && target != RoleOwner
		case ActUserManageOwnKeys:
			return manager && rel == RelSelf
		case ActOwnershipTransfer:
			return owner && rel == RelOther && (target == RoleUser || target == RoleAdmin)
		}
		t.Fatalf("action %q has no expectation: add it to this test", act)
		return false
	}
	checked := 0
	for act := range Matrix {
		for _, actor := range Roles {
			for _, rel := range []Relation{RelNone, RelSelf, RelOther} {
				targets := Roles
				if rel == RelNone {
					targets = []Role{""}
				}
				for _, target := range targets {
					if rel == RelSelf && target != actor {
						continue // a person has one role
					}
					name := fmt.Sprintf("%s/%s/%s/%s", act, actor, rel, target)
					a := Subject{ID: "usr_actor", Role: actor}
					var tg *Subject
					switch rel {
					case RelSelf:
						tg = &Subject{ID: a.ID, Role: actor}
					case RelOther:
						tg = &Subject{ID: "usr_other", Role: target}
					}
					err := Authorize(a, act, tg)
					want := spec(act, actor, rel, target)
					if Matrix[act].On != RelNone && rel == RelNone {
						// Targeted actions asked without a target: never allowed
						// unless the action is targetless.
						want = false
					}
					if Matrix[act].On == RelNone && rel != RelNone {
						// Targetless actions ignore a target.
						want = spec(act, actor, RelNone, "")
					}
					if (err == nil) != want {
						t.Errorf("%s: allowed=%v, want %v (err %v)", name, err == nil, want, err)
					}
					if err != nil && !errors.Is(err, ErrPermission) {
						t.Errorf("%s: error %v does not wrap ErrPermission", name, err)
					}
					checked++
				}
			}
		}
	}
	if checked < 300 {
		t.Fatalf("only %d combinations checked", checked)
	}
}

func TestAuthorizeRoleChange(t *testing.T) {
	owner := Subject{ID: "o", Role: RoleOwner}
	admin := Subject{ID: "a", Role: RoleAdmin}
	user := Subject{ID: "u", Role: RoleUser}
	cases := []struct {
		actor, target Subject
		to            Role
		ok            bool
	}{
		{owner, user, RoleAdmin, true},
		{owner, admin, RoleStakeholder, true},
		{owner, user, RoleOwner, false}, // ownership moves by transfer only
		{admin, user, RoleAdmin, true},
		{admin, owner, RoleUser, false}, // nobody demotes the owner
		{user, admin, RoleUser, false},
		{admin, admin, RoleUser, false}, // not on yourself
		{owner, user, Role("root"), false},
	}
	for _, c := range cases {
		err := AuthorizeRoleChange(c.actor, c.target, c.to)
		if (err == nil) != c.ok {
			t.Errorf("%s sets %s to %s: err=%v, want ok=%v", c.actor.Role, c.target.Role, c.to, err, c.ok)
		}
	}
}

func TestLowerRole(t *testing.T) {
	if Lower(RoleAdmin, RoleUser) != RoleUser || Lower(RoleUser, RoleAdmin) != RoleUser || Lower(RoleOwner, RoleOwner) != RoleOwner {
		t.Fatal("Lower does not pick the lower role")
	}
	if Lower(RoleAdmin, Role("bogus")) != Role("bogus") || Role("bogus").CanHoldTokens() {
		t.Fatal("an unknown role must rank below every real one and hold nothing")
	}
}

func TestRoleMay(t *testing.T) {
	if !RoleMay(RoleOwner, ActTokenAssign) || RoleMay(RoleAdmin, ActTokenAssign) || !RoleMay(RoleAdmin, ActUserList) || RoleMay(RoleStakeholder, ActTokenCreateOwn) {
		t.Fatal("RoleMay disagrees with the matrix")
	}
}
