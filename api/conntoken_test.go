package api

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keydesk/keydesk/wire"
)

// One keep-alive connection remembers the token verified on it last
// (lastVerified). Whatever it remembers, each request is answered for the
// token it carries: other callers' tokens in turn on the same connection, a
// tampered copy, an expired one and a revoked one all get their own answer.
func TestConnectionRemembersOnlyTheExactTokenWhileValid(t *testing.T) {
	e := newEnv(t, envOpts{})
	// The hardened server keydesk serves (ConnContext included), on one
	// connection: the client's requests are sequential, so it reuses it.
	e.ts.Close()
	e.ts = httptest.NewUnstartedServer(e.srv.Handler())
	e.ts.Config = e.srv.HTTPServer("")
	var conns atomic.Int32
	e.ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	e.ts.Start()
	t.Cleanup(e.ts.Close)

	uID, us := e.refresh(e.usr, "uma's")
	_, as := e.refresh(e.adminA, "ada's")
	uat, aat := e.access(us), e.access(as)
	me := func(at string) (int, string) {
		t.Helper()
		res := e.get("/v3/users/me", at)
		var body struct {
			Data wire.Me `json:"data"`
		}
		if res.status == http.StatusOK {
			if err := json.Unmarshal(res.body, &body); err != nil {
				t.Fatal(err)
			}
		}
		return res.status, body.Data.ID
	}
	for range 2 {
		for at, want := range map[string]string{uat: e.user.ID, aat: e.admin.ID} {
			if st, id := me(at); st != http.StatusOK || id != want {
				t.Fatalf("/me: %d %s, want 200 %s", st, id, want)
			}
		}
	}
	// The same token with its last signature character changed: not the
	// remembered bytes, and it does not verify.
	tampered := uat[:len(uat)-1] + map[bool]string{true: "A", false: "B"}[uat[len(uat)-1] != 'A']
	if st, _ := me(uat); st != http.StatusOK {
		t.Fatalf("/me before tampering: %d", st)
	}
	if st, _ := me(tampered); st != http.StatusUnauthorized {
		t.Fatalf("/me with a tampered token right after the real one: %d, want 401", st)
	}
	// Revoked: the remembered token still verifies, but CheckAccess refuses.
	if st, _ := me(uat); st != http.StatusOK {
		t.Fatalf("/me: %d", st)
	}
	if _, err := e.s.RevokeToken(e.usr, uID); err != nil {
		t.Fatal(err)
	}
	if st, _ := me(uat); st != http.StatusUnauthorized {
		t.Fatalf("/me after revoking its refresh token: %d, want 401", st)
	}
	// Expired: remembered, but past its lifetime.
	if st, _ := me(aat); st != http.StatusOK {
		t.Fatalf("/me: %d", st)
	}
	e.clock.Advance(time.Hour + time.Second)
	if st, _ := me(aat); st != http.StatusUnauthorized {
		t.Fatalf("/me with an expired token: %d, want 401", st)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want the one keep-alive connection this test is about", n)
	}
}
