package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// Component is one screen: a tea.Model that also knows its size and its keys.
// The root forwards window sizes to every component and key presses only to
// the active one, so a screen never has to ask whether it is on top.
type Component interface {
	tea.Model
	help.KeyMap
	// SetSize gives the component its area; it reports whether the page
	// size changed so that a store-paged list must load again.
	SetSize(width, height int) (reload bool)
}

// page is a Component that sits under a tab.
type page interface {
	Component
	// Title is the tab label.
	Title() string
	// Capturing reports whether a text field, filter or dialog has the
	// keyboard, so the root must not treat q, tab or digits as navigation.
	Capturing() bool
	// Reload fetches what the page shows again, after a change anywhere.
	Reload() tea.Cmd
	// Concerns reports whether a change event can alter what the page
	// shows. The live-update goroutine calls it, so it may read only what
	// never changes after New (such as the actor's ID).
	Concerns(ev store.Event) bool
}

// clean makes user-supplied text safe for the terminal, keeps it on one
// line, and makes its width the same by every measure (models.SanitizeCells).
// Every name, email, detail or error reaches the screen through it.
func clean(s string) string { return models.SanitizeCells(s) }

// errText renders an error for the status line, sanitized: store errors quote
// what people typed.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return clean(err.Error())
}

// flashMsg puts a one-line note (or an error) in the status line.
type flashMsg struct {
	text string
	err  bool
}

func flash(text string) tea.Cmd {
	return func() tea.Msg { return flashMsg{text: text} }
}

func flashErr(err error) tea.Cmd {
	return func() tea.Msg { return flashMsg{text: errText(err), err: true} }
}

const dateFmt = "2006-01-02"

// day formats a date, or "—" for the zero time.
func day(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format(dateFmt)
}

// ago says how long before now t was, coarsely, the way people read it.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

// until says how long from now until t ("in 3d", "never", or the date once past).
func until(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := t.Sub(now)
	switch {
	case d <= 0:
		return day(t)
	case d < time.Hour:
		return fmt.Sprintf("in %dm", int(d.Minutes())+1)
	case d < 48*time.Hour:
		return fmt.Sprintf("in %dh", int((d+30*time.Minute)/time.Hour))
	default:
		// Round to the nearest day: a 30-day token made a second ago reads "in 30d".
		return fmt.Sprintf("in %dd", int((d+12*time.Hour)/(24*time.Hour)))
	}
}

// fit truncates s to w cells (with an ellipsis) and pads it to exactly w,
// measuring cells as a terminal draws them (models.CellWidth), so no name can
// push a row past its column. s is plain text: style it after fitting.
func fit(s string, w int) string { return models.FitCells(s, w) }

// clip truncates s to w cells without padding.
func clip(s string, w int) string { return models.TruncateCells(s, w, "…") }

func itoa(n int) string { return strconv.Itoa(n) }

// column is one column of a table: a header and a width in cells.
type column struct {
	title string
	width int
}

// layoutColumns gives columns their minimum widths and spreads what is left of
// total over the flexible ones (weights > 0), so tables use wide terminals and
// still fit at 80 columns.
func layoutColumns(total int, mins []int, weights []int, titles []string) []column {
	gap := 2 * (len(mins) - 1)
	used := gap
	wsum := 0
	for i, m := range mins {
		used += m
		wsum += weights[i]
	}
	extra := total - used
	cols := make([]column, len(mins))
	for i, m := range mins {
		cols[i] = column{title: titles[i], width: m}
		if extra > 0 && wsum > 0 && weights[i] > 0 {
			cols[i].width += extra * weights[i] / wsum
		}
	}
	return cols
}

// cell is one table cell; style, when set, colours it after it is fitted so
// colour codes never count towards the width.
type cell struct {
	text  string
	style *lipgloss.Style
}

// renderTable draws a header and the rows in sc's window, marking the
// cursor row. row(i) builds row i from sanitized text; only the visible rows
// are built, since a list may hold 100,000 people.
func renderTable(st Styles, cols []column, row func(i int) []cell, sc scroller) string {
	var b strings.Builder
	hdr := make([]string, len(cols))
	for i, c := range cols {
		hdr[i] = fit(c.title, c.width)
	}
	b.WriteString("  " + st.Header.Render(strings.Join(hdr, "  ")))
	lo, hi := sc.window()
	for i := lo; i < hi; i++ {
		b.WriteByte('\n')
		cells := row(i)
		parts := make([]string, len(cols))
		plain := make([]string, len(cols))
		for j, c := range cols {
			var txt string
			if j < len(cells) {
				txt = cells[j].text
			}
			plain[j] = fit(txt, c.width)
			parts[j] = plain[j]
			if j < len(cells) && cells[j].style != nil {
				parts[j] = cells[j].style.Render(parts[j])
			}
		}
		if i == sc.cursor {
			b.WriteString(st.Key.Render("›") + " " + st.RowSel.Render(strings.Join(plain, "  ")))
		} else {
			b.WriteString("  " + strings.Join(parts, "  "))
		}
	}
	return b.String()
}

