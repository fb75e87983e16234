package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestFormEndpointsSayTheBodyMustBeAForm: the OAuth endpoints take form
// bodies (RFC 6749 §4.1.3, RFC 7009, RFC 7662). A JSON body was left unread,
// so its sender was told "grant_type is required" about a field it had sent;
// now the answer names the type it sent and the one to send. A form with a
// charset parameter is still a form.
func TestFormEndpointsSayTheBodyMustBeAForm(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, secret := e.refresh(e.usr, "typed")
	_, as := e.refresh(e.adminA, "introspector")
	adminAT := e.access(as)
	jsonBody := `{"grant_type":"refresh_token","refresh_token":"` + secret + `","token":"` + secret + `"}`
	for _, c := range []struct {
		path, ctype, want string
	}{
		{"/oauth/token", "application/json", "the body is application/json; send the parameters as a form: Content-Type: application/x-www-form-urlencoded"},
		{"/oauth/revoke", "application/json; charset=utf-8", "the body is application/json;"},
		{"/oauth/introspect", "text/plain", "the body is text/plain;"},
		{"/oauth/token", "", "the body has no Content-Type;"},
		{"/oauth/token", "not a type", "the Content-Type is not a media type;"},
	} {
		h := map[string]string{"Authorization": "Bearer " + adminAT}
		if c.ctype != "" {
			h["Content-Type"] = c.ctype
		}
		res := e.do("POST", c.path, h, strings.NewReader(jsonBody))
		var got oauthError
		if err := json.Unmarshal(res.body, &got); err != nil || res.status != 400 || got.Error != "invalid_request" || !strings.HasPrefix(got.Description, c.want) {
			t.Errorf("POST %s as %q: %d %s; want 400 invalid_request %q", c.path, c.ctype, res.status, res.body, c.want)
		}
	}
	// Still a form with a charset, and the token is still exchanged.
	res := e.do("POST", "/oauth/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
		strings.NewReader("grant_type=refresh_token&refresh_token="+secret))
	if res.status != 200 {
		t.Fatalf("a form with a charset: %d %s", res.status, res.body)
	}
}
