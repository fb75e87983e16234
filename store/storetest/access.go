package storetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

func testStoreEnforcesMatrix(t *testing.T, o *Org) {
	tok, _ := mustCreate(t, o.S, o.UserA, "mine")
	cases := []struct {
		name string
		do   func() error
		ok   bool
	}{
		{"stakeholder generates", func() error { _, _, err := o.S.CreateToken(o.StakeA, store.TokenSpec{Name: "x"}); return err }, false},
		{"user lists all", func() error { _, err := o.S.ListTokens(o.UserA, store.TokenQuery{All: true}); return err }, false},
		{"admin lists all", func() error { _, err := o.S.ListTokens(o.AdminA, store.TokenQuery{All: true}); return err }, false},
		{"owner lists all", func() error { _, err := o.S.ListTokens(o.OwnerA, store.TokenQuery{All: true}); return err }, true},
		{"admin revokes user's token", func() error { _, err := o.S.RevokeToken(o.AdminA, tok.ID); return err }, false},
		{"user reads audit", func() error { _, err := o.S.Audit(o.UserA, store.AuditQuery{}); return err }, false},
		{"admin reads audit", func() error { _, err := o.S.Audit(o.AdminA, store.AuditQuery{}); return err }, true},
		{"user adds user", func() error {
			_, err := o.S.AddUser(o.UserA, store.NewUser{Name: "X", Email: "x@example.com", Role: models.RoleUser})
			return err
		}, false},
		{"admin adds admin", func() error {
			_, err := o.S.AddUser(o.AdminA, store.NewUser{Name: "Y", Email: "y@example.com", Role: models.RoleAdmin})
			return err
		}, true},
		{"admin adds owner", func() error {
			_, err := o.S.AddUser(o.AdminA, store.NewUser{Name: "Z", Email: "z@example.com", Role: models.RoleOwner})
			return err
		}, false},
		{"admin demotes owner", func() error { _, err := o.S.SetRole(o.AdminA, o.Owner.Email, models.RoleUser); return err }, false},
		{"admin removes owner", func() error { _, err := o.S.RemoveUser(o.AdminA, o.Owner.Email); return err }, false},
		{"admin transfers ownership", func() error { return o.S.TransferOwnership(o.AdminA, o.User.Email) }, false},
		{"user backs up", func() error { _, err := o.S.Backup(o.UserA, &bytes.Buffer{}); return err }, false},
		{"admin revokes all of user", func() error { _, err := o.S.RevokeAllOf(o.AdminA, o.User.Email); return err }, false},
		{"user rotates own", func() error { _, _, err := o.S.RotateToken(o.UserA, tok.ID); return err }, true},
		{"owner revokes user's token", func() error { _, err := o.S.RevokeToken(o.OwnerA, tok.ID); return err }, true},
	}
	for _, c := range cases {
		err := c.do()
		if (err == nil) != c.ok {
			t.Errorf("%s: err=%v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !c.ok && !errors.Is(err, models.ErrPermission) && !errors.Is(err, models.ErrNotFound) {
			t.Errorf("%s: refusal %v is neither permission nor not-found", c.name, err)
		}
	}
}

func testRemovalAndDemotionRevoke(t *testing.T, o *Org) {
	_, userSecret := mustCreate(t, o.S, o.UserA, "u1")
	mustCreate(t, o.S, o.UserA, "u2")
	_, adminSecret := mustCreate(t, o.S, o.AdminA, "a1")

	n, err := o.S.SetRole(o.AdminA, o.User.Email, models.RoleStakeholder)
	if err != nil || n != 2 {
		t.Fatalf("demote: %d %v", n, err)
	}
	if _, err := o.S.Exchange(userSecret, "x"); !errors.Is(err, models.ErrUnauthenticated) {
		t.Fatalf("demoted user's token still works: %v", err)
	}
	n, err = o.S.RemoveUser(o.OwnerA, o.Admin.Email)
	if err != nil || n != 1 {
		t.Fatalf("remove: %d %v", n, err)
	}
	if _, err := o.S.Exchange(adminSecret, "x"); !errors.Is(err, models.ErrUnauthenticated) {
		t.Fatalf("removed admin's token still works: %v", err)
	}
	if _, _, err := o.S.CreateToken(o.AdminA, store.TokenSpec{Name: "z"}); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("removed admin acted: %v", err)
	}
	// The email is free again.
	if _, err := o.S.AddUser(o.OwnerA, store.NewUser{Name: "Ada Again", Email: o.Admin.Email, Role: models.RoleUser}); err != nil {
		t.Fatal(err)
	}
	types := auditTypes(t, o.S, o.OwnerA)
	if types[models.AuditTokenRevoked] != 3 || types[models.AuditUserRemoved] != 1 || types[models.AuditRoleChanged] != 1 {
		t.Fatalf("audit %v", types)
	}
}

