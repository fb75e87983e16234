package models

import (
	"crypto/rsa"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Limits on user-supplied fields.
const (
	MaxNameLen      = 64
	MaxEmailLen     = 254
	MaxTokensActive = 25
)

// ValidateName checks a person's or a token's name: 1–64 printable characters,
// valid UTF-8, no control, bidi or invisible characters. Surrounding spaces
// are trimmed. Names are rejected rather than silently rewritten so nobody is
// surprised by what got stored.
func ValidateName(what, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fmt.Errorf("%w: %s is empty; give 1 to %d characters", ErrInvalid, what, MaxNameLen)
	case !utf8.ValidString(s):
		return "", fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	case utf8.RuneCountInString(s) > MaxNameLen:
		return "", fmt.Errorf("%w: %s is longer than %d characters", ErrInvalid, what, MaxNameLen)
	case strings.IndexFunc(s, isInvisible) >= 0:
		return "", fmt.Errorf("%w: %s contains an invisible character (such as a zero-width space); type it again without it", ErrInvalid, what)
	case Sanitize(s) != s:
		return "", fmt.Errorf("%w: %s contains control, escape or bidi characters; use printable text", ErrInvalid, what)
	}
	return s, nil
}

// isInvisible reports characters that draw nothing and so let two different
// strings look the same: zero-width space, word joiner, BOM, soft hyphen,
// invisible operators, the Mongolian vowel separator and tag characters.
// The zero-width (non-)joiners U+200C/U+200D are allowed: Persian and Indic
// names need them (NameSkeleton ignores them when comparing).
func isInvisible(r rune) bool {
	switch {
	case r == 0x200c || r == 0x200d:
		return false
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return false // bidi controls: refused as such (Sanitize), with their own message
	case r == 0x00ad, r == 0x180e, r == 0x034f, r == 0x115f, r == 0x1160, r == 0x3164, r == 0xffa0:
		return true
	case r >= 0xfe00 && r <= 0xfe0f: // variation selectors
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

// NormalizeEmail validates an address and returns it lower-cased, which is how
// it is indexed, so "Ann@X.io" and "ann@x.io" are the same person. Addresses
// are ASCII: the local part must be, and an internationalized domain is
// stored as its punycode (IDNA 2008 lookup form), so "olive@exаmple.com" with
// a Cyrillic "а" becomes "olive@xn--exmple-4nf.com" and cannot pass for
// olive@example.com. Invisible characters are refused, never dropped.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: email is empty", ErrInvalid)
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: %q is not a valid email address%s", ErrInvalid, Sanitize(truncate(s, 80)), why)
	}
	if utf8.ValidString(s) && strings.IndexFunc(s, isInvisible) >= 0 {
		return "", bad(" (it contains an invisible character; type it again)")
	}
	if len(s) > MaxEmailLen || !utf8.ValidString(s) || Sanitize(s) != s || strings.ContainsAny(s, " <>\"") {
		return "", bad("")
	}
	at := strings.LastIndex(s, "@")
	if at <= 0 {
		return "", bad("")
	}
	local, domain := s[:at], s[at+1:]
	for _, r := range local {
		if r >= utf8.RuneSelf {
			return "", bad(" (the part before @ must be ASCII)")
		}
	}
	if !isASCII(domain) {
		d, err := idna.Lookup.ToASCII(domain)
		if err != nil || d == "" {
			return "", bad(" (its domain is not a valid internationalized name)")
		}
		domain = d
		s = local + "@" + domain
		if len(s) > MaxEmailLen {
			return "", bad("")
		}
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || !strings.Contains(domain, ".") {
		return "", bad("")
	}
	return strings.ToLower(s), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// NameSkeleton is what a name looks like, for telling whether two names
// render the same: compatibility-normalized (NFKC: full-width and styled
// letters become plain ones), Cyrillic and Greek letters that are drawn like
// Latin ones mapped to those, zero-width joiners and invisible characters
// dropped, case folded and runs of spaces collapsed. "Ada Lovelace",
// "Аda Lovelace" (Cyrillic А) and "ada  lovelace" have one skeleton.
func NameSkeleton(name string) string {
	name = norm.NFKC.String(name)
	var b strings.Builder
	space := false
	for _, r := range name {
		if r == 0x200c || r == 0x200d || isInvisible(r) {
			continue
		}
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if l, ok := confusables[r]; ok {
			r = l
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// confusables maps letters of other scripts that render like a Latin letter
// to it (a subset of Unicode's confusables.txt: the ones common fonts draw
// identically).
var confusables = map[rune]rune{
	// Cyrillic capitals and small letters
	'А': 'a', 'В': 'b', 'Е': 'e', 'К': 'k', 'М': 'm', 'Н': 'h', 'О': 'o', 'Р': 'p', 'С': 'c',
	'Т': 't', 'У': 'y', 'Х': 'x', 'І': 'i', 'Ј': 'j', 'Ѕ': 's', 'Ԛ': 'q', 'Ԝ': 'w',
	'а': 'a', 'е': 'e', 'о': 'o', 'р': 'p', 'с': 'c', 'у': 'y', 'х': 'x', 'і': 'i', 'ј': 'j',
	'ѕ': 's', 'ԁ': 'd', 'һ': 'h', 'ӏ': 'l', 'ԛ': 'q', 'ԝ': 'w', 'ё': 'ë', 'ї': 'ï',
	// Greek capitals and small letters
	'Α': 'a', 'Β': 'b', 'Ε': 'e', 'Ζ': 'z', 'Η': 'h', 'Ι': 'i', 'Κ': 'k', 'Μ': 'm', 'Ν': 'n',
	'Ο': 'o', 'Ρ': 'p', 'Τ': 't', 'Υ': 'y', 'Χ': 'x', 'ο': 'o', 'ν': 'v', 'ρ': 'p', 'ι': 'i',
	// Latin look-alikes from other blocks
	'ɡ': 'g', 'ı': 'i', 'ℓ': 'l',
}

// ParseSSHKey reads one public key in authorized_keys form ("ssh-ed25519 AAAA…
// comment") and returns it with its SHA256 fingerprint. Certificates are
// refused (keydesk identifies a person by their key and checks no
// certificate's validity or signer, so a certificate would be an opaque key
// that might have expired or be shared), and so are DSA keys and RSA keys
// under MinRSABits.
func ParseSSHKey(text string) (SSHKey, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return SSHKey{}, fmt.Errorf("%w: ssh key is empty; paste a line such as \"ssh-ed25519 AAAA… you@host\"", ErrInvalid)
	}
	if len(text) > 16*1024 {
		return SSHKey{}, fmt.Errorf("%w: ssh key is too long", ErrInvalid)
	}
	if isPrivateKeyText(text) {
		return SSHKey{}, errPrivateKeyText
	}
	pk, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(text))
	if err != nil {
		// x/crypto's reason ("illegal base64 data at input byte 24") helps
		// no one; what does is knowing the line was cut or mangled.
		if f := strings.Fields(text); len(f) > 0 && keyTypes[f[0]] {
			return SSHKey{}, fmt.Errorf("%w: the %s key is cut short or mangled; paste the whole line of the .pub file, unchanged", ErrInvalid, f[0])
		}
		return SSHKey{}, fmt.Errorf("%w: not an ssh public key; paste a line such as \"ssh-ed25519 AAAA… you@host\"", ErrInvalid)
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return SSHKey{}, fmt.Errorf("%w: give one ssh key at a time", ErrInvalid)
	}
	if err := CheckKeyStrength(pk); err != nil {
		return SSHKey{}, err
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

// MinRSABits is the smallest RSA key keydesk registers or lets log in.
const MinRSABits = 2048

// CheckKeyStrength refuses keys keydesk never accepts: certificates, DSA,
// and RSA under MinRSABits. The SSH server asks it at every login too, so a
// weak key registered before this check existed cannot log in either.
func CheckKeyStrength(pk ssh.PublicKey) error {
	if _, ok := pk.(*ssh.Certificate); ok {
		return fmt.Errorf("%w: ssh certificates are not accepted; give the plain public key (the .pub file, not -cert.pub)", ErrInvalid)
	}
	if pk.Type() == "ssh-dss" {
		return fmt.Errorf("%w: DSA keys are not accepted; make an ed25519 key with ssh-keygen -t ed25519", ErrInvalid)
	}
	if ck, ok := pk.(ssh.CryptoPublicKey); ok {
		if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < MinRSABits {
			return fmt.Errorf("%w: this RSA key has %d bits; keydesk needs at least %d (or use ssh-keygen -t ed25519)", ErrInvalid, rk.N.BitLen(), MinRSABits)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
