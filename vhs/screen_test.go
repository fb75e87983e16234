//go:build !windows

package vhs_test

import (
	"fmt"
	"strings"
	"sync"

	"github.com/charmbracelet/x/ansi"
)

// screen is a small terminal emulator: enough of xterm for bash, ssh and a
// Bubble Tea program (cursor movement, erase, scroll region, alternate
// screen) to read back what a person would see, the way VHS's Wait reads
// xterm.js's buffer. It also answers the queries a real terminal answers
// (background colour, device attributes, cursor position), so programs that
// ask do not wait for a reply that never comes.
type screen struct {
	mu   sync.Mutex
	rows int
	cols int

	main, alt [][]rune
	cells     *[][]rune // main or alt
	inAlt     bool

	x, y        int
	wrapPending bool
	savedX      int
	savedY      int
	top, bottom int // scroll region, inclusive

	seq     uint64        // bumped on every write from the program
	changed chan struct{} // closed and replaced on every write
	parser  *ansi.Parser
	reply   func([]byte) // writes an answer back to the program
	pending []string     // answers to send after the current write
	title   string
}

func newScreen(cols, rows int, reply func([]byte)) *screen {
	s := &screen{rows: rows, cols: cols, reply: reply, changed: make(chan struct{})}
	s.main, s.alt = s.blank(), s.blank()
	s.cells = &s.main
	s.bottom = rows - 1
	s.parser = ansi.NewParser()
	s.parser.SetHandler(ansi.Handler{
		Print:     s.print,
		Execute:   s.execute,
		HandleCsi: s.csi,
		HandleEsc: s.esc,
		HandleOsc: s.osc,
	})
	return s
}

func (s *screen) blank() [][]rune {
	g := make([][]rune, s.rows)
	for i := range g {
		g[i] = s.blankRow()
	}
	return g
}

func (s *screen) blankRow() []rune {
	r := make([]rune, s.cols)
	for i := range r {
		r[i] = ' '
	}
	return r
}

// Write feeds program output to the emulator.
func (s *screen) Write(b []byte) (int, error) {
	s.mu.Lock()
	for _, c := range b {
		s.parser.Advance(c)
	}
	s.seq++
	close(s.changed)
	s.changed = make(chan struct{})
	answers := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, a := range answers {
		if s.reply != nil {
			s.reply([]byte(a))
		}
	}
	return len(b), nil
}

// state returns the output sequence number and a channel closed on the next write.
func (s *screen) state() (uint64, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq, s.changed
}

// Text is the visible screen, each row with trailing blanks trimmed, joined
// with newlines: what VHS's Wait+Screen matches against.
func (s *screen) Text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := make([]string, s.rows)
	for i, row := range *s.cells {
		lines[i] = rowText(row)
	}
	return strings.Join(lines, "\n")
}

// Line is the cursor's row, trimmed: what VHS's Wait+Line matches against.
func (s *screen) Line() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rowText((*s.cells)[s.y])
}

func rowText(row []rune) string {
	var b strings.Builder
	for _, r := range row {
		if r != 0 { // 0 is the right half of a wide character
			b.WriteRune(r)
		}
	}
	return strings.TrimRight(b.String(), " ")
}

func (s *screen) print(r rune) {
	w := ansi.StringWidth(string(r))
	if w == 0 {
		return
	}
	if s.wrapPending {
		s.x, s.wrapPending = 0, false
		s.lineFeed()
	}
	if s.x+w > s.cols {
		s.x = 0
		s.lineFeed()
	}
	row := (*s.cells)[s.y]
	row[s.x] = r
	if w == 2 && s.x+1 < s.cols {
		row[s.x+1] = 0
	}
	s.x += w
	if s.x >= s.cols {
		s.x, s.wrapPending = s.cols-1, true
	}
}

func (s *screen) execute(b byte) {
	switch b {
	case '\r':
		s.x, s.wrapPending = 0, false
	case '\n', '\v', '\f':
		s.wrapPending = false
		s.lineFeed()
	case '\b':
		s.wrapPending = false
		if s.x > 0 {
			s.x--
		}
	case '\t':
		s.x = min((s.x/8+1)*8, s.cols-1)
	}
}

func (s *screen) lineFeed() {
	if s.y == s.bottom {
		s.scrollUp(1)
		return
	}
	if s.y < s.rows-1 {
		s.y++
	}
}

// scrollUp moves the scroll region's rows up by n, blanking the bottom.
func (s *screen) scrollUp(n int) {
	g := *s.cells
	for ; n > 0; n-- {
		copy(g[s.top:s.bottom], g[s.top+1:s.bottom+1])
		g[s.bottom] = s.blankRow()
	}
}

// scrollDown moves the rows from y to the region's bottom down by n.
func (s *screen) scrollDown(from, n int) {
	g := *s.cells
	for ; n > 0; n-- {
		copy(g[from+1:s.bottom+1], g[from:s.bottom])
		g[from] = s.blankRow()
	}
}

func (s *screen) clampCursor() {
	s.x = max(0, min(s.x, s.cols-1))
	s.y = max(0, min(s.y, s.rows-1))
	s.wrapPending = false
}

func (s *screen) eraseRow(y, from, to int) {
	row := (*s.cells)[y]
	for i := max(from, 0); i < min(to, s.cols); i++ {
		row[i] = ' '
	}
}