func testDemotedAdminTokenActsAsUser(t *testing.T, o *Org) {
	tok, secret := mustCreate(t, o.S, o.AdminA, "ops")
	p, err := o.S.Exchange(secret, "x")
	if err != nil || p.Role != models.RoleAdmin {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := o.S.CheckAccess(tok.ID, o.Admin.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := o.S.SetRole(o.OwnerA, o.Admin.Email, models.RoleUser); err != nil {
		t.Fatal(err)
	}
	p, err = o.S.CheckAccess(tok.ID, o.Admin.ID)
	if err != nil || p.Role != models.RoleUser {
		t.Fatalf("after demotion: %+v %v", p, err)
	}
	// Promoting back does not lift a token above the role it was made with...
	if _, err := o.S.SetRole(o.OwnerA, o.Admin.Email, models.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if p, _ := o.S.CheckAccess(tok.ID, o.Admin.ID); p.Role != models.RoleAdmin {
		t.Fatalf("re-promoted: %s", p.Role)
	}
	// ...and a user's token never acts as admin after promotion.
	utok, _ := mustCreate(t, o.S, o.UserA, "u")
	if _, err := o.S.SetRole(o.OwnerA, o.User.Email, models.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if p, _ := o.S.CheckAccess(utok.ID, o.User.ID); p.Role != models.RoleUser {
		t.Fatalf("promoted user's old token acts as %s", p.Role)
	}
	if _, err := o.S.CheckAccess(tok.ID, o.User.ID); err == nil {
		t.Fatal("token accepted for a subject who does not hold it")
	}
}

// testActorCapLimitsRole: a request made with a token created as "user" acts
// as a user even after its holder is promoted to admin.
func testActorCapLimitsRole(t *testing.T, o *Org) {
	_, sec := mustCreate(t, o.S, o.UserA, "old")
	if _, err := o.S.SetRole(o.OwnerA, o.User.Email, models.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	p, err := o.S.Exchange(sec, "x")
	if err != nil || p.Role != models.RoleUser {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := o.S.ListUsers(p.Actor("http")); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("capped actor listed users: %v", err)
	}
	if _, err := o.S.ListUsers(o.UserA); err != nil {
		t.Fatalf("the promoted person, uncapped, cannot list users: %v", err)
	}
	tok, _, err := o.S.CreateToken(p.Actor("http"), store.TokenSpec{Name: "via api"})
	if err != nil || tok.Role != models.RoleUser {
		t.Fatalf("token made by a capped actor: %+v %v", tok, err)
	}
	if u, _ := o.S.User(o.User.Email); u.Role != models.RoleAdmin {
		t.Fatalf("cap leaked into the stored role: %s", u.Role)
	}
}

func testTransferOwnership(t *testing.T, o *Org) {
	if err := o.S.TransferOwnership(o.OwnerA, o.Stake.Email); err == nil {
		t.Fatal("transferred to a stakeholder")
	}
	if err := o.S.TransferOwnership(o.OwnerA, o.Admin.Email); err != nil {
		t.Fatal(err)
	}
	owner, _ := o.S.Owner()
	old, _ := o.S.User(o.Owner.Email)
	if owner.ID != o.Admin.ID || old.Role != models.RoleAdmin {
		t.Fatalf("owner %s, old %s", owner.Email, old.Role)
	}
	users, _ := o.S.ListUsers(o.AdminA)
	owners := 0
	for _, u := range users {
		if u.Role == models.RoleOwner {
			owners++
		}
	}
	if owners != 1 {
		t.Fatalf("%d owners", owners)
	}
}
