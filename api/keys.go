package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keydesk/keydesk/store"
)

// signingKeyFile is the access-token signing key's name in the store's secrets
// directory: a 32-byte Ed25519 seed, so every restart signs with the same key
// and access tokens minted before a restart keep verifying.
const signingKeyFile = "jwt_ed25519"

// maxJWTLen bounds what the parser is ever handed. Our tokens are ~400 bytes; a
// header stuffed with megabytes of base64 is refused before any decoding.
const maxJWTLen = 4096

// accessClaims are the claims of SPEC §2. Role is informational for offline
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
}

func newSigner(secretsDir, issuer string, ttl time.Duration, now func() time.Time) (*signer, error) {
	seed, err := store.LoadOrCreateSecret(secretsDir, signingKeyFile, func() ([]byte, error) {
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
		return nil, fmt.Errorf("the JWT signing key %s in %s is damaged (%d bytes, want %d); delete it to make a new one (outstanding access tokens will stop verifying)",
			signingKeyFile, secretsDir, len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	s := &signer{priv: priv, pub: pub, kid: thumbprint(pub), issuer: issuer, ttl: ttl, now: now}
	// Only EdDSA is accepted: "none", HS256 keyed with the public key and every
	// other algorithm confusion are refused by the parser before the key is used.
	s.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
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
	exp := iat.Add(s.ttl)
	claims := accessClaims{
		Role: string(p.Role),
		RTID: p.Token.ID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Subject:   p.User.ID,
			IssuedAt:  jwt.NewNumericDate(iat),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = s.kid
	signed, err := t.SignedString(s.priv)
	if err != nil {
		return minted{}, fmt.Errorf("sign access token: %w", err)
	}
	return minted{token: signed, issuedAt: iat, expires: exp}, nil
}

var errBadToken = errors.New("access token does not verify")

// verify checks signature, algorithm, kid, issuer and lifetime. It says only
// whether the token is good: callers answer every failure with the same 401.
func (s *signer) verify(raw string) (*accessClaims, error) {
	if len(raw) == 0 || len(raw) > maxJWTLen {
		return nil, errBadToken
	}
	var c accessClaims
	_, err := s.parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != s.kid {
			return nil, errBadToken
		}
		return s.pub, nil
	})
	if err != nil || c.Subject == "" || c.RTID == "" {
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
