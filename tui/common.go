package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/keydesk/keydesk/models"
)

// Component is one screen: a tea.Model that also knows its size and its keys.
// The root forwards window sizes to every component and key presses only to
// the active one, so a screen never has to ask whether it is on top.
type Component interface {
	tea.Model
	help.KeyMap
	SetSize(width, height int)
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
}

// clean makes user-supplied text safe for the terminal and keeps it on one
// line. Every name, email, detail or error reaches the screen through it.
func clean(s string) string { return models.SanitizeLine(s) }

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

// fit truncates s to w cells (with an ellipsis) and pads it to exactly w.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	s = ansi.Truncate(s, w, "…")
	if n := ansi.StringWidth(s); n < w {
		s += strings.Repeat(" ", w-n)
	}
	return s
}

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

// renderTable draws a header and the rows from offset, at most height rows,
// marking the cursor row. Callers pass sanitized text.
func renderTable(st Styles, cols []column, rows [][]cell, cursor, offset, height int) string {
	var b strings.Builder
	hdr := make([]string, len(cols))
	for i, c := range cols {
		hdr[i] = fit(c.title, c.width)
	}
	b.WriteString("  " + st.Header.Render(strings.Join(hdr, "  ")))
	for i := offset; i < len(rows) && i < offset+height; i++ {
		b.WriteByte('\n')
		parts := make([]string, len(cols))
		for j, c := range cols {
			var txt string
			if j < len(rows[i]) {
				txt = rows[i][j].text
			}
			parts[j] = fit(txt, c.width)
			if i != cursor && j < len(rows[i]) && rows[i][j].style != nil {
				parts[j] = rows[i][j].style.Render(parts[j])
			}
		}
		line := strings.Join(parts, "  ")
		if i == cursor {
			b.WriteString(st.Key.Render("›") + " " + st.RowSel.Render(ansi.Strip(line)))
		} else {
			b.WriteString("  " + line)
		}
	}
	return b.String()
}

// scrollOffset keeps cursor inside a window of height rows.
func scrollOffset(cursor, offset, height, n int) int {
	if height <= 0 {
		return 0
	}
	if cursor < offset {
		offset = cursor
	}
	if cursor >= offset+height {
		offset = cursor - height + 1
	}
	if offset > n-height {
		offset = n - height
	}
	if offset < 0 {
		offset = 0
	}
	return offset
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