func clamp(v, lo, hi int) int {
	if v > hi {
		v = hi
	}
	if v < lo {
		v = lo
	}
	return v
}

// statusStyle colours a token status: usable ones green or amber, dead ones grey.
func statusStyle(st Styles, s models.TokenStatus) *lipgloss.Style {
	switch s {
	case models.StatusActive:
		return &st.StatusOK
	case models.StatusAwaitingReveal:
		return &st.StatusWait
	default:
		return &st.StatusDead
	}
}

// statusLabel marks tokens awaiting reveal so they stand out in a list.
func statusLabel(s models.TokenStatus) string {
	if s == models.StatusAwaitingReveal {
		return "● awaiting reveal"
	}
	return string(s)
}

// scroller is the one paging component: a cursor over n rows of which
// height are visible from offset. Every list screen keeps one; its methods
// are called from Update (never from View), and keep the cursor on a row
// and the window around the cursor at every height.
type scroller struct {
	cursor, offset, height, n int
}

// fix restores the invariants after any change.
func (s *scroller) fix() {
	s.height = max(s.height, 1)
	s.cursor = clamp(s.cursor, 0, max(s.n-1, 0))
	if s.cursor < s.offset {
		s.offset = s.cursor
	}
	if s.cursor >= s.offset+s.height {
		s.offset = s.cursor - s.height + 1
	}
	s.offset = clamp(s.offset, 0, max(s.n-s.height, 0))
}

func (s *scroller) setHeight(h int) { s.height = h; s.fix() }
func (s *scroller) setLen(n int)    { s.n = n; s.fix() }
func (s *scroller) to(i int)        { s.cursor = i; s.fix() }
func (s *scroller) move(d int)      { s.cursor += d; s.fix() }

// reset puts the cursor on the first row.
func (s *scroller) reset() { s.cursor, s.offset = 0, 0; s.fix() }

// window is the range of rows to draw.
func (s scroller) window() (lo, hi int) { return s.offset, min(s.offset+s.height, s.n) }

// position describes where the window is, for a list held whole: "11–20 of
// 48 people", with arrows when there is more above or below.
func (s scroller) position(one, many string) string {
	if s.n == 0 {
		return ""
	}
	noun := plural(s.n, one, many)
	if s.n <= s.height {
		return fmt.Sprintf("%d %s", s.n, noun)
	}
	lo, hi := s.window()
	out := fmt.Sprintf("%d–%d of %d %s", lo+1, hi, s.n, noun)
	if lo > 0 {
		out = "↑ " + out
	}
	if hi < s.n {
		out += " ↓"
	}
	return out
}

// handleListKey moves the scroller for a list key; it reports whether msg
// was one.
func (k listKeys) handleListKey(msg tea.KeyMsg, s *scroller) bool {
	switch {
	case key.Matches(msg, k.Up):
		s.move(-1)
	case key.Matches(msg, k.Down):
		s.move(1)
	case key.Matches(msg, k.Top):
		s.to(0)
	case key.Matches(msg, k.Bottom):
		s.to(s.n - 1)
	default:
		return false
	}
	return true
}

// click moves the cursor to the table row at y (rows of the page's area)
// for a table whose header is on row top; a click elsewhere does nothing.
func (s *scroller) click(y, top int) {
	lo, hi := s.window()
	if i := y - top - 1 + lo; i >= lo && i < hi {
		s.to(i)
	}
}

// tableRows is how many table rows fit in h lines once the lines above the
// table (top), its header and the lines below it (bottom) are drawn: the
// layout is measured from what the page draws, not from constants.
func tableRows(h int, top, bottom []string) int {
	return max(h-lineCount(top)-1-lineCount(bottom), 1)
}

func lineCount(ls []string) int {
	n := 0
	for _, l := range ls {
		n += strings.Count(l, "\n") + 1
	}
	return n
}
