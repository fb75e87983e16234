package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/keydesk/keydesk/store"
)

// TestRenameOfAFullNameSaysNothingWasCut: renaming a token whose name is
// already 64 characters opens with its key hints, not "the rest was cut"
// (nothing was; the note took the hints' place because the field was full);
// typing past the limit still says so.
func TestRenameOfAFullNameSaysNothingWasCut(t *testing.T) {
	o := newOrg(t, nil)
	if _, _, err := o.s.CreateToken(o.act(o.ann), store.TokenSpec{Name: strings.Repeat("n", 64)}); err != nil {
		t.Fatal(err)
	}
	tm := start(t, opts(o.s, o.ann))
	waitText(t, tm, "1 token")
	tm.Send(keyMsg("e"))
	waitText(t, tm, "Rename token", "enter next · shift+tab back a field · esc back")
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("zz")})
	waitText(t, tm, "At most 64 characters: the rest was cut")
}
