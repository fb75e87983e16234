package sshserver

import (
	"io"
	"strings"
	"sync"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// Bubble Tea's renderer writes frames only on its ticks (60 a second), the
// first one a full tick after the program starts: every console would reach
// its user about 17 ms later than it could. firstFrames paints the console's
// frames itself until the renderer has written once, so the first full frame
// (the owner's profile, loaded in a few milliseconds) goes out as soon as the
// model produces it.
//
// It stays correct because of what the renderer does on its first write: a
// full repaint from the top left (it has no previous frame to diff against),
// of the same View. Painting stops at that first write (checked under the one
// lock both share, so no paint ever lands after it), so from then on the
// screen is exactly what the renderer believes it is.
type firstFrames struct {
	tea.Model
	out *paintWriter
}

// View is the model's view, painted at once while the renderer has not yet
// written a frame.
func (f *firstFrames) View() string {
	v := f.Model.View()
	f.out.paint(v)
	return v
}

// Update keeps the wrapper around the model and tells the painter the
// terminal's size, which the model and the renderer also learn from this
// message; the painter paints nothing before it.
func (f *firstFrames) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if w, ok := msg.(tea.WindowSizeMsg); ok {
		f.out.resize(w.Width, w.Height)
	}
	m, cmd := f.Model.Update(msg)
	f.Model = m
	return f, cmd
}

// paintWriter is the program's output: the session, behind a lock that
// serializes the renderer's writes with the early paints.
type paintWriter struct {
	mu            sync.Mutex
	w             io.Writer
	width, height int
	armed         bool   // the program has asked for its first View: setup output is done
	sized         bool   // the model has its window size: its views are real frames
	done          bool   // the renderer has written: no more paints
	last          string // the view painted last
	lines         int    // how many lines it had
}

func newPaintWriter(w io.Writer) *paintWriter { return &paintWriter{w: w} }

// Write is every write of the program. Before the first View they set up the
// terminal (alternate screen, cursor, bracketed paste); after it, the
// renderer writing means it has taken over the screen.
func (p *paintWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.armed && !p.done {
		p.done, p.last = true, "" // the frame kept for comparison is no longer needed
	}
	return p.w.Write(b)
}

func (p *paintWriter) resize(w, h int) {
	p.mu.Lock()
	p.width, p.height, p.sized = w, h, true
	p.mu.Unlock()
}

// paint writes view as a full frame, the way the renderer repaints in the
// alternate screen: from the top left, each line cut to the width and
// cleared to its end, anything below the last line cleared, the cursor left
// at the start of the line after it.
func (p *paintWriter) paint(view string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = true
	// Before its size arrives the model can only say the terminal is too
	// small (0×0): that is no frame to show anyone.
	if p.done || !p.sized || view == p.last {
		return
	}
	if view == "" {
		view = " " // as the renderer does: an empty view still clears
	}
	lines := strings.Split(view, "\n")
	if p.height > 0 && len(lines) > p.height {
		lines = lines[len(lines)-p.height:]
	}
	var b strings.Builder
	b.WriteString(ansi.CursorHomePosition)
	b.WriteByte('\r')
	for i, line := range lines {
		if p.width > 0 {
			line = ansi.Truncate(line, p.width, "")
		}
		b.WriteString(line)
		if ansi.StringWidth(line) < p.width {
			b.WriteString(ansi.EraseLineRight)
		}
		if i < len(lines)-1 {
			b.WriteString("\r\n")
		}
	}
	if p.lines > len(lines) {
		b.WriteString(ansi.EraseScreenBelow)
	}
	b.WriteString(ansi.CursorPosition(0, len(lines)))
	if _, err := io.WriteString(p.w, b.String()); err != nil {
		p.done = true // the session is gone; the renderer will find out too
		return
	}
	p.last, p.lines = view, len(lines)
}
