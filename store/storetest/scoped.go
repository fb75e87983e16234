package storetest

import (
	"errors"
	"testing"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// scopedOrg is an organization whose admin holds a token created while they
// were still a user: its effective role is user, whatever their current role.
type scopedOrg struct {
	s                   *store.Store
	owner, admin, user  models.User
	adminOld, adminNew  store.Principal // the admin's user-era token and a fresh admin token
	userTok             store.Principal
	ownerTok            store.Principal
	userTokID, ownerTID string
}

func newScopedOrg(t *testing.T, org *Org) scopedOrg {
	t.Helper()
	s := org.S
	o := scopedOrg{s: s, owner: org.Owner}
	oa := org.OwnerA
	var err error
	if o.admin, err = s.AddUser(oa, store.NewUser{Name: "Pat Promoted", Email: "pat@example.com", Role: models.RoleUser}); err != nil {
		t.Fatal(err)
	}
	if o.user, err = s.AddUser(oa, store.NewUser{Name: "Ulla User", Email: "ulla@example.com", Role: models.RoleUser}); err != nil {
		t.Fatal(err)
	}
	exchange := func(holder models.User, name string) (store.Principal, string) {
		t.Helper()
		tok, secret, err := s.CreateToken(store.Actor{UserID: holder.ID, Via: "test"}, store.TokenSpec{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Exchange(secret, "test")
		if err != nil {
			t.Fatal(err)
		}
		return p, tok.ID
	}
	o.adminOld, _ = exchange(o.admin, "from user days")
	if _, err := s.SetRole(oa, o.admin.Email, models.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	// The principal was captured before the promotion; re-check it as the API does.
	if o.adminOld, err = s.CheckAccess(o.adminOld.Token.ID, o.admin.ID); err != nil {
		t.Fatal(err)
	}
	o.adminNew, _ = exchange(o.admin, "admin token")
	o.userTok, o.userTokID = exchange(o.user, "user token")
	o.ownerTok, o.ownerTID = exchange(o.owner, "owner token")
	return o
}

func testScopedUsesEffectiveRole(t *testing.T, org *Org) {
	o := newScopedOrg(t, org)
	if o.adminOld.Role != models.RoleUser || o.adminNew.Role != models.RoleAdmin {
		t.Fatalf("effective roles: old %s new %s, want user and admin", o.adminOld.Role, o.adminNew.Role)
	}
	// The holder, acting without the token, may list users (an admin now) ...
	if _, err := o.s.ListUsers(store.Actor{UserID: o.admin.ID, Via: "test"}); err != nil {
		t.Fatalf("ListUsers as admin: %v", err)
	}
	// ... but the token was made as a user and stays restricted to that.
	if _, err := o.s.As(o.adminOld, "test").ListUsers(); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("ListUsers with a user-era token: got %v, want ErrPermission", err)
	}
	if _, err := o.s.As(o.adminOld, "test").AddUser(store.NewUser{Name: "X", Email: "x@example.com", Role: models.RoleUser}); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("AddUser with a user-era token: got %v, want ErrPermission", err)
	}
	users, err := o.s.As(o.adminNew, "test").ListUsers()
	if err != nil || len(users) != 6 {
		t.Fatalf("ListUsers with an admin token: %d users, %v", len(users), err)
	}
	if _, err := o.s.As(o.adminNew, "test").AddUser(store.NewUser{Name: "Sam", Email: "sid@example.com", Role: models.RoleAdmin}); err != nil {
		t.Fatalf("AddUser with an admin token: %v", err)
	}
	if err := o.s.As(o.adminOld, "test").AuthorizeIntrospection(); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("introspection with a user-era token: %v", err)
	}
	if err := o.s.As(o.adminNew, "test").AuthorizeIntrospection(); err != nil {
		t.Fatalf("introspection with an admin token: %v", err)
	}
	me, err := o.s.As(o.userTok, "test").Profile()
	if err != nil || me.ID != o.user.ID {
		t.Fatalf("Profile: %v %v", me.ID, err)
	}
}

func testScopedTokens(t *testing.T, org *Org) {
	o := newScopedOrg(t, org)
	if _, err := o.s.As(o.userTok, "test").ListTokens(store.TokenQuery{All: true}); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("user lists all: %v", err)
	}
	if _, err := o.s.As(o.adminNew, "test").ListTokens(store.TokenQuery{Holder: o.user.ID}); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("admin lists another's tokens: %v", err)
	}
	page, err := o.s.As(o.ownerTok, "test").ListTokens(store.TokenQuery{All: true})
	if err != nil || len(page.Tokens) != 4 {
		t.Fatalf("owner lists all: %d, %v", len(page.Tokens), err)
	}
	own, err := o.s.As(o.userTok, "test").ListTokens(store.TokenQuery{})
	if err != nil || len(own.Tokens) != 1 || own.Tokens[0].ID != o.userTokID {
		t.Fatalf("user lists own: %+v, %v", own.Tokens, err)
	}
	// Someone else's token is "not found" to anyone but the owner.
	if _, err := o.s.As(o.adminNew, "test").RevokeToken(o.userTokID); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("admin revokes user's token: %v", err)
	}
	if _, err := o.s.As(o.userTok, "test").RevokeToken("tok_nosuch"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	if _, err := o.s.As(o.ownerTok, "test").RevokeToken(o.userTokID); err != nil {
		t.Fatalf("owner revokes user's token: %v", err)
	}
	if _, err := o.s.CheckAccess(o.userTokID, o.user.ID); !errors.Is(err, models.ErrUnauthenticated) {
		t.Fatalf("revoked token still passes CheckAccess: %v", err)
	}
	// Revoking one's own token with it works, and only once.
	if _, err := o.s.As(o.ownerTok, "test").RevokeToken(o.ownerTID); err != nil {
		t.Fatalf("owner revokes own token: %v", err)
	}
	if _, err := o.s.As(o.ownerTok, "test").RevokeToken(o.ownerTID); !errors.Is(err, models.ErrTokenInactive) {
		t.Fatalf("second revoke: %v", err)
	}
}
