package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzExchangeIntrospect throws arbitrary refresh-token headers, token-endpoint
// bodies and introspection parameters at the handlers. Whatever comes in, the
// answer is a well-formed JSON response below 500 and nothing panics (the
// recovery layer would turn a panic into a 500, which fails here).
//
// In the inputs, {{rt}} stands for a live refresh token and {{at}} for a live
// owner access token, so the fuzzer also mutates around valid credentials.
func FuzzExchangeIntrospect(f *testing.F) {
	e := newEnv(f, envOpts{api: Options{MaxAuthFailures: -1}})
	_, rt := e.refresh(e.usr, "fuzzed")
	_, os := e.refresh(e.ownerA, "introspector")
	at := e.access(os)
	expand := strings.NewReplacer("{{rt}}", rt, "{{at}}", at)
	h := e.srv.Handler()

	f.Add("{{rt}}", "grant_type=refresh_token&refresh_token={{rt}}", "{{at}}")
	f.Add("kdr_", "grant_type=refresh_token&refresh_token=%zz", "eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, header, body, token string) {
		header, body, token = expand.Replace(header), expand.Replace(body), expand.Replace(token)
		check := func(name string, r *http.Request) {
			t.Helper()
			r.RemoteAddr = "192.0.2.7:4242"
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("%s: status %d: %s", name, w.Code, w.Body)
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s: body is not JSON: %q", name, w.Body)
			}
		}

		r := httptest.NewRequest("GET", "/oauth/access-token", nil)
		r.Header["X-Refresh-Token"] = []string{header}
		check("exchange", r)

		r = httptest.NewRequest("POST", "/oauth/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		check("token", r)

		r = httptest.NewRequest("POST", "/oauth/introspect", strings.NewReader("token_type_hint=x&token="+formEscape(token)))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header["Authorization"] = []string{"Bearer " + at}
		check("introspect", r)

		r = httptest.NewRequest("POST", "/oauth/introspect", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header["Authorization"] = []string{header}
		check("introspect with fuzzed auth", r)

		r = httptest.NewRequest("GET", "/v3/users/me", nil)
		r.Header["Authorization"] = []string{"Bearer " + token}
		check("users/me", r)
	})
}

func formEscape(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "=", "%3D").Replace(s)
}
