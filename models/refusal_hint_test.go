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
