package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keydesk/keydesk/models"
)

func TestTimeIsSecondPrecisionUTC(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.FixedZone("CET", 3600))
	b, err := json.Marshal(At(at))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `"2026-03-04T04:06:07Z"` {
		t.Fatalf("marshal: %s", b)
	}
	var back Time
	if err := json.Unmarshal(b, &back); err != nil || !back.Time().Equal(at.Truncate(time.Second)) {
		t.Fatalf("round trip: %v %v", back.Time(), err)
	}
	if b, _ := json.Marshal(At(time.Time{})); string(b) != "null" {
		t.Fatalf("zero: %s", b)
	}
	if err := json.Unmarshal([]byte("null"), &back); err != nil || !back.IsZero() {
		t.Fatalf("null: %v %v", back, err)
	}
	for _, bad := range []string{`"2026-03-04T04:06:07.5Z"`, `"2026-03-04T05:06:07+01:00"`, `"2026-03-04"`, `12`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Fatalf("%s accepted", bad)
		}
	}
}

func TestEveryFieldPresent(t *testing.T) {
	tok := models.Token{ID: "tok_1", Name: "ci", HolderID: "usr_1", Tail: "abcdef", CreatedAt: time.Unix(100, 5)}
	w := FromToken(tok, models.StatusActive, Names{HolderName: "Uma", HolderEmail: "uma@example.com", CreatorName: "Uma"})
	b, err := json.Marshal(Secret{Token: w, RefreshToken: "kdr_x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"expires_at":null`, `"masked":"kdr_…abcdef"`, `"status":"active"`, `"holder_email":"uma@example.com"`,
		`"created_at":"1970-01-01T00:01:40Z"`, `"refresh_token":"kdr_x"`, `"revoked_by":""`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("%s lacks %s", b, want)
		}
	}
	u, _ := json.Marshal(FromUser(models.User{ID: "usr_1"}))
	if !strings.Contains(string(u), `"keys":[]`) {
		t.Fatalf("user without keys: %s", u)
	}
	k, _ := json.Marshal(FromUser(models.User{ID: "usr_1", Keys: []models.SSHKey{{Fingerprint: "SHA256:x", Type: "ssh-ed25519", AddedBy: "usr_2", Pending: true}}}))
	if !strings.Contains(string(k), `"added_at":null,"added_by":"usr_2","pending":true`) {
		t.Fatalf("a pending key: %s", k)
	}
}
