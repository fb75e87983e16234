package tui

import (
	"bytes"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

func sessionRenderer(p termenv.Profile, dark bool) *lipgloss.Renderer {
	r := lipgloss.NewRenderer(&bytes.Buffer{}, termenv.WithProfile(p))
	r.SetColorProfile(p)
	r.SetHasDarkBackground(dark)
	return r
}

// Consoles on the same kind of terminal share one style set, and it draws
// exactly what styles built on the session's own renderer draw; another kind
// of terminal gets a set of its own.
func TestSharedStylesPerKindOfTerminal(t *testing.T) {
	a := sessionRenderer(termenv.TrueColor, true)
	b := sessionRenderer(termenv.TrueColor, true)
	c := sessionRenderer(termenv.ANSI256, true)
	th := Theme{Background: BackgroundDark}
	sa, sb, sc := SharedStyles(a, th), SharedStyles(b, th), SharedStyles(c, th)
	if sa.styleSet != sb.styleSet {
		t.Fatal("two sessions on the same kind of terminal got separate style sets")
	}
	if sa.styleSet == sc.styleSet {
		t.Fatal("a 256-colour terminal shares the true-colour set")
	}
	own := NewThemedStyles(a, th)
	for name, pair := range map[string][2]lipgloss.Style{
		"TabActive": {sa.TabActive, own.TabActive}, "RowSel": {sa.RowSel, own.RowSel}, "Error": {sa.Error, own.Error},
	} {
		if got, want := pair[0].Render("x"), pair[1].Render("x"); got != want {
			t.Errorf("%s: shared draws %q, the session's own styles %q", name, got, want)
		}
	}
	if got, want := SharedStyles(c, th).Section.Render("x"), NewThemedStyles(c, th).Section.Render("x"); got != want {
		t.Errorf("256 colours: shared draws %q, own %q", got, want)
	}
}
