package sshserver

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// lockedBuffer is what a display writes to, readable while a timer draws.
type lockedBuffer struct {
	mu     sync.Mutex
	b      strings.Builder
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) take() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, n := l.b.String(), l.writes
	l.b.Reset()
	l.writes = 0
	return s, n
}

// A frame is drawn the moment the view exists, the way Bubble Tea's renderer
// draws in the alternate screen; an unchanged view costs nothing; a changed
// one rewrites only its changed lines.
func TestDisplayDrawsAtOnceAndOnlyWhatChanged(t *testing.T) {
	out := &lockedBuffer{}
	d := newDisplay(out)

	// Before the model knows its size its view is no frame: not drawn.
	d.show("Terminal too small")
	if s, _ := out.take(); s != "" {
		t.Fatalf("drawn before the size: %q", s)
	}
	d.resize(10, 3)
	d.show("hello\nworld, wide line")
	want := ansi.CursorHomePosition + "\r" + "hello" + ansi.EraseLineRight + "\r\n" + "world, wid" + ansi.CursorPosition(0, 2)
	if s, _ := out.take(); s != want {
		t.Fatalf("first frame:\n got %q\nwant %q", s, want)
	}

	d.show("hello\nworld, wide line")
	if s, n := out.take(); n != 0 {
		t.Fatalf("the same view drawn again: %q", s)
	}

	// Only the second line changed: the first is skipped with a line feed.
	d.show("hello\nthere")
	want = ansi.CursorHomePosition + "\n" + "there" + ansi.EraseLineRight + ansi.CursorPosition(0, 2)
	if s, _ := out.take(); s != want {
		t.Fatalf("changed line:\n got %q\nwant %q", s, want)
	}

	// A shorter frame clears what the longer one left below it.
	d.show("one")
	if s, _ := out.take(); !strings.Contains(s, ansi.EraseScreenBelow) || !strings.HasSuffix(s, ansi.CursorPosition(0, 1)) {
		t.Fatalf("shorter frame: %q", s)
	}

	// A new size redraws the whole frame, even when the view is the same.
	d.resize(10, 3)
	d.show("one")
	if s, _ := out.take(); !strings.HasPrefix(s, ansi.CursorHomePosition+"\r"+"one") {
		t.Fatalf("after a resize: %q", s)
	}

	// After stop, the terminal gets its modes back and nothing more is drawn.
	d.stop()
	if s, _ := out.take(); s != leaveConsole {
		t.Fatalf("stop wrote %q", s)
	}
	d.show("after")
	if s, n := out.take(); n != 0 {
		t.Fatalf("drawn after stop: %q", s)
	}
}

// A stream of views faster than 60 a second is not a stream of frames: after
// a short burst the views coalesce, and the last one is what ends up drawn.
func TestDisplayCoalescesAStreamOfViews(t *testing.T) {
	out := &lockedBuffer{}
	d := newDisplay(out)
	d.resize(20, 2)
	const views = 50
	for i := range views {
		d.show(fmt.Sprintf("view %d", i))
	}
	last := fmt.Sprintf("view %d", views-1)
	var got strings.Builder
	writes := 0
	if !eventually(10*time.Second, func() bool {
		s, n := out.take()
		got.WriteString(s)
		writes += n
		return strings.Contains(got.String(), last)
	}) {
		t.Fatalf("the last view was never drawn: %q", got.String())
	}
	if writes >= views {
		t.Fatalf("%d views made %d frames: nothing coalesced", views, writes)
	}
	d.stop()
}

// Lines beyond the terminal's height are dropped from the top, as Bubble
// Tea's renderer drops them; sizes come from the program's WindowSizeMsg.
func TestDrawnFollowsTheWindow(t *testing.T) {
	out := &lockedBuffer{}
	d := &drawn{Model: viewModel("1\n2\n3"), scr: newDisplay(out)}
	if _, cmd := d.Update(tea.WindowSizeMsg{Width: 1, Height: 2}); cmd != nil {
		t.Fatal("unexpected command")
	}
	if v := d.View(); v != "1\n2\n3" {
		t.Fatalf("View changed the model's view: %q", v)
	}
	want := ansi.CursorHomePosition + "\r" + "2" + "\r\n" + "3" + ansi.CursorPosition(0, 2)
	if s, _ := out.take(); s != want {
		t.Fatalf("got %q want %q", s, want)
	}
}

type viewModel string

func (v viewModel) Init() tea.Cmd                       { return nil }
func (v viewModel) Update(tea.Msg) (tea.Model, tea.Cmd) { return v, nil }
func (v viewModel) View() string                        { return string(v) }
