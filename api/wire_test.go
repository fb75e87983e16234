package api

import (
	"encoding/json"
	"regexp"
	"slices"
	"testing"

	"github.com/keydesk/keydesk/wire"
	"github.com/keydesk/keydesk/wire/wiretest"
)

var secondUTC = regexp.MustCompile(`"(created_at|added_at|at|expires_at|revoked_at|last_used_at)":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"`)
var anyTime = regexp.MustCompile(`"(created_at|added_at|expires_at|revoked_at|last_used_at)":"[^"]*"`)

// Every /v3 body is a wire type: the same keys as the CLI's --json, and
// times in RFC 3339 UTC at second precision.
func TestV3BodiesAreWireTypes(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.clock.Advance(123456789) // a sub-second part that must not show
	id, us := e.refresh(e.usr, "mine")
	userAT := e.access(us)
	_, as := e.refresh(e.adminA, "admin's")
	adminAT := e.access(as)

	type body struct {
		Data json.RawMessage `json:"data"`
	}
	check := func(what string, raw []byte, want any) {
		t.Helper()
		if got, w := wiretest.Keys(t, raw), wiretest.TypeKeys(t, want); !slices.Equal(got, w) {
			t.Fatalf("%s keys %v, want the wire type's %v", what, got, w)
		}
		for _, m := range anyTime.FindAll(raw, -1) {
			if !secondUTC.Match(m) {
				t.Fatalf("%s: time %s is not RFC 3339 UTC at second precision", what, m)
			}
		}
		if !anyTime.Match(raw) {
			t.Fatalf("%s: no time field at all: %s", what, raw)
		}
	}
	decode := func(res response) json.RawMessage {
		t.Helper()
		var b body
		if err := json.Unmarshal(res.body, &b); err != nil || res.status/100 != 2 {
			t.Fatalf("%d %s", res.status, res.body)
		}
		return b.Data
	}

	check("GET /v3/users/me", decode(e.get("/v3/users/me", userAT)), wire.Me{})
	var users []json.RawMessage
	if err := json.Unmarshal(decode(e.get("/v3/users", adminAT)), &users); err != nil || len(users) == 0 {
		t.Fatalf("users: %v %d", err, len(users))
	}
	check("GET /v3/users[0]", users[0], wire.User{})
	var toks []json.RawMessage
	if err := json.Unmarshal(decode(e.get("/v3/tokens", userAT)), &toks); err != nil || len(toks) != 1 {
		t.Fatalf("tokens: %v %d", err, len(toks))
	}
	check("GET /v3/tokens[0]", toks[0], wire.Token{})
	res := e.do("DELETE", "/v3/tokens/"+id, map[string]string{"Authorization": "Bearer " + adminAT}, nil)
	if res.status != 404 {
		t.Fatalf("admin revokes a user's token: %d", res.status)
	}
	_, ows := e.refresh(e.ownerA, "owner's")
	res = e.do("DELETE", "/v3/tokens/"+id, map[string]string{"Authorization": "Bearer " + e.access(ows)}, nil)
	raw := decode(res)
	check("DELETE /v3/tokens/{id}", raw, wire.Token{})
	var tok wire.Token
	if err := json.Unmarshal(raw, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.Status != "revoked" || tok.HolderEmail != e.user.Email || tok.RevokedAt.IsZero() || tok.Masked == "" {
		t.Fatalf("revoked token body: %s", raw)
	}
}
