package models

import (
	"errors"
	"strings"
	"testing"
)

// Every refusal the matrix can give is one grammatical line that wraps
// ErrPermission; the mapped ones say what to do instead.
func TestRefusalsReadWell(t *testing.T) {
	roles := []Role{RoleOwner, RoleAdmin, RoleUser, RoleStakeholder}
	for action := range Matrix {
		for _, ar := range roles {
			me := Subject{ID: "me", Role: ar}
			for _, tr := range roles {
				for _, target := range []*Subject{nil, {ID: "me", Role: ar}, {ID: "other", Role: tr}} {
					err := Authorize(me, action, target)
					if err == nil {
						continue
					}
					msg := err.Error()
					if !errors.Is(err, ErrPermission) || strings.Contains(msg, "a an ") || strings.Contains(msg, "\n") {
						t.Errorf("%s by %s on %v: %q", action, ar, target, msg)
					}
				}
			}
		}
	}
	for a := range selfRefusals {
		if _, ok := Matrix[a]; !ok {
			t.Errorf("selfRefusals names %q, which the matrix lacks", a)
		}
	}
	for a := range targetRefusals {
		if _, ok := Matrix[a]; !ok {
			t.Errorf("targetRefusals names %q, which the matrix lacks", a)
		}
	}
	err := Authorize(Subject{ID: "a", Role: RoleAdmin}, ActUserManageKeys, &Subject{ID: "o", Role: RoleOwner})
	if err == nil || !strings.Contains(err.Error(), "the target is an owner; only the Account Owner manages") {
		t.Fatalf("keys of the owner: %v", err)
	}
	err = Authorize(Subject{ID: "a", Role: RoleAdmin}, ActUserSetRole, &Subject{ID: "a", Role: RoleAdmin})
	if err == nil || !strings.Contains(err.Error(), "you may not change your own role; another admin or the owner can") {
		t.Fatalf("own role: %v", err)
	}
}
