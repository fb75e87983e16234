package store

import (
	"errors"
	"testing"

	"github.com/keydesk/keydesk/models"
)

// scopedOrg is an organization whose admin holds a token created while they
// were still a user: its effective role is user, whatever their current role.
type scopedOrg struct {
	s                   *Store
	owner, admin, user  models.User
	adminOld, adminNew  Principal // the admin's user-era token and a fresh admin token
	userTok             Principal
	ownerTok            Principal
	userTokID, ownerTID string
}

func newScopedOrg(t *testing.T) scopedOrg {
	t.Helper()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	o := scopedOrg{s: s}
	if o.owner, err = s.Init(NewUser{Name: "Olive Owner", Email: "olive@example.com"}, "test"); err != nil {
		t.Fatal(err)
	}
	oa := Actor{UserID: o.owner.ID, Via: "test"}
	if o.admin, err = s.AddUser(oa, NewUser{Name: "Ada Admin", Email: "ada@example.com", Role: models.RoleUser}); err != nil {
		t.Fatal(err)
	}
	if o.user, err = s.AddUser(oa, NewUser{Name: "Uma User", Email: "uma@example.com", Role: models.RoleUser}); err != nil {
		t.Fatal(err)
	}
	exchange := func(holder models.User, name string) (Principal, string) {
		t.Helper()
		tok, secret, err := s.CreateToken(Actor{UserID: holder.ID, Via: "test"}, TokenSpec{Name: name})
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

func TestScopedUsesEffectiveRole(t *testing.T) {
	o := newScopedOrg(t)
	if o.adminOld.Role != models.RoleUser || o.adminNew.Role != models.RoleAdmin {
		t.Fatalf("effective roles: old %s new %s, want user and admin", o.adminOld.Role, o.adminNew.Role)
	}
	// The holder, acting without the token, may list users (an admin now) ...
	if _, err := o.s.ListUsers(Actor{UserID: o.admin.ID, Via: "test"}); err != nil {
		t.Fatalf("ListUsers as admin: %v", err)
	}
	// ... but the token was made as a user and stays restricted to that.
	if _, err := o.s.As(o.adminOld, "test").ListUsers(); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("ListUsers with a user-era token: got %v, want ErrPermission", err)
	}
	if _, err := o.s.As(o.adminOld, "test").AddUser(NewUser{Name: "X", Email: "x@example.com", Role: models.RoleUser}); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("AddUser with a user-era token: got %v, want ErrPermission", err)
	}
	users, err := o.s.As(o.adminNew, "test").ListUsers()
	if err != nil || len(users) != 3 {
		t.Fatalf("ListUsers with an admin token: %d users, %v", len(users), err)
	}
	if _, err := o.s.As(o.adminNew, "test").AddUser(NewUser{Name: "Sam", Email: "sam@example.com", Role: models.RoleAdmin}); err != nil {
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

func TestScopedTokens(t *testing.T) {
	o := newScopedOrg(t)
	if _, err := o.s.As(o.userTok, "test").ListTokens(TokenQuery{All: true}); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("user lists all: %v", err)
	}
	if _, err := o.s.As(o.adminNew, "test").ListTokens(TokenQuery{Holder: o.user.ID}); !errors.Is(err, models.ErrPermission) {
		t.Fatalf("admin lists another's tokens: %v", err)
	}
	page, err := o.s.As(o.ownerTok, "test").ListTokens(TokenQuery{All: true})
	if err != nil || len(page.Tokens) != 4 {
		t.Fatalf("owner lists all: %d, %v", len(page.Tokens), err)
	}
	own, err := o.s.As(o.userTok, "test").ListTokens(TokenQuery{})
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
