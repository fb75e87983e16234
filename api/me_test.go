package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keydesk/keydesk/wire"
)

// GET /v3/users/me answers from the principal authentication resolved, not a
// second read: this shows that principal is the record as of the latest
// commit. A key added by the owner appears on the very next request with the
// same access token, and a removed holder's token stops working at once.
func TestMeShowsTheHolderAsStoredNow(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, secret := e.refresh(e.usr, "me")
	at := e.access(secret)
	me := func() wire.Me {
		t.Helper()
		res := e.get("/v3/users/me", at)
		var body struct {
			Data wire.Me `json:"data"`
		}
		if err := json.Unmarshal(res.body, &body); err != nil || res.status != 200 {
			t.Fatalf("/v3/users/me: %d %s", res.status, res.body)
		}
		return body.Data
	}
	if got := me(); got.ID != e.user.ID || len(got.Keys) != len(e.user.Keys) {
		t.Fatalf("before: %+v", got)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.s.AddKey(e.ownerA, e.user.Email, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sp))))
	if err != nil {
		t.Fatal(err)
	}
	got := me()
	found := false
	for _, gk := range got.Keys {
		found = found || gk.Fingerprint == k.Fingerprint
	}
	if !found {
		t.Fatalf("after AddKey, /me keys %+v lack %s", got.Keys, k.Fingerprint)
	}
	if _, err := e.s.RemoveUser(e.ownerA, e.user.Email); err != nil {
		t.Fatal(err)
	}
	if res := e.get("/v3/users/me", at); res.status != 401 {
		t.Fatalf("removed holder /me: %d %s", res.status, res.body)
	}
}
