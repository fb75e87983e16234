package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// clock is a controllable time source for the store and the server, so tests
// move past grace periods and expiries without sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a real store in a temp dir behind a real HTTP server on loopback.
type env struct {
	t                   testing.TB
	s                   *store.Store
	srv                 *Server
	ts                  *httptest.Server
	clock               *clock
	owner, admin, user  models.User
	ownerA, adminA, usr store.Actor
}

type envOpts struct {
	store store.Options
	api   Options
	// realClock keeps time.Now (benchmarks); tests default to a fixed clock.
	realClock bool
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	e := &env{t: t}
	if !o.realClock && o.store.Now == nil {
		e.clock = newClock()
		o.store.Now = e.clock.Now
	}
	s, err := store.Open(t.TempDir(), o.store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	e.s = s
	if e.owner, err = s.Init(store.NewUser{Name: "Olive Owner", Email: "olive@example.com"}, "test"); err != nil {
		t.Fatal(err)
	}
	e.ownerA = store.Actor{UserID: e.owner.ID, Via: "test"}
	if e.admin, err = s.AddUser(e.ownerA, store.NewUser{Name: "Ada Admin", Email: "ada@example.com", Role: models.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if e.user, err = s.AddUser(e.ownerA, store.NewUser{Name: "Uma User", Email: "uma@example.com", Role: models.RoleUser}); err != nil {
		t.Fatal(err)
	}
	e.adminA = store.Actor{UserID: e.admin.ID, Via: "test"}
	e.usr = store.Actor{UserID: e.user.ID, Via: "test"}
	if e.srv, err = New(s, o.api); err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

// refresh creates a refresh token for a and returns its id and secret.
func (e *env) refresh(a store.Actor, name string) (string, string) {
	e.t.Helper()
	tok, secret, err := e.s.CreateToken(a, store.TokenSpec{Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok.ID, secret
}

// access exchanges a refresh token over HTTP and returns the access token.
func (e *env) access(secret string) string {
	e.t.Helper()
	res := e.do("GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": secret}, nil)
	if res.status != http.StatusOK {
		e.t.Fatalf("exchange: %d %s", res.status, res.body)
	}
	var out struct {
		Data struct {
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	if err := json.Unmarshal(res.body, &out); err != nil {
		e.t.Fatal(err)
	}
	return out.Data.AccessToken
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(method, path string, headers map[string]string, body io.Reader) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) get(path, accessToken string) response {
	e.t.Helper()
	return e.do("GET", path, map[string]string{"Authorization": "Bearer " + accessToken}, nil)
}

func (e *env) postForm(path, accessToken string, form url.Values) response {
	e.t.Helper()
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if accessToken != "" {
		h["Authorization"] = "Bearer " + accessToken
	}
	return e.do("POST", path, h, strings.NewReader(form.Encode()))
}

// unknownSecret is a well-formed refresh token that was never issued.
func unknownSecret(t testing.TB) string {
	t.Helper()
	s, err := models.NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
