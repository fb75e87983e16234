package store

import (
	"strings"
	"testing"
)

func FuzzReadImport(f *testing.F) {
	for _, s := range []string{"name,email,role\nAnn,ann@example.com,user\n", "a,b", "\"", "x,y@z.io,admin,ssh-ed25519 AAAA\n", "\n\n", "A,a@b.io,user\r\nB,b@b.io,user"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rows, err := readImport(strings.NewReader(s))
		if err == nil && len(rows) == 0 {
			t.Fatal("no error and no rows")
		}
		for _, r := range rows {
			if r.line < 1 || !r.user.Role.Valid() {
				t.Fatalf("bad row %+v", r)
			}
		}
	})
}

func FuzzDecodeRecords(f *testing.F) {
	for _, s := range []string{`{"id":"tok_1","holder_id":"usr_1"}`, `{"id":"usr_1","role":"admin"}`, `{`, `null`, `{"id":1}`, `{"seq":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if tok, err := decodeToken(data); err == nil && (tok.ID == "" || tok.HolderID == "") {
			t.Fatal("accepted a token without id or holder")
		}
		if u, err := decodeUser(data); err == nil && (u.ID == "" || !u.Role.Valid()) {
			t.Fatal("accepted a user without id or valid role")
		}
		_, _ = decodeAudit(data)
	})
}
