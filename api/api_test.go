package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/wire"
)

// The real golang.org/x/oauth2 client refreshes through
// /oauth/token and its HTTP client calls the API with the result.
func TestOAuth2TokenSource(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, secret := e.refresh(e.usr, "oauth2 client")
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.ts.Client())
	cfg := &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: e.ts.URL + "/oauth/token"}}
	src := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: secret})
	tok, err := src.Token()
	if err != nil {
		t.Fatalf("TokenSource.Token: %v", err)
	}
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.RefreshToken != secret {
		t.Fatalf("token: type %q, access %d bytes, refresh kept %v", tok.TokenType, len(tok.AccessToken), tok.RefreshToken == secret)
	}
	if tok.ExpiresIn != 3600 {
		t.Fatalf("expires_in = %d, want 3600", tok.ExpiresIn)
	}
	res, err := oauth2.NewClient(ctx, src).Get(e.ts.URL + "/v3/users/me")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var me struct {
		Data struct {
			Email string `json:"email"`
			Token struct {
				Role string `json:"role"`
			} `json:"token"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&me); err != nil || res.StatusCode != 200 {
		t.Fatalf("/v3/users/me: %d %v", res.StatusCode, err)
	}
	if me.Data.Email != e.user.Email || me.Data.Token.Role != "user" {
		t.Fatalf("me = %+v", me.Data)
	}

	// A bad refresh token surfaces as RFC 6749 §5.2 invalid_grant in the library.
	bad := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: unknownSecret(t)})
	_, err = bad.Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 {
		t.Fatalf("bad refresh token: %v", err)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, c := range []struct {
		form url.Values
		code string
	}{
		{url.Values{}, "invalid_request"},
		{url.Values{"grant_type": {"client_credentials"}}, "unsupported_grant_type"},
		{url.Values{"grant_type": {"refresh_token"}}, "invalid_request"},
		{url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"kdr_nope"}}, "invalid_grant"},
	} {
		res := e.postForm("/oauth/token", "", c.form)
		var body oauthError
		if err := json.Unmarshal(res.body, &body); err != nil || res.status != 400 || body.Error != c.code {
			t.Errorf("%v: %d %s, want 400 %s", c.form, res.status, res.body, c.code)
		}
		if res.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%v: Cache-Control %q", c.form, res.header.Get("Cache-Control"))
		}
	}
	// The refresh token is read from the body only, never from the URL.
	_, secret := e.refresh(e.usr, "in query")
	res := e.do("POST", "/oauth/token?grant_type=refresh_token&refresh_token="+secret, nil, nil)
	if res.status != 400 {
		t.Fatalf("token in the query string: %d %s", res.status, res.body)
	}
}

// The compatible exchange answer, key for key and type for type.
func TestCompatibleExchangeShape(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, secret := e.refresh(e.usr, "compat")
	for _, path := range []string{"/oauth/access-token", "/v3/oauth/access-token"} {
		res := e.do("GET", path, map[string]string{"X-Refresh-Token": secret}, nil)
		if res.status != 200 {
			t.Fatalf("%s: %d %s", path, res.status, res.body)
		}
		for h, want := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache", "Content-Type": "application/json"} {
			if got := res.header.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", path, h, got, want)
			}
		}
		dec := json.NewDecoder(bytes.NewReader(res.body))
		dec.UseNumber()
		var top map[string]any
		if err := dec.Decode(&top); err != nil {
			t.Fatal(err)
		}
		if len(top) != 1 {
			t.Fatalf("%s: top-level keys %v, want only data", path, keys(top))
		}
		data, ok := top["data"].(map[string]any)
		if !ok {
			t.Fatalf("%s: data is %T", path, top["data"])
		}
		if got, want := keys(data), []string{"access_token", "expires_at", "issued_at", "refresh_token", "type"}; !slices.Equal(got, want) {
			t.Fatalf("%s: data keys %v, want %v", path, got, want)
		}
		for _, k := range []string{"access_token", "refresh_token", "type"} {
			if _, ok := data[k].(string); !ok {
				t.Errorf("%s: %s is %T, want string", path, k, data[k])
			}
		}
		var times [2]int64
		for i, k := range []string{"issued_at", "expires_at"} {
			n, ok := data[k].(json.Number)
			if !ok {
				t.Fatalf("%s: %s is %T, want a number", path, k, data[k])
			}
			v, err := n.Int64()
			if err != nil {
				t.Fatalf("%s: %s = %s is not an integer", path, k, n)
			}
			times[i] = v
		}
		if times[0] != e.clock.Now().Unix() || times[1]-times[0] != 3600 {
			t.Errorf("%s: issued_at %d expires_at %d, want now (%d) and +3600", path, times[0], times[1], e.clock.Now().Unix())
		}
		if data["type"] != "Bearer" || data["refresh_token"] != secret || strings.Count(data["access_token"].(string), ".") != 2 {
			t.Errorf("%s: data = %v", path, data)
		}
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Unknown, malformed, expired and revoked credentials are indistinguishable.
func TestSame401ForEveryBadCredential(t *testing.T) {
	e := newEnv(t, envOpts{api: Options{MaxAuthFailures: -1}})
	revokedID, revoked := e.refresh(e.usr, "revoked")
	revokedAccess := e.access(revoked)
	if _, err := e.s.RevokeToken(e.usr, revokedID); err != nil {
		t.Fatal(err)
	}
	_, expSecret, err := e.s.CreateToken(e.usr, store.TokenSpec{Name: "short", Expires: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, live := e.refresh(e.usr, "live")
	oldAccess := e.access(live)
	e.clock.Advance(2 * time.Hour) // expSecret and oldAccess are now expired

	var bodies [][]byte
	check := func(what string, res response) {
		t.Helper()
		if res.status != 401 {
			t.Errorf("%s: status %d %s", what, res.status, res.body)
		}
		if res.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", what)
		}
		bodies = append(bodies, res.body)
	}
	for what, secret := range map[string]string{
		"unknown": unknownSecret(t), "malformed": "kdr_short", "empty": "", "revoked": revoked, "expired": expSecret,
		"wrong checksum": live[:len(live)-1] + string(live[len(live)-1]^1),
	} {
		check("exchange "+what, e.do("GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": secret}, nil))
	}
	for what, at := range map[string]string{
		"garbage": "not.a.jwt", "revoked": revokedAccess, "expired": oldAccess, "refresh token as bearer": live, "empty": "",
	} {
		check("bearer "+what, e.get("/v3/users/me", at))
	}
	for _, b := range bodies[1:] {
		if !bytes.Equal(b, bodies[0]) {
			t.Fatalf("401 bodies differ: %s vs %s", b, bodies[0])
		}
	}
	if want := `{"meta":{"status":401,"error_message":"invalid or revoked token"}}`; strings.TrimSpace(string(bodies[0])) != want {
		t.Fatalf("401 body %s, want %s", bodies[0], want)
	}
}

// Role restriction through the store, and a demotion that
// applies to an access token already handed out.
func TestRoleRestrictionAndDemotion(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, us := e.refresh(e.usr, "user")
	_, as := e.refresh(e.adminA, "admin")
	userAT, adminAT := e.access(us), e.access(as)

	if res := e.get("/v3/users", userAT); res.status != 403 {
		t.Fatalf("user GET /v3/users: %d %s", res.status, res.body)
	}
	res := e.get("/v3/users", adminAT)
	var list struct {
		Data []wire.User `json:"data"`
	}
	if err := json.Unmarshal(res.body, &list); err != nil || res.status != 200 || len(list.Data) != 3 {
		t.Fatalf("admin GET /v3/users: %d %s", res.status, res.body)
	}
	if _, err := e.s.SetRole(e.ownerA, e.admin.Email, models.RoleUser); err != nil {
		t.Fatal(err)
	}
	res = e.get("/v3/users", adminAT)
	var eb errorBody
	if err := json.Unmarshal(res.body, &eb); err != nil || res.status != 403 || eb.Meta.Status != 403 || eb.Meta.ErrorMessage == "" {
		t.Fatalf("demoted admin, same access token: %d %s", res.status, res.body)
	}
	// The same token still identifies its holder, now with the lower role.
	res = e.get("/v3/users/me", adminAT)
	if res.status != 200 || !strings.Contains(string(res.body), `"role":"user"`) {
		t.Fatalf("demoted admin /me: %d %s", res.status, res.body)
	}
}

func TestAddUser(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, us := e.refresh(e.usr, "user")
	_, as := e.refresh(e.adminA, "admin")
	userAT, adminAT := e.access(us), e.access(as)
	post := func(at, body string) response {
		return e.do("POST", "/v3/users", map[string]string{"Authorization": "Bearer " + at, "Content-Type": "application/json"}, strings.NewReader(body))
	}
	if res := post(userAT, `{"name":"Neo","email":"neo@example.com","role":"user"}`); res.status != 403 {
		t.Fatalf("user adds: %d %s", res.status, res.body)
	}
	res := post(adminAT, `{"name":"Neo","email":"neo@example.com","role":"user"}`)
	if res.status != 201 || !strings.Contains(string(res.body), `"email":"neo@example.com"`) {
		t.Fatalf("admin adds: %d %s", res.status, res.body)
	}
	for body, want := range map[string]int{
		`{"name":"Neo","email":"neo@example.com","role":"user"}`:    409, // duplicate
		`{"name":"Boss","email":"boss@example.com","role":"owner"}`: 403, // only by transfer
		`{"name":"X","email":"x@example.com","role":"wizard"}`:      400,
		`{"name":"X","email":"x@example.com","rol":"user"}`:         400, // unknown field
		`{"name":"X","email":"not an email","role":"user"}`:         400,
		``:      400,
		`{} {}`: 400,
	} {
		if res := post(adminAT, body); res.status != want {
			t.Errorf("POST %s: %d %s, want %d", body, res.status, res.body, want)
		}
	}
}

// Once RevokeToken has returned, no request that starts
// afterwards succeeds, however many are in flight with access tokens from it.
func TestRevocationRace(t *testing.T) {
	e := newEnv(t, envOpts{api: Options{MaxAuthFailures: -1}})
	id, secret := e.refresh(e.usr, "raced")
	var ats []string
	for range 4 {
		ats = append(ats, e.access(secret))
	}
	type sample struct {
		start  time.Time
		status int
	}
	const workers = 8
	const afterEach = 50 // requests each worker makes after seeing the revoke
	const warmOK = 25    // successful requests each worker makes before the revoke
	results := make([][]sample, workers)
	firstOK := make(chan struct{}, workers)
	revoked := make(chan struct{})
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			client := e.ts.Client()
			at := ats[w%len(ats)]
			after, oks := 0, 0
			for after < afterEach {
				select {
				case <-revoked:
					after++
				default:
				}
				req, _ := http.NewRequest("GET", e.ts.URL+"/v3/users/me", nil)
				req.Header.Set("Authorization", "Bearer "+at)
				start := time.Now()
				res, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				results[w] = append(results[w], sample{start, res.StatusCode})
				if res.StatusCode == 200 {
					if oks++; oks == warmOK {
						firstOK <- struct{}{}
					}
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		<-firstOK // every worker is hammering with a working token
	}
	if _, err := e.s.RevokeToken(e.usr, id); err != nil {
		t.Fatal(err)
	}
	revokedAt := time.Now()
	close(revoked)
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var before, after, okBefore int
	for _, rs := range results {
		for _, s := range rs {
			if s.start.After(revokedAt) {
				after++
				if s.status != 401 {
					t.Errorf("request started %v after the revoke returned got %d", s.start.Sub(revokedAt), s.status)
				}
			} else {
				before++
				if s.status == 200 {
					okBefore++
				}
			}
		}
	}
	if after < workers*(afterEach-1) || okBefore < workers*warmOK {
		t.Fatalf("too little overlap: %d requests before (%d ok), %d after", before, okBefore, after)
	}
	t.Logf("%d requests before the revoke returned (%d ok), %d after, none ok", before, okBefore, after)
}

// A rotated secret works in its grace period, then gets 401, leaves a
// token_reuse_detected entry and revokes the secret it was rotated into
// (RFC 9700 §4.14.2; issue 15 item 11): whoever replays it may hold that too.
func TestRotatedTokenGraceThenReuse(t *testing.T) {
	e := newEnv(t, envOpts{store: store.Options{RotationGrace: 10 * time.Minute}})
	id, old := e.refresh(e.usr, "rotating")
	_, fresh, err := e.s.RotateToken(e.usr, id)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(9 * time.Minute)
	oldAT := e.access(old) // still inside the grace period
	freshAT := e.access(fresh)
	if res := e.get("/v3/users/me", oldAT); res.status != 200 {
		t.Fatalf("access token from the old secret in grace: %d", res.status)
	}
	e.clock.Advance(2 * time.Minute)
	if res := e.do("GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": old}, nil); res.status != 401 {
		t.Fatalf("old secret after grace: %d %s", res.status, res.body)
	}
	if res := e.get("/v3/users/me", oldAT); res.status != 401 {
		t.Fatalf("access token from the old secret after grace: %d", res.status)
	}
	if res := e.do("GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": fresh}, nil); res.status != 401 {
		t.Fatalf("successor after its predecessor was reused: %d %s", res.status, res.body)
	}
	if res := e.get("/v3/users/me", freshAT); res.status != 401 {
		t.Fatalf("the successor's access token after the reuse: %d", res.status)
	}
	entries, err := e.s.Audit(e.ownerA, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(entries, func(a models.AuditEntry) bool { return a.Type == models.AuditTokenReuse })
	if i < 0 {
		t.Fatalf("no %s entry in %d audit entries", models.AuditTokenReuse, len(entries))
	}
	if entries[i].TokenID != id || !strings.Contains(entries[i].Detail, "127.0.0.1") || !strings.Contains(entries[i].Detail, "revoked its rotation chain") {
		t.Fatalf("reuse entry: %+v", entries[i])
	}
}

// Introspection says only {"active":false} for dead and
// unknown tokens; revocation answers 200 whatever it is given.
func TestIntrospectionAndRevocation(t *testing.T) {
	e := newEnv(t, envOpts{api: Options{MaxAuthFailures: -1}})
	_, as := e.refresh(e.adminA, "resource server")
	adminAT := e.access(as)
	uid, us := e.refresh(e.usr, "app")
	userAT := e.access(us)

	introspect := func(caller, tok string) response {
		t.Helper()
		return e.postForm("/oauth/introspect", caller, url.Values{"token": {tok}})
	}
	for _, tok := range []string{us, userAT} {
		res := introspect(adminAT, tok)
		var got introspection
		if err := json.Unmarshal(res.body, &got); err != nil || res.status != 200 || !got.Active {
			t.Fatalf("introspect live token: %d %s", res.status, res.body)
		}
		if got.Sub != e.user.ID || got.Role != "user" || got.TokenID != uid || got.Username != e.user.Email || got.Iss != "keydesk" {
			t.Fatalf("introspection: %+v", got)
		}
		if res.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("introspection Cache-Control %q", res.header.Get("Cache-Control"))
		}
	}
	if res := introspect(userAT, us); res.status != 403 {
		t.Fatalf("a user introspects: %d %s", res.status, res.body)
	}
	if res := introspect("", us); res.status != 401 {
		t.Fatalf("anonymous introspection: %d %s", res.status, res.body)
	}

	// RFC 7009: unknown and malformed tokens are "revoked" too.
	for _, tok := range []string{unknownSecret(t), "garbage", "eyJhbGciOiJub25lIn0.e30."} {
		if res := e.postForm("/oauth/revoke", "", url.Values{"token": {tok}}); res.status != 200 {
			t.Fatalf("revoke %q: %d %s", tok, res.status, res.body)
		}
	}
	if res := e.postForm("/oauth/revoke", "", url.Values{"token": {us}, "token_type_hint": {"refresh_token"}}); res.status != 200 {
		t.Fatalf("revoke: %d %s", res.status, res.body)
	}
	if res := e.postForm("/oauth/revoke", "", url.Values{"token": {us}}); res.status != 200 {
		t.Fatalf("revoke twice: %d %s", res.status, res.body)
	}
	if res := e.postForm("/oauth/revoke", "", url.Values{}); res.status != 400 {
		t.Fatalf("revoke without token: %d %s", res.status, res.body)
	}
	for what, tok := range map[string]string{
		"revoked refresh": us, "its access token": userAT, "unknown refresh": unknownSecret(t),
		"garbage": "x", "forged jwt": userAT[:len(userAT)-4] + "AAAA",
	} {
		res := introspect(adminAT, tok)
		if res.status != 200 || strings.TrimSpace(string(res.body)) != `{"active":false}` {
			t.Errorf("introspect %s: %d %s", what, res.status, res.body)
		}
	}
	if res := e.get("/v3/users/me", userAT); res.status != 401 {
		t.Fatalf("access token after RFC 7009 revoke: %d", res.status)
	}
	// RFC 7009 with an access token (issue 15 item 14): it stops working, and
	// so does the refresh token it came from; a second access token of the
	// same refresh token too.
	adminAT2 := e.access(as)
	if res := e.postForm("/oauth/revoke", "", url.Values{"token": {adminAT}}); res.status != 200 {
		t.Fatalf("revoke access token: %d %s", res.status, res.body)
	}
	for what, tok := range map[string]string{"revoked access token": adminAT, "its sibling": adminAT2} {
		if res := e.get("/v3/users/me", tok); res.status != 401 {
			t.Errorf("%s after RFC 7009 revoke: %d", what, res.status)
		}
	}
	if res := e.do("GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": as}, nil); res.status != 401 {
		t.Errorf("refresh token behind a revoked access token: %d", res.status)
	}
}

// TestIntrospectionTokenType: RFC 7662 token_type is the OAuth token type of
// an access token, "Bearer" (issue 15 item 14); token_use says which kind of
// keydesk token it is.
func TestIntrospectionTokenType(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, as := e.refresh(e.adminA, "resource server")
	at := e.access(as)
	for tok, want := range map[string][2]string{at: {"Bearer", "access_token"}, as: {"", "refresh_token"}} {
		res := e.postForm("/oauth/introspect", at, url.Values{"token": {tok}})
		var got map[string]any
		if err := json.Unmarshal(res.body, &got); err != nil || res.status != 200 {
			t.Fatalf("introspect: %d %s", res.status, res.body)
		}
		typ, _ := got["token_type"].(string)
		if typ != want[0] || got["token_use"] != want[1] {
			t.Errorf("token_type %q token_use %v; want %q %q (%s)", typ, got["token_use"], want[0], want[1], res.body)
		}
	}
}

func TestTokenRoutes(t *testing.T) {
	e := newEnv(t, envOpts{})
	uid, us := e.refresh(e.usr, "mine")
	_, as := e.refresh(e.adminA, "admin's")
	_, os := e.refresh(e.ownerA, "owner's")
	userAT, adminAT, ownerAT := e.access(us), e.access(as), e.access(os)

	var list tokenList
	res := e.get("/v3/tokens", userAT)
	if err := json.Unmarshal(res.body, &list); err != nil || res.status != 200 || len(list.Data) != 1 || list.Data[0].ID != uid {
		t.Fatalf("own tokens: %d %s", res.status, res.body)
	}
	if list.Data[0].LastUsedFrom != "" && list.Data[0].LastUsedFrom != "127.0.0.1" {
		t.Fatalf("last used from %q", list.Data[0].LastUsedFrom)
	}
	for _, at := range []string{userAT, adminAT} {
		if res := e.get("/v3/tokens?all=true", at); res.status != 403 {
			t.Fatalf("all=true by non-owner: %d %s", res.status, res.body)
		}
	}
	res = e.get("/v3/tokens?all=true", ownerAT)
	if err := json.Unmarshal(res.body, &list); err != nil || res.status != 200 || len(list.Data) != 3 {
		t.Fatalf("all=true by owner: %d %s", res.status, res.body)
	}
	for _, secret := range []string{us, as, os} {
		if strings.Contains(string(res.body), secret) {
			t.Fatal("a token listing holds a secret")
		}
	}
	if res := e.get("/v3/tokens?limit=0", ownerAT); res.status != 400 {
		t.Fatalf("limit=0: %d", res.status)
	}
	if res := e.get("/v3/tokens?all=maybe", ownerAT); res.status != 400 {
		t.Fatalf("all=maybe: %d", res.status)
	}

	del := func(id, at string) response {
		return e.do("DELETE", "/v3/tokens/"+id, map[string]string{"Authorization": "Bearer " + at}, nil)
	}
	if res := del(uid, adminAT); res.status != 404 {
		t.Fatalf("admin deletes a user's token: %d %s", res.status, res.body)
	}
	if res := del("tok_nosuch", userAT); res.status != 404 {
		t.Fatalf("delete unknown: %d %s", res.status, res.body)
	}
	res = del(uid, ownerAT)
	if res.status != 200 || !strings.Contains(string(res.body), `"status":"revoked"`) {
		t.Fatalf("owner deletes a user's token: %d %s", res.status, res.body)
	}
	if res := e.get("/v3/users/me", userAT); res.status != 401 {
		t.Fatalf("deleted token still works: %d", res.status)
	}
	var me struct {
		Data wire.Me `json:"data"`
	}
	if err := json.Unmarshal(e.get("/v3/users/me", adminAT).body, &me); err != nil {
		t.Fatal(err)
	}
	adminID := me.Data.Token.ID
	if res := del(adminID, adminAT); res.status != 200 {
		t.Fatalf("revoke own token with itself: %d %s", res.status, res.body)
	}
	if res := e.get("/v3/users/me", adminAT); res.status != 401 {
		t.Fatalf("self-revoked token still works: %d", res.status)
	}
}

// Last use is recorded with the client's address and reaches the listing.
func TestLastUsedRecorded(t *testing.T) {
	e := newEnv(t, envOpts{})
	id, secret := e.refresh(e.usr, "used")
	e.access(secret)
	e.s.FlushUsage()
	v, err := e.s.Token(e.usr, id)
	if err != nil {
		t.Fatal(err)
	}
	if v.LastUsedBy != "127.0.0.1" || !v.LastUsedAt.Equal(e.clock.Now()) {
		t.Fatalf("last used %v from %q", v.LastUsedAt, v.LastUsedBy)
	}
}

// TestRateLimit: an address's failures past the limit get 429 (house shape
// on the original product's routes, RFC 6749 §5.2 shape on /oauth/*), while a
// valid credential from that same address is still served (issue 15 item 6).
func TestRateLimit(t *testing.T) {
	e := newEnv(t, envOpts{api: Options{MaxAuthFailures: 3}})
	_, secret := e.refresh(e.usr, "good")
	for i := range 3 {
		if res := e.do("GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": unknownSecret(t)}, nil); res.status != 401 {
			t.Fatalf("failure %d: %d", i, res.status)
		}
	}
	for _, res := range []response{
		e.do("GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": unknownSecret(t)}, nil),
		e.get("/v3/users/me", "x"),
	} {
		var eb errorBody
		if err := json.Unmarshal(res.body, &eb); err != nil || res.status != 429 || eb.Meta.Status != 429 {
			t.Fatalf("after 3 failures: %d %s", res.status, res.body)
		}
		if ra := res.header.Get("Retry-After"); ra != "60" {
			t.Fatalf("Retry-After %q, want 60", ra)
		}
	}
	for _, res := range []response{
		e.postForm("/oauth/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {unknownSecret(t)}}),
		e.postForm("/oauth/revoke", "", url.Values{"token": {unknownSecret(t)}}),
	} {
		var oe oauthError
		if err := json.Unmarshal(res.body, &oe); err != nil || res.status != 429 || oe.Error != "temporarily_unavailable" || res.header.Get("Retry-After") != "60" {
			t.Fatalf("OAuth 429: %d %s (Retry-After %q)", res.status, res.body, res.header.Get("Retry-After"))
		}
		if res.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("OAuth 429 without no-store")
		}
	}
	// The same address, a valid credential: served.
	if res := e.do("GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": secret}, nil); res.status != 200 {
		t.Fatalf("valid token from a limited address: %d %s", res.status, res.body)
	}
	at := e.access(secret)
	if res := e.get("/v3/users/me", at); res.status != 200 {
		t.Fatalf("valid access token from a limited address: %d %s", res.status, res.body)
	}
	if res := e.postForm("/oauth/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {secret}}); res.status != 200 {
		t.Fatalf("valid refresh grant from a limited address: %d %s", res.status, res.body)
	}
	e.clock.Advance(time.Minute)
	if res := e.do("GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": unknownSecret(t)}, nil); res.status != 401 {
		t.Fatalf("after the window: %d", res.status)
	}
	if !strings.Contains(string(e.do("GET", "/metrics", nil, nil).body), `keydesk_token_exchanges_total{result="rate_limited"} 2`) {
		t.Fatal("rate-limited exchanges not counted")
	}
}

// TestFailuresFromManyAddressesLockNobodyOut is the lockout: one
// failure from each of 10,000 addresses used to put every new address in one
// shared overflow bucket, so valid tokens from anyone got 429.
func TestFailuresFromManyAddressesLockNobodyOut(t *testing.T) {
	c := newClock()
	l := newFailLimiter(2, time.Minute, c.Now)
	l.maxEntries = 100
	for i := range 1000 {
		for range 3 {
			l.fail(net.IPv4(10, 0, byte(i>>8), byte(i)).String())
		}
	}
	if len(l.entries) > l.maxEntries {
		t.Fatalf("%d entries, limit %d", len(l.entries), l.maxEntries)
	}
	if _, blocked := l.blocked("192.0.2.1"); blocked {
		t.Fatal("a new address is limited because of others' failures")
	}
	// The latest offender is still limited.
	if _, blocked := l.blocked(net.IPv4(10, 0, 3, 231).String()); !blocked {
		t.Fatal("the most recent offender is not limited")
	}
	c.Advance(time.Minute)
	l.fail("192.0.2.1")
	if len(l.entries) > l.maxEntries {
		t.Fatalf("%d entries after the window", len(l.entries))
	}
	if limitKey("2001:db8::1") != limitKey("2001:db8::ffff") || limitKey("::ffff:10.0.0.1") != "10.0.0.1" {
		t.Fatal("IPv6 /64 or mapped IPv4 keys differ")
	}
}

// TestTrustedProxy: X-Forwarded-For counts only from --trusted-proxy peers,
// and then names the client to the left of the last trusted hop.
func TestTrustedProxy(t *testing.T) {
	e := newEnv(t, envOpts{})
	id, secret := e.refresh(e.usr, "behind proxy")
	lastUsed := func() string {
		t.Helper()
		e.s.FlushUsage()
		defer e.clock.Advance(time.Second) // a later use is a newer "last used"
		v, err := e.s.Token(e.usr, id)
		if err != nil {
			t.Fatal(err)
		}
		return v.LastUsedBy
	}
	h := map[string]string{"X-Refresh-Token": secret, "X-Forwarded-For": "203.0.113.9"}
	if res := e.do("GET", "/oauth/access-token", h, nil); res.status != 200 {
		t.Fatal(res.status)
	}
	if got := lastUsed(); got != "127.0.0.1" {
		t.Fatalf("untrusted X-Forwarded-For believed: %q", got)
	}
	srv, err := New(e.s, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for xff, want := range map[string]string{
		"203.0.113.9":                         "203.0.113.9",
		"198.51.100.1, 203.0.113.9, 10.1.2.3": "203.0.113.9", // a client-written hop to the left is ignored
		"10.1.2.3":                            "10.1.2.3",
		"nonsense, 203.0.113.7":               "203.0.113.7",
	} {
		req, _ := http.NewRequest("GET", ts.URL+"/oauth/access-token", nil)
		req.Header.Set("X-Refresh-Token", secret)
		req.Header.Set("X-Forwarded-For", xff)
		res, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := lastUsed(); got != want {
			t.Errorf("X-Forwarded-For %q: client %q, want %q", xff, got, want)
		}
	}
	// Behind the proxy, each client has its own failure budget.
	for i := range 25 {
		req, _ := http.NewRequest("GET", ts.URL+"/oauth/access-token", nil)
		req.Header.Set("X-Refresh-Token", unknownSecret(t))
		req.Header.Set("X-Forwarded-For", "203.0.113.66")
		res, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if i == 24 && res.StatusCode != 429 {
			t.Fatalf("the failing client behind the proxy is not limited: %d", res.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", ts.URL+"/oauth/access-token", nil)
	req.Header.Set("X-Refresh-Token", unknownSecret(t))
	req.Header.Set("X-Forwarded-For", "203.0.113.67")
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("another client behind the same proxy got %d after a neighbour's failures", res.StatusCode)
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t, envOpts{})
	big := strings.NewReader("grant_type=refresh_token&refresh_token=" + strings.Repeat("a", maxBodyBytes))
	res := e.do("POST", "/oauth/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, big)
	if res.status != 413 {
		t.Fatalf("oversized body: %d %s", res.status, res.body)
	}
	_, as := e.refresh(e.adminA, "admin")
	big = strings.NewReader(`{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`)
	res = e.do("POST", "/v3/users", map[string]string{"Authorization": "Bearer " + e.access(as)}, big)
	if res.status != 413 {
		t.Fatalf("oversized JSON: %d %s", res.status, res.body)
	}

	hs := e.srv.HTTPServer("127.0.0.1:0")
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout <= 0 || hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 || hs.MaxHeaderBytes != maxHeaderBytes {
		t.Fatalf("HTTPServer limits: %+v", hs)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("p", 2*maxHeaderBytes))
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized header: %d", r.StatusCode)
	}
}

func TestRoutingErrorsAreJSON(t *testing.T) {
	e := newEnv(t, envOpts{})
	res := e.do("GET", "/nope", nil, nil)
	if res.status != 404 || !strings.Contains(string(res.body), `"status":404`) {
		t.Fatalf("unknown path: %d %s", res.status, res.body)
	}
	res = e.do("DELETE", "/v3/users/me", nil, nil)
	if res.status != 405 || res.header.Get("Allow") != "GET, HEAD" || !strings.Contains(string(res.body), `"status":405`) {
		t.Fatalf("wrong method: %d %q %s", res.status, res.header.Get("Allow"), res.body)
	}
	res = e.do("GET", "/v3/tokens/tok_x", nil, nil)
	if res.status != 405 || res.header.Get("Allow") != "DELETE" {
		t.Fatalf("GET /v3/tokens/{id}: %d %q", res.status, res.header.Get("Allow"))
	}
	if res := e.do("GET", "/healthz", nil, nil); res.status != 200 {
		t.Fatalf("healthz: %d", res.status)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, secret := e.refresh(e.usr, "metered")
	e.get("/v3/users/me", e.access(secret))
	e.do("GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": "bad"}, nil)
	e.srv.SetActiveSessionsFunc(func() float64 { return 3 })
	body := string(e.do("GET", "/metrics", nil, nil).body)
	for _, want := range []string{
		`keydesk_token_exchanges_total{result="ok"} 1`,
		`keydesk_token_exchanges_total{result="invalid"} 1`,
		`keydesk_http_request_duration_seconds_count{route="GET /v3/users/me"} 1`,
		`keydesk_http_request_duration_seconds_bucket{route="GET /oauth/access-token",le="0.0001"}`,
		`keydesk_http_requests_in_flight 1`, // the /metrics request itself
		`keydesk_ssh_active_sessions 3`,
		`keydesk_http_auth_failures_total 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, secret) || strings.Contains(body, "tok_") {
		t.Error("/metrics mentions a token")
	}

	// A caller's registry gets the series, and many servers can coexist.
	reg := prometheus.NewRegistry()
	if _, err := New(e.s, Options{Registry: reg}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == "keydesk_token_exchanges_total"
	}
	if !found {
		t.Fatal("metrics not registered with the caller's registry")
	}
}

// Debug logging names routes and statuses, never a credential.
func TestLogsHoldNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	logger := log.New(&buf)
	logger.SetLevel(log.DebugLevel)
	e := newEnv(t, envOpts{api: Options{Logger: logger}})
	_, secret := e.refresh(e.usr, "logged")
	at := e.access(secret)
	e.get("/v3/users/me", at)
	e.postForm("/oauth/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {secret}})
	e.postForm("/oauth/revoke", "", url.Values{"token": {secret}})
	out := buf.String()
	if !strings.Contains(out, "GET /v3/users/me") {
		t.Fatalf("no request log: %q", out)
	}
	for _, s := range []string{secret, at, at[strings.LastIndexByte(at, '.')+1:]} {
		if strings.Contains(out, s) {
			t.Fatal("the log holds a credential")
		}
	}
}

// TestUnknownRevokeCostsNoWrite is issue 15 item 5 at the HTTP door: a flood
// of well-formed unknown tokens at POST /oauth/revoke (the review sent 74k in
// 15 s: 119 MB written, every console woken) writes nothing to the database,
// wakes no console, and past the failure limit is answered 429.
func TestUnknownRevokeCostsNoWrite(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, live := e.refresh(e.usr, "live")
	db := filepath.Join(e.s.Location(), "keydesk.db")
	before, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	events, stop := e.s.Subscribe()
	defer stop()
	codes := map[int]int{}
	for range 500 {
		codes[e.postForm("/oauth/revoke", "", url.Values{"token": {unknownSecret(t)}}).status]++
	}
	if codes[200] != 20 || codes[429] != 480 {
		t.Fatalf("answers %v; want 20×200 then 429", codes)
	}
	select {
	case ev := <-events:
		t.Fatalf("an unknown-token revoke published %+v", ev)
	default:
	}
	after, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Fatalf("keydesk.db was written: %v %d → %v %d", before.ModTime(), before.Size(), after.ModTime(), after.Size())
	}
	// A live token from the same (limited) address is still revoked.
	if res := e.postForm("/oauth/revoke", "", url.Values{"token": {live}}); res.status != 200 {
		t.Fatalf("live token revoke from a limited address: %d %s", res.status, res.body)
	}
	if _, err := e.s.Inspect(live); err == nil {
		t.Fatal("the live token was not revoked")
	}
}

