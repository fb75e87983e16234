package api

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/store"
)

// exchangeTimes exchanges secret at GET /oauth/access-token and returns the
// answer's expires_at, the JWT's own exp claim, and POST /oauth/token's
// expires_in for the same secret.
func exchangeTimes(t *testing.T, e *env, secret string) (expiresAt, jwtExp, expiresIn int64) {
	t.Helper()
	res := e.do("GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": secret}, nil)
	if res.status != 200 {
		t.Fatalf("exchange: %d %s", res.status, res.body)
	}
	var a struct {
		Data struct {
			AccessToken string `json:"access_token"`
			ExpiresAt   int64  `json:"expires_at"`
		} `json:"data"`
	}
	if err := json.Unmarshal(res.body, &a); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(a.Data.AccessToken, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Exp int64 }
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	res = e.postForm("/oauth/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {secret}})
	var o struct {
		ExpiresIn int64 `json:"expires_in"`
	}
	if err := json.Unmarshal(res.body, &o); err != nil || res.status != 200 {
		t.Fatalf("token endpoint: %d %s", res.status, res.body)
	}
	return a.Data.ExpiresAt, c.Exp, o.ExpiresIn
}

// TestAccessTokenNeverOutlivesItsRefreshToken: an access token's exp is
// never later than the moment its refresh token stops working (its expiry,
// or the end of a rotation grace). keydesk itself refuses such a token then
// anyway, but a service verifying offline with JWKS sees only exp: a refresh
// token that expired in ten minutes gave access tokens for the full hour.
func TestAccessTokenNeverOutlivesItsRefreshToken(t *testing.T) {
	e := newEnv(t, envOpts{store: store.Options{RotationGrace: 10 * time.Minute}})
	now := e.clock.Now().Unix()

	short, secret, err := e.s.CreateToken(e.usr, store.TokenSpec{Name: "short", Expires: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	at, exp, in := exchangeTimes(t, e, secret)
	if want := short.ExpiresAt.Unix(); at != want || exp != want || in != want-now {
		t.Fatalf("expiring refresh token: expires_at %d, exp %d, expires_in %d; want %d, %d, %d", at, exp, in, want, want, want-now)
	}

	id, old := e.refresh(e.usr, "rotating")
	_, fresh, err := e.s.RotateToken(e.usr, id)
	if err != nil {
		t.Fatal(err)
	}
	graceEnd := now + int64((10 * time.Minute).Seconds())
	if at, exp, in := exchangeTimes(t, e, old); at != graceEnd || exp != graceEnd || in != graceEnd-now {
		t.Fatalf("rotated secret in its grace: expires_at %d, exp %d, expires_in %d; want the grace's end %d", at, exp, in, graceEnd)
	}
	hour := now + 3600
	if at, exp, in := exchangeTimes(t, e, fresh); at != hour || exp != hour || in != 3600 {
		t.Fatalf("a refresh token without expiry: expires_at %d, exp %d, expires_in %d; want the access TTL", at, exp, in)
	}

	// Less than a second left: the access token lives one second, never zero.
	e.clock.Advance(10*time.Minute - 300*time.Millisecond)
	if at, _, _ := exchangeTimes(t, e, secret); at != e.clock.Now().Unix()+1 {
		t.Fatalf("with 300 ms left: expires_at %d, want %d", at, e.clock.Now().Unix()+1)
	}
}

// TestAccessTokenFromAServerWhoseClockIsAhead: several servers share one
// signing key (etcd), and a client may exchange on one and call another at
// once. A token minted where the clock runs 2 s ahead carried an iat still in
// the verifier's future and was refused (401) until its clock caught up;
// within clockLeeway it verifies. A token from further ahead still does not.
func TestAccessTokenFromAServerWhoseClockIsAhead(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, secret := e.refresh(e.usr, "across servers")
	ahead := e.access(secret)         // minted at the clock's time
	e.clock.Advance(-2 * time.Second) // verified where the clock is 2 s behind
	if res := e.get("/v3/users/me", ahead); res.status != 200 {
		t.Fatalf("a token minted 2 s ahead: %d %s", res.status, res.body)
	}
	farAhead := e.access(secret)
	e.clock.Advance(-time.Minute)
	if res := e.get("/v3/users/me", farAhead); res.status != 401 {
		t.Fatalf("a token minted a minute ahead: %d, want 401", res.status)
	}
}
