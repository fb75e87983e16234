package tui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// At the 25-token limit, r on My Profile says at once why a rotation can't
// happen (the old secret keeps working, so it needs one more slot) in a line
// that fits 80 columns, instead of a confirmation whose "yes" then fails with
// the store's reason cut off in the status line.
func TestRotateAtTheLimitSaysWhyBeforeAsking(t *testing.T) {
	o := newOrg(t, nil)
	for i := range models.MaxTokensActive {
		if _, _, err := o.s.CreateToken(o.act(o.bob), store.TokenSpec{Name: fmt.Sprintf("b%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	m := newDriven(t, o.s, o.bob, 80, 23)
	send(t, m, "r")
	v := mustView(t, m, "a rotation needs one more slot: revoke another first")
	if strings.Contains(v, "Rotate token") {
		t.Fatalf("the rotation was offered at the limit:\n%s", v)
	}
}

// A rotated token whose old secret still works counts toward the limit, as
// the store counts it: with 24 active tokens and one in its grace period, r
// and n say so at once instead of asking and failing with a cut-off reason.
func TestGraceTokensCountTowardTheLimitInTheConsole(t *testing.T) {
	o := newOrg(t, nil)
	var first models.Token
	for i := range models.MaxTokensActive - 1 {
		tok, _, err := o.s.CreateToken(o.act(o.bob), store.TokenSpec{Name: fmt.Sprintf("b%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = tok
		}
	}
	if _, _, err := o.s.RotateToken(o.act(o.bob), first.ID); err != nil {
		t.Fatal(err) // 24 active, 1 in grace
	}
	m := newDriven(t, o.s, o.bob, 80, 23)
	send(t, m, "r")
	if v := mustView(t, m, "at 25 usable tokens a rotation needs one more slot"); strings.Contains(v, "Rotate token") {
		t.Fatalf("the rotation was offered at the limit:\n%s", v)
	}
	send(t, m, "n")
	if v := mustView(t, m, "you hold 25 usable tokens, the most allowed"); strings.Contains(v, "Generate new token") {
		t.Fatalf("a new token was offered at the limit:\n%s", v)
	}
}
