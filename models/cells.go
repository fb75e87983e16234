package models

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
	"github.com/mattn/go-runewidth"
	"github.com/rivo/uniseg"
)

// Terminals disagree with layout code about how wide some text is: a layout
// library measures grapheme clusters (uniseg, as lipgloss does), while xterm,
// tmux and most others add up wcwidth of each code point. The layout measure
// here is x/ansi's, the one lipgloss and Bubble Tea pad and cut with. After Sanitize has
// removed the worst offenders (joiners, selectors, fillers), the two still
// differ for spacing marks and a few letters (Devanagari "का": 1 layout cell,
// 2 wcwidth cells). CellWidth takes the larger of the two for every cluster,
// so text fitted to a column with it is never wider than the column on any of
// those terminals; at worst a row falls one cell short.

// narrow is wcwidth as terminals outside East Asian locales compute it; the
// package default would read the process's locale, and an SSH server's locale
// says nothing about the client's terminal.
var narrow = &runewidth.Condition{EastAsianWidth: false}

// CellWidth is the number of terminal cells s takes at most. s should already
// be sanitized: escape sequences are not skipped here.
func CellWidth(s string) int {
	if isPrintableASCII(s) {
		return len(s)
	}
	w := 0
	state := -1
	for len(s) > 0 {
		var cluster string
		cluster, s, _, state = uniseg.FirstGraphemeClusterInString(s, state)
		w += clusterWidth(cluster)
	}
	return w
}

// clusterWidth is the larger of the layout's measure (x/ansi, which
// lipgloss and Bubble Tea use) and wcwidth.
func clusterWidth(cluster string) int { return max(ansi.StringWidth(cluster), wcwidth(cluster)) }

// TruncateCells cuts s to at most w cells by CellWidth, ending it with tail
// (e.g. "…") when something was cut. It never splits a grapheme cluster.
func TruncateCells(s string, w int, tail string) string {
	if w <= 0 {
		return ""
	}
	if CellWidth(s) <= w {
		return s
	}
	room := w - CellWidth(tail)
	if room < 0 {
		return ""
	}
	var b strings.Builder
	used := 0
	state := -1
	for len(s) > 0 {
		var cluster string
		cluster, s, _, state = uniseg.FirstGraphemeClusterInString(s, state)
		cw := clusterWidth(cluster)
		if used+cw > room {
			break
		}
		b.WriteString(cluster)
		used += cw
	}
	return b.String() + tail
}

// SanitizeCells is SanitizeLine for a terminal cell grid: it also rewrites
// every grapheme cluster whose width a grapheme-aware layout and a wcwidth
// terminal disagree on, keeping the cluster's longest leading run of code
// points they agree on (Devanagari "का" is drawn "क"; U+FFFD when not even
// the first agrees). After it, CellWidth, lipgloss's own measure and what
// xterm or tmux draw are the same number, so padding by any of them lines up.
// Stored text is never rewritten: this is for the screen only.
func SanitizeCells(s string) string {
	s = SanitizeLine(s)
	if isPrintableASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	state := -1
	rest := s
	for len(rest) > 0 {
		var cluster string
		cluster, rest, _, state = uniseg.FirstGraphemeClusterInString(rest, state)
		if agree(cluster) {
			b.WriteString(cluster)
			continue
		}
		kept := ""
		for i := range cluster {
			if i == 0 {
				continue
			}
			if p := cluster[:i]; agree(p) {
				kept = p
			}
		}
		if kept == "" && agree(cluster[:len(string([]rune(cluster)[0]))]) {
			kept = string([]rune(cluster)[0])
		}
		if kept == "" {
			kept = "\uFFFD"
		}
		b.WriteString(kept)
	}
	return b.String()
}

// agree reports whether both measures give s the same width.
func agree(s string) bool {
	return ansi.StringWidth(s) == wcwidth(s)
}

func wcwidth(s string) int {
	n := 0
	for _, r := range s {
		n += narrow.RuneWidth(r)
	}
	return n
}

// FitCells truncates s to w cells (ending in "…") and pads it with spaces to
// exactly w cells, by CellWidth: one table cell.
func FitCells(s string, w int) string {
	if w <= 0 {
		return ""
	}
	s = TruncateCells(s, w, "…")
	if n := CellWidth(s); n < w {
		s += strings.Repeat(" ", w-n)
	}
	return s
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
