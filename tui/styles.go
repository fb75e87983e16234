package tui

import (
	"github.com/charmbracelet/lipgloss"
)

// Styles holds every style the console draws with. They are built from the
// session's renderer, never from lipgloss's global one, so two SSH sessions
// with different terminals (colour depth, light or dark background) each get
// colours their own terminal understands.
type Styles struct {
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
}

// Adaptive colours: the first value is for light backgrounds, the second for dark.
var (
	colAccent = lipgloss.AdaptiveColor{Light: "#5A3FD1", Dark: "#A78BFA"}
	colText   = lipgloss.AdaptiveColor{Light: "#1F2328", Dark: "#E6EDF3"}
	colSubtle = lipgloss.AdaptiveColor{Light: "#6E7781", Dark: "#8B949E"}
	colFaint  = lipgloss.AdaptiveColor{Light: "#D0D7DE", Dark: "#30363D"}
	colSelBg  = lipgloss.AdaptiveColor{Light: "#EDE9FE", Dark: "#2E2A4F"}
	colOK     = lipgloss.AdaptiveColor{Light: "#1A7F37", Dark: "#3FB950"}
	colWarn   = lipgloss.AdaptiveColor{Light: "#9A6700", Dark: "#D29922"}
	colErr    = lipgloss.AdaptiveColor{Light: "#CF222E", Dark: "#F85149"}
)

// NewStyles builds the console's styles on r.
func NewStyles(r *lipgloss.Renderer) Styles {
	s := r.NewStyle
	return Styles{
		App:        s(),
		Brand:      s().Bold(true).Foreground(colAccent),
		Tab:        s().Foreground(colSubtle).Padding(0, 1),
		TabActive:  s().Bold(true).Foreground(colAccent).Underline(true).Padding(0, 1),
		TabSep:     s().Foreground(colFaint),
		Who:        s().Foreground(colSubtle),
		Rule:       s().Foreground(colFaint),
		Title:      s().Bold(true).Foreground(colText),
		Section:    s().Bold(true).Foreground(colAccent),
		Subtle:     s().Foreground(colSubtle),
		Bold:       s().Bold(true),
		Header:     s().Bold(true).Foreground(colSubtle),
		Row:        s().Foreground(colText),
		RowSel:     s().Bold(true).Foreground(colAccent).Background(colSelBg),
		Error:      s().Foreground(colErr),
		OK:         s().Foreground(colOK),
		Warn:       s().Foreground(colWarn),
		Banner:     s().Foreground(colWarn).Border(lipgloss.NormalBorder(), false, false, false, true).BorderForeground(colWarn).PaddingLeft(1),
		Dialog:     s().Border(lipgloss.RoundedBorder()).BorderForeground(colAccent).Padding(0, 1),
		Secret:     s().Bold(true).Foreground(colOK),
		Key:        s().Bold(true).Foreground(colAccent),
		Empty:      s().Foreground(colSubtle).Italic(true),
		StatusOK:   s().Foreground(colOK),
		StatusWait: s().Foreground(colWarn),
		StatusDead: s().Foreground(colSubtle),
		HelpKey:    s().Foreground(colSubtle).Bold(true),
		HelpDesc:   s().Foreground(colSubtle),
		HelpSep:    s().Foreground(colFaint),
	}
}
