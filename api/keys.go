package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/wire"
)

// signingKeyFile is the access-token signing key's name in the store's secrets
// directory: a 32-byte Ed25519 seed, so every restart signs with the same key
// and access tokens minted before a restart keep verifying.
const signingKeyFile = "jwt_ed25519"

// clockLeeway is how far apart the clocks of servers sharing a signing key
// (etcd) may be for a token minted on one to verify at once on another: a
// token from a server whose clock ran a second ahead carried an iat still in
// the future elsewhere, and jwt's own iat check refused it there (401) until
// that clock caught up. Only iat gets it; exp is exact.
const clockLeeway = 5 * time.Second

// maxJWTLen bounds what the parser is ever handed. Our tokens are ~400 bytes; a
// header stuffed with megabytes of base64 is refused before any decoding.
const maxJWTLen = 4096

// accessClaims are the claims of docs/tokens.md (Access tokens). Role is informational for offline
// verifiers; keydesk itself always takes the role from store.CheckAccess.
type accessClaims struct {
	Role string `json:"role"`
	RTID string `json:"rtid"`
	jwt.RegisteredClaims
}

// signer mints and verifies keydesk access tokens.
type signer struct {
	priv   ed25519.PrivateKey
	pub    ed25519.PublicKey
	kid    string
	issuer string
	ttl    time.Duration
	now    func() time.Time
	parser *jwt.Parser
	seen   verified
	header string // the encoded JOSE header: {"alg":"EdDSA","kid":…,"typ":"JWT"}
}

func newSigner(load func(name string, create func() ([]byte, error)) ([]byte, error), issuer string, ttl time.Duration, now func() time.Time) (*signer, error) {
	seed, err := load(signingKeyFile, func() ([]byte, error) {
		b := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("read random bytes: %w", err)
		}
		return b, nil
	})
	if err != nil {
		return nil, fmt.Errorf("load the JWT signing key: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("the JWT signing key %s is damaged (%d bytes, want %d); delete it to make a new one (outstanding access tokens will stop verifying)",
			signingKeyFile, len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	s := &signer{priv: priv, pub: pub, kid: thumbprint(pub), issuer: issuer, ttl: ttl, now: now,
		seen: verified{max: verifiedMax, m: map[[sha256.Size]byte]*accessClaims{}}}
	hdr, err := json.Marshal(map[string]string{"alg": jwt.SigningMethodEdDSA.Alg(), "kid": s.kid, "typ": "JWT"})
	if err != nil {
		return nil, fmt.Errorf("encode JWT header: %w", err)
	}
	s.header = base64.RawURLEncoding.EncodeToString(hdr)
	// Only EdDSA is accepted: "none", HS256 keyed with the public key and every
	// other algorithm confusion are refused by the parser before the key is used.
	s.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		// iat is checked in parse, with clockLeeway; exp exactly, here.
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(now),
	)
	return s, nil
}

// thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 key (RFC 8037 §2):
// a kid any verifier can recompute from the JWK alone.
func thumbprint(pub ed25519.PublicKey) string {
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// minted is an access token and the times it carries, in whole seconds as the
// JWT does, so the JSON answers and the token never disagree.
type minted struct {
	token    string
	issuedAt time.Time
	expires  time.Time
}

func (s *signer) mint(p store.Principal) (minted, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return minted{}, fmt.Errorf("read random bytes for a jti: %w", err)
	}
	iat := time.Unix(s.now().Unix(), 0)
	exp := accessExpiry(iat, s.ttl, p.Token)
	claims := flatClaims{s.issuer, p.User.ID, string(p.Role), p.Token.ID, iat.Unix(), exp.Unix(),
		base64.RawURLEncoding.EncodeToString(jti[:])}
	var stack [512]byte
	payload := claims.appendJSON(stack[:0])
	// What jwt.Token.SignedString does, in one buffer: the header never
	// changes, so it is encoded once (newSigner), and ed25519.Sign is called
	// directly (EdDSA over Ed25519 is exactly that; the jwt method adds an
	// interface call and a public-key copy per token).
	b64 := base64.RawURLEncoding
	buf := make([]byte, 0, len(s.header)+1+b64.EncodedLen(len(payload))+1+b64.EncodedLen(ed25519.SignatureSize))
	buf = append(buf, s.header...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	sig := ed25519.Sign(s.priv, buf)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return minted{token: string(buf), issuedAt: iat, expires: exp}, nil
}

// accessExpiry is when an access token minted at iat from refresh token tok
// expires: after ttl, but never after tok itself stops working (its expiry,
// or the end of its rotation grace). keydesk refuses such an access token
// once tok stops anyway (CheckAccess); a service verifying offline with JWKS
// sees only exp, and took an access token from a refresh token expiring in a
// minute, or a rotated one at the end of its grace, for the full hour.
func accessExpiry(iat time.Time, ttl time.Duration, tok models.Token) time.Time {
	exp := iat.Add(ttl)
	last := tok.ExpiresAt
	if !tok.RotatedAt.IsZero() && (last.IsZero() || tok.GraceUntil.Before(last)) {
		last = tok.GraceUntil
	}
	if last.IsZero() {
		return exp
	}
	// Whole seconds, as the JWT carries them, and at least one after iat
	// (the refresh token was usable when this was asked, so it ends later
	// than now; a token with exp == iat would never verify).
	if end := last.Truncate(time.Second); end.Before(exp) {
		exp = end
		if !exp.After(iat) {
			exp = iat.Add(time.Second)
		}
	}
	return exp
}

// flatClaims are the claims of accessClaims, written flat: plain integers
// encode without jwt.NumericDate's marshaler, and verify reads them back the
// same.
type flatClaims struct {
	Iss  string `json:"iss"`
	Sub  string `json:"sub"`
	Role string `json:"role"`
	RTID string `json:"rtid"`
	Iat  int64  `json:"iat"`
	Exp  int64  `json:"exp"`
	Jti  string `json:"jti"`
}

// appendJSON appends what json.Marshal(c) writes, by hand: every exchange
// encodes one, and reflection over it cost more than the rest of minting
// besides the signature (TestFlatClaimsAppendJSONIsMarshal).
func (c *flatClaims) appendJSON(b []byte) []byte {
	b = append(b, `{"iss":`...)
	b = wire.AppendString(b, c.Iss)
	b = append(b, `,"sub":`...)
	b = wire.AppendString(b, c.Sub)
	b = append(b, `,"role":`...)
	b = wire.AppendString(b, c.Role)
	b = append(b, `,"rtid":`...)
	b = wire.AppendString(b, c.RTID)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.Iat, 10)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.Exp, 10)
	b = append(b, `,"jti":`...)
	b = wire.AppendString(b, c.Jti)
	return append(b, '}')
}

