package api

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/wire"
)

// awkward are strings that exercise every escape encoding/json makes.
var awkward = []string{"", "plain", `q"b\s/`, "<a href='x'>&amp;</a>", "\x00\x01\b\f\n\r\t\x1b\x7f",
	"caf\u00e9 \u2028\u2029 \U0001F600", "bad \xff\xfe utf8 \xe2\x82", "\u200b\u202e\ufeff"}

// written is what writeJSON answers for v: the bytes the hand-built bodies
// must equal.
func written(t testing.TB, v any) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	writeJSON(rec, 200, v)
	return rec.Body.Bytes()
}

// The hot routes build their bodies by hand; these must be byte for byte what
// writeJSON (encoding/json) would write for the same value.
func TestExchangeBodiesAreWriteJSON(t *testing.T) {
	for _, s := range awkward {
		for _, n := range []int64{0, 1, -1, 1764633600, 1 << 62} {
			d := accessTokenData{AccessToken: s + "a", ExpiresAt: n, IssuedAt: -n, RefreshToken: s + "r", Type: s}
			if got, want := d.appendBody(nil), written(t, accessTokenResponse{Data: d}); !bytes.Equal(got, want) {
				t.Fatalf("access-token body\n got %q\nwant %q", got, want)
			}
			tr := tokenResponse{AccessToken: s, TokenType: s + "t", ExpiresIn: n}
			if got, want := tr.appendBody(nil), written(t, tr); !bytes.Equal(got, want) {
				t.Fatalf("token body\n got %q\nwant %q", got, want)
			}
			c := flatClaims{Iss: s + "i", Sub: s + "s", Role: s, RTID: s + "r", Iat: n, Exp: n + 1, Jti: s + "j"}
			want, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.appendJSON([]byte("x")); !bytes.Equal(got, append([]byte("x"), want...)) {
				t.Fatalf("claims\n got %q\nwant x%q", got, want)
			}
		}
	}
}

func TestMeBodyIsWriteJSON(t *testing.T) {
	at := time.Date(2026, 12, 2, 3, 4, 5, 6, time.UTC)
	for _, s := range awkward {
		u := models.User{ID: "usr_" + s, Name: s, Email: s + "@x", Role: models.Role(s), CreatedAt: at,
			Keys: []models.SSHKey{{Fingerprint: "SHA256:" + s, Type: s, Comment: s, AddedAt: at, AddedBy: s, Pending: true}, {}}}
		for _, keys := range [][]models.SSHKey{u.Keys, nil} {
			u.Keys = keys
			me := wire.Me{User: wire.FromUser(u), Token: wire.Credential{ID: s, Role: models.RoleUser}}
			if got, want := appendMeBody(nil, &me), written(t, data[wire.Me]{me}); !bytes.Equal(got, want) {
				t.Fatalf("/v3/users/me body\n got %q\nwant %q", got, want)
			}
		}
	}
}

// FuzzHandBuiltBodies holds the hand-built bodies to encoding/json's on
// arbitrary strings and numbers.
func FuzzHandBuiltBodies(f *testing.F) {
	f.Add("eyJ.x.y", "kdr_<&>", int64(1764633600))
	f.Fuzz(func(t *testing.T, a, b string, n int64) {
		d := accessTokenData{AccessToken: a, ExpiresAt: n, IssuedAt: n / 2, RefreshToken: b, Type: a + b}
		if got, want := d.appendBody(nil), written(t, accessTokenResponse{Data: d}); !bytes.Equal(got, want) {
			t.Fatalf("access-token body\n got %q\nwant %q", got, want)
		}
		tr := tokenResponse{AccessToken: b, TokenType: a, ExpiresIn: n}
		if got, want := tr.appendBody(nil), written(t, tr); !bytes.Equal(got, want) {
			t.Fatalf("token body\n got %q\nwant %q", got, want)
		}
		c := flatClaims{Iss: a, Sub: b, Role: a, RTID: b, Iat: n, Exp: -n, Jti: a}
		want, _ := json.Marshal(c)
		if got := c.appendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("claims\n got %q\nwant %q", got, want)
		}
		me := wire.Me{User: wire.FromUser(models.User{ID: a, Name: b, Email: a, Role: models.Role(b),
			CreatedAt: time.Unix(n%(1<<35), 0)}), Token: wire.Credential{ID: b, Role: models.Role(a)}}
		if got, want := appendMeBody(nil, &me), written(t, data[wire.Me]{me}); !bytes.Equal(got, want) {
			t.Fatalf("/v3/users/me body\n got %q\nwant %q", got, want)
		}
	})
}

// The shared header values must never be written through: every answer
// points at them. Adding to a key that holds one copies it (capacity is
// length), so a second value reaches only that response.
func TestSharedHeaderValuesStayPut(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, secret := e.refresh(e.usr, "hdr")
	at := e.access(secret)
	e.get("/v3/users/me", at)
	e.do("GET", "/oauth/access-token", map[string]string{"X-Refresh-Token": secret}, nil)
	e.do("POST", "/v3/users/me", nil, nil) // 405 with Allow
	e.get("/v3/users/me", "not a token")   // 401 with WWW-Authenticate
	rec := httptest.NewRecorder()
	writeJSON(rec, 200, struct{}{})
	noStore(rec)
	rec.Header().Add("Content-Type", "text/plain")
	rec.Header().Add("Cache-Control", "private")
	if got := rec.Header().Values("Content-Type"); len(got) != 2 {
		t.Fatalf("Add to a shared value: %q", got)
	}
	for name, v := range map[string][]string{"application/json": hdrJSON, "nosniff": hdrNosniff, "no-store": hdrNoStore, "no-cache": hdrNoCache} {
		if len(v) != 1 || cap(v) != 1 || v[0] != name {
			t.Fatalf("shared header value %q became %q (len %d, cap %d)", name, v, len(v), cap(v))
		}
	}
}