func (s *screen) csi(cmd ansi.Cmd, params ansi.Params) {
	p := func(i, def int) int {
		v, _, _ := params.Param(i, def)
		if v == 0 && def > 0 {
			return def
		}
		return v
	}
	if cmd.Prefix() == '?' {
		switch cmd.Final() {
		case 'h', 'l':
			for i := range params {
				switch m := p(i, 0); m {
				case 1049, 1047, 47:
					s.setAlt(cmd.Final() == 'h', m == 1049)
				}
			}
		}
		return
	}
	if cmd.Prefix() != 0 || cmd.Intermediate() != 0 {
		return
	}
	switch cmd.Final() {
	case 'A':
		s.y -= p(0, 1)
		s.clampCursor()
	case 'B', 'e':
		s.y += p(0, 1)
		s.clampCursor()
	case 'C', 'a':
		s.x += p(0, 1)
		s.clampCursor()
	case 'D':
		s.x -= p(0, 1)
		s.clampCursor()
	case 'E':
		s.x, s.y = 0, s.y+p(0, 1)
		s.clampCursor()
	case 'F':
		s.x, s.y = 0, s.y-p(0, 1)
		s.clampCursor()
	case 'G', '`':
		s.x = p(0, 1) - 1
		s.clampCursor()
	case 'd':
		s.y = p(0, 1) - 1
		s.clampCursor()
	case 'H', 'f':
		s.y, s.x = p(0, 1)-1, p(1, 1)-1
		s.clampCursor()
	case 'J':
		switch p(0, 0) {
		case 0:
			s.eraseRow(s.y, s.x, s.cols)
			for y := s.y + 1; y < s.rows; y++ {
				s.eraseRow(y, 0, s.cols)
			}
		case 1:
			s.eraseRow(s.y, 0, s.x+1)
			for y := 0; y < s.y; y++ {
				s.eraseRow(y, 0, s.cols)
			}
		case 2, 3:
			for y := 0; y < s.rows; y++ {
				s.eraseRow(y, 0, s.cols)
			}
		}
	case 'K':
		switch p(0, 0) {
		case 0:
			s.eraseRow(s.y, s.x, s.cols)
		case 1:
			s.eraseRow(s.y, 0, s.x+1)
		case 2:
			s.eraseRow(s.y, 0, s.cols)
		}
	case 'X':
		s.eraseRow(s.y, s.x, s.x+p(0, 1))
	case 'P':
		row := (*s.cells)[s.y]
		n := min(p(0, 1), s.cols-s.x)
		copy(row[s.x:], row[s.x+n:])
		s.eraseRow(s.y, s.cols-n, s.cols)
	case '@':
		row := (*s.cells)[s.y]
		n := min(p(0, 1), s.cols-s.x)
		copy(row[s.x+n:], row[s.x:s.cols-n])
		s.eraseRow(s.y, s.x, s.x+n)
	case 'L':
		if s.y >= s.top && s.y <= s.bottom {
			s.scrollDown(s.y, min(p(0, 1), s.bottom-s.y+1))
		}
	case 'M':
		if s.y >= s.top && s.y <= s.bottom {
			top := s.top
			s.top = s.y
			s.scrollUp(min(p(0, 1), s.bottom-s.y+1))
			s.top = top
		}
	case 'S':
		s.scrollUp(p(0, 1))
	case 'T':
		s.scrollDown(s.top, p(0, 1))
	case 'r':
		t, b := p(0, 1)-1, p(1, s.rows)-1
		if t < b && b < s.rows {
			s.top, s.bottom = t, b
		} else {
			s.top, s.bottom = 0, s.rows-1
		}
		s.x, s.y, s.wrapPending = 0, 0, false
	case 'c': // primary device attributes: a VT220 with ANSI colour
		s.answer("\x1b[?62;22c")
	case 'n':
		if p(0, 0) == 6 {
			s.answer(fmt.Sprintf("\x1b[%d;%dR", s.y+1, s.x+1))
		}
	}
}

func (s *screen) setAlt(on, saveCursor bool) {
	if on == s.inAlt {
		return
	}
	if on {
		if saveCursor {
			s.savedX, s.savedY = s.x, s.y
		}
		s.alt = s.blank()
		s.cells, s.inAlt = &s.alt, true
		return
	}
	s.cells, s.inAlt = &s.main, false
	if saveCursor {
		s.x, s.y = s.savedX, s.savedY
	}
	s.wrapPending = false
}

func (s *screen) esc(cmd ansi.Cmd) {
	if cmd.Intermediate() != 0 {
		return
	}
	switch cmd.Final() {
	case '7':
		s.savedX, s.savedY = s.x, s.y
	case '8':
		s.x, s.y = s.savedX, s.savedY
		s.clampCursor()
	case 'D':
		s.lineFeed()
	case 'E':
		s.x = 0
		s.lineFeed()
	case 'M':
		if s.y == s.top {
			s.scrollDown(s.top, 1)
		} else if s.y > 0 {
			s.y--
		}
	case 'c': // full reset
		s.main, s.alt = s.blank(), s.blank()
		s.cells, s.inAlt = &s.main, false
		s.x, s.y, s.wrapPending = 0, 0, false
		s.top, s.bottom = 0, s.rows-1
	}
}

func (s *screen) osc(cmd int, data []byte) {
	switch cmd {
	case 0, 2:
		_, s.title, _ = strings.Cut(string(data), ";")
	case 10, 11: // foreground / background colour queries: a dark terminal
		if strings.HasSuffix(string(data), ";?") {
			colour := "ffff/ffff/ffff"
			if cmd == 11 {
				colour = "1e1e/1e1e/2e2e"
			}
			s.answer(fmt.Sprintf("\x1b]%d;rgb:%s\x1b\\", cmd, colour))
		}
	}
}

// answer queues a reply; Write sends it once the screen is unlocked.
func (s *screen) answer(a string) { s.pending = append(s.pending, a) }
