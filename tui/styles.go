package tui

import (
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/charmbracelet/lipgloss"
	"github.com/lucasb-eyer/go-colorful"
	"github.com/muesli/termenv"
)

// Styles holds every style the console draws with. They fit the session's
// terminal, never lipgloss's global renderer, so two SSH sessions with
// different terminals (colour depth, light or dark background) each get
// colours their own terminal understands.
//
// A Styles is a handle on one immutable set: copying it copies a pointer.
// Consoles on the same kind of terminal share one set (SharedStyles), which
// saves the ~16 KB of lipgloss.Style values every console would otherwise
// carry; nothing may assign to a style of a set once it is built.
type Styles struct{ *styleSet }

// styleSet is the styles themselves; see Styles.
type styleSet struct {
	App        lipgloss.Style
	Brand      lipgloss.Style
	Tab        lipgloss.Style
	TabActive  lipgloss.Style
	TabSep     lipgloss.Style
	Who        lipgloss.Style
	Rule       lipgloss.Style
	Title      lipgloss.Style
	Section    lipgloss.Style
	Subtle     lipgloss.Style
	Bold       lipgloss.Style
	Header     lipgloss.Style
	Row        lipgloss.Style
	RowSel     lipgloss.Style
	Error      lipgloss.Style
	OK         lipgloss.Style
	Warn       lipgloss.Style
	Banner     lipgloss.Style
	Dialog     lipgloss.Style
	Secret     lipgloss.Style
	Key        lipgloss.Style
	Empty      lipgloss.Style
	StatusOK   lipgloss.Style
	StatusWait lipgloss.Style
	StatusDead lipgloss.Style
	HelpKey    lipgloss.Style
	HelpDesc   lipgloss.Style
	HelpSep    lipgloss.Style

	// Text inputs: prompt, typed text, placeholder (an example, never a
	// value: italic and prefixed "e.g."), and the cursor.
	Prompt      lipgloss.Style
	InputText   lipgloss.Style
	Placeholder lipgloss.Style
	Cursor      lipgloss.Style

	// Plain reports a profile without any attributes (TERM=dumb): the
	// screens then mark what colour and underline would have shown.
	Plain bool

	r *lipgloss.Renderer
}

// Background is what the console knows about the terminal's background.
type Background int

// Backgrounds. Unknown is the usual case over SSH (OpenSSH forwards no
// COLORFGBG) and in terminals that do not answer the OSC 11 query; the
// palette for it reads on black and on white alike.
const (
	BackgroundUnknown Background = iota
	BackgroundDark
	BackgroundLight
)

// BackgroundFromEnv reads COLORFGBG ("15;0": light text on black), which
// rxvt, Konsole and others export; anything else is unknown.
func BackgroundFromEnv(getenv func(string) string) Background {
	v := getenv("COLORFGBG")
	if v == "" {
		return BackgroundUnknown
	}
	parts := strings.Split(v, ";")
	bg := parts[len(parts)-1]
	if n, err := strconv.Atoi(bg); err == nil {
		switch {
		case n == 7 || n == 15:
			return BackgroundLight
		case n >= 0 && n <= 15:
			return BackgroundDark
		}
		return BackgroundUnknown
	}
	if c, err := colorful.Hex(bg); err == nil {
		if _, _, l := c.Hsl(); l >= 0.5 {
			return BackgroundLight
		}
		return BackgroundDark
	}
	return BackgroundUnknown
}

// palette is one set of colours. sel* colour the selected row; with
// selReverse the row is drawn in reverse video instead, which reads on any
// terminal theme (16-colour terminals map hex colours unpredictably).
type palette struct {
	accent, text, subtle, faint, ok, warn, err lipgloss.TerminalColor
	selFg, selBg                               lipgloss.TerminalColor
	selReverse                                 bool
}

var none = lipgloss.NoColor{}

var (
	// paletteDark and paletteLight are for a background the terminal told us.
	paletteDark = palette{
		accent: lipgloss.Color("#A78BFA"), text: lipgloss.Color("#E6EDF3"), subtle: lipgloss.Color("#8B949E"),
		faint: lipgloss.Color("#30363D"), ok: lipgloss.Color("#3FB950"), warn: lipgloss.Color("#D29922"),
		err: lipgloss.Color("#F85149"), selFg: lipgloss.Color("#E6EDF3"), selBg: lipgloss.Color("#3B3470"),
	}
	paletteLight = palette{
		accent: lipgloss.Color("#5A3FD1"), text: lipgloss.Color("#1F2328"), subtle: lipgloss.Color("#6E7781"),
		faint: lipgloss.Color("#D0D7DE"), ok: lipgloss.Color("#1A7F37"), warn: lipgloss.Color("#9A6700"),
		err: lipgloss.Color("#CF222E"), selFg: lipgloss.Color("#1F2328"), selBg: lipgloss.Color("#DDD6FE"),
	}
	// paletteEither is for an unknown background: every colour has a
	// relative luminance between 0.1 and 0.3, so it is at least 3:1 against
	// black and against white; body text keeps the terminal's own colour.
	paletteEither = palette{
		accent: lipgloss.Color("#7B5CE0"), text: none, subtle: lipgloss.Color("#7D8590"),
		faint: lipgloss.Color("#7A7F85"), ok: lipgloss.Color("#0F8A3C"), warn: lipgloss.Color("#B08000"),
		err: lipgloss.Color("#D73A49"), selFg: lipgloss.Color("#FFFFFF"), selBg: lipgloss.Color("#5A3FD1"),
	}
	// palette16 is for 16-colour terminals, whose colours the user's theme
	// decides: only magenta, red and bright black read on both xterm's black
	// and white; the rest is bold, and selection is reverse video.
	palette16 = palette{
		accent: lipgloss.Color("5"), text: none, subtle: lipgloss.Color("8"), faint: lipgloss.Color("8"),
		ok: none, warn: lipgloss.Color("5"), err: lipgloss.Color("1"), selReverse: true,
	}
	palette16Dark = palette{
		accent: lipgloss.Color("13"), text: none, subtle: lipgloss.Color("8"), faint: lipgloss.Color("8"),
		ok: lipgloss.Color("2"), warn: lipgloss.Color("3"), err: lipgloss.Color("9"), selReverse: true,
	}
	// paletteNone is NO_COLOR: no colour at all, attributes kept.
	paletteNone = palette{accent: none, text: none, subtle: none, faint: none, ok: none, warn: none, err: none, selReverse: true}
)

