package sshserver

import (
	"bytes"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// The painter draws frames itself only until the renderer's first write,
// and draws them the way the renderer's full repaint does.
func TestPaintWriterPaintsUntilTheRendererWrites(t *testing.T) {
	var out bytes.Buffer
	p := newPaintWriter(&out)

	// Terminal setup written before the first View does not stop painting.
	if _, err := p.Write([]byte("\x1b[?1049h")); err != nil {
		t.Fatal(err)
	}
	out.Reset()

	// Before the model knows its size its view is no frame: not painted.
	p.paint("Terminal too small")
	if out.Len() != 0 {
		t.Fatalf("painted before the size: %q", out.String())
	}
	p.resize(10, 3)
	p.paint("hello\nworld, wide line")
	got := out.String()
	want := ansi.CursorHomePosition + "\r" + "hello" + ansi.EraseLineRight + "\r\n" + "world, wid" + ansi.CursorPosition(0, 2)
	if got != want {
		t.Fatalf("first paint:\n got %q\nwant %q", got, want)
	}

	out.Reset()
	p.paint("hello\nworld, wide line")
	if out.Len() != 0 {
		t.Fatalf("the same view painted again: %q", out.String())
	}

	// A shorter frame clears what the longer one left below it.
	p.paint("one")
	if got := out.String(); !strings.Contains(got, ansi.EraseScreenBelow) || !strings.HasSuffix(got, ansi.CursorPosition(0, 1)) {
		t.Fatalf("shorter frame: %q", got)
	}

	// The renderer's first frame ends the painter's part for good.
	if _, err := p.Write([]byte("renderer frame")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	p.paint("a new view")
	if out.Len() != 0 {
		t.Fatalf("painted after the renderer wrote: %q", out.String())
	}
}

// Lines beyond the terminal's height are dropped from the top, as the
// renderer drops them; sizes follow the program's WindowSizeMsg.
func TestPaintWriterFollowsTheWindow(t *testing.T) {
	var out bytes.Buffer
	p := newPaintWriter(&out)
	f := &firstFrames{Model: viewModel("1\n2\n3"), out: p}
	if _, cmd := f.Update(tea.WindowSizeMsg{Width: 1, Height: 2}); cmd != nil {
		t.Fatal("unexpected command")
	}
	if v := f.View(); v != "1\n2\n3" {
		t.Fatalf("View changed the model's view: %q", v)
	}
	want := ansi.CursorHomePosition + "\r" + "2" + "\r\n" + "3" + ansi.CursorPosition(0, 2)
	if out.String() != want {
		t.Fatalf("got %q want %q", out.String(), want)
	}
}

type viewModel string

func (v viewModel) Init() tea.Cmd                       { return nil }
func (v viewModel) Update(tea.Msg) (tea.Model, tea.Cmd) { return v, nil }
func (v viewModel) View() string                        { return string(v) }