// TestRevokingTheSuccessorEndsTheGrace: a token rotated (say, after a leak)
// and then revoked leaves no secret of it working. The rotated secret's grace
// exists to move deployments to the successor; revoking the successor, by id
// or by presenting its secret (RFC 7009), ends it at once, for the old secret
// and for access tokens minted from it. It kept working for the rest of the
// grace, up to 10 minutes, though the revoke said it was done.
func TestRevokingTheSuccessorEndsTheGrace(t *testing.T) {
	for _, how := range []string{"DELETE /v3/tokens/{id}", "POST /oauth/revoke"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, envOpts{store: store.Options{RotationGrace: 10 * time.Minute}})
			id, old := e.refresh(e.usr, "leaked")
			next, fresh, err := e.s.RotateToken(e.usr, id)
			if err != nil {
				t.Fatal(err)
			}
			oldAT := e.access(old) // inside the grace: works
			if res := e.get("/v3/users/me", oldAT); res.status != 200 {
				t.Fatalf("old secret's access token in grace: %d", res.status)
			}
			var res response
			if how == "POST /oauth/revoke" {
				res = e.postForm("/oauth/revoke", "", url.Values{"token": {fresh}})
			} else {
				res = e.do("DELETE", "/v3/tokens/"+next.ID, map[string]string{"Authorization": "Bearer " + e.access(fresh)}, nil)
			}
			if res.status != 200 {
				t.Fatalf("revoke the successor: %d %s", res.status, res.body)
			}
			if res := e.do("GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": old}, nil); res.status != 401 {
				t.Fatalf("the old secret after its successor was revoked: %d %s", res.status, res.body)
			}
			if res := e.get("/v3/users/me", oldAT); res.status != 401 {
				t.Fatalf("the old secret's access token after its successor was revoked: %d", res.status)
			}
			v, err := e.s.Token(e.usr, id)
			if err != nil || v.Status != models.StatusRevoked {
				t.Fatalf("the rotated token: %v %v; want revoked", v.Status, err)
			}
			entries, err := e.s.Audit(e.ownerA, store.AuditQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(entries, func(a models.AuditEntry) bool {
				return a.Type == models.AuditTokenRevoked && a.TokenID == id && strings.Contains(a.Detail, "successor "+next.ID)
			}) {
				t.Fatalf("no audit entry says why %s was revoked", id)
			}
		})
	}
}
