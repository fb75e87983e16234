package tui

import (
	"bytes"
	"io"
	"regexp"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/muesli/termenv"
)

// org is a small organization on a real store in t.TempDir().
type org struct {
	s                      *store.Store
	owner, admin, ann, bob models.User
	carl, stake            models.User
}

func openStore(t testing.TB, now func() time.Time) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir(), store.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newOrg(t testing.TB, now func() time.Time) *org {
	t.Helper()
	s := openStore(t, now)
	owner, err := s.Init(store.NewUser{Name: "Olivia Owner", Email: "olivia@example.com"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	o := &org{s: s, owner: owner}
	add := func(name, email string, role models.Role) models.User {
		u, err := s.AddUser(o.act(owner), store.NewUser{Name: name, Email: email, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	o.admin = add("Adam Admin", "adam@example.com", models.RoleAdmin)
	o.ann = add("Ann Archer", "ann@example.com", models.RoleUser)
	o.bob = add("Bob Baker", "bob@example.com", models.RoleUser)
	o.carl = add("Carl Cooper", "carl@example.com", models.RoleUser)
	o.stake = add("Sam Stakeholder", "sam@example.com", models.RoleStakeholder)
	return o
}

func (o *org) act(u models.User) store.Actor { return store.Actor{UserID: u.ID, Via: "test"} }

// asciiRenderer draws without colour so outputs and goldens hold text only.
func asciiRenderer(w io.Writer) *lipgloss.Renderer {
	if w == nil {
		w = io.Discard
	}
	r := lipgloss.NewRenderer(w, termenv.WithProfile(termenv.Ascii))
	r.SetHasDarkBackground(true)
	return r
}

func opts(be Backend, u models.User) Options {
	return Options{Backend: be, UserID: u.ID, Via: "console", Renderer: asciiRenderer(nil), FlashFor: -1, Debounce: -1}
}

func start(t *testing.T, o Options) *teatest.TestModel {
	t.Helper()
	tm := teatest.NewTestModel(t, New(o), teatest.WithInitialTermSize(80, 24))
	t.Cleanup(func() { _ = tm.Quit() })
	return tm
}

// waitText waits until the program's output has drawn every string in want.
func waitText(t *testing.T, tm *teatest.TestModel, want ...string) []byte {
	t.Helper()
	var seen []byte
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		seen = b
		for _, w := range want {
			if !bytes.Contains(b, []byte(w)) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
	return seen
}

func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "space":
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "right":
		return tea.KeyMsg{Type: tea.KeyRight}
	case "left":
		return tea.KeyMsg{Type: tea.KeyLeft}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	case "ctrl+u":
		return tea.KeyMsg{Type: tea.KeyCtrlU}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

func press(tm *teatest.TestModel, keys ...string) {
	for _, k := range keys {
		tm.Send(keyMsg(k))
	}
}

var secretRE = regexp.MustCompile(`kdr_[0-9A-Za-z]{49}`)

func final(t *testing.T, tm *teatest.TestModel) *Model {
	t.Helper()
	press(tm, "ctrl+c")
	return tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
}

func teaSize(w, h int) tea.WindowSizeMsg { return tea.WindowSizeMsg{Width: w, Height: h} }
