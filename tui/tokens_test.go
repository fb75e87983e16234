package tui

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// TestOwnerAssignsToTwo is "what must show" 1: API Tokens → Assign Token To
// User → filter → pick two → name and expiry → confirm. Both hold a token
// awaiting reveal, the table shows them, and the audit log has two entries.
func TestOwnerAssignsToTwo(t *testing.T) {
	o := newOrg(t, nil)
	tm := start(t, opts(o.s, o.owner))
	waitText(t, tm, "API Tokens", "No tokens yet")
	press(tm, "2")
	waitText(t, tm, "No tokens in the organization yet")
	press(tm, "a")
	waitText(t, tm, "0 selected · 4 of 4 match") // admin + 3 users; no owner, no stakeholder
	tm.Type("archer")
	waitText(t, tm, "1 of 4 match")
	press(tm, "space")
	waitText(t, tm, "1 selected")
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlU})
	tm.Type("bob")
	waitText(t, tm, "[ ] Bob Baker")
	press(tm, "space", "enter")
	waitText(t, tm, "New token for 2 people")
	tm.Type("reporting")
	press(tm, "enter")
	waitText(t, tm, "┃ Expires") // huh moves focus by a command; wait for it
	press(tm, "left", "enter")   // expiry: never → 1y
	waitText(t, tm, "(expires in 1y) to 2 people?", "Ann Archer, Bob Baker")
	press(tm, "y")
	waitText(t, tm, "Assigned 2 tokens", "reporting", "Ann Archer", "Bob Baker", "awaiting reveal")
	final(t, tm)

	for _, u := range []models.User{o.ann, o.bob} {
		pg, err := o.s.ListTokens(o.act(u), store.TokenQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pg.Tokens) != 1 || pg.Tokens[0].Status != models.StatusAwaitingReveal || pg.Tokens[0].Name != "reporting" || pg.Tokens[0].ExpiresAt.IsZero() {
			t.Fatalf("%s holds %+v, want one 1y token awaiting reveal", u.Name, pg.Tokens)
		}
	}
	es, err := o.s.Audit(o.act(o.owner), store.AuditQuery{Type: models.AuditTokenAssigned})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 {
		t.Fatalf("audit has %d token_assigned entries, want 2", len(es))
	}
}
