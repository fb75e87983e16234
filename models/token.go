package models

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/big"
	"strings"
	"time"
)

// Refresh-token format (docs/tokens.md): "kdr_" + 43 base62 chars of 32 random bytes +
// 6 base62 chars of CRC32 over everything before them. The prefix makes leaked
// tokens findable by secret scanners; the checksum lets us reject typos and
// garbage before any lookup, as GitHub's token format does.
const (
	TokenPrefix     = "kdr_"
	tokenBodyLen    = 43
	tokenCheckLen   = 6
	TokenLen        = len(TokenPrefix) + tokenBodyLen + tokenCheckLen
	tokenRandomSize = 32
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

var base62Index = func() [256]int8 {
	var t [256]int8
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base62); i++ {
		t[base62[i]] = int8(i)
	}
	return t
}()

// encodeBase62 writes n as exactly width base62 digits, most significant first,
// so fixed-width encodings sort like the numbers they hold.
func encodeBase62(n *big.Int, width int) string {
	out := make([]byte, width)
	v := new(big.Int).Set(n)
	m := new(big.Int)
	b := big.NewInt(62)
	for i := width - 1; i >= 0; i-- {
		v.DivMod(v, b, m)
		out[i] = base62[m.Int64()]
	}
	return string(out)
}

func encodeUint62(n uint64, width int) string {
	out := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return string(out)
}

func tokenChecksum(s string) string {
	return encodeUint62(uint64(crc32.ChecksumIEEE([]byte(s))), tokenCheckLen)
}

// NewRefreshToken returns a fresh secret drawn from crypto/rand. A read failure
// is returned, never papered over with a weaker or empty token.
func NewRefreshToken() (string, error) { return newRefreshTokenFrom(rand.Reader) }

func newRefreshTokenFrom(r io.Reader) (string, error) {
	var buf [tokenRandomSize]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return "", fmt.Errorf("read random bytes for a token: %w", err)
	}
	body := TokenPrefix + encodeBase62(new(big.Int).SetBytes(buf[:]), tokenBodyLen)
	return body + tokenChecksum(body), nil
}

// ParseRefreshToken checks prefix, length, alphabet and checksum, in that order,
// and returns the token unchanged when all hold. It never allocates more than the
// input and never panics, whatever it is given.
func ParseRefreshToken(s string) (string, error) {
	if !strings.HasPrefix(s, TokenPrefix) {
		return "", fmt.Errorf("%w: a refresh token starts with %q", ErrUnauthenticated, TokenPrefix)
	}
	if len(s) != TokenLen {
		return "", fmt.Errorf("%w: a refresh token is %d characters long", ErrUnauthenticated, TokenLen)
	}
	for i := len(TokenPrefix); i < len(s); i++ {
		if base62Index[s[i]] < 0 {
			return "", fmt.Errorf("%w: a refresh token holds only letters and digits after its prefix", ErrUnauthenticated)
		}
	}
	body := s[:len(s)-tokenCheckLen]
	if tokenChecksum(body) != s[len(s)-tokenCheckLen:] {
		return "", fmt.Errorf("%w: checksum mismatch (was the token copied whole?)", ErrUnauthenticated)
	}
	return s, nil
}

// LooksLikeRefreshToken is a cheap shape test used to route a credential.
func LooksLikeRefreshToken(s string) bool { return strings.HasPrefix(s, TokenPrefix) }

// MaskToken shows "kdr_…" and the last six characters: enough to tell tokens
// apart in a list, far too little to use.
func MaskToken(last6 string) string { return TokenPrefix + "…" + last6 }

// TokenTail returns the last six characters of a token, the part kept for display.
func TokenTail(secret string) string {
	if len(secret) < 6 {
		return secret
	}
	return secret[len(secret)-6:]
}

// NewID returns a public identifier such as "tok_0Sd1x6W3pQrZ1m": a prefix, eight
// base62 chars of milliseconds since the epoch and six random ones. IDs therefore
// sort by creation time, which lets storage page "newest first" with no extra index.
func NewID(prefix string) (string, error) {
	var rnd [8]byte
	if _, err := io.ReadFull(rand.Reader, rnd[:]); err != nil {
		return "", fmt.Errorf("read random bytes for an id: %w", err)
	}
	ms := uint64(time.Now().UnixMilli())
	return prefix + encodeUint62(ms, 8) + encodeUint62(binary.BigEndian.Uint64(rnd[:])%56800235584, 6), nil
}
