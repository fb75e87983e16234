package sshserver

import (
	"io"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// Consoles over SSH are drawn by display, not by Bubble Tea's renderer (the
// program runs with tea.WithoutRenderer). That renderer is built for one
// terminal per process; with a thousand idle consoles per server three of its
// habits add up:
//
//   - it writes only on the ticks of a 60 Hz ticker, a goroutine and 60
//     wake-ups a second per console even when nothing changes, and the first
//     frame waits a whole tick;
//   - once the program hands it a frame equal to the one on screen (any
//     message that changes nothing), every tick copies the frame to compare
//     it again: ~3.5 KB × 60 a second of garbage per idle console, for as long
//     as it stays idle;
//   - it keeps three copies of the last frame.
//
// display draws each view the moment the program produces it, and does
// nothing at all for a view equal to what is on screen. Frames are paced like
// Bubble Tea's, 60 a second, but as a token bucket: a short burst (the
// "Loading…" frame, then the loaded one a few milliseconds later) goes out
// at once, a sustained stream (a held key) is held to the rate, views
// coalescing into one draw on a timer that exists only while one waits. What it writes is
// what Bubble Tea's renderer writes in the alternate screen: changed lines
// only, each cut to the width and cleared to its end.

// Frame pacing: frameInterval per frame on average (Bubble Tea's 60 fps),
// with up to frameBurst frames drawn back to back.
const (
	frameInterval = time.Second / 60
	frameBurst    = 4
)

// Terminal modes the console runs in, set on start and reset on stop in the
// order Bubble Tea's renderer uses: cursor hidden, alternate screen
// (cleared), bracketed paste, mouse button events in SGR encoding.
const (
	enterConsole = "\x1b[?25l" + "\x1b[?1049h" + "\x1b[2J" + "\x1b[H" + "\x1b[?25l" + "\x1b[?2004h" +
		"\x1b[?1002h" + "\x1b[?1006h"
	leaveConsole = "\x1b[?2004l" + "\x1b[?25h" + "\x1b[?1002l" + "\x1b[?1003l" + "\x1b[?1006l" +
		"\x1b[?1049l" + "\x1b[?25h"
)

// drawn wraps the console's model: every View it produces is shown on the
// display, and window sizes reach it before the model redraws for them.
type drawn struct {
	tea.Model
	scr *display
}

func (d *drawn) View() string {
	v := d.Model.View()
	d.scr.show(v)
	return v
}

func (d *drawn) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if w, ok := msg.(tea.WindowSizeMsg); ok {
		d.scr.resize(w.Width, w.Height)
	}
	m, cmd := d.Model.Update(msg)
	d.Model = m
	return d, cmd
}

// display is one console's terminal over an SSH channel.
type display struct {
	mu            sync.Mutex
	w             io.Writer
	width, height int
	sized         bool      // a size has arrived: views are frames for it
	shown         []string  // lines on the terminal; nil: unknown, draw all
	shownView     string    // the view they are
	rows          int       // how many lines the last frame had
	credit        float64   // frames that may be drawn now (token bucket)
	last          time.Time // when credit was last topped up
	pending       string    // a view waiting for its frame slot
	waiting       bool      // pending is set and the timer armed
	timer         *time.Timer
	closed        bool
}

func newDisplay(w io.Writer) *display { return &display{w: w, credit: frameBurst} }

// start puts the terminal in the console's modes.
func (s *display) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := io.WriteString(s.w, enterConsole)
	return err
}

// stop draws nothing more and gives the terminal back its modes.
func (s *display) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.pending, s.shown, s.shownView = "", nil, ""
	_, _ = io.WriteString(s.w, leaveConsole)
}

// resize takes a new terminal size; the next frame is drawn whole (a
// terminal may reflow what it shows when it resizes).
func (s *display) resize(w, h int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.width, s.height, s.sized = w, h, true
	s.shown, s.shownView = nil, ""
}

// show draws view now, or in the next frame slot if one was drawn less than
// frameInterval ago. Before the first size arrives a model can only say the
// terminal is too small (0×0), which is no frame to show.
func (s *display) show(view string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.sized {
		return
	}
	if s.shown != nil && view == s.shownView {
		s.waiting, s.pending = false, "" // what is on screen is already this
		if s.timer != nil {
			s.timer.Stop()
		}
		return
	}
	now := time.Now()
	if !s.last.IsZero() {
		s.credit = min(frameBurst, s.credit+float64(now.Sub(s.last))/float64(frameInterval))
	}
	s.last = now
	if s.credit >= 1 && !s.waiting {
		s.credit--
		s.draw(view)
		return
	}
	wait := time.Duration((1 - s.credit) * float64(frameInterval))
	s.pending = view
	if s.waiting {
		return
	}
	s.waiting = true
	if s.timer == nil {
		s.timer = time.AfterFunc(wait, s.flush)
	} else {
		s.timer.Reset(wait)
	}
}

// flush draws the view that waited for its slot.
func (s *display) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.waiting {
		return
	}
	v := s.pending
	s.waiting, s.pending = false, ""
	now := time.Now()
	s.credit = max(0, min(frameBurst, s.credit+float64(now.Sub(s.last))/float64(frameInterval))-1)
	s.last = now
	s.draw(v)
}

// draw writes view over what the terminal shows (s.mu held), as Bubble Tea's
// renderer does in the alternate screen: from the top left, lines equal to
// the ones shown skipped, the others cut to the width and cleared to their
// end, lines left over from a longer frame cleared, the cursor left at the
// start of the line below.
func (s *display) draw(view string) {
	if view == "" {
		view = " " // as Bubble Tea does: an empty view still clears
	}
	lines := strings.Split(view, "\n")
	if s.height > 0 && len(lines) > s.height {
		lines = lines[len(lines)-s.height:]
	}
	var b strings.Builder
	b.Grow(len(view) + 64)
	b.WriteString(ansi.CursorHomePosition)
	for i, line := range lines {
		if s.shown != nil && i < len(s.shown) && s.shown[i] == line {
			if i < len(lines)-1 {
				b.WriteByte('\n') // down one line, still in column 1
			}
			continue
		}
		if i == 0 && s.shown == nil {
			b.WriteByte('\r')
		}
		if s.width > 0 {
			line = ansi.Truncate(line, s.width, "")
		}
		b.WriteString(line)
		if ansi.StringWidth(line) < s.width {
			b.WriteString(ansi.EraseLineRight)
		}
		if i < len(lines)-1 {
			b.WriteString("\r\n")
		}
	}
	if s.rows > len(lines) {
		b.WriteString(ansi.EraseScreenBelow)
	}
	b.WriteString(ansi.CursorPosition(0, len(lines)))
	if _, err := io.WriteString(s.w, b.String()); err != nil {
		s.closed = true // the session is gone; the program finds out from its input
		return
	}
	s.shown, s.shownView, s.rows = lines, view, len(lines)
}
