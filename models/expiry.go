package models

import (
	"fmt"
	"strings"
	"time"
)

// Expiries are the lifetimes a token may be created with, as every door
// offers them (console choice, --expires, docs/tokens.md). Nothing else is
// accepted: a lifetime is one of these words, never a free-form duration.
var Expiries = []string{"7d", "30d", "90d", "1y", "never"}

var expiryDurations = map[string]time.Duration{
	"7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour, "90d": 90 * 24 * time.Hour,
	"1y": 365 * 24 * time.Hour, "never": 0,
}

// ParseExpiry turns one of Expiries (or "", the default never) into a
// lifetime; 0 means the token never expires, the original product's default.
func ParseExpiry(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if d, ok := expiryDurations[s]; ok {
		return d, nil
	}
	return 0, fmt.Errorf("%w: expiry %q is not one of %s", ErrInvalid, Sanitize(truncate(s, 32)), strings.Join(Expiries, ", "))
}

// FormatExpiry is ParseExpiry's inverse for display.
func FormatExpiry(d time.Duration) string {
	for k, v := range expiryDurations {
		if v == d {
			return k
		}
	}
	return d.String()
}
