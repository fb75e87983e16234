package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// A request that brings no credential header at all (or a non-Bearer
// Authorization) is told what to send: the same "invalid or revoked token" as
// for a bad one sent a new user hunting for a wrong token when the header was
// missing or misspelt. Everything sent as a token, empty, malformed or a
// refresh token as the Bearer included, keeps the one answer
// (TestSame401ForEveryBadCredential).
func TestMissingCredentialSaysWhatToSend(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, live := e.refresh(e.usr, "live")
	for _, c := range []struct {
		what string
		res  response
		want string
	}{
		{"exchange without X-Refresh-Token", e.do("GET", "/oauth/access-token", nil, nil), "missing X-Refresh-Token header"},
		{"API call without Authorization", e.do("GET", "/v3/users/me", nil, nil), "missing Authorization header"},
		{"API call with Basic", e.do("GET", "/v3/users/me", map[string]string{"Authorization": "Basic dTpw"}, nil), "the Authorization header is not a Bearer token"},
	} {
		var body struct {
			Meta struct {
				Status       int    `json:"status"`
				ErrorMessage string `json:"error_message"`
			} `json:"meta"`
		}
		if c.res.status != 401 || c.res.header.Get("WWW-Authenticate") == "" || json.Unmarshal(c.res.body, &body) != nil ||
			body.Meta.Status != 401 || !strings.HasPrefix(body.Meta.ErrorMessage, c.want) || strings.Contains(body.Meta.ErrorMessage, live) {
			t.Errorf("%s: status %d, body %s; want 401 with WWW-Authenticate and a message starting %q", c.what, c.res.status, c.res.body, c.want)
		}
	}
	// The same token, exchanged properly, still works.
	if res := e.do("GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": live}, nil); res.status != 200 {
		t.Fatalf("exchange: %d %s", res.status, res.body)
	}
}

// A body that is not what POST /v3/users takes says what is wrong in JSON's
// words (it said "invalid character 'o' in literal null (expecting 'u')" or
// "cannot unmarshal string into Go struct field newUserRequest.keys of type
// []string"), and a missing role says so instead of `unknown role ""`.
func TestBadUserBodiesSayWhatIsWrong(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, as := e.refresh(e.adminA, "admin")
	at := e.access(as)
	for body, want := range map[string]string{
		`not json`: "request body is not valid JSON (at byte 2); send one JSON object",
		`{"name":"X","email":"x@example.com","role":"user","keys":"ssh-ed25519 AAAA"}`: `field "keys" must be a list of strings, not string`,
		`["X"]`:                                "request body must be a JSON object, not array",
		`{"name":"X","email":"x@example.com"}`: `"role" is missing; give one of "admin", "user", "stakeholder"`,
		`{"name":"X","email":"x@example.com","rol":"user"}`: `request body is not the expected JSON object: unknown field "rol"`,
	} {
		res := e.do("POST", "/v3/users", map[string]string{"Authorization": "Bearer " + at, "Content-Type": "application/json"}, strings.NewReader(body))
		var got struct {
			Meta struct {
				ErrorMessage string `json:"error_message"`
			} `json:"meta"`
		}
		if res.status != 400 || json.Unmarshal(res.body, &got) != nil || got.Meta.ErrorMessage != want {
			t.Errorf("POST %s: %d %s; want 400 %q", body, res.status, res.body, want)
		}
	}
}