var errBadToken = errors.New("access token does not verify")

// verify checks signature, algorithm, kid, issuer and lifetime. It says only
// whether the token is good: callers answer every failure with the same 401.
//
// A signature check is a pure function of the token's bytes and our key, so
// its result is memoized per token (see verified); the lifetime is checked
// again on every use. Revocation and role never come from here: the caller
// asks store.CheckAccess on every request.
func (s *signer) verify(raw string) (*accessClaims, error) {
	if len(raw) == 0 || len(raw) > maxJWTLen {
		return nil, errBadToken
	}
	key := digest(raw)
	if c, ok := s.seen.get(key, s.now()); ok {
		return c, nil
	}
	c, err := s.parse(raw)
	if err != nil {
		return nil, err
	}
	s.seen.put(key, c, s.now())
	return c, nil
}

// lastVerified is the access token most recently verified on one client
// connection. A client sends the same token with every request of a
// keep-alive connection, so comparing the header with the one verified last
// there skips even the memo's SHA-256 and lock (the largest part of
// authenticating a request once the signature is memoized). Only the exact
// bytes that verified match, the lifetime is checked again on every use, and
// revocation and role still come from store.CheckAccess. A pointer swapped
// atomically, as HTTP/2 serves a connection's streams concurrently.
type lastVerified struct{ p atomic.Pointer[verifiedToken] }

type verifiedToken struct {
	raw string
	c   *accessClaims
}

// verifyOn is verify, remembering the token on conn (nil: no connection
// state, as under a plain Handler).
func (s *signer) verifyOn(conn *lastVerified, raw string) (*accessClaims, error) {
	if conn != nil {
		if v := conn.p.Load(); v != nil && v.raw == raw && s.now().Before(v.c.ExpiresAt.Time) {
			return v.c, nil
		}
	}
	c, err := s.verify(raw)
	if err == nil && conn != nil {
		conn.p.Store(&verifiedToken{raw: raw, c: c})
	}
	return c, err
}

// digest is the SHA-256 of a token, hashed from a copy on the stack: the
// string-to-[]byte conversion of a ~400-byte token would otherwise allocate on
// every authenticated request. The buffer fits keydesk's tokens; a longer one
// (up to maxJWTLen) pays the allocation rather than every request zeroing 4 KB.
func digest(raw string) [sha256.Size]byte {
	var buf [1024]byte
	if len(raw) > len(buf) {
		return sha256.Sum256([]byte(raw))
	}
	return sha256.Sum256(buf[:copy(buf[:], raw)])
}

// parse is the full check of a token not seen before.
func (s *signer) parse(raw string) (*accessClaims, error) {
	var c accessClaims
	_, err := s.parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != s.kid {
			return nil, errBadToken
		}
		return s.pub, nil
	})
	if err != nil || c.Subject == "" || c.RTID == "" || c.IssuedAt == nil || c.IssuedAt.After(s.now().Add(clockLeeway)) {
		return nil, errBadToken
	}
	return &c, nil
}

// jwks is the public half of the signing key as RFC 7517/8037 JSON.
func (s *signer) jwks() map[string]any {
	return map[string]any{"keys": []map[string]string{{
		"kty": "OKP",
		"crv": "Ed25519",
		"x":   base64.RawURLEncoding.EncodeToString(s.pub),
		"kid": s.kid,
		"alg": jwt.SigningMethodEdDSA.Alg(),
		"use": "sig",
	}}}
}

// verifiedMax bounds the memo of verified tokens: about 200 bytes an entry, so
// at most ~13 MB however many tokens are presented.
const verifiedMax = 65536

// verified memoizes successful signature checks. Ed25519 verification is the
// largest cost of an authenticated request (~60 µs); clients reuse one access
// token for up to an hour, so each is verified once. Entries are keyed by the
// SHA-256 of the whole token, so only the exact bytes that verified can hit,
// and a hit still requires the token to be unexpired. Only tokens that
// verified are ever stored, so forged or garbage tokens cannot fill it.
type verified struct {
	mu  sync.RWMutex
	max int
	m   map[[sha256.Size]byte]*accessClaims
}

func (v *verified) get(key [sha256.Size]byte, now time.Time) (*accessClaims, bool) {
	v.mu.RLock()
	c, ok := v.m[key]
	v.mu.RUnlock()
	if !ok || !now.Before(c.ExpiresAt.Time) {
		return nil, false
	}
	return c, true
}

func (v *verified) put(key [sha256.Size]byte, c *accessClaims, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.m) >= v.max {
		for k, old := range v.m {
			if !now.Before(old.ExpiresAt.Time) {
				delete(v.m, k)
			}
		}
		if len(v.m) >= v.max {
			clear(v.m) // all live: start over; they re-verify on next use
		}
	}
	v.m[key] = c
}
