package models

import (
	"errors"
	"strings"
	"testing"
)

func TestParseExpiryAcceptsOnlyTheChoices(t *testing.T) {
	for _, in := range append([]string{""}, Expiries...) {
		d, err := ParseExpiry(in)
		want := in
		if in == "" {
			want = "never"
		}
		if err != nil || FormatExpiry(d) != want {
			t.Errorf("ParseExpiry(%q) = %v (%s), %v; want %s", in, d, FormatExpiry(d), err, want)
		}
	}
	for _, bad := range []string{"5d", "3h", "2w", "NEVER", "Never", " 7d", "7D", "0", "x", "-1d", "0d", "20y", "12h", "\x1b[2J"} {
		_, err := ParseExpiry(bad)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "7d, 30d, 90d, 1y, never") || strings.Contains(err.Error(), "\x1b") {
			t.Errorf("ParseExpiry(%q): %v", bad, err)
		}
	}
}
