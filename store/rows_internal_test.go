package store

import (
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
)

// TestQuickNameEmailIsDecodeUser: reading a user record in place gives the
// name and email decodeUser gives, or declines (and the record is decoded);
// it never accepts a record decodeUser refuses for its id or role.
func TestQuickNameEmailIsDecodeUser(t *testing.T) {
	at := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	quick := 0
	for _, name := range []string{"Person 000001", "", `q"b\s`, "<b>&amp;</b>", "caf\u00e9 \u2028 \U0001F600", "bad \xff utf8", "tab\there"} {
		for _, email := range []string{"p@example.com", "<x>@example.com", ""} {
			for _, role := range []models.Role{models.RoleUser, models.RoleOwner, "bogus"} {
				u := models.User{ID: "usr_1", Name: name, Email: email, Role: role, CreatedAt: at,
					Keys: []models.SSHKey{{Fingerprint: "SHA256:x", Type: "ssh-ed25519", Authorized: "ssh-ed25519 AAAA", AddedAt: at}}}
				data, err := encodeUser(u)
				if err != nil {
					t.Fatal(err)
				}
				want, werr := decodeUser(data)
				n, e, ok := quickNameEmail(data)
				if !ok {
					continue
				}
				quick++
				if werr != nil {
					t.Fatalf("%s: read in place although decodeUser refuses it (%v)", data, werr)
				}
				if n != want.Name || e != want.Email {
					t.Fatalf("%s: in place %q %q, decoded %q %q", data, n, e, want.Name, want.Email)
				}
			}
		}
	}
	if quick == 0 {
		t.Fatal("no record was read in place: the fast path is never taken")
	}
	for _, bad := range []string{"", "{", `{"id":"usr_1","name":"A","email":"a@x","role":"user"`, `{"id":"","name":"A","email":"a@x","role":"user"}`,
		`{"name":"A","id":"usr_1","email":"a@x","role":"user"}`, `{"id":"usr_1","name":"A\u0041","email":"a@x","role":"user"}`} {
		if _, _, ok := quickNameEmail([]byte(bad)); ok {
			t.Fatalf("%q read in place", bad)
		}
	}
}