// Theme says how to pick a palette for a renderer.
type Theme struct {
	Background Background
	NoColor    bool // NO_COLOR: drop colours, keep bold, underline and reverse
}

// NewStyles builds the console's styles on r for an unknown background.
func NewStyles(r *lipgloss.Renderer) Styles { return NewThemedStyles(r, Theme{}) }

// NewThemedStyles builds the console's styles on r for theme th. With
// NoColor the renderer is moved from the attribute-less Ascii profile to ANSI
// (bold, underline, reverse) and every colour is dropped: NO_COLOR removes
// colour, not emphasis.
func NewThemedStyles(r *lipgloss.Renderer, th Theme) Styles {
	return buildStyles(r, pickPalette(r, th))
}

// stylesKey is everything a style set depends on: the palette, and the
// renderer's colour profile and background, which is all lipgloss reads from
// a renderer to draw a style.
type stylesKey struct {
	p       palette
	profile termenv.Profile
	dark    bool
}

// shared holds one style set per stylesKey: a handful at most.
var shared sync.Map // stylesKey → Styles

// SharedStyles is NewThemedStyles for a console among many: styles for r's
// kind of terminal, built once per kind on a renderer of their own (same
// profile and background as r, writing nowhere) and shared by every console
// that asks for that kind.
func SharedStyles(r *lipgloss.Renderer, th Theme) Styles {
	p := pickPalette(r, th)
	k := stylesKey{p: p, profile: r.ColorProfile(), dark: r.HasDarkBackground()}
	if st, ok := shared.Load(k); ok {
		return st.(Styles)
	}
	own := lipgloss.NewRenderer(io.Discard)
	own.SetColorProfile(k.profile)
	own.SetHasDarkBackground(k.dark)
	st, _ := shared.LoadOrStore(k, buildStyles(own, p))
	return st.(Styles)
}

// pickPalette chooses the palette for r and th (moving r to the ANSI profile
// for NoColor, see NewThemedStyles).
func pickPalette(r *lipgloss.Renderer, th Theme) palette {
	p := paletteEither
	switch {
	case th.NoColor:
		if r.ColorProfile() == termenv.Ascii {
			r.SetColorProfile(termenv.ANSI)
		}
		p = paletteNone
	case r.ColorProfile() == termenv.ANSI:
		p = palette16
		if th.Background == BackgroundDark {
			p = palette16Dark
		}
	case th.Background == BackgroundDark:
		p = paletteDark
	case th.Background == BackgroundLight:
		p = paletteLight
	}
	return p
}

func buildStyles(r *lipgloss.Renderer, p palette) Styles {
	s := r.NewStyle
	sel := s().Bold(true).Foreground(p.selFg).Background(p.selBg)
	if p.selReverse {
		sel = s().Bold(true).Reverse(true)
	}
	return Styles{&styleSet{
		App:         s(),
		Brand:       s().Bold(true).Foreground(p.accent),
		Tab:         s().Foreground(p.subtle).Padding(0, 1),
		TabActive:   s().Bold(true).Foreground(p.accent).Underline(true).Padding(0, 1),
		TabSep:      s().Foreground(p.faint),
		Who:         s().Foreground(p.subtle),
		Rule:        s().Foreground(p.faint),
		Title:       s().Bold(true).Foreground(p.text),
		Section:     s().Bold(true).Foreground(p.accent),
		Subtle:      s().Foreground(p.subtle),
		Bold:        s().Bold(true),
		Header:      s().Bold(true).Foreground(p.subtle),
		Row:         s().Foreground(p.text),
		RowSel:      sel,
		Error:       s().Bold(true).Foreground(p.err),
		OK:          s().Foreground(p.ok),
		Warn:        s().Foreground(p.warn),
		Banner:      s().Foreground(p.warn).Border(lipgloss.NormalBorder(), false, false, false, true).BorderForeground(p.warn).PaddingLeft(1),
		Dialog:      s().Border(lipgloss.RoundedBorder()).BorderForeground(p.accent).Padding(0, 1),
		Secret:      s().Bold(true).Foreground(p.ok),
		Key:         s().Bold(true).Foreground(p.accent),
		Empty:       s().Foreground(p.subtle).Italic(true),
		StatusOK:    s().Foreground(p.ok),
		StatusWait:  s().Bold(true).Foreground(p.warn),
		StatusDead:  s().Foreground(p.subtle),
		HelpKey:     s().Foreground(p.subtle).Bold(true),
		HelpDesc:    s().Foreground(p.subtle),
		HelpSep:     s().Foreground(p.faint),
		Prompt:      s().Bold(true).Foreground(p.accent),
		InputText:   s().Foreground(p.text),
		Placeholder: s().Foreground(p.subtle).Italic(true),
		Cursor:      s().Reverse(true),
		Plain:       r.ColorProfile() == termenv.Ascii,
		r:           r,
	}}
}

// Renderer is the renderer the styles were built on.
func (s Styles) Renderer() *lipgloss.Renderer { return s.r }
