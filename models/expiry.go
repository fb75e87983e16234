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

// FormatGrace says a rotation's grace period in words ("10 minutes", "1 hour"),
// for the console's confirmations and the store's refusals alike.
func FormatGrace(d time.Duration) string {
	unit := func(n int, one, many string) string {
		if n == 1 {
			return fmt.Sprintf("%d %s", n, one)
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int(d/time.Hour), "hour", "hours")
	case d >= time.Minute:
		return unit(int(d/time.Minute), "minute", "minutes")
	}
	return unit(int(d/time.Second), "second", "seconds")
}
