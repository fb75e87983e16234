package models

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sanitize makes user-supplied text safe to print on any terminal. It drops
// escape sequences whole (CSI, OSC such as OSC 52 clipboard writes and OSC 8
// links, DCS, SOS/PM/APC, and two-byte ESC forms such as ESC c), every other C0
// control except tab (tabs become a space, since they break column layout), DEL,
// C1 controls including the 8-bit CSI U+009B, and the bidi embeddings, overrides
// and isolates U+202A–U+202E and U+2066–U+2069 that can make text read backwards.
// Invalid UTF-8 becomes U+FFFD. Sanitize(Sanitize(s)) == Sanitize(s).
//
// It also drops what makes a terminal and a layout disagree about how wide a
// name is, so a row can never spill out of its column: format characters
// (category Cf: zero-width space and joiner, so no ZWJ sequences, word
// joiner, BOM, soft hyphen, tag characters U+E0000–U+E007F), variation
// selectors (the zero-width non-joiner stays: Persian needs it; VS16 turns a one-cell symbol into a two-cell emoji on some
// terminals only), emoji skin-tone modifiers and regional indicators (which
// pair into flags on some terminals only), the Hangul fillers U+115F, U+1160,
// U+3164, U+FFA0 and conjoining vowel and final jamo (blank or merging glyphs),
// line and paragraph separators, enclosing marks, and every combining mark
// past the second on one base character (so "Zalgo" stacks cannot pile up) or
// with no base at all.
func Sanitize(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	marks := -1 // combining marks on the last base written; -1: no base yet
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteRune(utf8.RuneError)
			i++
			continue
		case r == 0x1b: // ESC: skip the whole sequence it starts
			i = skipEscape(s, i+size)
			continue
		case r == 0x9b || r == 0x90 || r == 0x9d || r == 0x98 || r == 0x9e || r == 0x9f:
			// 8-bit CSI, DCS, OSC, SOS, PM, APC: skip what they introduce too.
			i = skipEscapeBody(s, i+size, r)
			continue
		case r == '\t':
			b.WriteByte(' ')
			marks = 0
		case isUnsafeRune(r), isInvisibleRune(r):
		case isCombining(r):
			if marks >= 0 && marks < maxMarks {
				b.WriteString(s[i : i+size])
				marks++
			}
		default:
			b.WriteString(s[i : i+size])
			marks = 0
		}
		i += size
	}
	return b.String()
}

// maxMarks is how many combining marks one base character may carry:
// enough for Vietnamese and most scripts, too few for a stack that climbs
// over the rows above.
const maxMarks = 2

// isInvisibleRune reports runes that draw nothing or change how their
// neighbours are drawn, differently from one terminal to the next.
func isInvisibleRune(r rune) bool {
	switch {
	case r < 0x80:
		return false
	case r == 0x200c: // ZWNJ: Persian and Indic spelling need it; it joins nothing
		return false
	case unicode.Is(unicode.Cf, r): // ZWJ, ZWSP, WJ, BOM, SHY, tags, bidi…
		return true
	case r >= 0xfe00 && r <= 0xfe0f, r >= 0xe0100 && r <= 0xe01ef: // variation selectors
		return true
	case r >= 0x1f3fb && r <= 0x1f3ff: // emoji modifiers (skin tones)
		return true
	case r >= 0x1f1e6 && r <= 0x1f1ff: // regional indicators (flags)
		return true
	case r == 0x115f, r == 0x3164, r == 0xffa0: // Hangul fillers
		return true
	case r >= 0x1160 && r <= 0x11ff, r >= 0xd7b0 && r <= 0xd7ff: // conjoining jamo (incl. U+1160 filler)
		return true
	case r == 0x2028 || r == 0x2029: // line and paragraph separators
		return true
	case unicode.Is(unicode.Me, r): // enclosing marks draw over their neighbours
		return true
	case r == 0x034f: // combining grapheme joiner
		return true
	}
	return false
}

// isCombining reports marks that sit on the previous character.
func isCombining(r rune) bool {
	return r >= 0x300 && (unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r))
}

// SanitizeLine is Sanitize for single-line fields: newlines become spaces too.
func SanitizeLine(s string) string {
	return strings.TrimSpace(Sanitize(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)))
}

func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c >= 0x80 {
			return slowClean(s)
		}
	}
	return true
}

// slowClean reports whether s, which holds non-ASCII or control bytes, is already
// clean: valid UTF-8 with no unsafe rune.
func slowClean(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || r == 0x1b || r == '\t' || isUnsafeRune(r) || isInvisibleRune(r) || isCombining(r) {
			return false
		}
		i += size
	}
	return true
}

// isUnsafeRune reports runes that are dropped outright (ESC and tab are handled
// by the caller).
func isUnsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x200e || r == 0x200f || r == 0x061c: // directional marks
		return true
	}
	return false
}

// skipEscape returns the index just past the escape sequence whose ESC ended at i.
func skipEscape(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '[': // CSI: parameters and intermediates, then one final byte 0x40–0x7e
		return skipEscapeBody(s, i+1, 0x9b)
	case ']': // OSC
		return skipEscapeBody(s, i+1, 0x9d)
	case 'P': // DCS
		return skipEscapeBody(s, i+1, 0x90)
	case 'X', '^', '_': // SOS, PM, APC
		return skipEscapeBody(s, i+1, 0x98)
	}
	// nF sequences: intermediates 0x20–0x2f then a final byte.
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
		i++ // Fp/Fe/Fs final byte, e.g. 'c' of ESC c (full reset)
	}
	return i
}

// skipEscapeBody skips the body of a CSI (kind 0x9b) or of a string sequence
// (OSC, DCS, SOS, PM, APC), which ends at BEL, ESC \ or the 8-bit ST (0x9c).
// An unterminated sequence swallows the rest of the string: printing any of it
// could be read by the terminal as part of the sequence.
func skipEscapeBody(s string, i int, kind rune) int {
	if kind == 0x9b {
		for i < len(s) {
			c := s[i]
			i++
			if c >= 0x40 && c <= 0x7e {
				return i
			}
			if c < 0x20 || c > 0x3f && c < 0x40 || c >= 0x80 {
				return i // malformed: stop at the offending byte
			}
		}
		return i
	}
	for i < len(s) {
		if s[i] == 0x07 {
			return i + 1
		}
		if s[i] == 0x1b {
			if i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
			return i + 1
		}
		if r, size := utf8.DecodeRuneInString(s[i:]); r == 0x9c {
			return i + size
		}
		i++
	}
	return i
}

// HasUnsafe reports whether s holds anything Sanitize would change.
func HasUnsafe(s string) bool { return Sanitize(s) != s }
