package firstrun

import (
	"bytes"
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
	tm.Type("not-an-email")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter}) // submit with a bad email
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("not a valid email")) }, teatest.WithDuration(5*time.Second))
	tm.Send(tea.KeyMsg{Type: tea.KeyShiftTab})
	for range "not-an-email" {
		tm.Send(tea.KeyMsg{Type: tea.KeyBackspace})
	}
	tm.Type("olive@example.com")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
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
	m.inputs[fieldName].SetValue("evil\x1b]52;c;SGk=\x07")
	m.inputs[fieldEmail].SetValue("e@example.com")
	// The text input drops control characters as they arrive; what reaches the
	// store is either rejected or free of them.
	if nu, err := m.Owner(); err == nil && (strings.ContainsRune(nu.Name, 0x1b) || strings.ContainsRune(nu.Name, 0x07)) {
		t.Fatalf("name keeps control characters: %q", nu.Name)
	}
	if v := m.View(); strings.ContainsRune(v, 0x07) || strings.ContainsRune(v, 0x1b) {
		t.Fatalf("view carries the sequence: %q", v)
	}
}
