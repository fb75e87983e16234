package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A resource server holding nothing but the JWKS document
// verifies an access token offline. The verifier below knows no server
// internals: it fetches /.well-known/jwks.json, picks the key by kid and checks
// the RFC 7638 thumbprint it is named by.
func TestJWKSOfflineVerification(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, secret := e.refresh(e.adminA, "offline")
	at := e.access(secret)

	res, err := http.Get(e.ts.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kty, Crv, X, Kid, Alg, Use string
		} `json:"keys"`
	}
	err = json.NewDecoder(res.Body).Decode(&set)
	res.Body.Close()
	if err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks: %v, %d keys", err, len(set.Keys))
	}
	k := set.Keys[0]
	if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || k.Use != "sig" || k.Kid == "" {
		t.Fatalf("jwk: %+v", k)
	}
	x, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		t.Fatalf("jwk x: %v (%d bytes)", err, len(x))
	}
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + k.X + `"}`))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != k.Kid {
		t.Fatal("kid is not the RFC 7638 thumbprint of the key")
	}
	byKid := map[string]ed25519.PublicKey{k.Kid: x}

	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(at, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if pub, ok := byKid[kid]; ok {
			return pub, nil
		}
		return nil, jwt.ErrTokenUnverifiable
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("keydesk"), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(e.clock.Now))
	if err != nil || !tok.Valid {
		t.Fatalf("offline verification: %v", err)
	}
	if claims["sub"] != e.admin.ID || claims["role"] != "admin" || claims["rtid"] == "" || claims["jti"] == "" {
		t.Fatalf("claims: %v", claims)
	}
	iat, _ := claims.GetIssuedAt()
	exp, _ := claims.GetExpirationTime()
	if exp.Sub(iat.Time) != time.Hour {
		t.Fatalf("lifetime %v", exp.Sub(iat.Time))
	}
}

// Only EdDSA with keydesk's own key passes: "none", HS256 keyed with the public
// key (the classic confusion), another Ed25519 key, a wrong kid, a wrong issuer
// and a token with a tampered role all get the same 401.
func TestAccessTokenForgeriesRejected(t *testing.T) {
	e := newEnv(t, envOpts{api: Options{MaxAuthFailures: -1}})
	id, secret := e.refresh(e.usr, "victim")
	good := e.access(secret)
	if res := e.get("/v3/users", good); res.status != 403 {
		t.Fatalf("baseline: %d", res.status)
	}
	now := e.clock.Now()
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "keydesk", "sub": e.user.ID, "role": "owner", "rtid": id,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "x"}
	}
	kid := e.srv.keys.kid
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims, kid string) string {
		t.Helper()
		tk := jwt.NewWithClaims(m, c)
		tk.Header["kid"] = kid
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	wrongIss := claims()
	wrongIss["iss"] = "someone-else"
	noExp := claims()
	delete(noExp, "exp")
	parts := strings.Split(good, ".")
	var payload map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(raw, &payload)
	payload["role"] = "owner"
	raw, _ = json.Marshal(payload)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]

	forged := map[string]string{
		"alg none":          sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(), kid),
		"HS256 with pubkey": sign(jwt.SigningMethodHS256, []byte(e.srv.keys.pub), claims(), kid),
		"other key":         sign(jwt.SigningMethodEdDSA, otherKey, claims(), kid),
		"wrong kid":         sign(jwt.SigningMethodEdDSA, e.srv.keys.priv, claims(), "other"),
		"wrong issuer":      sign(jwt.SigningMethodEdDSA, e.srv.keys.priv, wrongIss, kid),
		"no exp":            sign(jwt.SigningMethodEdDSA, e.srv.keys.priv, noExp, kid),
		"tampered role":     tampered,
		"oversized":         good + strings.Repeat("A", maxJWTLen),
	}
	for what, tok := range forged {
		if res := e.get("/v3/users", tok); res.status != 401 {
			t.Errorf("%s: %d %s", what, res.status, res.body)
		}
	}
	// A role claim signed with the real key still does not raise the role:
	// the role comes from the store, not from the token.
	elevated := sign(jwt.SigningMethodEdDSA, e.srv.keys.priv, claims(), kid)
	if res := e.get("/v3/users", elevated); res.status != 403 {
		t.Fatalf("role claim trusted: %d %s", res.status, res.body)
	}
}

// The signing key survives a restart: tokens minted before still verify.
func TestSigningKeyPersists(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, secret := e.refresh(e.usr, "persist")
	at := e.access(secret)
	again, err := New(e.s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.keys.kid != e.srv.keys.kid {
		t.Fatal("a second server made a new signing key")
	}
	if _, err := again.keys.verify(at); err != nil {
		t.Fatalf("token from the first server: %v", err)
	}
}
