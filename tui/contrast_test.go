package tui

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/lucasb-eyer/go-colorful"
	"github.com/muesli/termenv"
)

// TestContrastUnknownBackground is issue 17's contrast test: with the
// background unknown (no COLORFGBG, no OSC 11 answer: the usual SSH case),
// every styled run of text in every page's colour View is at least 3:1
// against black and against white, or against its own background when it
// sets one. Colours are read back from the escape codes lipgloss wrote, and
// 256- and 16-colour codes are turned into xterm's default palette.
func TestContrastUnknownBackground(t *testing.T) {
	scenarios := [][]string{
		nil,                                 // My Profile with the banner
		{"esc", "n"},                        // generate form
		{"esc", "x"},                        // revoke confirm
		{"esc", "2"},                        // API Tokens
		{"esc", "2", "/"},                   // filter editing
		{"esc", "2", "a", "space"},          // picker with a selection
		{"esc", "2", "a", "space", "enter"}, // assign form
		{"esc", "2", "a", "space", "enter", "enter"}, // the form's inline error
		{"esc", "3"},          // Users
		{"esc", "3", "a"},     // add-user form
		{"esc", "4"},          // Audit Log
		{"esc", "4", "enter"}, // one entry
		{"esc", "4", "?"},     // full help
	}
	s, owner := demoOrg(t)
	for _, prof := range []termenv.Profile{termenv.TrueColor, termenv.ANSI256, termenv.ANSI} {
		for _, keys := range scenarios {
			r := lipgloss.NewRenderer(io.Discard, termenv.WithProfile(prof))
			r.SetColorProfile(prof)
			o := opts(stableBackend{s}, owner)
			o.Renderer = r
			m := New(o).(*Model)
			m.Close()
			drive(t, m, m.Init())
			_, cmd := m.Update(teaSize(100, 30))
			drive(t, m, cmd)
			send(t, m, keys...)
			for _, run := range styledRuns(m.View()) {
				if err := run.check(); err != nil {
					t.Errorf("profile %v, keys %v: %v", prof, keys, err)
				}
			}
		}
	}
	// Tom's profile: an awaiting-reveal row and its warning line.
	tom, err := s.User("tom@northwind.example")
	if err != nil {
		t.Fatal(err)
	}
	r := lipgloss.NewRenderer(io.Discard, termenv.WithProfile(termenv.TrueColor))
	r.SetColorProfile(termenv.TrueColor)
	o := opts(stableBackend{s}, tom)
	o.Renderer = r
	m2 := New(o).(*Model)
	m2.Close()
	drive(t, m2, m2.Init())
	_, cmd := m2.Update(teaSize(100, 30))
	drive(t, m2, cmd)
	for _, run := range styledRuns(m2.View()) {
		if err := run.check(); err != nil {
			t.Errorf("tom: %v", err)
		}
	}
}

// run is a stretch of visible text drawn with one foreground and background.
type run struct {
	text   string
	fg, bg *colorful.Color
	rev    bool
}

var (
	black = colorful.Color{}
	white = colorful.Color{R: 1, G: 1, B: 1}
)

func (r run) check() error {
	fg, bg := r.fg, r.bg
	if r.rev {
		fg, bg = bg, fg
	}
	switch {
	case fg == nil && bg == nil:
		return nil // the terminal's own colours
	case bg == nil:
		for _, against := range []colorful.Color{black, white} {
			if c := contrast(*fg, against); c < 3 {
				return fmt.Errorf("%q is %s, %.2f:1 against %s", r.text, fg.Hex(), c, against.Hex())
			}
		}
	case fg == nil:
		for _, against := range []colorful.Color{black, white} {
			if c := contrast(*bg, against); c < 3 {
				return fmt.Errorf("%q on %s in the terminal's text colour: %.2f:1 if that is %s", r.text, bg.Hex(), c, against.Hex())
			}
		}
	default:
		if c := contrast(*fg, *bg); c < 3 {
			return fmt.Errorf("%q is %s on %s, %.2f:1", r.text, fg.Hex(), bg.Hex(), c)
		}
	}
	return nil
}

