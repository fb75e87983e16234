package models

import (
	"errors"
	"testing"
)

// A refusal by role says where to find who may (it said only "a stakeholder
// may not generate own token", and nothing to do next).
func TestRoleRefusalSaysWhereToLook(t *testing.T) {
	err := Authorize(Subject{ID: "s", Role: RoleStakeholder}, ActTokenCreateOwn, nil)
	if !errors.Is(err, ErrPermission) || err.Error() != "permission denied: a stakeholder may not generate own token; `keydesk help roles` says who may" {
		t.Fatalf("stakeholder generating a token: %v", err)
	}
}

// Acting on someone else's token with an action for one's own says whose it
// is (it said "you may only reveal assigned token for yourself").
func TestOthersTokenRefusalSaysWhose(t *testing.T) {
	owner, maya := Subject{ID: "o", Role: RoleOwner}, Subject{ID: "m", Role: RoleUser}
	for action, want := range map[Action]string{
		ActTokenReveal:    "permission denied: only the token's holder may reveal it, once; whoever assigned it never sees the secret",
		ActTokenRotateOwn: "permission denied: only the token's holder may rotate it",
	} {
		if err := Authorize(owner, action, &maya); !errors.Is(err, ErrPermission) || err.Error() != want {
			t.Errorf("owner %s on Maya's token: %v; want %q", action, err, want)
		}
	}
}
