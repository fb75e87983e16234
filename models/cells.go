package models

import (
	"strings"

	"github.com/mattn/go-runewidth"
	"github.com/rivo/uniseg"
)

// Terminals disagree with layout code about how wide some text is: a layout
// library measures grapheme clusters (uniseg, as lipgloss does), while xterm,
// tmux and most others add up wcwidth of each code point. After Sanitize has
// removed the worst offenders (joiners, selectors, fillers), the two still
// differ for spacing marks and a few letters (Devanagari "का": 1 cluster cell,
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
		var cw int
		cluster, s, cw, state = uniseg.FirstGraphemeClusterInString(s, state)
		w += clusterWidth(cluster, cw)
	}
	return w
}

func clusterWidth(cluster string, uw int) int {
	rw := 0
	for _, r := range cluster {
		rw += narrow.RuneWidth(r)
	}
	return max(uw, rw)
}

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
		var cw int
		cluster, s, cw, state = uniseg.FirstGraphemeClusterInString(s, state)
		cw = clusterWidth(cluster, cw)
		if used+cw > room {
			break
		}
		b.WriteString(cluster)
		used += cw
	}
	return b.String() + tail
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
