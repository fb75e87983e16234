package tui

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"golang.org/x/crypto/ssh"
)

func typeText(t *testing.T, m *Model, s string) {
	t.Helper()
	for _, r := range s {
		k := string(r)
		if r == ' ' {
			k = "space"
		}
		send(t, m, k)
	}
}

func mustView(t *testing.T, m *Model, want ...string) string {
	t.Helper()
	v := m.View()
	for _, w := range want {
		if !strings.Contains(v, w) {
			t.Fatalf("view lacks %q:\n%s", w, v)
		}
	}
	return v
}

func TestAdminManagesUsers(t *testing.T) {
	o := newOrg(t, nil)
	if _, _, err := o.s.CreateToken(o.act(o.ann), store.TokenSpec{Name: "a1"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.s.CreateToken(o.act(o.ann), store.TokenSpec{Name: "a2"}); err != nil {
		t.Fatal(err)
	}
	m := newDriven(t, o.s, o.admin, 100, 30)
	send(t, m, "2")
	mustView(t, m, "Users · 6 people", "Ann Archer", "Sam Stakeholder")

	// Add: name, email, role (user → admin), no key.
	send(t, m, "a")
	typeText(t, m, "Grace Hopper")
	send(t, m, "enter")
	typeText(t, m, "grace@example.com")
	send(t, m, "enter", "right", "enter", "enter")
	mustView(t, m, "Added Grace Hopper as Admin", "Users · 7 people")
	if u, err := o.s.User("grace@example.com"); err != nil || u.Role != models.RoleAdmin {
		t.Fatalf("added user: %+v %v", u, err)
	}

	// A bad email keeps the form open with the store's complaint.
	send(t, m, "a")
	typeText(t, m, "Nope")
	send(t, m, "enter")
	typeText(t, m, "not-an-email")
	send(t, m, "enter")
	mustView(t, m, "Add user", "not a valid email address")
	send(t, m, "esc")

	// Filter to Ann; remove her: the confirmation counts her tokens.
	send(t, m, "/")
	typeText(t, m, "ann")
	send(t, m, "enter", "x")
	mustView(t, m, "Remove Ann Archer (ann@example.com)?", "2 usable tokens")
	send(t, m, "y")
	mustView(t, m, "Removed Ann Archer; 2 tokens revoked")
	if _, err := o.s.User("ann@example.com"); err == nil {
		t.Fatal("Ann still exists")
	}
	send(t, m, "esc")

	// Change Bob's role to stakeholder.
	send(t, m, "/")
	typeText(t, m, "bob")
	send(t, m, "enter", "r")
	mustView(t, m, "Change role of Bob Baker")
	send(t, m, "right", "right", "enter")
	mustView(t, m, "Bob Baker is now Stakeholder")
	if u, _ := o.s.User("bob@example.com"); u.Role != models.RoleStakeholder {
		t.Fatalf("bob is %s", u.Role)
	}

	// Add and remove an SSH key.
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	pk, _ := ssh.NewPublicKey(pub)
	send(t, m, "s")
	typeText(t, m, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))+" bob@laptop")
	send(t, m, "enter")
	mustView(t, m, "Added key "+ssh.FingerprintSHA256(pk))
	send(t, m, "S")
	mustView(t, m, "Remove an SSH key of Bob Baker", ssh.FingerprintSHA256(pk))
	send(t, m, "enter")
	mustView(t, m, "Removed key")
	if u, _ := o.s.User("bob@example.com"); len(u.Keys) != 0 {
		t.Fatalf("bob still has keys %v", u.Keys)
	}

	// The owner is beyond an admin: the rules say so before any dialog, so
	// neither r, s nor x opens one, and the help does not offer them.
	send(t, m, "esc", "/")
	typeText(t, m, "olivia")
	send(t, m, "enter", "r", "s", "x")
	v := mustView(t, m, "Olivia Owner")
	for _, bad := range []string{"Change role of", "Add an SSH key", "Remove Olivia", "r change role", "x remove"} {
		if strings.Contains(v, bad) {
			t.Fatalf("admin is offered %q on the owner:\n%s", bad, v)
		}
	}
	if m.activePage().Capturing() {
		t.Fatal("a dialog opened for an action the matrix forbids")
	}
}

func TestAuditFilters(t *testing.T) {
	o := newOrg(t, nil)
	if _, err := o.s.AssignTokens(o.act(o.owner), []string{o.ann.ID, o.bob.ID}, store.TokenSpec{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	m := newDriven(t, o.s, o.owner, 100, 30)
	send(t, m, "4")
	mustView(t, m, "Audit Log", "token_assigned", "user_added", "org_created")
	// Type filter: cycle to token_assigned.
	for i := 0; i < 10 && !strings.Contains(m.View(), "type: token_assigned"); i++ {
		send(t, m, "t")
	}
	v := mustView(t, m, "type: token_assigned", "→ ann@example.com", "→ bob@example.com")
	if strings.Contains(v, "user_added") {
		t.Fatalf("type filter let other types through:\n%s", v)
	}
	send(t, m, "u")
	typeText(t, m, "bob@example.com")
	send(t, m, "enter")
	v = mustView(t, m, "person: bob@example.com", "→ bob@example.com")
	if strings.Contains(v, "ann@example.com") {
		t.Fatalf("user filter let Ann through:\n%s", v)
	}
	send(t, m, "c")
	mustView(t, m, "type: all types", "user_added")
}

func TestTokensFilterAndRevokeAll(t *testing.T) {
	o := newOrg(t, nil)
	for _, n := range []string{"alpha", "beta"} {
		if _, _, err := o.s.CreateToken(o.act(o.carl), store.TokenSpec{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := o.s.CreateToken(o.act(o.bob), store.TokenSpec{Name: "gamma"}); err != nil {
		t.Fatal(err)
	}
	m := newDriven(t, o.s, o.owner, 100, 30)
	send(t, m, "2")
	mustView(t, m, "alpha", "beta", "gamma")
	send(t, m, "/")
	typeText(t, m, "carl")
	send(t, m, "enter")
	v := mustView(t, m, "filter: carl", "alpha", "beta")
	if strings.Contains(v, "gamma") {
		t.Fatalf("filter kept gamma:\n%s", v)
	}
	send(t, m, "s")
	mustView(t, m, "oldest first")
	send(t, m, "X")
	mustView(t, m, "Revoke all tokens of Carl Cooper?", "2 usable tokens", "Type carl@example.com")
	typeText(t, m, "carl@example.co")
	send(t, m, "enter")
	mustView(t, m, "does not match")
	typeText(t, m, "m")
	send(t, m, "enter")
	mustView(t, m, "Revoked 2 tokens of Carl Cooper")
	if n, _ := o.s.LiveTokenCount(o.act(o.owner), o.carl.ID); n != 0 {
		t.Fatalf("carl still has %d live tokens", n)
	}
	if n, _ := o.s.LiveTokenCount(o.act(o.owner), o.bob.ID); n != 1 {
		t.Fatalf("bob has %d live tokens, want 1", n)
	}
}
