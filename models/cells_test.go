package models

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// troublesome is one sample of each character class that has corrupted a
// console row: joiners, selectors, tags, fillers, combining stacks, flags.
var troublesome = map[string]string{
	"zero-width space":     "a\u200bb",
	"zwj family":           "\U0001F468\u200d\U0001F469\u200d\U0001F467",
	"vs16":                 "\u2764\ufe0f",
	"tag flag":             "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F",
	"hangul fillers":       strings.Repeat("\u115f", 6) + "filler",
	"hangul filler 3164":   "\u3164\u3164x",
	"conjoining jamo":      "\u1100\u1161\u11a8",
	"combining stack":      "Z" + strings.Repeat("\u0301\u0300\u0302", 20),
	"leading mark":         "\u0301abc",
	"enclosing keycap":     "1\u20e3",
	"skin tone":            "\U0001F44D\U0001F3FD",
	"flag pair":            "\U0001F1FA\U0001F1F8",
	"soft hyphen":          "co\u00adop",
	"word joiner and bom":  "a\u2060b\ufeffc",
	"line separator":       "a\u2028b",
	"grapheme joiner":      "a\u034fb",
	"devanagari":           "\u0915\u093e\u0930",
	"thai":                 "\u0e01\u0e33",
	"wide":                 "山田太郎",
	"emoji":                "\U0001F600x",
	"interlinear":          "a\ufff9b\ufffbc",
	"mongolian vowel sep":  "a\u180eb",
	"arabic number sign":   "\u0600\u0661",
	"variation selector 2": "\u845b\U000E0100",
}

func TestSanitizeStripsInvisibles(t *testing.T) {
	cases := map[string]string{
		"a\u200bb":                             "ab",
		"\U0001F468\u200d\U0001F469":           "\U0001F468\U0001F469",
		"\u2764\ufe0f":                         "\u2764",
		strings.Repeat("\u115f", 6) + "filler": "filler",
		"Z" + strings.Repeat("\u0301", 9):      "Z\u0301\u0301",
		"\u0301abc":                            "abc",
		"e\u0301":                              "e\u0301",
		"Nguy\u1ec5n":                          "Nguy\u1ec5n",
		"1\u20e3":                              "1",
		"\U0001F1FA\U0001F1F8":                 "",
		"co\u00adop":                           "coop",
	}
	for in, want := range cases {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCellWidthNeverUnder checks, for each troublesome class after Sanitize,
// that CellWidth is at least both what a grapheme-aware layout measures and
// what a wcwidth terminal draws, and that FitCells always lands on exactly the
// column's width by both measures or falls short, never over.
func TestCellWidthNeverUnder(t *testing.T) {
	for name, raw := range troublesome {
		s := SanitizeLine(raw)
		for _, r := range s {
			if isInvisibleRune(r) {
				t.Errorf("%s: %U survived Sanitize", name, r)
			}
		}
		cw := CellWidth(s)
		if u := ansi.StringWidth(s); cw < u {
			t.Errorf("%s: CellWidth %d < layout width %d", name, cw, u)
		}
		rw := 0
		for _, r := range s {
			rw += narrow.RuneWidth(r)
		}
		if cw < rw {
			t.Errorf("%s: CellWidth %d < wcwidth %d", name, cw, rw)
		}
		for w := 1; w <= 12; w++ {
			f := FitCells(s, w)
			if got := CellWidth(f); got > w {
				t.Errorf("%s: FitCells(%d) is %d cells: %q", name, w, got, f)
			}
			if got := ansi.StringWidth(f); got > w {
				t.Errorf("%s: FitCells(%d) is %d layout cells: %q", name, w, got, f)
			}
		}
	}
	if got := TruncateCells("abcdef", 4, "…"); got != "abc…" {
		t.Errorf("TruncateCells = %q", got)
	}
	if got := FitCells("ab", 4); got != "ab  " {
		t.Errorf("FitCells = %q", got)
	}
}

func TestValidateNameRejectsInvisibles(t *testing.T) {
	for name, raw := range troublesome {
		if Sanitize(raw) == raw {
			continue // some samples are only measured, not stripped
		}
		if _, err := ValidateName("name", raw); err == nil {
			t.Errorf("%s: ValidateName accepted %q", name, raw)
		}
	}
}

// TestSanitizeCellsMeasuresAgree: after SanitizeCells, the layout's width
// and a wcwidth terminal's are the same for every troublesome sample.
func TestSanitizeCellsMeasuresAgree(t *testing.T) {
	for name, raw := range troublesome {
		s := SanitizeCells(raw)
		if u, w := ansi.StringWidth(s), wcwidth(s); u != w || CellWidth(s) != u {
			t.Errorf("%s: %q layout %d, wcwidth %d, CellWidth %d", name, s, u, w, CellWidth(s))
		}
	}
	if got := SanitizeCells("\u0915\u093e\u0930"); got != "\u0915\u0930" {
		t.Errorf("SanitizeCells(का र) = %q", got)
	}
	if got := SanitizeCells("Zo\u00eb \u5c71\u7530 e\u0301"); got != "Zo\u00eb \u5c71\u7530 e\u0301" {
		t.Errorf("SanitizeCells changed agreeable text: %q", got)
	}
}
