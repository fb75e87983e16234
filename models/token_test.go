package models

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestRefreshTokenRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		tok, err := NewRefreshToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != TokenLen || !strings.HasPrefix(tok, "kdr_") {
			t.Fatalf("bad shape %q", tok)
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
		if _, err := ParseRefreshToken(tok); err != nil {
			t.Fatalf("parse(generate()) = %v", err)
		}
	}
}

// TestEverySingleCharChangeFails flips each character of a token to every
// other base62 character: the prefix, length or checksum check must reject it.
func TestEverySingleCharChangeFails(t *testing.T) {
	tok, err := NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(tok); i++ {
		for _, c := range []byte(base62 + "_-") {
			if c == tok[i] {
				continue
			}
			mut := tok[:i] + string(c) + tok[i+1:]
			if _, err := ParseRefreshToken(mut); err == nil {
				t.Fatalf("changing position %d to %q was accepted", i, c)
			} else if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("error %v is not ErrUnauthenticated", err)
			}
		}
	}
}

func TestRandomFailureIsFatal(t *testing.T) {
	tok, err := newRefreshTokenFrom(iotest.ErrReader(errors.New("entropy gone")))
	if err == nil || tok != "" {
		t.Fatalf("got %q, %v; want an error and no token", tok, err)
	}
	tok, err = newRefreshTokenFrom(bytes.NewReader(make([]byte, 10)))
	if err == nil || tok != "" {
		t.Fatalf("short read gave %q, %v", tok, err)
	}
}

func TestParseRejectsBeforeLookup(t *testing.T) {
	good, _ := NewRefreshToken()
	for _, bad := range []string{"", "kdr_", "ghp_" + good[4:], good + "x", good[:len(good)-1], strings.ToUpper(good[:4]) + good[4:],
		good[:10] + "\x00" + good[11:], good[:10] + "é" + good[12:]} {
		if _, err := ParseRefreshToken(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestMask(t *testing.T) {
	tok, _ := NewRefreshToken()
	m := MaskToken(TokenTail(tok))
	if m != "kdr_…"+tok[len(tok)-6:] || strings.Contains(m, tok[4:40]) {
		t.Fatalf("mask %q", m)
	}
}

func TestIDsSortByTime(t *testing.T) {
	a, _ := NewID("tok_")
	prev := a
	for i := 0; i < 5; i++ {
		b, _ := NewID("tok_")
		if len(b) != len(a) {
			t.Fatalf("id length varies: %q %q", a, b)
		}
		if b[:12] < prev[:12] {
			t.Fatalf("time part went backwards: %q then %q", prev, b)
		}
		prev = b
	}
}

func FuzzParseRefreshToken(f *testing.F) {
	good, _ := NewRefreshToken()
	f.Add(good)
	f.Add("kdr_")
	f.Add("")
	f.Add("kdr_" + strings.Repeat("z", 49))
	f.Add(good[:20] + "\xff" + good[21:])
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ParseRefreshToken(s)
		if err == nil {
			if out != s || len(s) != TokenLen || !strings.HasPrefix(s, TokenPrefix) {
				t.Fatalf("accepted malformed %q", s)
			}
			if tokenChecksum(s[:len(s)-6]) != s[len(s)-6:] {
				t.Fatalf("accepted bad checksum %q", s)
			}
		}
	})
}