func luminance(c colorful.Color) float64 {
	lin := func(v float64) float64 {
		if v <= 0.03928 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.R) + 0.7152*lin(c.G) + 0.0722*lin(c.B)
}

// contrast is the WCAG contrast ratio of two colours.
func contrast(a, b colorful.Color) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// xterm16 is xterm's default 16-colour palette.
var xterm16 = []string{"#000000", "#cd0000", "#00cd00", "#cdcd00", "#0000ee", "#cd00cd", "#00cdcd", "#e5e5e5",
	"#7f7f7f", "#ff0000", "#00ff00", "#ffff00", "#5c5cff", "#ff00ff", "#00ffff", "#ffffff"}

func xterm256(n int) colorful.Color {
	switch {
	case n < 16:
		c, _ := colorful.Hex(xterm16[n])
		return c
	case n < 232:
		n -= 16
		lv := func(v int) float64 {
			if v == 0 {
				return 0
			}
			return float64(55+40*v) / 255
		}
		return colorful.Color{R: lv(n / 36), G: lv(n / 6 % 6), B: lv(n % 6)}
	default:
		v := float64(8+10*(n-232)) / 255
		return colorful.Color{R: v, G: v, B: v}
	}
}

// styledRuns splits a frame into runs of non-blank text with the colours
// in force, following SGR codes.
func styledRuns(frame string) []run {
	var out []run
	var fg, bg *colorful.Color
	rev := false
	var cur strings.Builder
	flush := func() {
		if t := strings.TrimSpace(cur.String()); t != "" && (fg != nil || bg != nil) {
			out = append(out, run{text: t, fg: fg, bg: bg, rev: rev})
		}
		cur.Reset()
	}
	for i := 0; i < len(frame); {
		if frame[i] == 0x1b && i+1 < len(frame) && frame[i+1] == '[' {
			j := i + 2
			for j < len(frame) && (frame[j] < 0x40 || frame[j] > 0x7e) {
				j++
			}
			if j < len(frame) && frame[j] == 'm' {
				flush()
				fg, bg, rev = applySGR(frame[i+2:j], fg, bg, rev)
			}
			i = j + 1
			continue
		}
		if frame[i] == '\n' {
			flush()
		} else {
			cur.WriteByte(frame[i])
		}
		i++
	}
	flush()
	return out
}

func applySGR(params string, fg, bg *colorful.Color, rev bool) (*colorful.Color, *colorful.Color, bool) {
	if params == "" {
		return nil, nil, false
	}
	ps := strings.Split(params, ";")
	num := func(i int) int { n, _ := strconv.Atoi(ps[i]); return n }
	for i := 0; i < len(ps); i++ {
		n := num(i)
		set := func(c colorful.Color, isFg bool) {
			if isFg {
				fg = &c
			} else {
				bg = &c
			}
		}
		switch {
		case n == 0:
			fg, bg, rev = nil, nil, false
		case n == 7:
			rev = true
		case n == 27:
			rev = false
		case n >= 30 && n <= 37:
			set(xterm256(n-30), true)
		case n >= 90 && n <= 97:
			set(xterm256(n-90+8), true)
		case n >= 40 && n <= 47:
			set(xterm256(n-40), false)
		case n >= 100 && n <= 107:
			set(xterm256(n-100+8), false)
		case n == 39:
			fg = nil
		case n == 49:
			bg = nil
		case (n == 38 || n == 48) && i+2 < len(ps) && ps[i+1] == "5":
			set(xterm256(num(i+2)), n == 38)
			i += 2
		case (n == 38 || n == 48) && i+4 < len(ps) && ps[i+1] == "2":
			set(colorful.Color{R: float64(num(i+2)) / 255, G: float64(num(i+3)) / 255, B: float64(num(i+4)) / 255}, n == 38)
			i += 4
		}
	}
	return fg, bg, rev
}
