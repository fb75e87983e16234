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
