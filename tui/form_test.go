package tui

import (
	"testing"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/huh"
)

// TestFormCursorIsSteady guards steadyCursor's reach into huh: if a huh
// upgrade renames the input's field, forms would blink again (a redraw twice
// a second per idle SSH session) and this fails.
func TestFormCursorIsSteady(t *testing.T) {
	var v string
	in := huh.NewInput().Value(&v)
	ti := inputOf(in)
	if ti == nil {
		t.Fatal("huh.Input no longer holds a bubbles textinput where steadyCursor looks")
	}
	NewForm(NewStyles(asciiRenderer(nil)), 60, in)
	if ti.Cursor.Mode() != cursor.CursorStatic {
		t.Fatalf("cursor mode %v, want static", ti.Cursor.Mode())
	}
	if cmd := in.Focus(); cmd != nil {
		t.Fatal("focusing the input started a blink timer")
	}
}
