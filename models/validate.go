package models

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
)

// Limits on user-supplied fields.
const (
	MaxNameLen      = 64
	MaxEmailLen     = 254
	MaxTokensActive = 25
)

// ValidateName checks a person's or a token's name: 1–64 printable characters,
// valid UTF-8, no control or bidi characters. Surrounding spaces are trimmed.
// Names are rejected rather than silently rewritten so nobody is surprised by
// what got stored.
func ValidateName(what, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fmt.Errorf("%w: %s is empty; give 1 to %d characters", ErrInvalid, what, MaxNameLen)
	case !utf8.ValidString(s):
		return "", fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	case utf8.RuneCountInString(s) > MaxNameLen:
		return "", fmt.Errorf("%w: %s is longer than %d characters", ErrInvalid, what, MaxNameLen)
	case Sanitize(s) != s:
		return "", fmt.Errorf("%w: %s contains control, escape or bidi characters; use printable text", ErrInvalid, what)
	}
	return s, nil
}

// NormalizeEmail validates an address and returns it lower-cased, which is how
// it is indexed, so "Ann@X.io" and "ann@x.io" are the same person.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: email is empty", ErrInvalid)
	}
	if len(s) > MaxEmailLen || !utf8.ValidString(s) || Sanitize(s) != s || strings.ContainsAny(s, " <>\"") {
		return "", fmt.Errorf("%w: %q is not a valid email address", ErrInvalid, Sanitize(truncate(s, 80)))
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || !strings.Contains(s[strings.LastIndex(s, "@")+1:], ".") {
		return "", fmt.Errorf("%w: %q is not a valid email address", ErrInvalid, Sanitize(truncate(s, 80)))
	}
	return strings.ToLower(s), nil
}

// ParseSSHKey reads one public key in authorized_keys form ("ssh-ed25519 AAAA…
// comment") and returns it with its SHA256 fingerprint.
func ParseSSHKey(text string) (SSHKey, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return SSHKey{}, fmt.Errorf("%w: ssh key is empty; paste a line such as \"ssh-ed25519 AAAA… you@host\"", ErrInvalid)
	}
	if len(text) > 16*1024 {
		return SSHKey{}, fmt.Errorf("%w: ssh key is too long", ErrInvalid)
	}
	pk, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(text))
	if err != nil {
		return SSHKey{}, fmt.Errorf("%w: not an ssh public key (%v); paste a line such as \"ssh-ed25519 AAAA… you@host\"", ErrInvalid, err)
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return SSHKey{}, fmt.Errorf("%w: give one ssh key at a time", ErrInvalid)
	}
	return KeyFromPublic(pk, SanitizeLine(comment)), nil
}

// KeyFromPublic describes an already-parsed public key.
func KeyFromPublic(pk ssh.PublicKey, comment string) SSHKey {
	return SSHKey{
		Fingerprint: ssh.FingerprintSHA256(pk),
		Type:        pk.Type(),
		Comment:     truncate(comment, 64),
		Authorized:  strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))),
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
