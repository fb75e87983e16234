package demo

import (
	"errors"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

func TestSeedCoversEveryStatus(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)
	email, err := SeedAt(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(dir, store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	owner, err := s.Owner()
	if err != nil || owner.Email != email {
		t.Fatalf("owner %v %v, want %s", owner.Email, err, email)
	}
	a := store.Actor{UserID: owner.ID, Via: "test"}
	seen := map[models.TokenStatus]int{}
	err = s.EachToken(a, store.TokenQuery{All: true}, func(v store.TokenView) error {
		seen[v.Status]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []models.TokenStatus{models.StatusActive, models.StatusAwaitingReveal, models.StatusExpired, models.StatusRevoked, models.StatusRotated} {
		if seen[st] == 0 {
			t.Errorf("no %s token in the demo (have %v)", st, seen)
		}
	}
	users, err := s.ListUsers(a)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[models.Role]int{}
	for _, u := range users {
		roles[u.Role]++
	}
	if roles[models.RoleOwner] != 1 || roles[models.RoleAdmin] < 2 || roles[models.RoleUser] < 4 || roles[models.RoleStakeholder] != 1 {
		t.Errorf("roles = %v", roles)
	}
	es, err := s.Audit(a, store.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) < 20 {
		t.Errorf("audit has %d entries, want a history", len(es))
	}
	if oldest := es[len(es)-1].At; now.Sub(oldest) < 90*24*time.Hour {
		t.Errorf("oldest audit entry %s is not months old", oldest)
	}
}

func TestSeedRefusesAnOrganization(t *testing.T) {
	dir := t.TempDir()
	if _, err := Seed(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Seed(dir); !errors.Is(err, models.ErrConflict) {
		t.Fatalf("second seed: %v, want ErrConflict", err)
	}
}
