package models

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	cases := map[string]string{
		"plain name":                 "plain name",
		"Zoë Åberg 山田":               "Zoë Åberg 山田",
		"a\tb":                       "a b",
		"bell\a":                     "bell",
		"\x1b]52;c;cHduZWQ=\x07evil": "evil",
		"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\": "link",
		"\x1b[31mred\x1b[0m":                       "red",
		"\x1bPq#0;2;0;0;0\x1b\\dcs":                "dcs",
		"\x1bcreset":                               "reset",
		"\u009b31mc1":                              "c1",
		"\u009d0;title\u009ctext":                  "text",
		"abc\u202Eevil\u202C":                      "abcevil",
		"\u2066iso\u2069":                          "iso",
		"nul\x00byte":                              "nulbyte",
		"del\x7f":                                  "del",
		"bad\xffutf8":                              "bad\uFFFDutf8",
		"unterminated \x1b]52;c;AAAA":              "unterminated ",
	}
	for in, want := range cases {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

// unsafeLeft reports any byte or rune a terminal could act on.
func unsafeLeft(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return true
		}
	}
	return false
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"hello", "\x1b]52;c;AA\x07", "\x1b[2J", "\u202E", "\xc2\x9b31m", "\x1bP\x1b\\", "a\x1b", "\x1b[", "\t\n\r"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := Sanitize(s)
		if unsafeLeft(once) {
			t.Fatalf("Sanitize(%q) = %q still holds control or bidi characters", s, once)
		}
		for _, r := range once {
			if isInvisibleRune(r) {
				t.Fatalf("Sanitize(%q) = %q still holds %U", s, once, r)
			}
		}
		if twice := Sanitize(once); twice != once {
			t.Fatalf("not idempotent: %q → %q → %q", s, once, twice)
		}
		if len(once) > 3*len(s)+3 {
			t.Fatalf("output grew: %d → %d", len(s), len(once))
		}
		if strings.ContainsRune(SanitizeLine(s), '\n') {
			t.Fatal("SanitizeLine kept a newline")
		}
	})
}

func TestValidateName(t *testing.T) {
	for _, bad := range []string{"", "   ", strings.Repeat("x", 65), "evil\x1b[2J", "a\u202Eb", "nul\x00", "\xff"} {
		if _, err := ValidateName("name", bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if got, err := ValidateName("name", "  Zoë  "); err != nil || got != "Zoë" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestEmailsAndKeys(t *testing.T) {
	if e, err := NormalizeEmail("Ann@Example.COM"); err != nil || e != "ann@example.com" {
		t.Errorf("got %q, %v", e, err)
	}
	for _, bad := range []string{"", "ann", "ann@", "Ann <ann@x.io>", "a\x1b@x.io", "ann@localhost", strings.Repeat("a", 250) + "@x.io"} {
		if _, err := NormalizeEmail(bad); err == nil {
			t.Errorf("accepted email %q", bad)
		}
	}
	for _, bad := range []string{"", "ssh-ed25519", "ssh-ed25519 AAAA", "not a key"} {
		if _, err := ParseSSHKey(bad); err == nil {
			t.Errorf("accepted key %q", bad)
		}
	}
}
