package tui

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/keydesk/keydesk/demo"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

func TestMain(m *testing.M) {
	// Dates on screen are local; goldens must not depend on the machine's zone.
	time.Local = time.UTC
	flag.Parse()
	code := m.Run()
	if big.s != nil {
		_ = big.s.Close()
		_ = os.RemoveAll(big.dir)
	}
	os.Exit(code)
}

// goldenNow is the clock of every golden: the demo's history ends here.
var goldenNow = time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)

// demoOrg seeds the demo organization and reopens it with the golden clock.
func demoOrg(t testing.TB) (*store.Store, models.User) {
	t.Helper()
	dir := t.TempDir()
	email, err := demo.SeedAt(dir, goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(dir, store.Options{Now: func() time.Time { return goldenNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	u, err := s.User(email)
	if err != nil {
		t.Fatal(err)
	}
	return s, u
}

// drive runs cmd to completion synchronously, feeding each message back into
// m, so a test can render exact frames without a running program. The console
// has no timed commands (steady cursors, no ticks) and a closed console's
// change subscription returns at once, so every command is waited for; the
// deadline only turns a hang into a failure instead of a silently missing
// frame on a loaded machine.
func drive(t testing.TB, m tea.Model, cmd tea.Cmd) {
	t.Helper()
	if cmd == nil {
		return
	}
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("a command did not return within 10 s")
	}
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			drive(t, m, c)
		}
	default:
		_, next := m.Update(msg)
		drive(t, m, next)
	}
}

// newDriven builds a closed (no live updates) console at w×h and loads it.
func newDriven(t testing.TB, be Backend, u models.User, w, h int) *Model {
	t.Helper()
	m := New(opts(be, u)).(*Model)
	m.Close()
	drive(t, m, m.Init())
	m.Update(teaSize(w, h))
	return m
}

func send(t testing.TB, m *Model, keys ...string) {
	t.Helper()
	for _, k := range keys {
		_, cmd := m.Update(keyMsg(k))
		drive(t, m, cmd)
	}
}

var randomParts = regexp.MustCompile(`(tok_|usr_|kdr_…|kdr_|SHA256:)[0-9A-Za-z+/]+`)

// normalize masks what differs between runs (random IDs, token tails, key
// fingerprints) with Xs of the same length, so layout is still compared.
func normalize(s string) string {
	return randomParts.ReplaceAllStringFunc(s, func(m string) string {
		for _, p := range []string{"tok_", "usr_", "kdr_…", "kdr_", "SHA256:"} {
			if strings.HasPrefix(m, p) {
				return p + strings.Repeat("X", len(m)-len(p))
			}
		}
		return m
	})
}

func checkGolden(t *testing.T, view string) {
	t.Helper()
	if strings.Contains(view, "\x1b") {
		t.Fatalf("view holds escape sequences:\n%q", view)
	}
	lines := strings.Split(view, "\n")
	for i, l := range lines {
		if w := len([]rune(l)); w > 80 {
			t.Errorf("line %d is %d cells wide: %q", i+1, w, l)
		}
	}
	if len(lines) > 24 {
		t.Errorf("view is %d lines tall", len(lines))
	}
	golden.RequireEqual(t, []byte(normalize(view)))
}

func TestGoldenProfileOwner(t *testing.T) {
	s, owner := demoOrg(t)
	m := newDriven(t, s, owner, 80, 24)
	checkGolden(t, m.View())
}

func TestGoldenProfileUser(t *testing.T) {
	s, _ := demoOrg(t)
	tom, err := s.User("tom@northwind.example")
	if err != nil {
		t.Fatal(err)
	}
	m := newDriven(t, s, tom, 80, 24)
	checkGolden(t, m.View())
}

func TestGoldenTokens(t *testing.T) {
	s, owner := demoOrg(t)
	m := newDriven(t, s, owner, 80, 24)
	send(t, m, "esc", "2", "o", "o") // dismiss the banner; API Tokens; this page by holder
	checkGolden(t, m.View())
}

func TestGoldenPicker(t *testing.T) {
	s, owner := demoOrg(t)
	m := newDriven(t, s, owner, 80, 24)
	send(t, m, "esc", "2", "a", "down", "space", "down", "down", "space")
	checkGolden(t, m.View())
}

func TestGoldenUsers(t *testing.T) {
	s, owner := demoOrg(t)
	m := newDriven(t, s, owner, 80, 24)
	send(t, m, "esc", "3")
	checkGolden(t, m.View())
}

func TestGoldenAudit(t *testing.T) {
	s, owner := demoOrg(t)
	m := newDriven(t, s, owner, 80, 24)
	send(t, m, "esc", "4")
	checkGolden(t, m.View())
}

func TestGoldenFullHelp(t *testing.T) {
	s, owner := demoOrg(t)
	m := newDriven(t, s, owner, 80, 24)
	send(t, m, "esc", "4", "?") // audit: its order is the log's, stable across runs
	checkGolden(t, m.View())
}

func TestGoldenTooSmall(t *testing.T) {
	s, owner := demoOrg(t)
	m := newDriven(t, s, owner, 40, 10)
	checkGolden(t, m.View())
}
