package store

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
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
	f.Add(encodeToken(models.Token{ID: "tok_1", Name: "ci", HolderID: "usr_1", Role: models.RoleUser, Tail: "abcdef"}))
	for _, s := range []string{`{"id":"tok_1","holder_id":"usr_1"}`, `{"id":"usr_1","role":"admin"}`, `{`, `null`, `{"id":1}`, `{"seq":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if tok, err := decodeToken([]byte("tok_1"), data); err == nil {
			if tok.ID == "" || tok.HolderID == "" {
				t.Fatal("accepted a token without id or holder")
			}
			// Whatever decodes re-encodes to a record that decodes the same.
			again, err := decodeToken([]byte(tok.ID), encodeToken(tok))
			if err != nil || !reflect.DeepEqual(normal(again), normal(tok)) {
				t.Fatalf("round trip: %+v → %+v, %v", tok, again, err)
			}
		}
		if u, err := decodeUser(data); err == nil && (u.ID == "" || !u.Role.Valid()) {
			t.Fatal("accepted a user without id or valid role")
		}
		_, _ = decodeAudit(data)
	})
}

// FuzzDecodeLiveSet: a live set decodes without panic, and what decodes
// re-encodes to a set that decodes the same.
func FuzzDecodeLiveSet(f *testing.F) {
	f.Add(encodeLiveSet([]string{"tok_1", "tok_2"}))
	f.Add([]byte{liveSetFormat1})
	f.Add([]byte{liveSetFormat1, 0})
	f.Add([]byte{liveSetFormat1, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		ids, err := decodeLiveSet(data)
		if err != nil {
			return
		}
		if len(ids) == 0 || slices.Contains(ids, "") {
			t.Fatalf("accepted %x as %q", data, ids)
		}
		if again, err := decodeLiveSet(encodeLiveSet(ids)); err != nil || !slices.Equal(again, ids) {
			t.Fatalf("round trip: %x → %q → %q, %v", data, ids, again, err)
		}
	})
}

// normal drops what no record keeps: the zone of a time (records hold UTC
// instants) and nanoseconds beyond what Unix nanoseconds can hold.
func normal(t models.Token) models.Token {
	for _, p := range []*time.Time{&t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.RotatedAt, &t.GraceUntil, &t.LastUsedAt} {
		if p.IsZero() || p.UnixNano() == 0 {
			*p = time.Time{}
		} else {
			*p = time.Unix(0, p.UnixNano()).UTC()
		}
	}
	return t
}

func TestTokenRecordRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 1, 23, 59, 1, 123456789, time.UTC)
	full := models.Token{ID: "tok_0Vcb57kjcFtE5R", Name: "ci deploy ✓", HolderID: "usr_0Vcb57kiwdSHKu", Role: models.RoleAdmin,
		CreatedAt: now, CreatedBy: "usr_0Vcb57kiwdSHKv", Assigned: true, ExpiresAt: now.Add(time.Hour), Tail: "abcdef",
		Revealed: true, RevokedAt: now.Add(2 * time.Hour), RevokedBy: "usr_x", RotatedAt: now.Add(3 * time.Hour),
		RotatedTo: "tok_y", GraceUntil: now.Add(4 * time.Hour), LastUsedAt: now.Add(5 * time.Hour), LastUsedBy: "192.0.2.7"}
	for _, tok := range []models.Token{full, {ID: "tok_1", HolderID: "usr_1", Role: models.RoleUser, CreatedAt: now}} {
		rec := encodeToken(tok)
		got, err := decodeToken([]byte(tok.ID), rec)
		if err != nil || !reflect.DeepEqual(got, tok) {
			t.Fatalf("round trip of %+v: %+v %v", tok, got, err)
		}
		for i := range rec {
			if _, err := decodeToken([]byte(tok.ID), rec[:i]); err == nil {
				t.Fatalf("a record cut at %d of %d bytes decoded", i, len(rec))
			}
		}
	}
	// A typical token (a name, no expiry, never used) against its schema-1 JSON.
	typical := models.Token{ID: "tok_0Vcb57kjcFtE5R", Name: "ci deploy", HolderID: "usr_0Vcb57kiwdSHKu", Role: models.RoleUser,
		CreatedAt: now, CreatedBy: "usr_0Vcb57kiwdSHKu", Tail: "abcdef"}
	t.Logf("typical token: %d bytes binary", len(encodeToken(typical)))
	if n := len(encodeToken(typical)); n > 90 {
		t.Fatalf("typical token record is %d bytes, want ≤ 90", n)
	}
}
