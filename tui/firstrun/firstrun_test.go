package firstrun

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"
)

func asciiRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(&bytes.Buffer{})
	r.SetColorProfile(termenv.Ascii)
	return r
}

func TestFirstRunFormValidatesAndSubmits(t *testing.T) {
	m := New("/tmp/kd-empty", asciiRenderer())
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("no organization")) }, teatest.WithDuration(5*time.Second))
	tm.Type("Olive Owner")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	// huh moves focus with a command: wait for it, as a person would.
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("┃ Email")) }, teatest.WithDuration(5*time.Second))
	tm.Type("not-an-email")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	// A bad email is refused in the field, before the form moves on.
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("not a valid email")) }, teatest.WithDuration(5*time.Second))
	for range "not-an-email" {
		tm.Send(tea.KeyMsg{Type: tea.KeyBackspace})
	}
	tm.Type("olive@example.com")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("┃ SSH public key")) }, teatest.WithDuration(5*time.Second))
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	if !fm.Done() {
		t.Fatal("form not submitted")
	}
	nu, err := fm.Owner()
	if err != nil || nu.Name != "Olive Owner" || nu.Email != "olive@example.com" || len(nu.Keys) != 0 {
		t.Fatalf("owner %+v %v", nu, err)
	}
}

func TestFirstRunRejectsHostileName(t *testing.T) {
	m := New("/tmp/x", asciiRenderer())
	m.name, m.email = "evil\x1b]52;c;SGk=\x07", "e@example.com"
	// The text input drops control characters as they arrive; what reaches the
	// store is either rejected or free of them.
	if nu, err := m.Owner(); err == nil && (strings.ContainsRune(nu.Name, 0x1b) || strings.ContainsRune(nu.Name, 0x07)) {
		t.Fatalf("name keeps control characters: %q", nu.Name)
	}
	if v := m.View(); strings.ContainsRune(v, 0x07) || strings.ContainsRune(v, 0x1b) {
		t.Fatalf("view carries the sequence: %q", v)
	}
}

// TestFirstRunLooksLikeTheConsole: a bordered dialog, the example in the
// placeholder marked "e.g.", not cut, and a visible cursor (defect 16).
func TestFirstRunLooksLikeTheConsole(t *testing.T) {
	m := New("/tmp/kd-empty", asciiRenderer())
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 23})
	drain(m, m.Init())
	v := m.View()
	for _, want := range []string{"╭", "╰", "e.g. Olive Owner", "e.g. ~/.ssh/id_ed25519.pub", "Optional: key text or a .pub file"} {
		if !strings.Contains(v, want) {
			t.Errorf("first-run form lacks %q:\n%s", want, v)
		}
	}
	for _, l := range strings.Split(v, "\n") {
		if w := lipgloss.Width(l); w > 80 {
			t.Errorf("line is %d wide: %q", w, l)
		}
	}
	r := lipgloss.NewRenderer(&bytes.Buffer{})
	r.SetColorProfile(termenv.TrueColor)
	c := New("/tmp/kd-empty", r)
	c.Update(tea.WindowSizeMsg{Width: 80, Height: 23})
	drain(c, c.Init())
	if !strings.Contains(c.View(), "\x1b[7m") {
		t.Errorf("no reverse-video cursor in the colour view:\n%q", c.View())
	}
}

// drain runs cmd and feeds its messages back, expanding batches.
func drain(m tea.Model, cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	msg := cmd()
	if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeOf(tea.Cmd(nil)) {
		for i := 0; i < v.Len(); i++ {
			drain(m, v.Index(i).Interface().(tea.Cmd))
		}
		return
	}
	if msg != nil {
		_, next := m.Update(msg)
		drain(m, next)
	}
}
