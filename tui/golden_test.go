package tui

import (
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/keydesk/keydesk/demo"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/muesli/termenv"
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
	if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeOf(tea.Cmd(nil)) {
		// tea.BatchMsg, and tea.Sequence's unexported sequenceMsg (huh's Init)
		for i := 0; i < v.Len(); i++ {
			drive(t, m, v.Index(i).Interface().(tea.Cmd))
		}
		return
	}
	switch msg := msg.(type) {
	case nil:
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
	_, cmd := m.Update(teaSize(w, h))
	drive(t, m, cmd)
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

// stableBackend orders tokens created in the same instant (one AssignTokens
// call) by holder, so goldens do not depend on the random part of their IDs.
type stableBackend struct{ *store.Store }

func (b stableBackend) ListTokens(a store.Actor, q store.TokenQuery) (store.TokenPage, error) {
	pg, err := b.Store.ListTokens(a, q)
	sort.SliceStable(pg.Tokens, func(i, j int) bool {
		x, y := pg.Tokens[i], pg.Tokens[j]
		return x.CreatedAt.Equal(y.CreatedAt) && x.HolderName < y.HolderName
	})
	return pg, err
}

// profileCase is one way a terminal can be: no attributes at all (TERM=dumb),
// full colour with the background unknown (the usual SSH case), and NO_COLOR.
type profileCase struct {
	name string
	opts func(Options) Options
}

var profileCases = []profileCase{
	{"ascii", func(o Options) Options { return o }},
	{"colour", func(o Options) Options {
		r := lipgloss.NewRenderer(io.Discard, termenv.WithProfile(termenv.TrueColor))
		r.SetColorProfile(termenv.TrueColor)
		o.Renderer = r
		return o
	}},
	{"nocolor", func(o Options) Options {
		o.Environ = []string{"NO_COLOR=1", "TERM=xterm-256color"}
		return o
	}},
}

var goldenSizes = [][2]int{{80, 23}, {120, 40}}

// goldenMatrix renders one scenario at every golden size and profile; keys
// are sent after the console loaded.
func goldenMatrix(t *testing.T, who func(s *store.Store, owner models.User) models.User, keys ...string) {
	t.Helper()
	s, owner := demoOrg(t)
	u := owner
	if who != nil {
		u = who(s, owner)
	}
	for _, sz := range goldenSizes {
		for _, pc := range profileCases {
			t.Run(fmt.Sprintf("%dx%d_%s", sz[0], sz[1], pc.name), func(t *testing.T) {
				m := New(pc.opts(opts(stableBackend{s}, u))).(*Model)
				m.Close()
				drive(t, m, m.Init())
				_, cmd := m.Update(teaSize(sz[0], sz[1]))
				drive(t, m, cmd)
				send(t, m, keys...)
				checkGoldenSize(t, m.View(), sz[0], sz[1], pc.name != "ascii")
			})
		}
	}
}

// checkGoldenSize checks that view fits w×h cells (colour codes aside) and
// matches its golden file.
func checkGoldenSize(t *testing.T, view string, w, h int, escapes bool) {
	t.Helper()
	if !escapes && strings.Contains(view, "\x1b") {
		t.Fatalf("view holds escape sequences:\n%q", view)
	}
	lines := strings.Split(view, "\n")
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("line %d is %d cells wide: %q", i+1, n, l)
		}
		if n := models.CellWidth(ansi.Strip(l)); n > w {
			t.Errorf("line %d is %d terminal cells wide: %q", i+1, n, l)
		}
	}
	if len(lines) > h {
		t.Errorf("view is %d lines tall, the terminal %d", len(lines), h)
	}
	golden.RequireEqual(t, []byte(normalize(view)))
}

func TestGoldenProfileOwner(t *testing.T) { goldenMatrix(t, nil) }

func TestGoldenProfileUser(t *testing.T) {
	goldenMatrix(t, func(s *store.Store, _ models.User) models.User {
		tom, err := s.User("tom@northwind.example")
		if err != nil {
			t.Fatal(err)
		}
		return tom
	})
}

func TestGoldenTokens(t *testing.T) { goldenMatrix(t, nil, "esc", "2") }

func TestGoldenPicker(t *testing.T) {
	goldenMatrix(t, nil, "esc", "2", "a", "down", "space", "down", "down", "space")
}

func TestGoldenAssignForm(t *testing.T) {
	goldenMatrix(t, nil, "esc", "2", "a", "space", "enter")
}

func TestGoldenUsers(t *testing.T) { goldenMatrix(t, nil, "esc", "3") }

func TestGoldenAudit(t *testing.T) { goldenMatrix(t, nil, "esc", "4") }

func TestGoldenAuditDetail(t *testing.T) { goldenMatrix(t, nil, "esc", "4", "enter") }

func TestGoldenFullHelp(t *testing.T) {
	goldenMatrix(t, nil, "esc", "4", "?") // audit: its order is the log's, stable across runs
}

func TestGoldenTooSmall(t *testing.T) {
	s, owner := demoOrg(t)
	for _, sz := range [][2]int{{40, 10}, {30, 8}, {60, 20}} {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			m := newDriven(t, s, owner, sz[0], sz[1])
			v := m.View()
			if !strings.Contains(v, "q to quit") && !strings.Contains(v, "q quits") {
				t.Errorf("the note does not say how to quit:\n%s", v)
			}
			checkGoldenSize(t, v, sz[0], sz[1], false)
		})
	}
}
